"""Money and holdings, pure: a double-entry cash ledger, CNC holdings with average cost and T+1 lots, and
MIS intraday positions. No I/O; the persistence layer stores what these produce.

Ledger accounts: ``cash:<account>`` (the user's cash), ``capital`` (virtual money granted to new accounts),
``clearing`` (the exchange side of every trade) and ``charges:<kind>`` (brokerage, STT, ...). Every entry's
legs sum to zero, so the sum of all balances is always zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

CAPITAL = "capital"
CLEARING = "clearing"


def cash_key(account: str) -> str:
    return f"cash:{account}"


class UnbalancedEntry(ValueError):
    pass


@dataclass(slots=True)
class Ledger:
    balances: dict[str, int] = field(default_factory=dict)
    next_id: int = 1

    def post(self, kind: str, ref: str, at: datetime, legs: list[tuple[str, int]]) -> list[dict[str, Any]]:
        """Record one balanced entry; returns the posting rows to persist."""
        if sum(amount for _, amount in legs) != 0:
            raise UnbalancedEntry(f"{kind} {ref}: legs sum to {sum(a for _, a in legs)}")
        entry = self.next_id
        self.next_id += 1
        rows = []
        for key, amount in legs:
            if amount == 0:
                continue
            self.balances[key] = self.balances.get(key, 0) + amount
            rows.append({"entry_id": entry, "account_key": key, "amount": amount, "kind": kind, "ref": ref,
                         "at": at})
        return rows

    def balance(self, key: str) -> int:
        return self.balances.get(key, 0)

    def total(self) -> int:
        return sum(self.balances.values())


@dataclass(slots=True)
class HoldingState:
    """One account's delivery holding in one symbol. ``cost`` is the total cost basis of ``quantity``."""

    account: str
    symbol: str
    quantity: int = 0
    cost: int = 0
    realized: int = 0
    reserved: int = 0                      # held by open CNC sell orders
    lots: list[list[Any]] = field(default_factory=list)   # [[settlement_date_iso, qty], ...] not yet settled

    @property
    def average(self) -> int:
        return (self.cost + self.quantity // 2) // self.quantity if self.quantity else 0

    @property
    def free(self) -> int:
        return self.quantity - self.reserved

    def buy(self, qty: int, price: int, settles: date, *, today: date) -> None:
        self.settle(today)
        self.quantity += qty
        self.cost += qty * price
        self.lots.append([settles.isoformat(), qty])

    def sell(self, qty: int, price: int, *, today: date) -> int:
        """Remove ``qty`` at ``price``; returns the realized P&L of this sale (before charges)."""
        if qty > self.quantity:
            raise ValueError("selling more than held")
        self.settle(today)   # the trimming below assumes only unsettled lots are left
        removed = self.cost if qty == self.quantity else self.cost * qty // self.quantity
        self.quantity -= qty
        self.cost -= removed
        pnl = qty * price - removed
        self.realized += pnl
        # T1 lots shrink only when settled shares run out (sell settled shares first).
        excess = sum(q for _, q in self.lots) - self.quantity
        while excess > 0 and self.lots:
            take = min(excess, self.lots[-1][1])
            self.lots[-1][1] -= take
            excess -= take
            if self.lots[-1][1] == 0:
                self.lots.pop()
        return pnl

    def t1_quantity(self, today: date) -> int:
        iso = today.isoformat()
        pending = sum(q for d, q in self.lots if d > iso)
        return min(pending, self.quantity)

    def settle(self, today: date) -> bool:
        """Drop lots whose settlement date has come; True when something changed."""
        iso = today.isoformat()
        before = len(self.lots)
        self.lots = [lot for lot in self.lots if lot[0] > iso]
        return len(self.lots) != before


@dataclass(slots=True)
class PositionState:
    """One account's MIS position in one symbol on one trade day."""

    account: str
    day: date
    symbol: str
    buy_qty: int = 0
    buy_value: int = 0
    sell_qty: int = 0
    sell_value: int = 0

    @property
    def net(self) -> int:
        return self.buy_qty - self.sell_qty

    @property
    def buy_avg(self) -> int:
        return self.buy_value // self.buy_qty if self.buy_qty else 0

    @property
    def sell_avg(self) -> int:
        return self.sell_value // self.sell_qty if self.sell_qty else 0

    def realized(self) -> int:
        closed = min(self.buy_qty, self.sell_qty)
        if not closed:
            return 0
        return closed * self.sell_value // self.sell_qty - closed * self.buy_value // self.buy_qty

    def unrealized(self, ltp: int) -> int:
        net = self.net
        if net > 0:
            return net * (ltp - self.buy_avg)
        if net < 0:
            return -net * (self.sell_avg - ltp)
        return 0

    def short_exposure(self) -> int:
        """Cash kept aside while the position is net short (sale proceeds are not spendable)."""
        return -self.net * self.sell_avg if self.net < 0 else 0


@dataclass(slots=True)
class AccountState:
    account: str
    tier: str = "LITE"
    created_at: datetime | None = None
    blocked: int = 0            # held for open orders
    charges_paid: int = 0
    realized: int = 0           # CNC + MIS realized P&L before charges
