"""Human handoff: "talk to a human" flags the conversation for an agent.

The bot confirms once; from then on the HandoffGate middleware keeps it quiet for that user (messages are
still stored in the audit log for the agent) until an operator releases it with
``gridworks handoff release WA_ID``. The flag lives in the user's profile, so it survives restarts and
is visible to every worker. What the agent's side sends (:func:`agent_replies`, :func:`hand_back`) is built
here, so ``gridworks handoff`` and the simulator deliver the same words.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, Mapping

from handlers.context import TurnContext
from handlers.conversation import interrupt
from handlers.ports import UserRepository
from handlers.replies import Reply, Text
from handlers.router import Router
from handlers.users import User
from locales.catalog import Translator
from locales.format import IST, ist_datetime

router = Router("handoff")

#: Profile key: {"since": ISO time, "reason": first words}; present while an agent owns the conversation.
HANDOFF = "handoff"
#: When agents answer (IST), as ``handoff.flagged`` tells users: Monday to Saturday, 9:00 to 18:00.
AGENT_WEEKDAYS = frozenset(range(6))
AGENT_OPEN, AGENT_CLOSE = time(9, 0), time(18, 0)


def agents_back_at(now: datetime) -> datetime | None:
    """None while agents work; else the next opening, which is when the user should expect the answer."""
    local = now.astimezone(IST)
    if local.weekday() in AGENT_WEEKDAYS and AGENT_OPEN <= local.time() < AGENT_CLOSE:
        return None
    day = local.date() if local.time() < AGENT_OPEN else local.date() + timedelta(days=1)
    while day.weekday() not in AGENT_WEEKDAYS:
        day += timedelta(days=1)
    return datetime.combine(day, AGENT_OPEN, tzinfo=IST)


def expect_answer(t: Translator, now: datetime) -> str:
    """The handoff confirmation, with when the answer can come given the time it is asked."""
    back = agents_back_at(now)
    when = t("handoff.expect.working") if back is None else t("handoff.expect.offline", when=ist_datetime(back))
    return f"{t('handoff.flagged')}\n\n{when}"


def handoff_state(user: User) -> Mapping[str, Any] | None:
    state = user.profile.get(HANDOFF)
    return state if isinstance(state, Mapping) else None


async def flag(users: UserRepository, user: User, *, now: datetime) -> User:
    return await users.update(user.key, profile_changes={HANDOFF: {"since": now.isoformat()}})


async def release(users: UserRepository, user: User) -> User:
    """Hand the conversation back to the bot (operator action)."""
    return await users.update(user.key, profile_changes={HANDOFF: None})


def agent_replies(t: Translator, text: str) -> list[Reply]:
    """An agent's words as the user sees them (marked as a person's); ValueError for an empty reply."""
    words = " ".join((text or "").split())
    if not words:
        raise ValueError("the reply is empty")
    return [Text(t("handoff.agent_says", text=words))]


async def hand_back(users: UserRepository, user: User, t: Translator) -> list[Reply]:
    """Release the user to the bot; the replies tell them so."""
    await release(users, user)
    return [Text(t("handoff.released"))]


async def flagged(users: UserRepository) -> list[tuple[User, datetime]]:
    """Users waiting for or talking with an agent, oldest first (the operator's queue)."""
    out: list[tuple[User, datetime]] = []
    for key in await users.all_keys():
        user = await users.get(key)
        state = handoff_state(user) if user is not None else None
        if user is not None and state is not None:
            out.append((user, datetime.fromisoformat(state["since"])))
    return sorted(out, key=lambda pair: pair[1])


@router.on_intent("human_handoff")
@router.on_payload("human")
async def talk_to_human(ctx: TurnContext):
    interrupt(ctx.session)          # the agent takes over: whatever was open ends
    await flag(ctx.services.users, ctx.user, now=ctx.now)
    return Text(expect_answer(ctx.t, ctx.now))
