"""No trading PIN at rest: whatever a user types, their PIN ends up in no database row and no session or
journal entry, wherever they typed it (at the prompt, out of the blue, spaced out, during a lockout among
other numbers). Run through the real dispatcher, intent pipeline, SQL stores and session stores: SQLite with
the in-memory session store, and PostgreSQL with the Redis one (the cluster's)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from bot.app import build_runtime
from bot.console import ConsoleChannel, ConsoleMessenger
from bot.stores.memory import MemorySessionStore
from config.settings import load_settings
from engine.clock import IST
from handlers.dispatcher import Dispatcher
from handlers.routes import build_middlewares, build_router
from tests.conftest import PG_URL, _drop_pg_schema, _pg_schema

PIN = "975310"
#: The PIN in a stored text: digits possibly spaced out, not inside a longer hex or digit run (ids are hex).
PIN_AT_REST = re.compile(r"(?<![0-9A-Fa-f])9\W{0,2}7\W{0,2}5\W{0,2}3\W{0,2}1\W{0,2}0(?![0-9A-Fa-f])")
USER = "919866000010"
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=IST)


@pytest.fixture(params=["sqlite+memory", "postgresql+redis"])
async def stack(request, tmp_path: Path, redis_client):
    """A runtime whose dispatcher keeps its sessions in a store the test can read back."""
    schema = None
    if request.param.startswith("postgresql"):
        schema = await _pg_schema()
        url = PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1) + f"?options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp_path / 'gw.db'}"
    settings = load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "state"), "DATABASE_URL": url})
    messenger = ConsoleMessenger()
    runtime = await build_runtime(settings, simulated_clock=True, with_receipts=False,
                                  messenger=lambda _audit: messenger)
    if request.param.endswith("redis"):
        from bot.stores.redis_stores import RedisSessionStore

        prefix = f"gwpin:{uuid.uuid4().hex[:10]}:"
        sessions: Any = RedisSessionStore(redis_client, prefix=prefix)
    else:
        prefix, sessions = "", MemorySessionStore()
    runtime.dispatcher = Dispatcher(router=build_router(), services=runtime.services, sessions=sessions,
                                    audit=runtime.audit, extra_middlewares=build_middlewares())
    try:
        yield runtime, ConsoleChannel(runtime, documents_dir=tmp_path / "docs"), sessions, prefix, redis_client
    finally:
        await runtime.close()
        if schema:
            await _drop_pg_schema(schema)


async def _stored_texts(runtime, sessions, prefix: str, redis_client) -> list[str]:
    """Every row of every table, and every session and journal entry, as text."""
    found: list[str] = []
    async with runtime.db.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for table in tables:
            rows = (await conn.execute(text(f'SELECT * FROM "{table}"'))).all()
            found += [f"{table}: {tuple(row)!r}" for row in rows]
    if isinstance(sessions, MemorySessionStore):
        found += [raw for raw, _expires in sessions._data.values()]
        found += [repr(replies) for replies in sessions._done.values()]
    else:
        async for key in redis_client.scan_iter(match=prefix + "*"):
            if await redis_client.type(key) == b"string":
                found.append(f"{key!r}: {(await redis_client.get(key))!r}")
    return found


def _said(trace: dict[str, Any]) -> str:
    return "\n".join((r.get("text") or "") + " ".join(b["title"] for b in r.get("buttons") or [])
                     for r in trace["replies"])


async def test_the_pin_is_never_at_rest_wherever_it_is_typed(stack) -> None:
    runtime, channel, sessions, prefix, redis_client = stack
    replies: list[str] = []

    async def say(text_: str, **kw) -> dict[str, Any]:
        trace = await channel.turn(USER, text=text_, **kw)
        replies.append(_said(trace))
        return trace

    await channel.turn(USER, text="hello", at=MONDAY)
    await channel.turn(USER, button="onb_lang:en")
    await channel.turn(USER, button="onb_consent:yes")
    assert (await say("0010"))["awaiting"] == "pin_setup"          # the end of their own number: refused
    assert "PIN set" in _said(await say(PIN))
    # Out of the blue, as typed and spaced out: not clarified (that would keep the words in the session).
    for typed in (PIN, "97 53 10", "975-310"):
        trace = await say(typed)
        assert trace["awaiting"] is None, trace
    # The next day: the PIN prompt, five wrong PINs, the lockout, and 26 PIN-like messages after it.
    assert (await say("buy 1 TCS at market", at=TUESDAY))["awaiting"] == "pin"
    for wrong in ("111222", "240688", "531975", "864200", "135799"):
        await say(wrong)
    assert "locked" in replies[-1]
    guesses = [f"{n:06d}" for n in range(100017, 100017 + 25 * 37, 37)]
    for typed in guesses[:12] + [PIN] + guesses[12:]:
        await say(typed)
    assert not [r for r in replies if PIN_AT_REST.search(r)], "a PIN was echoed"

    stored = await _stored_texts(runtime, sessions, prefix, redis_client)
    leaks = [s for s in stored if PIN_AT_REST.search(s)]
    assert leaks == [], leaks[:5]
    # Redaction is exact: numbers that are not the PIN, typed outside a prompt, are stored as typed.
    assert any(guesses[0] in s for s in stored) and any("buy 1 TCS at market" in s for s in stored)


async def test_a_pin_typed_as_an_answer_to_another_question_is_withheld_from_the_audit_log(stack) -> None:
    """As a quantity the number is still taken as a quantity (the bot must not reveal which number is the
    PIN: that would be a guessing oracle without a lockout), but the inbound record does not keep it."""
    runtime, channel, *_ = stack
    await channel.turn(USER, text="hello", at=MONDAY)
    await channel.turn(USER, button="onb_lang:en")
    await channel.turn(USER, button="onb_consent:yes")
    await channel.turn(USER, text="4826")
    assert (await channel.turn(USER, text="buy TCS"))["awaiting"] == "quantity"
    await channel.turn(USER, text="48 26")
    async with runtime.db.connect() as conn:
        bodies = (await conn.execute(text("SELECT body FROM messages WHERE direction = 'in' ORDER BY id"))).all()
    assert [b for (b,) in bodies][-3:] == ["[withheld: trading PIN]", "buy TCS", "[withheld: trading PIN]"]


async def test_the_hash_check_runs_off_the_event_loop_and_only_for_pin_shaped_texts(monkeypatch) -> None:
    import threading

    from handlers import security
    from handlers.security import PinPolicy, pin_profile

    policy = PinPolicy(scrypt_n=1024)
    profile = pin_profile(PIN, policy)
    threads: list[str] = []
    real = security.check_pin

    def spy(record, pin):
        threads.append(threading.current_thread().name)
        return real(record, pin)

    monkeypatch.setattr(security, "check_pin", spy)
    assert await security.is_users_pin(profile, "97 53 10", policy)
    assert not await security.is_users_pin(profile, "975311", policy)
    assert threads and threading.main_thread().name not in threads
    threads.clear()
    for other in ("buy 10 TCS", "12", "97531000", "", None):
        assert not await security.is_users_pin(profile, other, policy)
    assert not await security.is_users_pin({}, PIN, policy)             # no PIN yet: nothing to compare
    assert threads == []
