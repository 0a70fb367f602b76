"""The trading conversations through the real dispatcher, intent pipeline, order engine and stores, on SQLite
and PostgreSQL (the ``db`` fixture): what a YAML script cannot express — the exact same payload tapped twice,
another user replaying my confirmation, the stored PIN record read straight from the database, a receipt
verified by its id."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.app import Runtime
from bot.console import ConsoleChannel, ConsoleMessenger
from bot.stores.memory import MemorySessionStore
from bot.stores.sql import SqlAuditLog, SqlUserRepository, create_schema
from config.settings import load_settings
from engine.clock import IST, SimulatedClock
from handlers.context import Services
from handlers.dispatcher import Dispatcher
from handlers.routes import build_middlewares, build_router
from handlers.security import check_pin
from locales.catalog import load_catalog

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
_PIPELINE: list[Any] = []


def _intents():
    """One intent pipeline per test process (loading it is the slow part; it holds no per-test state)."""
    if not _PIPELINE:
        from intents.pipeline import IntentPipeline

        _PIPELINE.append(IntentPipeline.load())
    return _PIPELINE[0]


async def _channel(db, tmp_path: Path, *, receipts: bool = False) -> tuple[Runtime, ConsoleChannel]:
    from engine.factory import open_engine

    settings = load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "state")})
    clock = SimulatedClock(MONDAY)
    await create_schema(db)
    engine = await open_engine(db=db, clock=clock, config=settings.product)
    service = None
    if receipts:
        from engine.zk import open_receipts

        service = await open_receipts(db=db, secrets=settings.secrets, clock=clock)
    users, audit, messenger = SqlUserRepository(db), SqlAuditLog(db), ConsoleMessenger()
    services = Services(catalog=load_catalog(), clock=clock, users=users, intents=_intents(), engine=engine,
                        receipts=service, messenger=messenger, product=settings.product)
    dispatcher = Dispatcher(router=build_router(), services=services, sessions=MemorySessionStore(),
                            audit=audit,
                            extra_middlewares=build_middlewares())
    closers = [engine.close] + ([service.close] if service else [])
    runtime = Runtime(settings=settings, db=db, clock=clock, services=services, dispatcher=dispatcher, audit=audit,
                      users=users, engine=engine, receipts=service, _closers=closers)
    return runtime, ConsoleChannel(runtime, documents_dir=tmp_path / "docs")


async def _onboard(channel: ConsoleChannel, user: str, pin: str = "975310") -> None:
    await channel.turn(user, text="hello")
    await channel.turn(user, button="onb_lang:en")
    await channel.turn(user, button="onb_consent:yes")
    trace = await channel.turn(user, text=pin)
    assert trace["awaiting"] is None and "PIN set" in trace["replies"][0]["text"]


async def _start_trial(channel: ConsoleChannel, user: str) -> None:
    """Tap the free-trial row of the plans the bot offers (row ids are bound: tapped, never typed)."""
    offer = await channel.turn(user, text="upgrade")
    row = next(r["id"] for reply in offer["replies"] for r in (reply.get("rows") or [])
               if r["title"].startswith("Free"))
    started = await channel.turn(user, button=row)
    assert "trial is on" in started["replies"][0]["text"]


def _card_payload(trace: dict[str, Any]) -> str:
    buttons = [b for r in trace["replies"] for b in (r.get("buttons") or [])]
    assert trace["awaiting"] == "confirmation" and buttons[0]["id"].startswith("tconfirm:")
    return buttons[0]["id"]


async def test_pin_is_stored_only_as_a_salted_scrypt_hash(db, tmp_path: Path) -> None:
    runtime, channel = await _channel(db, tmp_path)
    try:
        await _onboard(channel, "919800005201", pin="975310")
        async with db.connect() as conn:
            raw = (await conn.execute(text("SELECT profile FROM users WHERE key = :k"),
                                      {"k": "919800005201"})).scalar_one()
        assert "975310" not in raw
        record = json.loads(raw)["pin"]
        assert record["alg"] == "scrypt" and len(bytes.fromhex(record["salt"])) == 16
        assert check_pin(record, "975310") and not check_pin(record, "975311")
    finally:
        await runtime.close()


async def test_the_same_confirmation_tapped_twice_places_one_order(db, tmp_path: Path) -> None:
    runtime, channel = await _channel(db, tmp_path)
    try:
        user = "919800005202"
        await _onboard(channel, user)
        payload = _card_payload(await channel.turn(user, text="buy 3 TCS at market"))
        first = await channel.turn(user, button=payload)
        second = await channel.turn(user, button=payload)
        assert [o["status"] for o in first["orders"]] == ["COMPLETE"]
        assert second["orders"] == [] and "already placed" in second["replies"][0]["text"]
        orders = await runtime.engine.orders(user)
        assert len(orders) == 1 and orders[0].quantity == 3
        # the client id derives from the confirmation: the card's pending id and its Confirm button's nonce
        assert orders[0].client_order_id.startswith("wa-") and orders[0].client_order_id.endswith(
            "-" + payload.split(":")[1])
    finally:
        await runtime.close()


async def test_another_user_cannot_use_my_confirmation_or_see_my_orders(db, tmp_path: Path) -> None:
    runtime, channel = await _channel(db, tmp_path)
    try:
        mine, theirs = "919800005203", "919800005204"
        await _onboard(channel, mine)
        await _onboard(channel, theirs)
        payload = _card_payload(await channel.turn(mine, text="buy 2 INFY at market"))
        stolen = await channel.turn(theirs, button=payload)
        assert stolen["orders"] == [] and "no longer valid" in stolen["replies"][0]["text"]
        assert await runtime.engine.orders(mine) == [] and await runtime.engine.orders(theirs) == []
        placed = await channel.turn(mine, button=payload)
        order_id = placed["orders"][0]["id"]
        peek = await channel.turn(theirs, button=f"omanage:{order_id}")
        cancel = await channel.turn(theirs, button=f"ocancelyes:{order_id}")
        assert "can't act on that button" in peek["replies"][0]["text"] and cancel["orders"] == []
        status = await channel.turn(theirs, text="order status")
        assert "no orders yet" in status["replies"][0]["text"]
    finally:
        await runtime.close()


async def test_a_confirmation_older_than_two_minutes_places_nothing(db, tmp_path: Path) -> None:
    runtime, channel = await _channel(db, tmp_path)
    try:
        user = "919800005205"
        await _onboard(channel, user)
        payload = _card_payload(await channel.turn(user, text="buy 1 TCS at market"))
        late = await channel.turn(user, button=payload, at=datetime(2026, 11, 23, 10, 5, tzinfo=IST))
        assert late["orders"] == [] and "expired" in late["replies"][0]["text"]
        assert await runtime.engine.orders(user) == []
    finally:
        await runtime.close()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_pro_fill_receipt_verifies_by_id_and_tampering_is_caught(db, tmp_path: Path) -> None:
    runtime, channel = await _channel(db, tmp_path, receipts=True)
    try:
        user = "919800005206"
        await _onboard(channel, user)
        await _start_trial(channel, user)
        done = await channel.turn(user, button=_card_payload(await channel.turn(user, text="buy 2 TCS at market")))
        docs = [r for r in done["replies"] if r["type"] == "document"]
        assert docs and docs[0]["filename"].startswith("R-")
        receipt_id = docs[0]["filename"].removesuffix(".json")
        by_id = await channel.turn(user, text=f"verify receipt {receipt_id}")
        assert "is valid" in by_id["replies"][0]["text"]
        doc = json.loads(Path(docs[0]["path"]).read_text())
        doc["public"]["symbol"] = "INFY"          # the readable mirror no longer matches the signed bytes
        forged = await channel.turn(user, text=None, document=("forged.json", json.dumps(doc).encode()))
        assert "did NOT verify" in forged["replies"][0]["text"]
    finally:
        await runtime.close()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_risk_alerts_on_the_card_large_order_concentration_and_tenth_order(db, tmp_path: Path) -> None:
    runtime, channel = await _channel(db, tmp_path)
    try:
        user = "919800005207"
        await _onboard(channel, user)
        big = await channel.turn(user, text="buy 20 TCS at market")      # ~₹62,000 of a ₹1,00,000 account
        body = big["replies"][-1]["text"]
        assert "Please note" in body and "% of your account value" in body and "a lot in one stock" in body
        await channel.turn(user, text="no")
        small = await channel.turn(user, text="buy 1 ITC at market")
        assert "Please note" not in small["replies"][-1]["text"]
        for n in range(9):
            placed = await channel.turn(user, button=_card_payload(
                small if n == 0 else await channel.turn(user, text="buy 1 ITC at market")))
            assert placed["orders"][0]["status"] == "COMPLETE"
        tenth = await channel.turn(user, text="buy 1 ITC at market")
        assert "This is your order number 10 today." in tenth["replies"][-1]["text"]
    finally:
        await runtime.close()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_pro_amo_fill_is_pushed_with_its_receipt_when_the_market_opens(db, tmp_path: Path) -> None:
    runtime, channel = await _channel(db, tmp_path, receipts=True)
    try:
        user = "919800005208"
        saturday = datetime(2026, 11, 28, 11, 0, tzinfo=IST)
        await channel.turn(user, text="hello", at=saturday)
        await channel.turn(user, button="onb_lang:en")
        await channel.turn(user, button="onb_consent:yes")
        await channel.turn(user, text="975310")
        await _start_trial(channel, user)
        amo = await channel.turn(user, button=_card_payload(await channel.turn(user, text="buy 2 TCS at market")))
        assert amo["orders"][0]["is_amo"] and not [r for r in amo["replies"] if r["type"] == "document"]
        # The user writes before the open, so the fill's push is inside WhatsApp's 24-hour window: free text and
        # the receipt files (outside it the receipt is a template: tests/handlers/test_receipt_outside_window.py).
        await channel.turn(user, text="hi", at=datetime(2026, 11, 30, 9, 5, tzinfo=IST))
        monday = await channel.turn(user, text="order status", at=datetime(2026, 11, 30, 10, 0, tzinfo=IST))
        pushed = [r for n in monday["notifications"] if n["to"] == user for r in n["replies"]]
        assert any("Your order filled" in (r.get("text") or "") for r in pushed)
        receipts = [r for r in pushed if r["type"] == "document" and not r["filename"].endswith("-opening.json")]
        assert len(receipts) == 1
        check = await channel.turn(user, text=None, document=(receipts[0]["filename"],
                                                              Path(receipts[0]["path"]).read_bytes()))
        assert "is valid" in check["replies"][0]["text"]
    finally:
        await runtime.close()
