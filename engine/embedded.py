"""The embedded order engine: the async facade handlers talk to (``engine.api.OrderEngine``).

One writer: commands run one at a time under a lock against the pure core, and the caller hears the result
only after the command's changes have committed. With ``group_commit`` the core work is still serialised but
concurrent commands share one transaction (written by a single flusher, in order), which is how the durable
throughput target is met. If a commit fails, the in-memory state is rebuilt from the database.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any, Sequence

import structlog
from sqlalchemy.exc import IntegrityError

from engine.api import (ContractNote, EngineEvent, Estimate, Funds, Holding, OrderRequest, OrderResult,
                        OrderStatus, OrderView, Position, Product, Quote, Tier, Trade)
from engine.calendar import TradingCalendar
from engine.charges import ChargeSchedule
from engine.clock import IST, Clock
from engine.contract_note import build_contract_note
from engine.core import EngineCore
from engine.instruments import InstrumentMaster
from engine.market import MarketData
from engine.params import EngineParams
from engine.rejections import reject
from engine.session import catch_up
from engine.store import Batch, EngineStore

log = structlog.get_logger("gridworks.engine")


class EmbeddedEngine:
    def __init__(self, *, store: EngineStore, clock: Clock, market: MarketData, calendar: TradingCalendar,
                 instruments: InstrumentMaster, schedule: ChargeSchedule, params: EngineParams) -> None:
        self.store = store
        self.clock = clock
        self.market = market
        self.calendar = calendar
        self.instruments = instruments
        self.schedule = schedule
        self.params = params
        self.core = self._new_core()
        self._lock = asyncio.Lock()
        self._queue: list[tuple[Batch, asyncio.Future]] = []
        self._pending: dict[str, asyncio.Future] = {}     # order id -> commit of the batch that holds it
        self._flusher: asyncio.Future | None = None        # recovery after a failed group commit
        self._writing: asyncio.Future | None = None        # the group commit in flight
        self._failing = False
        self._intake: list[tuple[OrderRequest, asyncio.Future]] = []   # new orders waiting for the drain
        self._drain_scheduled = False
        self._closed = False

    def _new_core(self) -> EngineCore:
        return EngineCore(instruments=self.instruments, market=self.market, calendar=self.calendar,
                          schedule=self.schedule, params=self.params, advanced_to=self.clock.now(),
                          started=False)

    async def rebuild(self) -> None:
        """Replace the in-memory state with what the database holds (start-up and after a failed commit)."""
        core = self._new_core()
        await self.store.restore(core)
        self.core = core
        log.debug("engine.rebuilt", working_orders=len(core.orders), accounts=len(core.accounts))

    async def close(self) -> None:
        self._closed = True
        while self._writing is not None or self._queue or (self._flusher is not None and not self._flusher.done()):
            if self._flusher is not None and not self._flusher.done():
                await self._flusher
            elif self._writing is not None:
                await asyncio.wait([self._writing])
            else:
                self._kick()
        await self.store.close()

    # -- commit machinery ---------------------------------------------------------------------------
    async def _commit(self) -> asyncio.Future | None:
        """Commit what the core changed (called with the lock held).

        Per-command mode writes right here, under the lock. Group mode queues the batch and returns a future
        the caller awaits *after* releasing the lock, so other commands can join the group.
        """
        changes = self.core.take_changes()
        if not changes:
            return None
        batch = Batch.of(changes, self.store.sealer)
        if not self.params.group_commit:
            try:
                await self.store.write(batch)
            except BaseException:
                await self.rebuild()
                raise
            return None
        return self._enqueue(batch)

    def _commit_group(self) -> asyncio.Future | None:
        """Group mode's commit without an await: queue the core's changes and return the commit's future."""
        changes = self.core.take_changes()
        return self._enqueue(Batch.of(changes, self.store.sealer)) if changes else None

    def _enqueue(self, batch: Batch) -> asyncio.Future:
        """Queue ``batch`` for the group commit; its future resolves once the batch is durable."""
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.append((batch, fut))
        for order_id in batch.orders:
            self._pending[order_id] = fut
        self._kick()
        return fut

    @staticmethod
    async def _durable(fut: asyncio.Future | None) -> None:
        if fut is not None:
            await fut

    def _kick(self) -> None:
        """Hand the queued batches to the writer now, as one transaction, unless a commit is in flight (they
        go as the next group when it finishes). Starting the write at once -- rather than from a task that
        runs only after every command already waiting to run -- lets the writer commit one group while the
        event loop computes the next."""
        if self._writing is not None or not self._queue or self._failing:
            return
        group = self._queue[: self.params.group_commit_max]
        del self._queue[: len(group)]
        if len(group) == 1:
            merged = group[0][0]
        else:
            merged = Batch()
            for batch, _ in group:
                merged.merge(batch)
        self._writing = self.store.write_soon(merged)
        self._writing.add_done_callback(lambda done: self._written(group, done))

    def _written(self, group: list[tuple[Batch, asyncio.Future]], done: asyncio.Future) -> None:
        self._writing = None
        exc = done.exception() if not done.cancelled() else asyncio.CancelledError()
        if exc is None:
            for batch, fut in group:
                if not fut.done():
                    fut.set_result(None)
                self._forget(batch, fut)
            self._kick()
            return
        self._failing = True      # everything queued was computed on top of this group: fail it all
        self._flusher = asyncio.ensure_future(self._fail(group, exc))

    async def _fail(self, failed: list[tuple[Batch, asyncio.Future]], exc: BaseException) -> None:
        try:
            async with self._lock:     # no command runs (or queues) until the state is rebuilt
                failed = failed + self._queue
                self._queue = []
                await self.rebuild()
        finally:
            for batch, fut in failed:
                if not fut.done():
                    fut.set_exception(exc)
                self._forget(batch, fut)
            self._failing = False
            self._kick()

    def _forget(self, batch: Batch, fut: asyncio.Future) -> None:
        for order_id in batch.orders:
            if self._pending.get(order_id) is fut:
                del self._pending[order_id]

    def _now(self) -> datetime:
        return self.clock.now()

    def _catch_up(self, now: datetime) -> None:
        self.core.pending_events.extend(catch_up(self.core, now))

    # -- commands -----------------------------------------------------------------------------------
    async def open_account(self, account: str, *, starting_cash_paise: int | None = None) -> Funds:
        fut = None
        async with self._lock:
            funds, created = self.core.open_account(account, starting_cash_paise, self._now())
            if created:
                fut = await self._commit()
        await self._durable(fut)
        return funds

    async def estimate(self, request: OrderRequest) -> Estimate:
        async with self._lock:
            return self.core.estimate(request, self._now())

    async def place(self, request: OrderRequest) -> OrderResult:
        sealer = self.store.sealer
        if sealer is not None and request.tier is Tier.PRO and request.account not in sealer.ids:
            await self.seal_accounts([request.account])      # a PRO order: its account's rows are sealed first
        if self.params.group_commit and request.client_order_id not in self.core.coids:
            # Group mode: concurrent new orders are placed together by one drain (one lock hold, one batch,
            # one commit future), each exactly as place() below would; the caller still waits for the commit.
            fut: asyncio.Future = asyncio.get_running_loop().create_future()
            self._intake.append((request, fut))
            if not self._drain_scheduled:
                self._drain_scheduled = True
                asyncio.get_running_loop().call_soon(self._drain)
            try:
                result = await fut
            except IntegrityError:
                result = None         # the database refused the group: decide below, one by one
            if result is not None:
                return result
        for attempt in (1, 2):
            try:
                async with self._lock:
                    order_id = self.core.coids.get(request.client_order_id)
                    if order_id is not None:
                        # A re-submission: answer with the existing order once *it* is durable.
                        fut = self._pending.get(order_id)
                        known = self.core.orders.get(order_id) or self.core.recent.get(order_id)
                        dup_view = known.view() if known is not None else None
                        result = None
                    else:
                        now = self._now()
                        self._catch_up(now)
                        result = self.core.place(request, now)
                        fut = await self._commit()
                await self._durable(fut)
                if result is not None:
                    return result
                assert order_id is not None
                stored = await self.store.order(order_id)
                if stored is not None:
                    return await self._as_duplicate(stored)
                if dup_view is not None:   # pragma: no cover - only if the database lost a committed row
                    raise RuntimeError(f"order {order_id} acknowledged but not found in the database")
            except IntegrityError:
                # Another process (or a failed group) got there first: the database is the judge.
                existing = await self.store.order_by_client_id(request.client_order_id)
                if existing is not None:
                    async with self._lock:
                        await self.rebuild()
                    return await self._as_duplicate(existing)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def place_many(self, requests: Sequence[OrderRequest]) -> list[OrderResult]:
        """Place several orders as one command: one lock hold, one catch-up, one transaction, one wait.

        The results are what placing the requests one by one (in this order, at one instant) would return:
        a client order id seen before -- earlier in the database, in flight, or earlier in this very batch --
        comes back as the existing order with ``duplicate=True``. Every result is returned only after the
        batch (and any earlier batch that holds a re-submitted order) has committed. If the commit fails on
        the unique client order id (another process placed one of them first) nothing of the batch was
        written, the state has been rebuilt, and each request is placed again one by one.
        """
        if not requests:
            return []
        sealer = self.store.sealer
        if sealer is not None:
            pro = [r.account for r in requests if r.tier is Tier.PRO and r.account not in sealer.ids]
            if pro:
                await self.seal_accounts(pro)
        results: list[OrderResult | None] = [None] * len(requests)
        dups: list[tuple[int, str]] = []
        waits: list[asyncio.Future] = []
        try:
            async with self._lock:
                core = self.core
                coids, pending = core.coids, self._pending
                now = self._now()
                self._catch_up(now)
                place = core.place
                for i, request in enumerate(requests):
                    order_id = coids.get(request.client_order_id)
                    if order_id is not None:
                        dups.append((i, order_id))
                        fut = pending.get(order_id)
                        if fut is not None:
                            waits.append(fut)
                        continue
                    results[i] = place(request, now)
                fut = await self._commit()
            if fut is not None:
                waits.append(fut)
            for fut in dict.fromkeys(waits):   # each distinct commit once
                await fut
        except IntegrityError:
            return [await self.place(request) for request in requests]
        for i, order_id in dups:
            stored = await self.store.order(order_id)
            if stored is None:   # pragma: no cover - only if the database lost a committed row
                raise RuntimeError(f"order {order_id} acknowledged but not found in the database")
            results[i] = await self._as_duplicate(stored)
        return results  # type: ignore[return-value]

    def _drain(self) -> None:
        """Place every queued new order now, under the lock if it is free (else as soon as it is)."""
        if self._lock.locked():
            asyncio.ensure_future(self._drain_locked())
            return
        self._drain_scheduled = False
        intake, self._intake = self._intake, []
        results: list[tuple[asyncio.Future, OrderResult | None]] = []
        try:
            coids = self.core.coids
            for request, fut in intake:
                if request.client_order_id in coids:
                    results.append((fut, None))     # re-submitted meanwhile: the one-by-one path answers
                    continue
                now = self._now()
                self._catch_up(now)
                results.append((fut, self.core.place(request, now)))
            commit = self._commit_group()
        except BaseException as exc:   # pragma: no cover - a bug in the core: fail the callers, rebuild
            for _, fut in intake:
                if not fut.done():
                    fut.set_exception(exc)
            asyncio.ensure_future(self._rebuild_locked())
            return
        if commit is None:
            for fut, result in results:
                if not fut.done():
                    fut.set_result(result)
            return

        def answer(done: asyncio.Future) -> None:
            exc = done.exception() if not done.cancelled() else asyncio.CancelledError()
            for fut, result in results:
                if fut.done():
                    continue
                if exc is None:
                    fut.set_result(result)
                else:
                    fut.set_exception(exc)

        commit.add_done_callback(answer)

    async def _drain_locked(self) -> None:
        async with self._lock:
            pass                      # wait for the holder; _drain runs before anyone else can take it
        self._drain()

    async def _rebuild_locked(self) -> None:   # pragma: no cover - see _drain
        async with self._lock:
            await self.rebuild()

    async def seal_accounts(self, accounts: Sequence[str]) -> int:
        """Make these accounts private (PRO at rest, :mod:`engine.sealed`): every row they have is sealed and
        every later one is written sealed. Runs under the command lock once nothing is in flight, so no
        clear row of theirs can be committed afterwards. Returns how many accounts were sealed now (0
        without data keys)."""
        sealer = self.store.sealer
        if sealer is None:
            return 0
        while True:
            async with self._lock:
                # Nothing can join the queue while we hold the lock; wait for what is queued or being written.
                while (self._queue or self._writing is not None) and not self._failing:
                    waits = [f for _, f in self._queue] + ([self._writing] if self._writing is not None else [])
                    await asyncio.wait(waits, timeout=0.05)
                if not self._failing:
                    done = 0
                    for account in dict.fromkeys(accounts):
                        done += await self.store.privatize(account)
                    return done
            if self._flusher is not None:     # a failed group commit: let it rebuild, then try again
                await asyncio.wait([self._flusher])

    async def _as_duplicate(self, order) -> OrderResult:
        trades = tuple(t for t, _ in await self.store.trades_of(order_id=order.order_id))
        return OrderResult(accepted=order.status is not OrderStatus.REJECTED, order=order.view(),
                           rejection=order.rejection, trades=trades, duplicate=True)

    async def _not_open(self, account: str, order_id: str) -> OrderResult:
        stored = await self.store.order(order_id)
        if stored is None or stored.account != account:
            return OrderResult(accepted=False, rejection=reject("order_not_found", order_id=order_id))
        return OrderResult(accepted=False, order=stored.view(),
                           rejection=reject("order_not_open", order_id=order_id, status=stored.status.value))

    async def modify(self, account: str, order_id: str, *, quantity: int | None = None,
                     price_paise: int | None = None, trigger_paise: int | None = None) -> OrderResult:
        async with self._lock:
            now = self._now()
            self._catch_up(now)
            if order_id not in self.core.orders:
                fut = await self._commit()
                result = None
            else:
                result = self.core.modify(account, order_id, now, quantity=quantity, price_paise=price_paise,
                                          trigger_paise=trigger_paise)
                fut = await self._commit()
        await self._durable(fut)
        return result if result is not None else await self._not_open(account, order_id)

    async def cancel(self, account: str, order_id: str) -> OrderResult:
        async with self._lock:
            now = self._now()
            self._catch_up(now)
            result = self.core.cancel(account, order_id, now) if order_id in self.core.orders else None
            fut = await self._commit()
        await self._durable(fut)
        return result if result is not None else await self._not_open(account, order_id)

    async def advance(self, now: datetime) -> Sequence[EngineEvent]:
        async with self._lock:
            self._catch_up(now)
            fut = await self._commit()
            events, self.core.pending_events = self.core.pending_events, []
        await self._durable(fut)
        return events

    # -- queries ------------------------------------------------------------------------------------
    async def get_order(self, account: str, order_id: str) -> OrderView | None:
        order = self.core.orders.get(order_id) or await self.store.order(order_id)
        return order.view() if order is not None and order.account == account else None

    async def orders(self, account: str, *, open_only: bool = False) -> Sequence[OrderView]:
        if open_only:
            return [o.view() for o in sorted(self.core.orders.values(), key=lambda o: -o.seq)
                    if o.account == account and o.stage != "done"]
        return [o.view() for o in await self.store.orders_of(account)]

    async def order_history(self, order_id: str) -> list[dict[str, Any]]:
        """The append-only event log of one order (audit)."""
        return await self.store.events_of(order_id)

    async def trades(self, account: str, *, day: date | None = None) -> Sequence[Trade]:
        return [t for t, _ in await self.store.trades_of(account=account, day=day)]

    async def holdings(self, account: str) -> Sequence[Holding]:
        now = self._now()
        today = now.astimezone(IST).date()
        out = []
        for symbol, h in sorted(self.core.holdings_of.get(account, {}).items()):
            if h.quantity <= 0:
                continue
            t1 = h.t1_quantity(today)
            out.append(Holding(symbol=symbol, quantity=h.quantity - t1, t1_quantity=t1,
                               average_price_paise=h.average, ltp_paise=self.market.ltp(symbol, now),
                               prev_close_paise=self.market.prev_close(symbol, today)))
        return out

    async def positions(self, account: str) -> Sequence[Position]:
        now = self._now()
        today = now.astimezone(IST).date()
        out = []
        for p in sorted(self.core.positions_of.get(account, ()), key=lambda p: p.symbol):
            symbol = p.symbol
            if p.day != today:
                continue
            ltp = self.market.ltp(symbol, now)
            out.append(Position(symbol=symbol, net_quantity=p.net, buy_quantity=p.buy_qty,
                                sell_quantity=p.sell_qty, buy_average_paise=p.buy_avg,
                                sell_average_paise=p.sell_avg, ltp_paise=ltp, realized_pnl_paise=p.realized(),
                                unrealized_pnl_paise=p.unrealized(ltp)))
        return out

    async def funds(self, account: str) -> Funds:
        return self.core.funds(account)

    async def quote(self, symbol: str) -> Quote | None:
        return self.market.quote(symbol, self._now()) if symbol else None

    async def contract_note(self, account: str, day: date) -> ContractNote | None:
        rows = await self.store.trades_of(account=account, day=day)
        if not rows:
            return None
        orders = {oid: await self.store.order(oid) for oid in {t.order_id for t, _ in rows}}
        return build_contract_note(account=account, day=day, rows=rows, orders=orders,
                                   instruments=self.instruments, calendar=self.calendar,
                                   broker_name=self.params.broker_name,
                                   sebi_registration=self.params.sebi_registration, exchange=self.params.exchange)

    async def ledger_balanced(self) -> bool:
        """The double-entry check: every posting ever made sums to zero."""
        return sum((await self.store.ledger_sums()).values()) == 0


__all__ = ["EmbeddedEngine", "Product"]
