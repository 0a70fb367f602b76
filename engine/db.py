"""Database plumbing shared by every store: one async SQLAlchemy engine per process.

SQLite runs in WAL mode with ``synchronous=FULL`` (durable commits) and ``BEGIN IMMEDIATE`` for writes so
that a read-then-write transaction never deadlocks on lock upgrade; PostgreSQL uses plain transactions.
Single-statement reads on the hot path go through :func:`autocommit_reads`: no write lock on SQLite, no
BEGIN/ROLLBACK round trips on PostgreSQL.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


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
    return create_async_engine(url, echo=echo, hide_parameters=True, pool_size=10, max_overflow=10,
                               pool_pre_ping=True, connect_args=connect_args)


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
        twin.dispose()
    await db.dispose()


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
