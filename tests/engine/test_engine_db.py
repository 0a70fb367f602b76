"""The embedded engine on a real database (SQLite and PostgreSQL): persistence, idempotency, restart."""

import asyncio
from datetime import date

from sqlalchemy import func, select

from engine.api import EventKind, OrderStatus, OrderType, Side
from engine.factory import open_engine
from engine.store import order_events, orders
from tests.engine.conftest import CONFIG, MON_10, ist, limit, req

ACC = "919800000002"


async def count_coid(db, coid: str) -> int:
    async with db.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(orders)
                                   .where(orders.c.client_order_id == coid))).scalar()


async def test_market_order_fills_commits_and_shows_in_portfolio(engine, db):
    funds = await engine.open_account(ACC)
    assert funds.cash_paise == 10_000_000
    r = await engine.place(req("TCS", Side.BUY, 10, source_message_id="wamid.1"))
    assert r.accepted and r.order.status is OrderStatus.COMPLETE and len(r.trades) == 1
    [h] = await engine.holdings(ACC)
    assert (h.symbol, h.quantity, h.t1_quantity) == ("TCS", 0, 10)
    f = await engine.funds(ACC)
    assert f.cash_paise == 10_000_000 - 10 * r.trades[0].price_paise - r.order.charges.total
    assert f.charges_paid_paise == r.order.charges.total
    assert [o.order_id for o in await engine.orders(ACC)] == [r.order.order_id]
    assert (await engine.get_order(ACC, r.order.order_id)).source_message_id == "wamid.1"
    assert await engine.get_order("someone-else", r.order.order_id) is None
    assert [t.trade_id for t in await engine.trades(ACC, day=date(2026, 11, 23))] == [r.trades[0].trade_id]
    note = await engine.contract_note(ACC, date(2026, 11, 23))
    data = note.to_json()
    assert data["simulated"] is True and data["settlement_date"] == "2026-11-25"
    assert data["charges"]["total"] == r.order.charges.total
    assert data["net_amount_paise"] == 10 * r.trades[0].price_paise + r.order.charges.total
    assert ACC not in note.note_number
    assert await engine.contract_note(ACC, date(2026, 11, 25)) is None
    assert await engine.ledger_balanced()
    history = await engine.order_history(r.order.order_id)
    assert [e["event"] for e in history] == ["accept", "fill_complete"]


async def test_open_account_is_idempotent(engine):
    a = await engine.open_account("x1", starting_cash_paise=50_000)
    b = await engine.open_account("x1")
    assert a == b and a.cash_paise == 50_000


async def test_resubmission_returns_the_same_order(engine, db):
    first = await engine.place(req("ITC", Side.BUY, 3, coid="wamid.ABC"))
    again = await engine.place(req("ITC", Side.BUY, 3, coid="wamid.ABC"))
    assert again.duplicate and not first.duplicate
    assert again.order.order_id == first.order.order_id
    assert [t.trade_id for t in again.trades] == [t.trade_id for t in first.trades]
    bad = await engine.place(req("NOPE", coid="wamid.BAD"))
    bad2 = await engine.place(req("NOPE", coid="wamid.BAD"))
    assert not bad.accepted and bad2.duplicate and bad2.rejection.code == "unknown_symbol"
    assert await count_coid(db, "wamid.ABC") == 1
    assert len((await engine.holdings(ACC))) == 1 and (await engine.holdings(ACC))[0].t1_quantity == 3


async def test_concurrent_resubmission_creates_one_order(engine, db, clock):
    results = await asyncio.gather(*(engine.place(req("WIPRO", Side.BUY, 2, coid="wamid.SAME"))
                                     for _ in range(12)))
    assert len({r.order.order_id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    # a second engine on the same database (another process in production) racing the first
    other = await open_engine(db=db, clock=clock, config=CONFIG)
    try:
        pair = await asyncio.gather(engine.place(req("WIPRO", Side.BUY, 1, coid="wamid.RACE")),
                                    other.place(req("WIPRO", Side.BUY, 1, coid="wamid.RACE")))
    finally:
        await other.close()
    assert pair[0].order.order_id == pair[1].order.order_id
    assert await count_coid(db, "wamid.SAME") == 1 and await count_coid(db, "wamid.RACE") == 1


async def test_restart_rebuilds_open_orders_triggers_and_amos(engine, db, clock):
    await engine.open_account(ACC)
    samples = engine.market.samples("TCS", MON_10, ist(2026, 11, 23, 15, 0))
    low = min(p for _, p in samples)
    rest = await engine.place(limit("TCS", Side.BUY, 2, low + 100))
    await engine.place(req("ITC", Side.BUY, 5))
    itc_low = min(p for _, p in engine.market.samples("ITC", MON_10, ist(2026, 11, 23, 15, 0)))
    stop = await engine.place(req("ITC", Side.SELL, 5, order_type=OrderType.SL_M, trigger_paise=itc_low + 5))
    assert stop.accepted, stop.rejection
    funds_before = await engine.funds(ACC)
    await engine.close()

    again = await open_engine(db=db, clock=clock, config=CONFIG)
    try:
        open_ids = {o.order_id for o in await again.orders(ACC, open_only=True)}
        assert open_ids == {rest.order.order_id, stop.order.order_id}
        assert await again.funds(ACC) == funds_before
        events = await again.advance(ist(2026, 11, 23, 15, 0))
        kinds = {(e.kind, e.order.order_id) for e in events}
        assert (EventKind.FILLED, rest.order.order_id) in kinds and (EventKind.TRIGGERED, stop.order.order_id) in kinds
        assert (await again.get_order(ACC, rest.order.order_id)).status is OrderStatus.COMPLETE
        # after hours: an AMO survives a restart and is released at the next session
        clock.set(ist(2026, 11, 23, 18, 0))
        await again.advance(clock.now())
        amo = await again.place(req("RELIANCE", Side.BUY, 1))
        assert amo.order.is_amo and amo.order.release_at == ist(2026, 11, 25, 9, 0)
    finally:
        await again.close()
    third = await open_engine(db=db, clock=clock, config=CONFIG)
    try:
        events = await third.advance(ist(2026, 11, 25, 9, 16))
        assert (EventKind.FILLED, amo.order.order_id) in {(e.kind, e.order.order_id) for e in events}
        assert await third.ledger_balanced()
        [h_rel] = [h for h in await third.holdings(ACC) if h.symbol == "RELIANCE"]
        assert h_rel.t1_quantity == 1
    finally:
        await third.close()


async def test_cancel_modify_and_not_open(engine, db):
    await engine.open_account(ACC)
    lower = engine.market.circuits("SBIN", MON_10.date())[0]
    r = await engine.place(limit("SBIN", Side.BUY, 2, lower))
    m = await engine.modify(ACC, r.order.order_id, quantity=3)
    assert m.accepted and m.order.quantity == 3
    c = await engine.cancel(ACC, r.order.order_id)
    assert c.accepted and c.order.status is OrderStatus.CANCELLED
    again = await engine.cancel(ACC, r.order.order_id)
    assert again.rejection.code == "order_not_open" and again.rejection.params["status"] == "CANCELLED"
    assert (await engine.cancel(ACC, "nope")).rejection.code == "order_not_found"
    assert (await engine.funds(ACC)).blocked_paise == 0
    async with db.connect() as conn:
        events = (await conn.execute(select(order_events.c.event)
                                     .where(order_events.c.order_id == r.order.order_id)
                                     .order_by(order_events.c.id))).scalars().all()
    assert events == ["accept", "modify", "cancel"]


async def test_advance_returns_events_found_while_handling_commands(engine, clock):
    await engine.open_account(ACC)
    lower = engine.market.circuits("HDFCBANK", MON_10.date())[0]
    r = await engine.place(limit("HDFCBANK", Side.BUY, 1, lower))
    clock.set(ist(2026, 11, 23, 15, 40))
    await engine.place(req("ITC", Side.BUY, 1))          # catches up (expires r) before placing an AMO
    events = await engine.advance(clock.now())
    assert [(e.kind, e.order.order_id) for e in events] == [(EventKind.EXPIRED, r.order.order_id)]
    assert await engine.advance(clock.now()) == []


async def test_order_and_trade_log_is_append_only(engine, db):
    import pytest
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DBAPIError

    from engine.store import postings, trades

    r = await engine.place(req("ITC", Side.BUY, 1, account="919800000009"))
    assert r.trades
    for stmt in (update(trades).values(price=1), delete(trades), delete(order_events),
                 update(postings).values(amount=0)):
        with pytest.raises(DBAPIError):
            async with db.begin() as conn:
                await conn.execute(stmt)
    async with db.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(trades))).scalar() == 1


async def test_malformed_instruction_is_rejected_and_stored(engine, db):
    r = await engine.place(req("TCS", Side.BUY, 1.5, coid="wamid.FLOAT"))      # type: ignore[arg-type]
    assert not r.accepted and r.rejection.code == "quantity_invalid" and r.order.quantity == 0
    again = await engine.place(req("TCS", Side.BUY, 1.5, coid="wamid.FLOAT"))  # type: ignore[arg-type]
    assert again.duplicate and again.order.order_id == r.order.order_id


async def test_group_commit_persists_every_acknowledged_order(db, clock):
    import dataclasses

    from engine.params import EngineParams

    params = dataclasses.replace(EngineParams.from_config(CONFIG.engine), group_commit=True)
    e = await open_engine(db=db, clock=clock, config=CONFIG, params=params)
    try:
        results = await asyncio.gather(*(e.place(req("ITC", Side.BUY, 1 + i % 3, account=f"g{i % 4}",
                                                     coid=f"wamid.G{i // 3}")) for i in range(60)))
        funds = {a: await e.funds(a) for a in ("g0", "g1", "g2", "g3")}
    finally:
        await e.close()
    assert len({r.order.order_id for r in results}) == 20          # re-submissions in flight together
    assert sum(r.duplicate for r in results) == 40
    assert all(r.trades for r in results)                           # a duplicate reports the durable fills
    again = await open_engine(db=db, clock=clock, config=CONFIG)
    try:
        assert {a: await again.funds(a) for a in funds} == funds
        assert await again.ledger_balanced()
        assert sum([len(await again.orders(a)) for a in funds]) == 20
    finally:
        await again.close()


async def test_a_new_engine_starts_its_history_at_first_use_not_at_construction(db):
    """The simulator builds the engine on the wall clock and then sets the clock to a turn's ``at``, which
    may lie in the past: the engine must still release that day's AMO at the next session (it once took its
    construction time as 'already processed' and never did)."""
    from engine.clock import FixedClock

    clock = FixedClock(ist(2027, 6, 1, 12, 0))          # "today", later than the simulated turns
    engine = await open_engine(db=db, clock=clock, config=CONFIG)
    try:
        clock.set(ist(2026, 11, 28, 11, 0))             # a Saturday: the order becomes an AMO
        await engine.open_account(ACC)
        amo = await engine.place(req("TCS", Side.BUY, 3))
        assert amo.order.is_amo and amo.order.release_at == ist(2026, 11, 30, 9, 0)
        events = await engine.advance(ist(2026, 11, 30, 10, 0))
        assert (EventKind.FILLED, amo.order.order_id) in {(e.kind, e.order.order_id) for e in events}
        assert (await engine.get_order(ACC, amo.order.order_id)).status is OrderStatus.COMPLETE
    finally:
        await engine.close()
