"""The engine's one event stream: every command and every step of the clock says what happened to each order
as typed events (``EventKind``), each trade in exactly one event; a DAY order the close ended is EXPIRED, and
stays so in the database."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select

import migrations
from engine.api import EngineEvent, EventKind, OrderStatus, OrderType, Product, Side, Validity
from engine.db import lock_ddl
from engine.factory import open_engine
from engine.lifecycle import TOLD, Event, next_status
from engine.session import catch_up
from engine.store import order_events, orders
from tests.engine.conftest import CONFIG, MON_10, ist, limit, make_core, req

ACC = "919800000002"
K = EventKind


def kinds(events) -> list[EventKind]:
    return [e.kind for e in events]


def test_every_transition_but_a_fill_is_told_and_a_fill_is_told_by_the_fill():
    assert set(TOLD) == set(Event) - {Event.FILL, Event.FILL_COMPLETE}
    assert all(isinstance(k, EventKind) for k in TOLD.values())
    assert next_status(OrderStatus.OPEN, Event.EXPIRE) is OrderStatus.EXPIRED
    assert next_status(OrderStatus.TRIGGER_PENDING, Event.EXPIRE) is OrderStatus.EXPIRED
    assert next_status(OrderStatus.OPEN, Event.CANCEL) is OrderStatus.CANCELLED


def test_a_marketable_order_is_accepted_then_filled_in_its_own_result(core):
    r = core.place(req("TCS", Side.BUY, 10), MON_10)
    assert kinds(r.events) == [K.ACCEPTED, K.FILLED]
    accepted, filled = r.events
    assert accepted.order.status is OrderStatus.OPEN and accepted.order.filled_quantity == 0 and not accepted.trades
    assert filled.order.status is OrderStatus.COMPLETE and filled.trades == r.trades and filled.is_fill
    assert r.order == filled.order and not core.pending_events


def test_resting_stop_rejected_modify_and_cancel_each_say_what_they_did(core):
    lower = core.market.circuits("AXISBANK", MON_10.date())[0]
    rest = core.place(limit("AXISBANK", Side.BUY, 2, lower), MON_10)
    assert kinds(rest.events) == [K.ACCEPTED] and rest.events[0].order.status is OrderStatus.OPEN
    stop = core.place(req("TCS", Side.BUY, 1, order_type=OrderType.SL_M,
                          trigger_paise=core.market.ltp("TCS", MON_10) + 5000), MON_10)
    assert kinds(stop.events) == [K.ACCEPTED] and stop.order.status is OrderStatus.TRIGGER_PENDING
    bad = core.place(req("NOPE"), MON_10)
    assert not bad.accepted and kinds(bad.events) == [K.REJECTED]
    assert bad.events[0].order.rejection == bad.rejection and bad.rejection.code == "unknown_symbol"
    bigger = core.modify(ACC, rest.order.order_id, MON_10, quantity=4, price_paise=None, trigger_paise=None)
    assert kinds(bigger.events) == [K.MODIFIED] and bigger.events[0].order.quantity == 4
    ask = core.market.depth("AXISBANK", MON_10).asks[0][0]
    crossed = core.modify(ACC, rest.order.order_id, MON_10, quantity=None, price_paise=ask + 100,
                          trigger_paise=None)
    assert kinds(crossed.events) == [K.MODIFIED, K.FILLED] and crossed.events[1].trades == crossed.trades
    gone = core.cancel(ACC, stop.order.order_id, MON_10)
    assert kinds(gone.events) == [K.CANCELLED] and gone.order.status is OrderStatus.CANCELLED
    refused = core.cancel(ACC, stop.order.order_id, MON_10)
    assert not refused.accepted and refused.events == ()          # nothing happened to the order now
    assert not core.pending_events


def test_an_ioc_remainder_is_told_cancelled_after_its_partial_fill():
    core = make_core()
    core.open_account(ACC, 10**11, MON_10)           # enough for more than the maker's best offer
    depth = core.market.depth("ITC", MON_10)
    price, size = depth.asks[0]
    r = core.place(req("ITC", Side.BUY, size + 1, order_type=OrderType.LIMIT, price_paise=price,
                       validity=Validity.IOC), MON_10)
    assert kinds(r.events) == [K.ACCEPTED, K.PARTIALLY_FILLED, K.CANCELLED]
    partial = r.events[1]
    assert partial.order.filled_quantity == size and sum(t.quantity for t in partial.trades) == size
    assert partial.order.status is OrderStatus.OPEN and r.order.status is OrderStatus.CANCELLED


def test_a_resting_order_another_user_trades_against_is_told_to_its_owner_on_the_clock():
    core = make_core()
    for account in ("seller", "buyer"):
        core.open_account(account, None, MON_10)
    ltp = core.market.ltp("TCS", MON_10)
    inside = ltp - ltp % 10                          # between the maker's bid and ask
    rest = core.place(limit("TCS", Side.SELL, 3, inside, account="seller", product=Product.MIS), MON_10)
    taker = core.place(req("TCS", Side.BUY, 5, account="buyer"), MON_10)
    assert kinds(taker.events) == [K.ACCEPTED, K.FILLED]
    assert {e.order.account for e in taker.events} == {"buyer"}
    assert all(t.account == "buyer" for e in taker.events for t in e.trades)
    [theirs] = core.pending_events                    # the seller hears it from advance(), not from the buyer's turn
    assert theirs.kind is K.FILLED and theirs.order.order_id == rest.order.order_id
    assert [t.quantity for t in theirs.trades] == [3] and theirs.trades[0].account == "seller"
    told = [t.trade_id for e in (*taker.events, theirs) for t in e.trades]
    assert sorted(told) == sorted(t.trade_id for t in taker.trades)      # every trade in exactly one event


def test_the_clock_tells_releases_triggers_fills_square_offs_and_expiries():
    sat = ist(2026, 11, 21, 11, 0)
    core = make_core(sat)
    core.open_account(ACC, None, sat)
    amo = core.place(req("TCS", Side.BUY, 2), sat)
    assert kinds(amo.events) == [K.ACCEPTED] and amo.order.is_amo
    events = catch_up(core, ist(2026, 11, 23, 9, 16))
    mine = [e for e in events if e.order.order_id == amo.order.order_id]
    assert kinds(mine) == [K.RELEASED, K.FILLED]
    assert mine[1].trades[0].price_paise == core.market.open_price("TCS", date(2026, 11, 23))

    mis = core.place(req("ITC", Side.BUY, 10, product=Product.MIS), ist(2026, 11, 23, 10, 0))
    assert kinds(mis.events) == [K.ACCEPTED, K.FILLED]
    later = core.market.samples("TCS", ist(2026, 11, 23, 10, 0), ist(2026, 11, 23, 15, 0))
    trigger = min(p for _, p in later) + 100
    stop = core.place(req("TCS", Side.SELL, 2, order_type=OrderType.SL_M, trigger_paise=trigger),
                      ist(2026, 11, 23, 10, 0))
    lower = core.market.circuits("HDFCBANK", MON_10.date())[0]
    day = core.place(limit("HDFCBANK", Side.BUY, 3, lower), ist(2026, 11, 23, 10, 0))
    events = catch_up(core, ist(2026, 11, 23, 15, 31))
    by_order = {}
    for e in events:
        by_order.setdefault(e.order.order_id, []).append(e)
    assert kinds(by_order[stop.order.order_id]) == [K.TRIGGERED, K.FILLED]
    [squared] = [e for e in events if e.kind is K.SQUARED_OFF]
    assert squared.order.side is Side.SELL and sum(t.quantity for t in squared.trades) == 10
    assert K.ACCEPTED not in kinds(events)            # the engine's own square-off order is told once, squared off
    assert kinds(by_order[day.order.order_id]) == [K.EXPIRED]
    assert by_order[day.order.order_id][0].order.status is OrderStatus.EXPIRED
    trades = [t.trade_id for e in events for t in e.trades]
    assert len(trades) == len(set(trades))


async def test_expired_is_stored_and_read_back_and_a_duplicate_tells_nothing_again(engine, db, clock):
    await engine.open_account(ACC)
    lower = engine.market.circuits("HDFCBANK", MON_10.date())[0]
    r = await engine.place(limit("HDFCBANK", Side.BUY, 1, lower, coid="wamid.E1"))
    assert kinds(r.events) == [K.ACCEPTED]
    again = await engine.place(limit("HDFCBANK", Side.BUY, 1, lower, coid="wamid.E1"))
    assert again.duplicate and again.events == ()
    clock.set(ist(2026, 11, 23, 15, 40))
    [expired] = await engine.advance(clock.now())
    assert isinstance(expired, EngineEvent) and expired.kind is K.EXPIRED
    assert (await engine.get_order(ACC, r.order.order_id)).status is OrderStatus.EXPIRED
    async with db.connect() as conn:
        assert (await conn.execute(select(orders.c.status).where(orders.c.order_id == r.order.order_id))
                ).scalar_one() == "EXPIRED"
    reopened = await open_engine(db=db, clock=clock, config=CONFIG)
    try:
        assert [o.status for o in await reopened.orders(ACC)] == [OrderStatus.EXPIRED]
        refused = await reopened.cancel(ACC, r.order.order_id)
        assert refused.rejection.params["status"] == "EXPIRED" and refused.events == ()
    finally:
        await reopened.close()


async def test_the_migration_moves_orders_the_close_ended_from_cancelled_to_expired(db):
    async def run(fn, *args):
        async with db.begin() as conn:
            await lock_ddl(conn)
            return await conn.run_sync(fn, *args)

    await run(migrations.upgrade_sync, "0001")
    row = {c.name: None for c in orders.columns}
    row.update(seq=1, client_order_id="c", account=ACC, symbol="TCS", side="BUY", quantity=1, order_type="LIMIT",
               product="CNC", validity="DAY", tier="LITE", placed_at=MON_10, updated_at=MON_10, stage="done",
               filled=0, filled_value=0, is_amo=False, blocked=0, reserved=0, ch_brokerage=0, ch_stt=0,
               ch_exchange=0, ch_sebi=0, ch_stamp=0, ch_gst=0)
    async with db.begin() as conn:
        for oid, last in (("o-expired", "expire"), ("o-cancelled", "cancel")):
            await conn.execute(insert(orders).values(**{**row, "order_id": oid, "client_order_id": oid,
                                                        "status": "CANCELLED"}))
            await conn.execute(insert(order_events).values(order_id=oid, event=last, status="CANCELLED",
                                                           filled=0, at=MON_10, detail="{}"))
    await run(migrations.upgrade_sync, "head")
    async with db.connect() as conn:
        status = dict((await conn.execute(select(orders.c.order_id, orders.c.status))).all())
    assert status == {"o-expired": "EXPIRED", "o-cancelled": "CANCELLED"}     # a user's cancel stays one


def test_a_commands_events_and_the_clocks_cross_the_cluster_wire_typed(core):
    from bot.cluster import codec
    from bot.cluster.engine_rpc import decode_events, encode_events
    from engine.api import OrderResult

    r = core.place(req("TCS", Side.BUY, 3), MON_10)
    back = codec.loads(codec.dumps(r, OrderResult), OrderResult)
    assert back == r and [type(e.kind) for e in back.events] == [EventKind, EventKind]
    at, events = decode_events(encode_events(MON_10, list(r.events)))
    assert at == MON_10 and events == list(r.events)
    legacy = encode_events(MON_10, [r.events[1]])        # a tick published before the kinds were typed
    legacy["events"] = legacy["events"].replace('"kind":"filled"', '"kind":"fill"')
    assert decode_events(legacy)[1][0].kind is EventKind.FILLED
