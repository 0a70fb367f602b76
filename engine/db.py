"""Database plumbing shared by every store: one async SQLAlchemy engine per process.

SQLite runs in WAL mode with ``synchronous=FULL`` (durable commits) and ``BEGIN IMMEDIATE`` for writes so
that a read-then-write transaction never deadlocks on lock upgrade; PostgreSQL uses plain transactions.
Single-statement reads on the hot path go through :func:`autocommit_reads`: no write lock on SQLite, no
BEGIN/ROLLBACK round trips on PostgreSQL. The hottest of them are :class:`Prepared` once and run through
:class:`Reads`: on a SQLite file straight on the driver (compiled once, SQLAlchemy's own type processors),
elsewhere through SQLAlchemy in autocommit.
"""

from __future__ import annotations

import sqlite3
import weakref
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import greenlet_spawn


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def split_schema(url: str) -> tuple[str, str | None]:
    """Take a libpq-style ``options=-csearch_path=NAME`` off a PostgreSQL URL (asyncpg does not accept it):
    how a process is pointed at one schema (tests run clusters of processes in private schemas)."""
    from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    if "options=" not in parts.query:
        return url, None
    schema = None
    kept = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        option = unquote(value).strip() if key == "options" else ""
        for prefix in ("-csearch_path=", "-c search_path="):
            if option.startswith(prefix) and " " not in option[len(prefix):].strip():
                schema = option[len(prefix):].strip()
                break
        else:
            kept.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), schema


def make_engine(url: str, *, echo: bool = False, schema: str | None = None) -> AsyncEngine:
    """Create the async engine for ``url`` (already normalised by ``config.settings``).

    ``schema`` (PostgreSQL only) sets the ``search_path``, which is how tests isolate themselves; a URL may
    carry it as ``?options=-csearch_path%3DNAME``.
    """
    if is_sqlite(url):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    url, in_url = split_schema(url)
    schema = schema or in_url
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    # No pool_pre_ping: on asyncpg a ping is BEGIN, ``;``, ROLLBACK -- three round trips on every checkout,
    # more than the statements of a price turn. A connection the server dropped fails its next statement
    # instead; SQLAlchemy then invalidates the whole pool (its disconnect handling), and the caller's own
    # retry (a turn is retried from its intake entry) runs on fresh connections. ``pool_recycle`` retires
    # connections before server-side idle timeouts would.
    return create_async_engine(url, echo=echo, hide_parameters=True, pool_size=10, max_overflow=10,
                               pool_recycle=1800, connect_args=connect_args)


#: Execution option marking a SQLite connection as read-only statements in autocommit (no BEGIN IMMEDIATE).
SQLITE_READ = "gridworks_read"


def autocommit_reads(db: AsyncEngine) -> AsyncEngine:
    """``db`` for single-statement reads: each statement is its own snapshot, outside any transaction.

    On PostgreSQL the connection runs in AUTOCOMMIT (one round trip per read instead of BEGIN, SELECT,
    ROLLBACK); on SQLite no ``BEGIN IMMEDIATE`` is issued, so a read never takes the write lock. Use it only
    where one statement is the whole read."""
    if db.dialect.name == "sqlite":
        return db.execution_options(**{SQLITE_READ: True})
    return db.execution_options(isolation_level="AUTOCOMMIT")


#: Advisory lock key serialising DDL on PostgreSQL (any constant; the same in every process).
DDL_LOCK = 0x67726964_64646C00 - (1 << 63)


async def create_tables(conn, metadata) -> None:
    """``metadata.create_all`` on ``conn``'s transaction, safe when processes start together: PostgreSQL's
    ``CREATE TABLE IF NOT EXISTS`` races on its catalogue (a unique violation on ``pg_type``), so on
    PostgreSQL the DDL first takes a transaction-level advisory lock."""
    await lock_ddl(conn)
    await conn.run_sync(metadata.create_all, checkfirst=True)


async def lock_ddl(conn) -> None:
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({DDL_LOCK})")


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
        # Let SQLAlchemy drive transactions explicitly (pysqlite's implicit BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn):  # pragma: no cover
        if conn.get_execution_options().get(SQLITE_READ):
            return                     # autocommit reads: SQLite's implicit per-statement transaction
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_TWINS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def sqlite_twin(db: AsyncEngine):
    """For a SQLite ``db``, one synchronous engine on the same file (same pragmas), else None.

    Why: through aiosqlite every statement is a hand-off to its thread and back (cursor, execute, fetch,
    close: several per query), and those hand-offs cost more than the query. An indexed point read in WAL
    mode takes microseconds and never waits for a writer, so the hot path reads on the loop through this
    engine; a write transaction (an fsync) runs as one thread hop through it."""
    if db.dialect.name != "sqlite" or (db.url.database or ":memory:") == ":memory:":
        return None                      # an in-memory database is private to its connection: no twin
    twin = _TWINS.get(db.sync_engine)
    if twin is None:
        twin = _TWINS[db.sync_engine] = sync_sqlite_engine(db.url.render_as_string(hide_password=False))
    return twin


async def dispose(db: AsyncEngine) -> None:
    """Close ``db``'s connections and its SQLite twin's."""
    twin = _TWINS.pop(db.sync_engine, None)
    if twin is not None:
        reader = _READERS.pop(twin, None)
        if reader is not None:
            reader.close()
        twin.dispose()
    await db.dispose()


class Prepared:
    """A hot read statement, built once at import, and compiled once per driver into what the driver needs:
    its SQL, the order of its parameters with SQLAlchemy's bind processors (dates, booleans) and the result
    processors of its columns. Why: building, compiling and row handling in SQLAlchemy cost far more per
    turn than the indexed read itself (the issue measured 42% of a turn's CPU; on PostgreSQL a point read
    through SQLAlchemy costs ~300 µs of CPU, on the driver ~110)."""

    __slots__ = ("stmt", "_compiled")

    def __init__(self, stmt: Any) -> None:
        self.stmt = stmt
        self._compiled: dict[tuple[str, str], tuple[Any, ...]] = {}

    def for_driver(self, dialect: Any) -> tuple[Any, ...]:
        key = (dialect.name, dialect.driver)
        got = self._compiled.get(key)
        if got is None:
            compiled = self.stmt.compile(dialect=dialect)
            names = tuple(compiled.positiontup or ())
            binds = [compiled.binds[n] for n in names]
            columns = list(self.stmt.selected_columns)
            got = self._compiled[key] = (
                compiled.string, names, tuple(b.type._cached_bind_processor(dialect) for b in binds),
                {n: b.value for n, b in zip(names, binds)}, tuple(c.key for c in columns),
                tuple(c.type._cached_result_processor(dialect, None) for c in columns))
        return got

    def bind(self, dialect: Any, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The driver's SQL and positional arguments for ``params`` (a missing one takes its default)."""
        sql, names, binders, defaults, _keys, _results = self.for_driver(dialect)
        args = []
        for name, bind in zip(names, binders):
            value = params[name] if name in params else defaults[name]
            args.append(bind(value) if bind is not None and value is not None else value)
        return sql, args

    def rows(self, dialect: Any, raw: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Driver rows as dicts keyed by column key, through the columns' result processors."""
        keys, results = self.for_driver(dialect)[4:]
        return [{k: (p(v) if p is not None else v) for k, p, v in zip(keys, results, row)} for row in raw]


#: One autocommit driver connection per SQLite twin for reads on the loop (closed by :func:`dispose`).
_READERS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


class Reads:
    """Single-statement reads of one database, each its own snapshot (no transaction around it).

    On a SQLite file they run on the event loop through a driver connection of the twin engine: an indexed
    read in WAL mode takes microseconds and never waits for a writer, so a thread hand-off would cost more
    than the read. On PostgreSQL they run on the asyncpg connection of a pooled connection, outside any
    transaction (autocommit). Elsewhere (in-memory SQLite) they go through SQLAlchemy in autocommit."""

    def __init__(self, db: AsyncEngine) -> None:
        self._db = db
        self._twin = sqlite_twin(db)
        self._async = autocommit_reads(db)
        self._asyncpg = on_asyncpg(db)

    async def mappings(self, q: Prepared, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of ``q`` as dicts keyed by column key."""
        params = params or {}
        if self._twin is not None:
            dialect = self._twin.dialect
            return q.rows(dialect, self._driver(*q.bind(dialect, params)))
        if self._asyncpg:
            dialect = self._db.dialect
            return q.rows(dialect, await driver_fetch(self._db, *q.bind(dialect, params)))
        async with self._async.connect() as conn:
            return [dict(r) for r in (await conn.execute(q.stmt, dict(params))).mappings()]

    def _driver(self, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._reader().driver_connection.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise DBAPIError.instance(sql, args, e, sqlite3.Error, hide_parameters=True) from e

    def _reader(self) -> Any:
        """The twin's pooled connection checked out for good (kept, so the pool never lends it to another)."""
        reader = _READERS.get(self._twin)
        if reader is None:
            reader = _READERS[self._twin] = self._twin.raw_connection()
        return reader


async def driver_fetch(db: AsyncEngine, sql: str, args: Sequence[Any]) -> list[Any]:
    """``sql``, one statement, on a pooled connection's asyncpg driver (its prepared-statement cache), outside
    any transaction: one statement is atomic on its own. A connection the server dropped is invalidated, so it
    fails this statement only (the caller retries, as on SQLAlchemy's own path); any failure is a
    ``DBAPIError`` without its parameters (they hold phone numbers)."""
    fairy = await db.raw_connection()
    try:
        return await fairy.driver_connection.fetch(sql, *args)
    except Exception as e:
        lost = _unusable(fairy.driver_connection, e)
        if lost:
            await greenlet_spawn(fairy.invalidate, e)
        raise DBAPIError.instance(sql, list(args), e, Exception, hide_parameters=True,
                                  connection_invalidated=lost) from e
    except BaseException:       # cancelled mid-statement: never lend the connection out again mid-operation
        fairy.invalidate(soft=True)              # (replaced at its next checkout)
        raise
    finally:
        await greenlet_spawn(fairy.close)


def _unusable(conn: Any, error: Exception) -> bool:
    """Whether ``conn`` must not be lent out again after ``error``: it is closed, or the error is not the
    server refusing the statement (a dropped or reset connection, a protocol state asyncpg cannot resume)."""
    import asyncpg

    ended = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)   # e.g. shut down
    return conn.is_closed() or not isinstance(error, asyncpg.PostgresError) or isinstance(error, ended)


class PgRowInsert:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING`` of rows with fixed columns into a PostgreSQL table, as
    one statement on the asyncpg driver: the rows go as one array per column (``unnest``), so a batch of any
    size is one round trip, atomic without BEGIN and COMMIT; the returned keys are the rows that were new. For
    group-commit writers whose batches are small, where SQLAlchemy's transaction and statement handling cost
    four times the statement (two rows: 770 vs 190 µs of CPU)."""

    def __init__(self, table: Any, columns: Sequence[str], *, conflict: str) -> None:
        from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

        dialect = asyncpg_dialect()
        cols = [table.c[c] for c in columns]
        arrays = ", ".join(f"${i}::{c.type.compile(dialect=dialect)}[]" for i, c in enumerate(cols, 1))
        self.sql = (f"INSERT INTO {table.name} ({', '.join(c.name for c in cols)}) SELECT * FROM "
                    f"unnest({arrays}) ON CONFLICT ({conflict}) DO NOTHING RETURNING {conflict}")
        self._columns = tuple(columns)
        self._binders = tuple(c.type._cached_bind_processor(dialect) for c in cols)

    async def run(self, db: AsyncEngine, rows: Sequence[Mapping[str, Any]]) -> set[Any]:
        arrays = [[bind(r[c]) if bind is not None and r[c] is not None else r[c] for r in rows]
                  for c, bind in zip(self._columns, self._binders)]
        return {r[0] for r in await driver_fetch(db, self.sql, arrays)}


def on_asyncpg(db: AsyncEngine) -> bool:
    """Whether ``db`` is PostgreSQL through asyncpg (so :func:`driver_fetch` applies)."""
    return db.dialect.name == "postgresql" and db.dialect.driver == "asyncpg"


class SqliteRowInsert:
    """``INSERT … ON CONFLICT DO NOTHING`` of rows with fixed columns into a SQLite table, compiled once and
    run row by row on the driver inside the caller's transaction; which rows were new comes from each row's
    own count (a key seen twice in one batch: only the first). For group-commit writers whose batches are
    small, where SQLAlchemy's per-call statement handling cost more than the inserts."""

    def __init__(self, table: Any, columns: Sequence[str], *, conflict: str) -> None:
        from sqlalchemy.dialects import sqlite as sqlite_dialect

        dialect = sqlite_dialect.dialect(paramstyle="qmark")
        cols = [table.c[c] for c in columns]
        self.sql = (f"INSERT INTO {table.name} ({', '.join(c.name for c in cols)}) "
                    f"VALUES ({', '.join('?' for _ in cols)}) ON CONFLICT ({conflict}) DO NOTHING")
        self._columns = tuple(columns)
        self._binders = tuple(c.type._cached_bind_processor(dialect) for c in cols)

    def run(self, cursor: sqlite3.Cursor, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
        new = []
        for row in rows:
            args = [bind(v) if bind is not None and v is not None else v
                    for bind, v in zip(self._binders, (row[c] for c in self._columns))]
            cursor.execute(self.sql, args)
            new.append(cursor.rowcount == 1)
        return new


def sync_sqlite_engine(url: str):
    """A synchronous (pysqlite) engine on the same SQLite file as an async ``url``, with the same pragmas.

    Hot write paths run a whole transaction in one worker-thread hop through it, instead of one aiosqlite
    thread round trip per statement.
    """
    from sqlalchemy import create_engine

    sync_url = url.replace("sqlite+aiosqlite", "sqlite", 1)
    engine = create_engine(sync_url, connect_args={"timeout": 30, "check_same_thread": False})

    class _Wrapped:  # _configure_sqlite expects an object with .sync_engine
        sync_engine = engine

    _configure_sqlite(_Wrapped())  # type: ignore[arg-type]
    return engine
