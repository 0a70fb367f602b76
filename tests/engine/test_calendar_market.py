"""Trading calendar (dated table) and the deterministic simulated market."""

from datetime import date

from engine.calendar import Phase
from engine.instruments import load_instruments
from tests.engine.conftest import ist, make_market


def test_calendar_is_a_dated_table():
    cal = make_market().calendar
    assert cal.is_trading_day(date(2026, 11, 23))                    # Monday
    assert not cal.is_trading_day(date(2026, 11, 24))                # Guru Nanak Jayanti
    assert not cal.is_trading_day(date(2026, 11, 21))                # Saturday
    muhurat = cal.session(date(2026, 11, 8))                         # Sunday, Diwali Muhurat
    assert muhurat is not None and muhurat.open.hour == 18 and muhurat.minutes == 60
    assert cal.settlement_date(date(2026, 11, 23)) == date(2026, 11, 25)   # T+1 skips the holiday
    assert cal.settlement_date(date(2026, 11, 27)) == date(2026, 11, 30)   # Friday -> Monday


def test_phases_and_next_session():
    cal = make_market().calendar
    assert cal.phase(ist(2026, 11, 23, 9, 5)) is Phase.PRE_OPEN
    assert cal.phase(ist(2026, 11, 23, 9, 10)) is Phase.PRE_OPEN_MATCH
    assert cal.phase(ist(2026, 11, 23, 9, 15)) is Phase.OPEN
    assert cal.phase(ist(2026, 11, 23, 15, 30)) is Phase.CLOSED
    assert cal.next_session(ist(2026, 11, 23, 16, 0)).day == date(2026, 11, 25)
    assert cal.next_session(ist(2026, 11, 23, 8, 0)).day == date(2026, 11, 23)


def test_same_time_same_price_in_a_fresh_market():
    a, b = make_market(), make_market()
    t = ist(2026, 11, 23, 11, 37, 20)
    for sym in ("TCS", "RELIANCE", "WIPRO", "NIFTY 50", "NIFTY BANK"):
        assert a.ltp(sym, t) == b.ltp(sym, t)
        assert a.quote(sym, t) == b.quote(sym, t)
    assert a.depth("TCS", t) == b.depth("TCS", t)


def test_prices_move_stay_on_tick_and_inside_circuits():
    m = make_market()
    inst = load_instruments().get("TCS")
    day = date(2026, 11, 23)
    lower, upper = m.circuits("TCS", day)
    tick = m.tick("TCS", day)
    seen = set()
    for minute in range(0, 375, 5):
        t = ist(2026, 11, 23, 9, 15) .replace(hour=9 + (15 + minute) // 60, minute=(15 + minute) % 60)
        p = m.ltp("TCS", t)
        assert p % tick == 0 and lower <= p <= upper
        seen.add(p)
    assert len(seen) > 10
    assert m.prev_close("TCS", date(2026, 11, 23)) == inst.ref_price_paise   # the reference close
    d = m.depth("TCS", ist(2026, 11, 23, 10, 0))
    assert d.bids[0][0] < m.ltp("TCS", ist(2026, 11, 23, 10, 0)) < d.asks[0][0]
    assert [p for p, _ in d.asks] == sorted(p for p, _ in d.asks)


def test_closed_market_quotes_last_close_and_no_depth():
    m = make_market()
    q = m.quote("TCS", ist(2026, 11, 21, 12, 0))           # Saturday
    assert not q.market_open and q.bid_paise is None
    assert q.ltp_paise == m.ltp("TCS", ist(2026, 11, 20, 15, 45))


def test_index_is_computed_from_constituents():
    m = make_market()
    t = ist(2026, 11, 23, 12, 0)
    q = m.quote("NIFTY BANK", t)
    assert q.is_index and q.bid_paise is None
    members = load_instruments().get("NIFTY BANK").constituents
    total = sum(members.values())
    expected = round(5_842_000 * sum(w * m.ltp(s, t) / load_instruments().get(s).ref_price_paise
                                     for s, w in members.items()) / total)
    assert abs(q.ltp_paise - expected) <= 1
    assert m.prev_close("NIFTY 50", date(2026, 11, 23)) == 2_585_000


def test_weekend_quotes_show_the_last_sessions_change_for_stocks_and_indices():
    m = make_market()
    sat, fri = ist(2026, 11, 21, 12, 0), ist(2026, 11, 20, 15, 45)
    for sym in ("TCS", "NIFTY 50"):
        weekend, friday = m.quote(sym, sat), m.quote(sym, fri)
        assert (weekend.ltp_paise, weekend.prev_close_paise) == (friday.ltp_paise, friday.prev_close_paise)
        assert weekend.change_paise != 0
