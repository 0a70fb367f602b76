"""The engine's single-writer authority: exactly one process may run the order engine against one database.

Why: the engine keeps its book, blocks and counters in memory and trusts them; two engines on one database
would hand out the same order ids and spend the same cash twice. So the engine role first takes a lease.

* PostgreSQL: a session advisory lock on a dedicated connection (keyed by ``gridworks.engine`` and the
  schema) held for the process lifetime -- it vanishes with the connection, so a crashed engine frees it at
  once -- plus a fenced lease row ``eng_lease`` whose ``epoch`` grows by one per acquisition. Every engine
  write transaction re-reads the epoch ``FOR SHARE`` (see :meth:`PgEngineLease.fence`): a process that lost
  the lease (its connection died, a standby took over) cannot commit another row, and a takeover waits for
  the old holder's in-flight transaction instead of racing it.
* SQLite: an exclusive ``flock`` on ``<db>.lock`` refuses a second engine process on the same file.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import socket
from pathlib import Path
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.db import lock_ddl

log = structlog.get_logger("gridworks.cluster.lease")

__all__ = ["EngineBusy", "LeaseLost", "PgEngineLease", "SqliteEngineLease", "lease_key", "open_lease"]

LEASE_TABLE_DDL = ("CREATE TABLE IF NOT EXISTS eng_lease (name TEXT PRIMARY KEY, epoch BIGINT NOT NULL, "
                   "holder TEXT NOT NULL, acquired_at TIMESTAMPTZ NOT NULL)")


class EngineBusy(RuntimeError):
    """Another process already serves this database as the engine."""


class LeaseLost(RuntimeError):
    """This process no longer holds the engine lease: it must stop writing and stop acting as the engine."""


def lease_key(schema: str, name: str = "gridworks.engine") -> int:
    """The advisory-lock key: a signed 64-bit number from the role name and the schema (one engine each)."""
    digest = hashlib.sha256(f"{name}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class PgEngineLease:
    """Advisory lock + fenced epoch row on PostgreSQL. ``acquire`` once, ``release`` at shutdown.

    A watchdog re-reads the epoch on the lock's own connection every ``check_s``; if that fails or takes
    longer than ``timeout_s`` (the connection died, the server is unreachable) or the epoch moved on,
    :attr:`lost` is set and ``on_lost`` called: the process must stop acting as the engine.
    """

    def __init__(self, db: AsyncEngine, *, name: str = "engine", holder: str | None = None,
                 poll_s: float = 0.25, check_s: float = 1.0, timeout_s: float = 5.0,
                 on_lost: Callable[[], Any] | None = None, owns_db: bool = False) -> None:
        if db.dialect.name != "postgresql":
            raise ValueError("PgEngineLease needs a PostgreSQL database")
        self.db = db
        self.name = name
        self.holder = holder or _holder()
        self.poll_s = poll_s
        self.check_s = check_s
        self.timeout_s = timeout_s
        self.on_lost = on_lost
        self.epoch: int | None = None
        self.key: int | None = None
        self.backend_pid: int | None = None     # the lock's PostgreSQL session (see pg_stat_activity)
        self.lost = asyncio.Event()
        self._owns_db = owns_db
        self._conn: AsyncConnection | None = None
        self._io = asyncio.Lock()          # the lock's connection serves one statement at a time
        self._watchdog: asyncio.Task | None = None

    @property
    def held(self) -> bool:
        return self.epoch is not None and not self.lost.is_set()

    async def acquire(self, *, wait: bool = True) -> bool:
        """Take the lease; with ``wait`` poll until it is free (a standby), else return False at once."""
        if self.epoch is not None:
            return True
        while True:
            try:
                if await asyncio.wait_for(self._try_once(), self.timeout_s):
                    break
            except asyncio.CancelledError:
                await self._drop_conn()
                raise
            except Exception as exc:   # the server is down or restarting: a standby keeps trying
                log.warning("lease.try_failed", error=type(exc).__name__)
                await self._drop_conn()
            if not wait:
                return False
            await asyncio.sleep(self.poll_s)
        log.info("lease.acquired", epoch=self.epoch, key=self.key)
        self._watchdog = asyncio.create_task(self._watch(), name="engine-lease-watchdog")
        return True

    async def _try_once(self) -> bool:
        if self._conn is None:
            self._conn = await self.db.connect()
            conn = self._conn
            # Let the server notice a vanished client within seconds even without a FIN (a dead host).
            for setting, value in (("tcp_keepalives_idle", 2), ("tcp_keepalives_interval", 1),
                                   ("tcp_keepalives_count", 3)):
                await conn.exec_driver_sql(f"SET {setting} = {value}")
            row = (await conn.execute(text("SELECT current_schema(), pg_backend_pid()"))).one()
            schema, self.backend_pid = row[0], int(row[1])
            self.key = lease_key(schema or "public")
            await conn.commit()
        conn = self._conn
        got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})).scalar())
        await conn.commit()
        if not got:
            return False
        try:
            await lock_ddl(conn)
            await conn.exec_driver_sql(LEASE_TABLE_DDL)
            epoch = (await conn.execute(text(
                "INSERT INTO eng_lease (name, epoch, holder, acquired_at) VALUES (:n, 1, :h, now()) "
                "ON CONFLICT (name) DO UPDATE SET epoch = eng_lease.epoch + 1, holder = excluded.holder, "
                "acquired_at = excluded.acquired_at RETURNING epoch"),
                {"n": self.name, "h": self.holder})).scalar()
            await conn.commit()
        except BaseException:
            await self._drop_conn()     # closing the session frees the advisory lock too
            raise
        self.epoch = int(epoch)
        return True

    async def _drop_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await asyncio.wait_for(conn.close(), 2)
        except BaseException:   # noqa: BLE001 - a dead connection may fail to close; invalidate it
            try:
                await conn.invalidate()
            except BaseException:
                pass

    async def check(self) -> None:
        """Raise :class:`LeaseLost` unless the lock's connection answers and the epoch is still ours."""
        if self.lost.is_set() or self._conn is None or self.epoch is None:
            raise LeaseLost("the engine lease is not held")
        try:
            current = await asyncio.wait_for(self._read_epoch(), self.timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():    # released while checking: not a lost lease
                raise asyncio.CancelledError from exc
            self._mark_lost(type(exc).__name__)
            raise LeaseLost("the engine lease connection failed") from exc
        if current != self.epoch:
            self._mark_lost("epoch_moved")
            raise LeaseLost(f"the engine lease moved to epoch {current}")

    async def _read_epoch(self) -> int | None:
        async with self._io:
            if self._conn is None:
                raise LeaseLost("the engine lease connection is closed")
            value = (await self._conn.execute(text("SELECT epoch FROM eng_lease WHERE name = :n"),
                                              {"n": self.name})).scalar()
            await self._conn.commit()
        return None if value is None else int(value)

    async def _watch(self) -> None:
        while not self.lost.is_set():
            await asyncio.sleep(self.check_s)
            try:
                await self.check()
            except LeaseLost:
                return

    def _mark_lost(self, why: str) -> None:
        if self.lost.is_set():
            return
        log.error("lease.lost", epoch=self.epoch, reason=why)
        self.lost.set()
        if self.on_lost is not None:
            self.on_lost()

    async def fence(self, conn: AsyncConnection) -> None:
        """Called first inside every engine write transaction: refuse it unless the epoch is still ours.

        ``FOR SHARE`` holds the row until this transaction ends, so a takeover (which updates the row) waits
        for a write already past this check, and a write after the takeover sees the new epoch and aborts.
        """
        if self.epoch is None or self.lost.is_set():
            raise LeaseLost("the engine lease is not held")
        current = (await conn.execute(text("SELECT epoch FROM eng_lease WHERE name = :n FOR SHARE"),
                                      {"n": self.name})).scalar()
        if current is None or int(current) != self.epoch:
            self._mark_lost("fenced")
            raise LeaseLost(f"write refused: the engine lease moved from epoch {self.epoch} to {current}")

    async def release(self) -> None:
        """Give the lease up (the epoch stays; the next holder increments it)."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
            try:
                await watchdog
            except BaseException:
                pass
        async with self._io:
            conn = self._conn
            if conn is not None and self.epoch is not None and not self.lost.is_set():
                try:
                    await asyncio.wait_for(conn.execute(text("SELECT pg_advisory_unlock(:k)"),
                                                        {"k": self.key}), 2)
                    await asyncio.wait_for(conn.commit(), 2)
                except Exception as exc:   # closing the connection frees the lock anyway
                    log.warning("lease.unlock_failed", error=type(exc).__name__)
            await self._drop_conn()
        if self.epoch is not None:
            log.info("lease.released", epoch=self.epoch)
        self.epoch = None
        if self._owns_db:
            await self.db.dispose()

    async def __aenter__(self) -> "PgEngineLease":
        await self.acquire()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.release()


class SqliteEngineLease:
    """An exclusive ``flock`` on ``<db path>.lock`` for as long as this process serves the file.

    The OS drops the lock when the process dies, so no fencing is needed: no write can outlive the holder.
    """

    fence = None    # nothing to check inside a transaction: the lock dies with the process

    def __init__(self, path: str | os.PathLike[str] | None, *, poll_s: float = 0.25) -> None:
        raw = str(path) if path is not None else ":memory:"
        self.memory = raw in ("", ":memory:") or raw.startswith("file::memory:")
        self.path = None if self.memory else Path(raw).expanduser().resolve()
        self.lock_path = None if self.path is None else self.path.with_name(self.path.name + ".lock")
        self.poll_s = poll_s
        self.epoch: int | None = None
        self.lost = asyncio.Event()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self.epoch is not None

    def _try_once(self) -> bool:
        if self.lock_path is None:
            return True
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{_holder()}\n".encode())
        self._fd = fd
        return True

    async def acquire(self, *, wait: bool = False) -> bool:
        """Take the lock; a second process is refused with :class:`EngineBusy` (or, with ``wait``, polls)."""
        if self.epoch is not None:
            return True
        while not self._try_once():
            if not wait:
                raise EngineBusy(f"another GridWorks engine process is already serving the database "
                                 f"{self.path} (its lock {self.lock_path} is held); stop that process or "
                                 f"point DATABASE_URL at another file")
            await asyncio.sleep(self.poll_s)
        self.epoch = 1
        return True

    async def check(self) -> None:
        if self.epoch is None:
            raise LeaseLost("the engine lock is not held")

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        self.epoch = None

    async def __aenter__(self) -> "SqliteEngineLease":
        await self.acquire()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.release()


def open_lease(target: str | AsyncEngine, **kw: Any) -> PgEngineLease | SqliteEngineLease:
    """The lease for a database URL or engine: PostgreSQL advisory lock, or a file lock for SQLite.

    A URL for PostgreSQL gets its own small engine (disposed on release); ``kw`` goes to the lease class.
    """
    if isinstance(target, AsyncEngine):
        if target.dialect.name == "sqlite":
            return SqliteEngineLease(target.url.database, **_only(kw, "poll_s"))
        return PgEngineLease(target, **kw)
    from engine.db import is_sqlite, make_engine

    if is_sqlite(target):
        path = target.split(":///", 1)[1] if ":///" in target else ""
        return SqliteEngineLease(path.split("?", 1)[0] or ":memory:", **_only(kw, "poll_s"))
    schema = kw.pop("schema", None)
    db = make_engine(target, schema=schema)
    return PgEngineLease(db, owns_db=True, **kw)


def _only(kw: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if k in names}
