"""Human handoff: "talk to a human" flags the conversation for an agent.

The bot confirms once; from then on the HandoffGate middleware keeps it quiet for that user (messages are
still stored in the audit log for the agent) until an operator releases it with
``gridworks handoff release WA_ID``. The flag lives in the user's profile, so it survives restarts and
is visible to every worker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from handlers.context import TurnContext
from handlers.conversation import interrupt
from handlers.ports import UserRepository
from handlers.replies import Text
from handlers.router import Router
from handlers.users import User

router = Router("handoff")

#: Profile key: {"since": ISO time, "reason": first words}; present while an agent owns the conversation.
HANDOFF = "handoff"


def handoff_state(user: User) -> Mapping[str, Any] | None:
    state = user.profile.get(HANDOFF)
    return state if isinstance(state, Mapping) else None


async def flag(users: UserRepository, user: User, *, now: datetime) -> User:
    return await users.update(user.key, profile_changes={HANDOFF: {"since": now.isoformat()}})


async def release(users: UserRepository, user: User) -> User:
    """Hand the conversation back to the bot (operator action)."""
    return await users.update(user.key, profile_changes={HANDOFF: None})


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
    return Text(ctx.t("handoff.flagged"))
