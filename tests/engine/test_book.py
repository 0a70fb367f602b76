"""The pure order book: price-time priority and conservation, by example and by property."""

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.book import BUY, SELL, Book


def test_best_price_first_then_time_priority():
    b = Book()
    b.add("s1", SELL, 101, 5)
    b.add("s2", SELL, 100, 5)
    b.add("s3", SELL, 100, 5)
    fills, rest = b.submit("b1", BUY, 101, 12)
    assert fills == [("s2", 100, 5), ("s3", 100, 5), ("s1", 101, 2)]
    assert rest == 0
    assert list(b.orders(SELL)) == [("s1", 101, 3)]


def test_non_crossing_order_rests_and_cancel_removes_it():
    b = Book()
    fills, rest = b.submit("b1", BUY, 99, 10)
    assert (fills, rest) == ([], 10)
    assert b.best_bid() == 99 and b.best_ask() is None
    assert b.cancel("b1") == 10
    assert b.best_bid() is None and len(b) == 0
    assert b.cancel("b1") == 0


def test_reduce_keeps_priority():
    b = Book()
    b.add("a", BUY, 100, 10)
    b.add("b", BUY, 100, 10)
    b.reduce("a", 4)
    fills, _ = b.submit("s", SELL, 100, 6)
    assert fills == [("a", 100, 4), ("b", 100, 2)]


orders_strategy = st.lists(
    st.tuples(st.sampled_from([BUY, SELL]), st.integers(95, 105), st.integers(1, 50), st.booleans()),
    min_size=1, max_size=120)


@settings(max_examples=150, deadline=None)
@given(orders_strategy)
def test_book_invariants(orders):
    """Filled ≤ ordered, quantity conserved, never a crossed book, fills at the resting price in priority."""
    b = Book()
    submitted: dict[str, int] = {}
    filled: dict[str, int] = {}
    cancelled: dict[str, int] = {}
    side_of: dict[str, int] = {}
    pairs: list[tuple[str, str]] = []
    arrival: dict[str, int] = {}
    for i, (side, price, qty, cancel_one) in enumerate(orders):
        oid = f"o{i}"
        submitted[oid] = qty
        arrival[oid] = i
        side_of[oid] = side
        fills, rest = b.submit(oid, side, price, qty)
        taken = 0
        last_key = None
        for rid, px, n in fills:
            assert n > 0
            # the incoming order never trades worse than its limit
            assert px <= price if side == BUY else px >= price
            # price-time priority: better price first, then earlier arrival at the same price
            key = (px if side == BUY else -px, arrival[rid])
            assert last_key is None or key >= last_key
            last_key = key
            filled[rid] = filled.get(rid, 0) + n
            pairs.append((oid, rid))
            taken += n
        filled[oid] = filled.get(oid, 0) + taken
        assert taken + rest == qty
        bid, ask = b.best_bid(), b.best_ask()
        assert bid is None or ask is None or bid < ask
        if cancel_one and i % 3 == 0:
            victim = f"o{i // 2}"
            cancelled[victim] = cancelled.get(victim, 0) + b.cancel(victim)
    resting = {oid: qty for side in (BUY, SELL) for oid, _, qty in b.orders(side)}
    for oid, qty in submitted.items():
        assert filled.get(oid, 0) <= qty
        assert filled.get(oid, 0) + resting.get(oid, 0) + cancelled.get(oid, 0) == qty
    # every fill has two sides: an incoming order only ever trades with an earlier order of the other side
    assert all(side_of[rid] != side_of[oid] and arrival[rid] < arrival[oid] for oid, rid in pairs)
