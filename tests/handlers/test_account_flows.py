"""Account rules a script cannot show: expiry before routing with no clock tick, the 24-hour window choice
for pushes, and silenced handoff turns still landing in the audit log."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.stores.sql import SqlUserRepository, create_schema
from bot.stores.crypto import DataCipher
from config.settings import load_settings
from engine.api import Tier
from handlers.context import Services
from handlers.messages import InboundMessage, Sender
from handlers.middlewares.subscription import SubscriptionCheck
from handlers.replies import Buttons, Template, Text
from handlers.turn import Turn, TurnResult, TurnStatus
from handlers.service_window import LAST_SEEN, push_reply, seen_changes
from handlers.upgrade import PLAN, TRIAL_USED, expire_if_due, on_tick
from locales.catalog import load_catalog


def _services(db, clock) -> Services:
    settings = load_settings({})
    repo = SqlUserRepository(db, cipher=DataCipher.from_hex(["22" * 32]))
    return Services(catalog=load_catalog(), clock=clock, users=repo, intents=None, engine=None,  # type: ignore[arg-type]
                    product=settings.product)


async def _pro_trial_user(services: Services, now, *, until, phone="919800000301"):
    user = await services.users.get_or_create(Sender(phone=phone), now=now)
    return await services.users.update(user.key, tier=Tier.PRO, language="en", profile={
        PLAN: {"id": "trial", "until": until.isoformat(), "reminded": False}, TRIAL_USED: True})


async def test_subscription_check_expires_an_ended_trial_before_routing(db, clock) -> None:
    await create_schema(db)
    services = _services(db, clock)
    now = clock.now()
    user = await _pro_trial_user(services, now, until=now - timedelta(minutes=1))
    seen: list[Tier] = []

    async def handler(turn: Turn) -> TurnResult:
        seen.append(turn.tier)
        return TurnResult(status=TurnStatus.HANDLED, user_key=turn.user.key, correlation_id="c",
                          replies=(Text("handled"),))

    msg = InboundMessage(id="m1", sender=Sender(phone=user.key), timestamp=now, text="portfolio")
    turn = Turn(message=msg, correlation_id="c", services=services, now=now, user=user, tier=user.tier)
    result = await SubscriptionCheck(expire=expire_if_due, touch=seen_changes)(turn, handler)
    assert seen == [Tier.LITE]                                   # routed as LITE already
    assert isinstance(result.replies[0], Buttons) and "trial has ended" in result.replies[0].body
    assert result.replies[1] == Text("handled")
    stored = await services.users.get(user.key)
    assert stored.tier is Tier.LITE and PLAN not in stored.profile and stored.profile[TRIAL_USED] is True
    assert stored.profile[LAST_SEEN] == now.isoformat()
    # Idempotent: the tick finds nothing left to expire, so the user is not told twice.
    assert await on_tick(services, now + timedelta(minutes=5), []) == []


async def test_tick_reminds_once_then_expires(db, clock) -> None:
    await create_schema(db)
    services = _services(db, clock)
    now = clock.now()
    await _pro_trial_user(services, now, until=now + timedelta(days=2, hours=1))
    first = await on_tick(services, now, [])
    assert len(first) == 1 and "trial ends on" in first[0][1][0].text          # no message yet: a template
    assert isinstance(first[0][1][0], Template) and first[0][1][0].name == "gw_trial_reminder"
    assert await on_tick(services, now + timedelta(hours=1), []) == []          # reminded once only
    ended = await on_tick(services, now + timedelta(days=3), [])
    assert len(ended) == 1 and ended[0][0].tier is Tier.LITE


def test_push_reply_uses_a_template_outside_the_24_hour_window(clock) -> None:
    from handlers.users import User

    now = clock.now()
    fresh = User(key="u", phone="u", bsuid=None, name=None, tier=Tier.LITE, language="en", created_at=now,
                 profile={LAST_SEEN: (now - timedelta(hours=2)).isoformat()})
    stale = fresh.with_(profile={LAST_SEEN: (now - timedelta(hours=30)).isoformat()})
    never = fresh.with_(profile={})
    assert push_reply(fresh, now, text="hi", template="gw_x", lang="en") == Text("hi")
    assert isinstance(push_reply(fresh, now, text="hi", template="gw_x", lang="en", buttons=(("upgrade", "Plans"),)),
                      Buttons)
    for user in (stale, never):
        reply = push_reply(user, now, text="hi", template="gw_x", lang="en", buttons=(("upgrade", "Plans"),))
        assert isinstance(reply, Template) and reply.button_payloads == ("upgrade",) and reply.category == "UTILITY"


async def test_handed_off_user_is_silenced_but_logged(tmp_path: Path) -> None:
    from bot.app import build_runtime
    from bot.console import ConsoleChannel, ConsoleMessenger
    from datetime import datetime

    settings = load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "state"),
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"})
    messenger = ConsoleMessenger()
    runtime = await build_runtime(settings, simulated_clock=True, messenger=lambda _a: messenger,
                                  with_receipts=False)
    try:
        channel = ConsoleChannel(runtime, documents_dir=tmp_path / "docs")
        at = datetime.fromisoformat("2026-11-23T10:00:00+05:30")
        user = "919800000302"
        for step in ({"text": "hi", "at": at}, {"button": "onb_lang:en"}, {"button": "onb_consent:yes"},
                     {"text": "4826"}):
            await channel.turn(user, **step)
        handed = await channel.turn(user, text="talk to a human")
        assert handed["intent"] == "human_handoff" and len(handed["replies"]) == 1
        before = await runtime.audit.inbound_count()
        quiet = await channel.turn(user, text="my order failed, please check")
        assert quiet["status"] == "silenced" and quiet["replies"] == []
        assert await runtime.audit.inbound_count() == before + 1
        stored = await runtime.users.get(user)
        assert stored is not None and stored.profile.get("handoff")
    finally:
        await runtime.close()
