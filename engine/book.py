"""A price-time-priority limit order book for one symbol: pure, in memory, no I/O.

Price levels live in two heaps (bids as negated prices) with a FIFO deque per level; cancels are lazy (an entry
is zeroed and skipped when it reaches the front). This is the structure the in-memory benchmark measures.
Entries are small lists ``[order_id, remaining]`` for speed (the deque order is the time priority).
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush
from typing import Iterator

BUY, SELL = 1, -1

Fill = tuple[str, int, int]  # (resting order id, price, quantity)


class Book:
    __slots__ = ("symbol", "_bid_heap", "_ask_heap", "_bids", "_asks", "_index")

    def __init__(self, symbol: str = "") -> None:
        self.symbol = symbol
        self._bid_heap: list[int] = []      # -price
        self._ask_heap: list[int] = []      # price
        self._bids: dict[int, deque] = {}
        self._asks: dict[int, deque] = {}
        self._index: dict[str, tuple[int, int, list]] = {}   # order id -> (side, price, entry)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, order_id: str) -> bool:
        return order_id in self._index

    # -- resting -----------------------------------------------------------------------------------
    def add(self, order_id: str, side: int, price: int, quantity: int) -> None:
        """Rest an order at the back of its price level (no matching)."""
        entry = [order_id, quantity]
        levels = self._bids if side == BUY else self._asks
        q = levels.get(price)
        if q is None:
            q = levels[price] = deque()
            heappush(self._bid_heap if side == BUY else self._ask_heap, -price if side == BUY else price)
        q.append(entry)
        self._index[order_id] = (side, price, entry)

    def cancel(self, order_id: str) -> int:
        """Remove an order; returns the quantity that was resting (0 if unknown)."""
        found = self._index.pop(order_id, None)
        if found is None:
            return 0
        entry = found[2]
        qty, entry[1] = entry[1], 0
        return qty

    def reduce(self, order_id: str, quantity: int) -> None:
        """Lower a resting quantity in place (keeps time priority, as exchanges do for decreases)."""
        side, price, entry = self._index[order_id]
        if quantity <= 0:
            self.cancel(order_id)
        else:
            entry[1] = quantity

    def remaining(self, order_id: str) -> int:
        found = self._index.get(order_id)
        return found[2][1] if found else 0

    # -- best prices -------------------------------------------------------------------------------
    def _clean(self, side: int) -> int | None:
        heap, levels = (self._bid_heap, self._bids) if side == BUY else (self._ask_heap, self._asks)
        while heap:
            price = -heap[0] if side == BUY else heap[0]
            q = levels[price]
            while q and q[0][1] == 0:
                q.popleft()
            if q:
                return price
            heappop(heap)
            del levels[price]
        return None

    def best_bid(self) -> int | None:
        return self._clean(BUY)

    def best_ask(self) -> int | None:
        return self._clean(SELL)

    # -- matching ----------------------------------------------------------------------------------
    def take(self, side: int, price: int, quantity: int) -> list[Fill]:
        """Take up to ``quantity`` from the resting ``side`` at exactly ``price`` in time order."""
        levels = self._bids if side == BUY else self._asks
        q = levels.get(price)
        fills: list[Fill] = []
        index = self._index
        while q and quantity > 0:
            entry = q[0]
            avail = entry[1]
            if avail == 0:
                q.popleft()
                continue
            n = avail if avail < quantity else quantity
            fills.append((entry[0], price, n))
            quantity -= n
            if n == avail:
                entry[1] = 0
                q.popleft()
                del index[entry[0]]
            else:
                entry[1] = avail - n
        return fills

    def submit(self, order_id: str, side: int, price: int, quantity: int) -> tuple[list[Fill], int]:
        """A limit order: match against the other side while it crosses, rest the remainder.

        Returns the fills (against resting orders, at their prices) and the quantity left resting. This is the
        hot path of the matching benchmark, hence the inlined loops.
        """
        fills: list[Fill] = []
        index = self._index
        if side == BUY:
            heap, levels = self._ask_heap, self._asks
            while quantity and heap and heap[0] <= price:
                level = heap[0]
                q = levels[level]
                while q and quantity:
                    entry = q[0]
                    avail = entry[1]
                    if avail == 0:
                        q.popleft()
                    elif avail <= quantity:
                        fills.append((entry[0], level, avail))
                        quantity -= avail
                        entry[1] = 0
                        q.popleft()
                        del index[entry[0]]
                    else:
                        fills.append((entry[0], level, quantity))
                        entry[1] = avail - quantity
                        quantity = 0
                if not q:
                    heappop(heap)
                    del levels[level]
        else:
            heap, levels = self._bid_heap, self._bids
            while quantity and heap and -heap[0] >= price:
                level = -heap[0]
                q = levels[level]
                while q and quantity:
                    entry = q[0]
                    avail = entry[1]
                    if avail == 0:
                        q.popleft()
                    elif avail <= quantity:
                        fills.append((entry[0], level, avail))
                        quantity -= avail
                        entry[1] = 0
                        q.popleft()
                        del index[entry[0]]
                    else:
                        fills.append((entry[0], level, quantity))
                        entry[1] = avail - quantity
                        quantity = 0
                if not q:
                    heappop(heap)
                    del levels[level]
        if quantity:
            entry = [order_id, quantity]
            own = self._bids if side == BUY else self._asks
            q = own.get(price)
            if q is None:
                q = own[price] = deque()
                heappush(self._bid_heap if side == BUY else self._ask_heap, -price if side == BUY else price)
            q.append(entry)
            index[order_id] = (side, price, entry)
        return fills, quantity

    def orders(self, side: int) -> Iterator[tuple[str, int, int]]:
        """(order id, price, remaining) for one side, best price first, then time priority."""
        levels = self._bids if side == BUY else self._asks
        for price in sorted(levels, reverse=(side == BUY)):
            for entry in levels[price]:
                if entry[1]:
                    yield entry[0], price, entry[1]
