"""Persistence of the engine: its own tables (prefixed ``eng_``), one transaction per command (or per group of
commands), and the reads that rebuild the in-memory core after a restart.

Orders, accounts, holdings and positions are upserted as full rows; the order-event log, trades and ledger
postings are append-only (never updated or deleted, except to seal them: see :mod:`engine.tables`).
``client_order_id`` carries a unique constraint, so a redelivered instruction can never create a second
order, even from another process.

A private (PRO) account's rows are sealed on their way out (:mod:`engine.sealed`) and opened on their way in;
the in-memory core never sees a sealed value.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Iterable

from sqlalchemy import Boolean, Date, DateTime, Table, bindparam, delete, func, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.core import Changes, EngineCore
from engine.db import Prepared, Reads, autocommit_reads, create_tables
from engine.ledger import AccountState, HoldingState, PositionState
from engine.orders import Order, trade_from_row
from engine.api import Trade
from engine.sealed import Keyring, SealedRowsWithoutKeys, Sealer, where_of
from engine.tables import (APPEND_ONLY, account_ids, add_sealed_columns_ddl, append_only_ddl, accounts, holdings,
                           metadata, order_events, orders, positions, postings, state, trades)

__all__ = ["APPEND_ONLY", "Batch", "EngineStore", "accounts", "holdings", "metadata", "order_events", "orders",
           "positions", "postings", "state", "trades"]

_JSON = json.JSONEncoder(ensure_ascii=False, default=str)   # built once: json.dumps(**kw) builds one per call


@dataclass(slots=True)
class Batch:
    """Row snapshots of one or more :class:`Changes`, ready to write (taken before anything mutates again)."""

    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)
    postings: list[dict[str, Any]] = field(default_factory=list)
    holdings: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    positions: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    has_sealed: bool = False          # some rows carry ``sealed`` (they go through their own statements)

    @classmethod
    def of(cls, ch: Changes, sealer: Sealer | None = None) -> "Batch":
        b = cls()
        b.add(ch, sealer)
        return b

    def add(self, ch: Changes, sealer: Sealer | None = None) -> None:
        if sealer is not None and sealer.ids:
            private = sealer.ids          # every row of a command names an account it touched: check those
            if (any(a in private for a in ch.accounts) or any(o.account in private for o in ch.orders.values())
                    or any(k[0] in private for k in ch.holdings) or any(k[0] in private for k in ch.positions)):
                self._add_sealing(ch, sealer)
                return
        # Datetimes stay as they are (aware, any zone): both writers store the instant in UTC.
        orders = self.orders
        for oid, o in ch.orders.items():
            orders[oid] = o.row()
        if ch.events:
            encode = _JSON.encode
            self.events += [{"order_id": e["order_id"], "event": e["event"], "status": e["status"],
                             "filled": e["filled"], "at": e["at"], "detail": encode(e["detail"])}
                            for e in ch.events]
        self.trades += ch.trades
        self.postings += ch.postings
        for key, h in ch.holdings.items():
            self.holdings[key] = {"account": h.account, "symbol": h.symbol, "quantity": h.quantity,
                                  "cost": h.cost, "realized": h.realized, "reserved": h.reserved,
                                  "lots": json.dumps(h.lots)}
        for key, p in ch.positions.items():
            self.positions[key] = {"account": p.account, "day": p.day, "symbol": p.symbol, "buy_qty": p.buy_qty,
                                   "buy_value": p.buy_value, "sell_qty": p.sell_qty, "sell_value": p.sell_value}
        for acct, a in ch.accounts.items():
            self.accounts[acct] = {"account": a.account, "tier": a.tier, "created_at": a.created_at,
                                   "charges_paid": a.charges_paid, "realized": a.realized}
        if ch.state:
            self.state.update(ch.state)

    def _add_sealing(self, ch: Changes, sealer: Sealer) -> None:
        """:meth:`add` when some accounts are private: their rows are sealed, everyone else's stay clear."""
        private = sealer.ids
        for oid, o in ch.orders.items():
            row = o.row()
            if o.account in private:
                row = sealer.order_row(row)
                self.has_sealed = True
            self.orders[oid] = row
        if ch.events:
            encode = _JSON.encode
            for e in ch.events:
                row = {"order_id": e["order_id"], "event": e["event"], "status": e["status"],
                       "filled": e["filled"], "at": e["at"], "detail": encode(e["detail"])}
                if ch.orders[e["order_id"]].account in private:
                    row = sealer.event_row(row)
                    self.has_sealed = True
                self.events.append(row)
        for t in ch.trades:
            if t["account"] in private:
                t = sealer.trade_row(t)
                self.has_sealed = True
            self.trades.append(t)
        if ch.postings:
            clear, sealed = sealer.postings(ch.postings)
            self.postings += clear
            if sealed:
                self.postings += sealed
                self.has_sealed = True
        for key, h in ch.holdings.items():
            row = {"account": h.account, "symbol": h.symbol, "quantity": h.quantity, "cost": h.cost,
                   "realized": h.realized, "reserved": h.reserved, "lots": json.dumps(h.lots)}
            if h.account in private:
                row = sealer.holding_row(row)
                self.has_sealed = True
            self.holdings[key] = row
        for key, p in ch.positions.items():
            row = {"account": p.account, "day": p.day, "symbol": p.symbol, "buy_qty": p.buy_qty,
                   "buy_value": p.buy_value, "sell_qty": p.sell_qty, "sell_value": p.sell_value}
            if p.account in private:
                row = sealer.position_row(row)
                self.has_sealed = True
            self.positions[key] = row
        for acct, a in ch.accounts.items():
            row = {"account": a.account, "tier": a.tier, "created_at": a.created_at,
                   "charges_paid": a.charges_paid, "realized": a.realized}
            if acct in private:
                row = sealer.account_row(row)
                self.has_sealed = True
            self.accounts[acct] = row
        if ch.state:
            self.state.update(ch.state)

    def merge(self, other: "Batch") -> None:
        self.has_sealed = self.has_sealed or other.has_sealed
        self.orders.update(other.orders)
        self.events += other.events
        self.trades += other.trades
        self.postings += other.postings
        self.holdings.update(other.holdings)
        self.positions.update(other.positions)
        self.accounts.update(other.accounts)
        self.state.update(other.state)


def _sqlite_datetime(v: Any) -> Any:
    """SQLAlchemy's SQLite storage format for a datetime (UTC, naive, always with microseconds)."""
    if v is None:
        return None
    return v.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_date(v: Any) -> Any:
    return None if v is None else v.isoformat()


def _sqlite_bool(v: Any) -> Any:
    return None if v is None else int(bool(v))


class _RawSqlite:
    """Statements compiled once to SQLite SQL with positional parameters, and rows turned into tuples in the
    same storage format SQLAlchemy uses (so its reads parse them back). The writer's hot path skips the ORM-free
    but still per-row Python work of SQLAlchemy's executemany: an ``itemgetter`` builds each tuple in C and only
    the few date/time/boolean columns are converted (datetimes through a per-batch cache, since the orders of
    one batch mostly share one timestamp)."""

    def __init__(self, store: "EngineStore") -> None:
        from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

        self._dialect = sqlite_dialect(paramstyle="qmark")
        self._compiled: dict[int, tuple[str, Any, list[tuple[int, Any]]]] = {}

    def prepare(self, stmt: Any, rows: list[dict[str, Any]]) -> tuple[str, list[tuple[Any, ...]]]:
        found = self._compiled.get(id(stmt))
        if found is None:
            from operator import itemgetter

            table = stmt.table
            keys = [c.name for c in table.columns if c.name in rows[0]]
            compiled = stmt.compile(dialect=self._dialect, column_keys=keys)
            order = list(compiled.positiontup or ())
            convs: list[tuple[int, Any]] = []
            for i, name in enumerate(order):
                col = table.c[name]
                if isinstance(col.type, DateTime):
                    convs.append((i, None))      # None: datetime, through the per-batch cache
                elif isinstance(col.type, Date):
                    convs.append((i, _sqlite_date))
                elif isinstance(col.type, Boolean):
                    convs.append((i, _sqlite_bool))
            getter = itemgetter(*order) if len(order) > 1 else (lambda r, _n=order[0]: (r[_n],))
            found = self._compiled[id(stmt)] = (str(compiled), getter, convs)
        sql, getter, convs = found
        if not convs:
            return sql, list(map(getter, rows))
        cache: dict[Any, Any] = {None: None}
        out = []
        for row in rows:
            t = list(getter(row))
            for i, f in convs:
                v = t[i]
                if f is None:
                    s = cache.get(v)
                    if s is None:
                        s = cache[v] = _sqlite_datetime(v)
                    t[i] = s
                else:
                    t[i] = f(v)
            out.append(tuple(t))
        return sql, out


class EngineStore:
    """Reads through the async engine; writes one transaction per batch.

    On SQLite the transaction runs in a single dedicated writer thread through a synchronous connection (one
    thread hop per commit rather than one per statement); on PostgreSQL it runs on the async engine.
    """

    def __init__(self, db: AsyncEngine, *, writer_process: bool = False, keyring: Keyring | None = None) -> None:
        """``writer_process`` (SQLite file databases only): commit through a child process
        (:mod:`engine.sqlite_writer`) so SQLite's own work runs beside the event loop instead of under its GIL.
        ``keyring`` (the data keys, :class:`bot.stores.crypto.DataCipher`): PRO accounts' rows are sealed;
        without it every row is stored in clear (unit tests, benchmarks)."""
        self.db = db
        self._reads = Reads(db)
        self._scans = autocommit_reads(db)
        self.sealer: Sealer | None = Sealer(keyring) if keyring is not None else None
        self.is_sqlite = db.dialect.name == "sqlite"
        # Fencing (PostgreSQL only): awaited first inside every write transaction; raising aborts it. The
        # cluster's engine lease sets it so a process that lost the lease cannot commit another row.
        self.fence: Callable[[AsyncConnection], Awaitable[None]] | None = None
        self._insert = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
        self._upserts = {t.name: self._upsert_stmt(t) for t in (accounts, orders, holdings, positions, state)}
        self._inserts = {t.name: t.insert() for t in (order_events, trades, postings)}   # built once: cached
        # Sealed rows carry one more column: their own statements (the raw SQLite path compiles per statement).
        self._sealed_stmts = {t.name: self._upsert_stmt(t) for t in (accounts, orders, holdings, positions)}
        self._sealed_stmts.update({t.name: t.insert() for t in (order_events, trades, postings)})
        self._sync = None
        self._executor = None
        self._raw: _RawSqlite | None = None
        self._proc = None
        if self.is_sqlite:
            from concurrent.futures import ThreadPoolExecutor

            from engine.db import sync_sqlite_engine

            self._sync = sync_sqlite_engine(db.url.render_as_string(hide_password=False))
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine-writer")
            path = db.url.database
            if writer_process and path and path != ":memory:" and not path.startswith("file:"):
                from engine.sqlite_writer import WriterProcess

                self._proc = WriterProcess(path)

    async def create(self) -> None:
        async with self.db.begin() as conn:
            await create_tables(conn, metadata)
            existing = await conn.run_sync(lambda c: {t: {col["name"] for col in inspect(c).get_columns(t)}
                                                      for t in inspect(c).get_table_names()})
            for sql in add_sealed_columns_ddl(self.db.dialect.name, existing):   # databases from before sealing
                await conn.exec_driver_sql(sql)
            for sql in append_only_ddl(self.db.dialect.name):
                await conn.exec_driver_sql(sql)

    async def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._proc is not None:
            self._proc.close()
            self._proc = None
        if self._sync is not None:
            self._sync.dispose()
            self._sync = None

    # -- writes -------------------------------------------------------------------------------------
    def _upsert_stmt(self, table: Table):
        stmt = self._insert(table)
        keys = [c.name for c in table.primary_key.columns]
        return stmt.on_conflict_do_update(index_elements=keys,
                                          set_={c.name: stmt.excluded[c.name] for c in table.columns
                                                if c.name not in keys})

    def _statements(self, batch: Batch) -> list[tuple[Any, list[dict[str, Any]]]]:
        out: list[tuple[Any, list[dict[str, Any]]]] = [
            (self._upserts["eng_accounts"], list(batch.accounts.values())),
            (self._upserts["eng_orders"], list(batch.orders.values())),
            (self._inserts["eng_order_events"], batch.events),
            (self._inserts["eng_trades"], batch.trades),
            (self._inserts["eng_postings"], batch.postings),
            (self._upserts["eng_holdings"], list(batch.holdings.values())),
            (self._upserts["eng_positions"], list(batch.positions.values())),
            (self._upserts["eng_state"], [{"key": k, "value": v} for k, v in batch.state.items()]),
        ]
        if batch.has_sealed:
            split: list[tuple[Any, list[dict[str, Any]]]] = []
            for stmt, rows in out:
                if stmt.table.name == "eng_state":
                    split.append((stmt, rows))
                    continue
                split.append((stmt, [r for r in rows if "sealed" not in r]))
                split.append((self._sealed_stmts[stmt.table.name], [r for r in rows if "sealed" in r]))
            out = split
        return [(stmt, rows) for stmt, rows in out if rows]

    def _write_sync(self, batch: Batch) -> None:
        assert self._sync is not None
        if self._raw is None:
            self._raw = _RawSqlite(self)
        if self._proc is not None:
            job = [self._raw.prepare(stmt, rows) for stmt, rows in self._statements(batch)]
            try:
                self._proc.commit(job)
            except sqlite3.Error as exc:   # the same exception types SQLAlchemy would raise
                raise DBAPIError.instance(job[0][0] if job else "", None, exc, sqlite3.Error) from exc
            return
        with self._sync.begin() as conn:    # BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on any error)
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                for stmt, rows in self._statements(batch):
                    sql, params = self._raw.prepare(stmt, rows)
                    try:
                        cursor.executemany(sql, params)
                    except sqlite3.Error as exc:   # the same exception types SQLAlchemy would raise
                        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc
            finally:
                cursor.close()

    def write_soon(self, batch: Batch) -> asyncio.Future[None]:
        """Start committing ``batch`` now and return a future of the commit: on SQLite the job is in the writer
        thread's queue before this returns; on PostgreSQL it is a task on the running loop."""
        loop = asyncio.get_running_loop()
        if self._executor is not None:
            return loop.run_in_executor(self._executor, self._write_sync, batch)
        return asyncio.ensure_future(self.write(batch))

    async def write(self, batch: Batch) -> None:
        """Commit one batch in one transaction (raises on failure; nothing is half-written)."""
        if self._executor is not None:
            import asyncio

            await asyncio.get_running_loop().run_in_executor(self._executor, self._write_sync, batch)
            return
        async with self.db.begin() as conn:
            if self.fence is not None:
                await self.fence(conn)
            for stmt, rows in self._statements(batch):
                await conn.execute(stmt, rows)

    # -- rebuild ------------------------------------------------------------------------------------
    def _open(self, table: str, r: Any) -> dict[str, Any]:
        """A stored row in clear (a sealed row opened with the data keys)."""
        if r.get("sealed") is None:
            return dict(r)
        if self.sealer is None:
            raise SealedRowsWithoutKeys(f"{table} holds sealed rows: give the engine the data keys "
                                        "(GRIDWORKS_DATA_KEYS) to read them")
        return self.sealer.open_row(table, r)

    def _db_account(self, account: str) -> str:
        return account if self.sealer is None else self.sealer.db_account(account)

    async def _load_ids(self, conn: AsyncConnection) -> None:
        rows = (await conn.execute(select(account_ids))).all()
        if rows and self.sealer is None:
            raise SealedRowsWithoutKeys("the engine's tables hold sealed PRO rows: give the engine the data keys "
                                        "(GRIDWORKS_DATA_KEYS) to read them")
        if self.sealer is not None:
            self.sealer.reset()
            for opaque, token in rows:
                self.sealer.load_id(opaque, token)

    async def _balances(self, conn: AsyncConnection) -> dict[str, int]:
        """Per ledger account, the sum of every posting: clear rows summed by the database, sealed entries
        opened here."""
        out = {k: int(v) for k, v in (await conn.execute(
            select(postings.c.account_key, func.sum(postings.c.amount)).where(postings.c.sealed.is_(None))
            .group_by(postings.c.account_key))).all()}
        sealed = (await conn.execute(select(postings.c.entry_id, postings.c.sealed)
                                     .where(postings.c.sealed.is_not(None)))).mappings().all()
        if sealed and self.sealer is None:
            raise SealedRowsWithoutKeys("eng_postings holds sealed rows: the engine needs the data keys")
        for r in sealed:
            legs, _ = self.sealer.open_posting(r)  # type: ignore[union-attr]
            for key, amount in legs:
                out[key] = out.get(key, 0) + amount
        return out

    async def restore(self, core: EngineCore) -> None:
        """Load accounts, working orders, holdings, positions, ledger balances and counters into ``core``."""
        async with self.db.connect() as conn:
            await self._load_ids(conn)
            for r in (await conn.execute(select(accounts))).mappings():
                r = self._open("eng_accounts", r)
                core.accounts[r["account"]] = AccountState(r["account"], r["tier"], r["created_at"], 0,
                                                           r["charges_paid"], r["realized"])
            for r in (await conn.execute(select(orders.c.client_order_id, orders.c.order_id))).all():
                core.coids[r[0]] = r[1]
            working = (await conn.execute(select(orders).where(orders.c.stage != "done")
                                          .order_by(orders.c.seq))).mappings().all()
            for r in working:
                order = Order.from_row(self._open("eng_orders", r))
                core.restore_order(order)
                core.accounts[order.account].blocked += order.blocked
            for r in (await conn.execute(select(holdings))).mappings():
                r = self._open("eng_holdings", r)
                core.add_holding(HoldingState(
                    r["account"], r["symbol"], r["quantity"], r["cost"], r["realized"], r["reserved"],
                    json.loads(r["lots"])))
            adv = (await conn.execute(select(state.c.value).where(state.c.key == "advanced_to"))).scalar()
            if adv:
                core.advanced_to = datetime.fromisoformat(adv)
            recent = core.advanced_to.astimezone(timezone.utc).date() - timedelta(days=7)
            for r in (await conn.execute(select(positions).where(positions.c.day >= recent))).mappings():
                r = self._open("eng_positions", r)
                core.add_position(PositionState(
                    r["account"], r["day"], r["symbol"], r["buy_qty"], r["buy_value"], r["sell_qty"],
                    r["sell_value"]))
            core.ledger.balances.update(await self._balances(conn))
            core.ledger.next_id = int((await conn.execute(select(func.max(postings.c.entry_id)))).scalar() or 0) + 1
            core.order_seq = int((await conn.execute(select(func.max(orders.c.seq)))).scalar() or 0)
            core.trade_seq = int((await conn.execute(select(func.max(trades.c.seq)))).scalar() or 0)
            core.started = bool(adv) or bool(working) or core.order_seq > 0

    # -- sealing ------------------------------------------------------------------------------------
    async def privatize(self, account: str) -> bool:
        """Make ``account`` private: give it an opaque id and seal every row it already has (the account, its
        orders and their events, trades, ledger entries, holdings and positions) in one transaction. From
        then on :class:`Batch` seals its rows as they are written. The caller makes sure no batch is in
        flight (:meth:`engine.embedded.EmbeddedEngine.seal_accounts`). False when there are no data keys
        or the account already is private."""
        sealer = self.sealer
        if sealer is None or sealer.is_private(account):
            return False
        opaque = sealer.new_opaque()
        staged = Sealer(sealer.keyring)
        staged.remember(account, opaque)

        def updater(table: Table, keys: tuple[str, ...], rows: list[dict[str, Any]]):
            cols = [c.name for c in table.columns if c.name not in keys and c.name not in _SAME]
            stmt = update(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in keys)) \
                .values({c: bindparam(f"v_{c}") for c in cols})
            params = [{**{f"k_{k}": r[k] for k in keys}, **{f"v_{c}": r[c] for c in cols if c in r}}
                      for r in rows]
            return stmt, params

        async with self.db.begin() as conn:
            if self.fence is not None:
                await self.fence(conn)
            await conn.execute(account_ids.insert(), [staged.id_row(account, opaque)])
            events = (await conn.execute(select(order_events).where(order_events.c.order_id.in_(
                select(orders.c.order_id).where(orders.c.account == account)), order_events.c.sealed.is_(None)))
            ).mappings().all()
            if events:
                await conn.execute(*updater(order_events, ("id",), [staged.event_row(dict(r)) | {"id": r["id"]}
                                                                     for r in events]))
            rows = (await conn.execute(select(trades).where(trades.c.account == account))).mappings().all()
            if rows:
                await conn.execute(*updater(trades, ("trade_id",), [staged.trade_row(dict(r)) for r in rows]))
            legs = (await conn.execute(select(postings).where(postings.c.entry_id.in_(
                select(postings.c.entry_id).where(postings.c.account_key == f"cash:{account}")),
                postings.c.sealed.is_(None)))).mappings().all()
            if legs:
                await conn.execute(*updater(postings, ("id",), [
                    staged.posting_row(r["entry_id"], account, [(r["account_key"], r["amount"])], r["kind"], r["ref"],
                                       r["at"]) | {"id": r["id"]} for r in legs]))
            rows = (await conn.execute(select(orders).where(orders.c.account == account))).mappings().all()
            if rows:
                await conn.execute(*updater(orders, ("order_id",), [staged.order_row(dict(r)) for r in rows]))
            for table, seal in ((accounts, staged.account_row), (holdings, staged.holding_row),
                                (positions, staged.position_row)):
                rows = (await conn.execute(select(table).where(table.c.account == account))).mappings().all()
                if rows:
                    await conn.execute(delete(table).where(table.c.account == account))
                    await conn.execute(table.insert(), [seal(dict(r)) for r in rows])
        sealer.remember(account, opaque)
        sealer.tags.update(staged.tags)
        return True

    async def reseal(self) -> int:
        """Rotation: re-seal every sealed row that is not under the current data key (compare-and-swap on the
        old token, so a row the engine rewrote meanwhile is left alone). Returns how many rows changed."""
        if self.sealer is None:
            return 0
        return await reseal_rows(self.db, self.sealer, fence=self.fence)

    # -- reads --------------------------------------------------------------------------------------
    async def order(self, order_id: str) -> Order | None:
        rows = await self._reads.mappings(_ORDER, {"order_id": order_id})
        return Order.from_row(self._open("eng_orders", rows[0])) if rows else None

    async def order_by_client_id(self, client_order_id: str) -> Order | None:
        rows = await self._reads.mappings(_ORDER_BY_CLIENT_ID, {"client_order_id": client_order_id})
        return Order.from_row(self._open("eng_orders", rows[0])) if rows else None

    async def orders_of(self, account: str, *, open_only: bool = False, limit: int = 500) -> list[Order]:
        q = _OPEN_ORDERS_OF if open_only else _ORDERS_OF
        rows = await self._reads.mappings(q, {"account": self._db_account(account), "limit": limit})
        return [Order.from_row(self._open("eng_orders", r)) for r in rows]

    async def trades_of(self, *, account: str | None = None, order_id: str | None = None,
                        day: date | None = None) -> list[tuple[Trade, dict[str, Any]]]:
        q = select(trades)
        if account is not None:
            q = q.where(trades.c.account == self._db_account(account))
        if order_id is not None:
            q = q.where(trades.c.order_id == order_id)
        if day is not None:
            q = q.where(trades.c.trade_day == day)
        async with self._scans.connect() as conn:
            rows = (await conn.execute(q.order_by(trades.c.seq))).mappings().all()
        opened = [self._open("eng_trades", r) for r in rows]
        return [(trade_from_row(r), r) for r in opened]

    async def events_of(self, order_id: str) -> list[dict[str, Any]]:
        rows = await self._reads.mappings(_EVENTS_OF, {"order_id": order_id})
        return [self._open("eng_order_events", r) for r in rows]

    async def ledger_sums(self) -> dict[str, int]:
        async with self.db.connect() as conn:
            return await self._balances(conn)

    async def counts(self, tables: Iterable[Table] = (orders, trades, postings)) -> dict[str, int]:
        out = {}
        async with self.db.connect() as conn:
            for t in tables:
                out[t.name] = int((await conn.execute(select(func.count()).select_from(t))).scalar() or 0)
        return out


#: The hot reads, built once (:class:`engine.db.Prepared`).
_ORDER = Prepared(select(orders).where(orders.c.order_id == bindparam("order_id")))
_ORDER_BY_CLIENT_ID = Prepared(select(orders).where(orders.c.client_order_id == bindparam("client_order_id")))
_ORDERS_OF = Prepared(select(orders).where(orders.c.account == bindparam("account"))
                      .order_by(orders.c.seq.desc()).limit(bindparam("limit")))
_OPEN_ORDERS_OF = Prepared(select(orders).where(orders.c.account == bindparam("account"), orders.c.stage != "done")
                           .order_by(orders.c.seq.desc()).limit(bindparam("limit")))
_EVENTS_OF = Prepared(select(order_events).where(order_events.c.order_id == bindparam("order_id"))
                      .order_by(order_events.c.id))

#: Columns a sealing update leaves as they are (the append-only triggers insist on ``at``).
_SAME = frozenset({"at", "placed_at", "updated_at", "release_at", "created_at", "trade_day", "day"})
_RESEAL_KEYS: dict[Table, tuple[str, ...]] = {
    account_ids: ("id",), accounts: ("account",), orders: ("order_id",), order_events: ("id",),
    trades: ("trade_id",), postings: ("id",), holdings: ("account", "symbol"),
    positions: ("account", "day", "symbol"),
}
_WHERE_COLS = {"eng_order_events": ("order_id",), "eng_postings": ("entry_id",)}


async def reseal_rows(db: AsyncEngine, sealer: Sealer, *, fence: Callable[[AsyncConnection], Awaitable[None]]
                      | None = None, batch: int = 200) -> int:
    """Re-seal, under the current key, every sealed engine row sealed under an older one (``users reseal``
    after a key rotation). Safe beside a running engine: each row is swapped only if it still holds the
    token read (the append-only triggers allow exactly this change)."""
    changed = 0
    for table, keys in _RESEAL_KEYS.items():
        cols = [table.c[k] for k in (*keys, *_WHERE_COLS.get(table.name, ())) if k in table.c] + [table.c.sealed]
        async with db.connect() as conn:
            rows = (await conn.execute(select(*dict.fromkeys(cols)).where(table.c.sealed.is_not(None)))
                    ).mappings().all()
        stale = []
        for r in rows:
            new = sealer.reseal(r["sealed"], where_of(table.name, r))
            if new is not None:
                stale.append({**{f"k_{k}": r[k] for k in keys}, "k_old": r["sealed"], "v_sealed": new})
        if not stale:
            continue
        stmt = update(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in keys),
                                   table.c.sealed == bindparam("k_old")).values(sealed=bindparam("v_sealed"))
        for i in range(0, len(stale), batch):
            async with db.begin() as conn:
                if fence is not None:
                    await fence(conn)
                for params in stale[i:i + batch]:          # one by one: rowcount says whether it swapped
                    changed += (await conn.execute(stmt, params)).rowcount
    return changed
