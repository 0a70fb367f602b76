"""The dispatcher's guarantees, through the real intent pipeline, SQL stores and memory stores, with test
routers registered the same way features register theirs."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone


from bot.logging import configure_logging
from bot.stores.memory import MemorySessionStore
from handlers.dispatcher import Dispatcher
from handlers.messages import InboundMessage, Sender
from handlers.replies import Text
from handlers.router import Router
from handlers.turn import TurnStatus


def dispatcher_for(runtime, router: Router) -> Dispatcher:
    return Dispatcher(router=router, services=runtime.services, sessions=MemorySessionStore(),
                      audit=runtime.audit)


def msg(mid: str, phone: str, text: str) -> InboundMessage:
    return InboundMessage(id=mid, sender=Sender(phone=phone), timestamp=datetime.now(timezone.utc), text=text)


async def test_an_unexpected_error_becomes_a_localized_apology_with_a_correlation_id(runtime):
    router = Router("t")

    @router.on_intent("greeting")
    async def broken(ctx):
        raise RuntimeError("boom")

    @router.fallback()
    async def fallback(ctx):
        return Text(ctx.t("core.fallback"))

    out = io.StringIO()
    configure_logging("INFO", stream=out)
    try:
        d = dispatcher_for(runtime, router)
        failed = await d.handle(msg("m1", "919800000101", "namaste"))
        later = await d.handle(msg("m2", "919800000101", "what is the weather"))
    finally:
        configure_logging("WARNING")
    assert failed.status is TurnStatus.ERROR
    assert failed.correlation_id[:8] in failed.replies[0].body
    assert failed.lang == "hi-Latn", "answered in the language the user wrote in"
    assert failed.replies[0].body == runtime.services.catalog.render(
        "hi-Latn", "core.error", ref=failed.correlation_id[:8])
    logged = [json.loads(line) for line in out.getvalue().splitlines() if "turn_failed" in line]
    assert logged and logged[0]["correlation_id"] == failed.correlation_id
    assert later.status is TurnStatus.HANDLED, "the loop goes on after an error"


async def test_a_redelivered_message_runs_no_handler(runtime):
    router = Router("t")
    calls = []

    @router.fallback()
    async def count(ctx):
        calls.append(ctx.message.id)

    d = dispatcher_for(runtime, router)
    first = await d.handle(msg("dup1", "919800000301", "hello"))
    second = await d.handle(msg("dup1", "919800000301", "hello"))
    fresh_process = dispatcher_for(runtime, router)   # memory journal lost, as after a restart
    third = await fresh_process.handle(msg("dup1", "919800000301", "hello"))
    assert first.status is TurnStatus.HANDLED
    assert second.status is TurnStatus.DUPLICATE and third.status is TurnStatus.DUPLICATE
    assert calls == ["dup1"]


async def test_a_retried_turn_runs_once_and_replays_its_recorded_replies(runtime):
    """A worker took over an entry from a crashed one: the turn runs if it never committed (its inbound row
    may already exist), and is answered from the journal if it did — never run twice."""
    router = Router("t")
    calls = []

    @router.fallback()
    async def count(ctx):
        calls.append(ctx.message.id)
        return Text(f"answer {len(calls)}")

    sessions = MemorySessionStore()
    d = Dispatcher(router=router, services=runtime.services, sessions=sessions, audit=runtime.audit)
    m = msg("retry1", "919800000302", "hello")
    await runtime.audit.record_inbound(m, user_key="919800000302", correlation_id="c" * 32)  # stored, then crash
    first = await d.handle(m, retry=True)
    again = await d.handle(m, retry=True)
    assert first.status is TurnStatus.HANDLED and calls == ["retry1"]
    assert again.status is TurnStatus.DUPLICATE
    assert [r.body for r in again.replies] == [r.body for r in first.replies] == ["answer 1"]
