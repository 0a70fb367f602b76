"""Property tests of the core's money: random order flows keep the ledger balanced and nothing negative.

Invariant checked after every command and every market step: all postings sum to zero; each account's cash is
never negative and never below what it blocks; holdings never negative; cash + cost basis of holdings equals
the starting balance minus charges plus realized P&L (value is only moved, never created); filled ≤ ordered.
"""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api import OrderType, Product, Side, Validity
from engine.session import catch_up
from tests.engine.conftest import MON_10, make_core, req

ACCOUNTS = ("a1", "a2", "a3")
SYMBOLS = ("TCS", "ITC", "WIPRO")
START = 2_000_000

command = st.tuples(
    st.sampled_from(ACCOUNTS), st.sampled_from(SYMBOLS), st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 40), st.sampled_from([OrderType.MARKET, OrderType.LIMIT]),
    st.sampled_from([Product.CNC, Product.MIS]), st.sampled_from([Validity.DAY, Validity.IOC]),
    st.integers(-15, 15), st.integers(0, 40), st.booleans())


def check(core) -> None:
    assert core.ledger.total() == 0
    for acct in ACCOUNTS:
        funds = core.funds(acct)
        state = core.accounts[acct]
        assert funds.cash_paise >= 0
        assert state.blocked >= 0
        cost = sum(h.cost for (a, _), h in core.holdings.items() if a == acct)
        mis_cash = sum(p.sell_value - p.buy_value for (a, _, _), p in core.positions.items() if a == acct)
        mis_realized = sum(p.realized() for (a, _, _), p in core.positions.items() if a == acct)
        cnc_realized = sum(h.realized for (a, _), h in core.holdings.items() if a == acct)
        assert state.realized == cnc_realized + mis_realized
        # cash + cost basis (+ open MIS cash flows) == start - charges + CNC realized P&L
        assert funds.cash_paise + cost - mis_cash == START - state.charges_paid + cnc_realized
    for h in core.holdings.values():
        assert 0 <= h.reserved <= h.quantity and h.cost >= 0
    for o in core.orders.values():
        assert 0 <= o.filled <= o.quantity


@settings(max_examples=40, deadline=None)
@given(st.lists(command, min_size=1, max_size=25))
def test_random_order_flow_keeps_the_books_balanced(commands):
    core = make_core()
    for acct in ACCOUNTS:
        core.open_account(acct, START, MON_10)
    now = MON_10
    for acct, sym, side, qty, otype, product, validity, offset_ticks, minutes, cancel in commands:
        ltp = core.market.ltp(sym, now)
        tick = core.market.tick(sym, now.date())
        price = (ltp // tick + offset_ticks) * tick if otype is OrderType.LIMIT else None
        r = core.place(req(sym, side, qty, account=acct, order_type=otype, product=product, validity=validity,
                           price_paise=price), now)
        for t in r.trades:
            assert t.quantity > 0
        check(core)
        if cancel and r.accepted and r.order.pending_quantity and r.order.order_id in core.orders:
            core.cancel(acct, r.order.order_id, now)
            check(core)
        if minutes:
            now = now + timedelta(minutes=minutes)
            catch_up(core, now)
            check(core)
        core.take_changes()
    catch_up(core, core.calendar.next_session(now).close + timedelta(minutes=1))
    check(core)
    assert all(o.stage == "done" for o in core.orders.values())
    for acct in ACCOUNTS:
        assert core.funds(acct).blocked_paise == 0
        assert all(p.net == 0 for (a, _, _), p in core.positions.items() if a == acct)


def test_a_sale_keeps_the_unsettled_lot_of_a_later_buy():
    """Buy 5 on Monday (settles Tuesday), buy 5 on Thursday, sell 5 on Thursday: the Monday shares are the
    settled ones that were sold, so 5 shares are still T1 on Thursday and none on Friday's settlement."""
    from datetime import date

    from engine.ledger import HoldingState

    h = HoldingState("a", "TCS")
    h.buy(5, 100, date(2026, 11, 24), today=date(2026, 11, 23))
    h.buy(5, 110, date(2026, 11, 27), today=date(2026, 11, 26))
    h.sell(5, 120, today=date(2026, 11, 26))
    assert (h.quantity, h.t1_quantity(date(2026, 11, 26)), h.t1_quantity(date(2026, 11, 27))) == (5, 5, 0)
    assert h.lots == [["2026-11-27", 5]]
