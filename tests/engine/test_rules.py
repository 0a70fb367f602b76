"""Order rules on the pure core (no database): validation, matching, AMO, expiry, square-off, settlement."""

from datetime import date, datetime

from engine.api import EventKind, OrderStatus, OrderType, Product, Side, Validity
from engine.session import catch_up
from tests.engine.conftest import MON_10, ist, limit, make_core, req

ACC = "919800000002"


def code(result):
    assert not result.accepted
    return result.rejection.code


def test_market_buy_fills_at_once_at_the_maker_ask(core):
    depth = core.market.depth("TCS", MON_10)
    ltp = core.market.ltp("TCS", MON_10)
    r = core.place(req("TCS", Side.BUY, 10), MON_10)
    assert r.accepted and r.order.status is OrderStatus.COMPLETE and r.order.filled_quantity == 10
    assert [t.price_paise for t in r.trades] == [depth.asks[0][0]]
    assert abs(r.trades[0].price_paise - ltp) <= ltp // 1000            # within 0.1% of LTP
    assert r.order.protection_price_paise >= depth.asks[0][0]
    funds = core.funds(ACC)
    assert funds.cash_paise == 10_000_000 - 10 * depth.asks[0][0] - r.order.charges.total
    assert funds.blocked_paise == 0 and r.order.charges.total > 0
    assert core.ledger.total() == 0


def test_non_marketable_limit_rests_open_and_blocks_cash(core):
    ltp = core.market.ltp("INFY", MON_10)
    price = ltp - ltp % 10 - 500
    r = core.place(limit("INFY", Side.BUY, 5, price), MON_10)
    assert r.accepted and r.order.status is OrderStatus.OPEN and not r.trades
    assert core.funds(ACC).blocked_paise == 5 * price + r.order.charges.total + \
        core.schedule.compute(product=Product.CNC, side=Side.BUY, value_paise=5 * price, on=MON_10.date(),
                              tier="LITE").total


def test_validation_rejections(core):
    tcs = core.market.ltp("TCS", MON_10)
    lower, upper = core.market.circuits("TCS", MON_10.date())
    assert code(core.place(req("NOPE"), MON_10)) == "unknown_symbol"
    assert code(core.place(req("NIFTY 50"), MON_10)) == "index_not_tradable"
    assert code(core.place(req("TCS", quantity=0), MON_10)) == "quantity_invalid"
    assert code(core.place(req("TCS", quantity=100_001), MON_10)) == "quantity_cap"
    assert code(core.place(req("TCS", order_type=OrderType.LIMIT), MON_10)) == "price_required"
    assert code(core.place(limit("TCS", Side.BUY, 1, tcs + 5), MON_10)) == "tick"        # tick is ₹0.10
    r = core.place(limit("TCS", Side.BUY, 1, upper + 10), MON_10)
    assert code(r) == "band" and r.rejection.params["upper"] == 343200
    assert code(core.place(limit("TCS", Side.BUY, 1, lower - 10), MON_10)) == "band"
    assert code(core.place(limit("MARUTI", Side.BUY, 90_000, 1_500_000), MON_10)) == "value_cap"
    assert code(core.place(req("TCS", order_type=OrderType.SL_M, trigger_paise=tcs - 1000), MON_10)) == \
        "trigger_crossed"
    assert code(core.place(req("TCS", Side.SELL, product=Product.MIS, order_type=OrderType.SL_M,
                               trigger_paise=tcs + 1000), MON_10)) == "trigger_crossed"
    assert code(core.place(req("TCS", order_type=OrderType.SL, price_paise=tcs + 1000,
                               trigger_paise=tcs + 2000), MON_10)) == "sl_price_trigger"
    assert core.funds(ACC).cash_paise == 10_000_000           # rejections move no money


def test_cash_check_includes_charges():
    core = make_core()
    price = 140_000
    value = 10 * price
    charges = core.schedule.compute(product=Product.CNC, side=Side.BUY, value_paise=value, on=MON_10.date(),
                                    tier="LITE").total
    core.open_account("poor", value + charges - 1, MON_10)
    core.open_account("exact", value + charges, MON_10)
    r = core.place(limit("RELIANCE", Side.BUY, 10, price, account="poor"), MON_10)
    assert code(r) == "insufficient_funds" and r.rejection.params["required"] == 1402841   # 16.61 + ₹10 + 18% GST
    assert core.place(limit("RELIANCE", Side.BUY, 10, price, account="exact"), MON_10).accepted
    assert core.funds("exact").available_paise == 0


def test_no_short_selling_in_delivery(core):
    assert code(core.place(req("SBIN", Side.SELL, 1), MON_10)) == "insufficient_holdings"
    assert core.place(req("SBIN", Side.BUY, 5), MON_10).order.status is OrderStatus.COMPLETE
    assert code(core.place(req("SBIN", Side.SELL, 6), MON_10)) == "insufficient_holdings"
    far = core.market.circuits("SBIN", MON_10.date())[1]
    assert core.place(limit("SBIN", Side.SELL, 3, far), MON_10).accepted        # reserves 3
    r = core.place(req("SBIN", Side.SELL, 3), MON_10)
    assert code(r) == "insufficient_holdings" and r.rejection.params["available"] == 2
    assert core.place(req("SBIN", Side.SELL, 2), MON_10).order.status is OrderStatus.COMPLETE


def test_ioc_remainder_is_cancelled_and_day_partial_fill_rests(core):
    core.open_account("rich", 10**10, MON_10)
    ask, size = core.market.depth("ITC", MON_10).asks[0]
    r = core.place(limit("ITC", Side.BUY, size + 50, ask, validity=Validity.IOC, account="rich"), MON_10)
    assert r.order.status is OrderStatus.CANCELLED and r.order.filled_quantity == size
    r2 = core.place(limit("ITC", Side.BUY, size + 50, ask, account="rich"), MON_10)
    assert r2.order.status is OrderStatus.OPEN and r2.order.filled_quantity == size
    assert r2.order.pending_quantity == 50
    assert core.book("ITC").remaining(r2.order.order_id) == 50


def test_day_order_expires_at_the_close_and_releases_cash(core):
    lower = core.market.circuits("HDFCBANK", MON_10.date())[0]
    r = core.place(limit("HDFCBANK", Side.BUY, 3, lower), MON_10)
    assert core.funds(ACC).blocked_paise > 0
    events = catch_up(core, ist(2026, 11, 23, 15, 31))
    assert [(e.kind, e.order.order_id) for e in events] == [(EventKind.EXPIRED, r.order.order_id)]
    assert events[0].order.status is OrderStatus.EXPIRED
    assert core.funds(ACC).blocked_paise == 0 and core.funds(ACC).cash_paise == 10_000_000


def test_resting_limit_fills_when_the_path_crosses(core):
    later = core.market.samples("TCS", MON_10, ist(2026, 11, 23, 15, 29))
    low_t, low = min(later, key=lambda s: s[1])
    ltp = core.market.ltp("TCS", MON_10)
    assert low < ltp - 200
    price = low + 100                                   # reached only later in the day
    r = core.place(limit("TCS", Side.BUY, 2, price), MON_10)
    assert r.order.status is OrderStatus.OPEN
    events = catch_up(core, ist(2026, 11, 23, 15, 0))
    fills = [e for e in events if e.is_fill]
    assert fills and fills[-1].order.status is OrderStatus.COMPLETE
    assert all(t.price_paise == price for e in fills for t in e.trades)
    assert MON_10 < fills[0].trades[0].at <= low_t


def test_stop_loss_market_triggers_when_price_falls_to_it(core):
    core.place(req("TCS", Side.BUY, 4), MON_10)
    later = core.market.samples("TCS", MON_10, ist(2026, 11, 23, 15, 0))
    low = min(p for _, p in later)
    trigger = low + 100
    assert trigger < core.market.ltp("TCS", MON_10)
    r = core.place(req("TCS", Side.SELL, 4, order_type=OrderType.SL_M, trigger_paise=trigger), MON_10)
    assert r.order.status is OrderStatus.TRIGGER_PENDING
    events = catch_up(core, ist(2026, 11, 23, 15, 0))
    assert [e.kind for e in events] == [EventKind.TRIGGERED, EventKind.FILLED]    # the stop, then its fill
    assert events[0].order.status is OrderStatus.OPEN and not events[0].trades
    assert events[1].order.status is OrderStatus.COMPLETE and events[1].trades[0].price_paise <= trigger
    assert core.holdings[(ACC, "TCS")].quantity == 0


def test_mis_cutoff_and_auto_square_off(core):
    r = core.place(req("ITC", Side.BUY, 10, product=Product.MIS), MON_10)
    assert r.order.status is OrderStatus.COMPLETE
    open_sell = core.place(limit("ITC", Side.SELL, 10, core.market.circuits("ITC", MON_10.date())[1],
                                 product=Product.MIS), MON_10)
    events = catch_up(core, ist(2026, 11, 23, 15, 21))
    kinds = [e.kind for e in events]
    assert kinds == [EventKind.CANCELLED, EventKind.SQUARED_OFF]
    assert events[0].order.order_id == open_sell.order.order_id
    assert events[1].order.side is Side.SELL and events[1].order.status is OrderStatus.COMPLETE
    assert core.positions[(ACC, MON_10.date(), "ITC")].net == 0
    late = core.place(req("ITC", Side.BUY, 1, product=Product.MIS), ist(2026, 11, 23, 15, 25))
    assert code(late) == "mis_cutoff"
    assert core.place(req("ITC", Side.BUY, 1), ist(2026, 11, 23, 15, 25)).accepted    # CNC still fine
    assert core.ledger.total() == 0


def test_orders_outside_hours_become_amo_and_release_at_the_next_session():
    sat = ist(2026, 11, 21, 11, 0)
    core = make_core(sat)
    core.open_account(ACC, None, sat)
    m = core.place(req("TCS", Side.BUY, 2), sat)
    sl = core.place(req("TCS", Side.BUY, 1, order_type=OrderType.SL_M,
                        trigger_paise=core.market.ltp("TCS", sat) + 5000), sat)
    assert m.order.is_amo and m.order.status is OrderStatus.OPEN and m.order.release_at == ist(2026, 11, 23, 9, 0)
    assert sl.order.is_amo and sl.order.release_at == ist(2026, 11, 23, 9, 15)
    assert core.funds(ACC).blocked_paise > 0
    events = catch_up(core, ist(2026, 11, 23, 9, 16))
    assert [e.kind for e in events][:2] == [EventKind.RELEASED, EventKind.FILLED]
    fill = events[1]
    assert fill.order.status is OrderStatus.COMPLETE
    assert fill.trades[0].price_paise == core.market.open_price("TCS", date(2026, 11, 23))   # call auction
    assert any(e.kind is EventKind.RELEASED and e.order.order_id == sl.order.order_id for e in events)


def test_holiday_amo_goes_to_the_day_after():
    tue = ist(2026, 11, 24, 10, 0)                        # Guru Nanak Jayanti
    core = make_core(tue)
    core.open_account(ACC, None, tue)
    r = core.place(req("WIPRO", Side.BUY, 1), tue)
    assert r.order.is_amo and r.order.release_at == ist(2026, 11, 25, 9, 0)


def test_t_plus_one_settlement(core):
    core.place(req("ITC", Side.BUY, 7), MON_10)
    h = core.holdings[(ACC, "ITC")]
    assert h.t1_quantity(date(2026, 11, 23)) == 7
    assert h.t1_quantity(date(2026, 11, 24)) == 7               # holiday: not settled yet
    assert h.t1_quantity(date(2026, 11, 25)) == 0


def test_user_orders_match_each_other_before_the_maker():
    core = make_core()
    core.open_account("seller", None, MON_10)
    core.open_account("buyer", None, MON_10)
    ltp = core.market.ltp("TCS", MON_10)
    inside = ltp - ltp % 10                                    # between the maker's bid and ask
    rest = core.place(limit("TCS", Side.SELL, 3, inside, account="seller", product=Product.MIS), MON_10)
    assert rest.order.status is OrderStatus.OPEN
    r = core.place(req("TCS", Side.BUY, 5, account="buyer"), MON_10)
    assert r.trades[0].account == "buyer" and r.trades[0].price_paise == inside
    assert r.trades[1].account == "seller" and r.trades[1].quantity == 3
    assert r.trades[2].price_paise == core.market.depth("TCS", MON_10).asks[0][0]
    assert core.positions[("seller", MON_10.date(), "TCS")].net == -3
    assert core.ledger.total() == 0


def test_modify_and_cancel(core):
    lower = core.market.circuits("AXISBANK", MON_10.date())[0]
    r = core.place(limit("AXISBANK", Side.BUY, 2, lower), MON_10)
    oid = r.order.order_id
    m = core.modify(ACC, oid, MON_10, quantity=4, price_paise=None, trigger_paise=None)
    assert m.accepted and m.order.quantity == 4
    ask = core.market.depth("AXISBANK", MON_10).asks[0][0]
    m2 = core.modify(ACC, oid, MON_10, quantity=None, price_paise=ask + 100, trigger_paise=None)
    assert m2.order.status is OrderStatus.COMPLETE and m2.trades
    assert code(core.cancel(ACC, oid, MON_10)) == "order_not_open"         # no longer working
    r3 = core.place(limit("AXISBANK", Side.BUY, 1, lower), MON_10)
    c = core.cancel(ACC, r3.order.order_id, MON_10)
    assert c.order.status is OrderStatus.CANCELLED
    assert code(core.cancel("someone-else", r3.order.order_id, MON_10)) == "order_not_found"
    assert core.funds(ACC).blocked_paise == 0


def test_estimate_has_no_side_effects(core):
    before = (core.funds(ACC), dict(core.ledger.balances), core.order_seq)
    e = core.estimate(req("TCS", Side.BUY, 10), MON_10)
    assert e.ok and e.value_paise == 10 * e.price_paise and e.charges.total > 0
    assert e.upper_circuit_paise == 343_200 and not e.is_amo
    assert (core.funds(ACC), dict(core.ledger.balances), core.order_seq) == before
    sat = core.estimate(req("TCS", Side.BUY, 10), ist(2026, 11, 21, 10, 0))
    assert sat.is_amo and sat.release_at == ist(2026, 11, 23, 9, 0)
    bad = core.estimate(req("TCS", Side.BUY, 10_000), MON_10)
    assert not bad.ok and bad.rejection.code == "insufficient_funds"
    assert not core.changes


def test_muhurat_session_trades_and_squares_off_before_its_own_close():
    start = ist(2026, 11, 8, 18, 10)                     # Sunday: Diwali Muhurat trading, 18:00-19:00
    core = make_core(start)
    core.open_account(ACC, None, start)
    r = core.place(req("RELIANCE", Side.BUY, 2, product=Product.MIS), start)
    assert not r.order.is_amo and r.order.status is OrderStatus.COMPLETE
    events = catch_up(core, ist(2026, 11, 8, 19, 1))
    [sq] = [e for e in events if e.kind is EventKind.SQUARED_OFF]
    assert sq.trades[0].at == ist(2026, 11, 8, 18, 50)
    late = core.place(req("RELIANCE", Side.BUY, 1, product=Product.MIS), ist(2026, 11, 8, 18, 55))
    assert code(late) == "mis_cutoff" and datetime.fromisoformat(late.rejection.params["cutoff"]) == ist(2026, 11, 8, 18, 50)


def test_stop_loss_limit_becomes_a_limit_order_at_the_trigger(core):
    later = core.market.samples("INFY", MON_10, ist(2026, 11, 23, 15, 0))
    high_t, high = max(later, key=lambda s: s[1])
    ltp = core.market.ltp("INFY", MON_10)
    tick = core.market.tick("INFY", MON_10.date())
    trigger = high - 2 * tick
    assert trigger > ltp
    r = core.place(req("INFY", Side.BUY, 2, order_type=OrderType.SL, trigger_paise=trigger,
                       price_paise=trigger + 20 * tick), MON_10)
    assert r.order.status is OrderStatus.TRIGGER_PENDING and core.funds(ACC).blocked_paise > 0
    events = catch_up(core, ist(2026, 11, 23, 15, 0))
    [trig] = [e for e in events if e.kind is EventKind.TRIGGERED]
    assert trig.order.order_type is OrderType.SL and trig.order.status is OrderStatus.OPEN
    [fill] = [e for e in events if e.is_fill]
    assert fill.order.filled_quantity == 2 and all(t.price_paise <= trigger + 20 * tick for t in fill.trades)
    assert trig.order.updated_at <= fill.trades[0].at <= high_t
