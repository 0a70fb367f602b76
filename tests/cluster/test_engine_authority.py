"""One engine authority: the PostgreSQL lease (advisory lock + fenced epoch), the SQLite file lock, counters
that continue from the database after a takeover, and a real failover between two ``gridworks engine``
processes (kill -9 the active one; the standby answers within seconds).
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import redis.asyncio as redis_asyncio
from sqlalchemy import func, select, text

from bot.cluster.engine_rpc import EngineServer, EngineUnavailable, LocalEngine, RemoteEngine, cmd_stream
from bot.cluster.lease import EngineBusy, LeaseLost, PgEngineLease, SqliteEngineLease, lease_key, open_lease
from engine.api import OrderRequest, OrderResult, Side
from engine.clock import IST, FixedClock
from engine.db import make_engine
from engine.factory import open_engine
from engine.store import orders, trades
from tests.conftest import PG_URL, REDIS_URL
from tests.engine.conftest import CONFIG

ROOT = Path(__file__).resolve().parents[2]
ACC = "919800000002"
MON_10 = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def req(coid: str, symbol: str = "TCS", quantity: int = 2) -> OrderRequest:
    return OrderRequest(account=ACC, client_order_id=coid, symbol=symbol, side=Side.BUY, quantity=quantity)


@pytest.fixture
async def pg_db(schema):
    db = make_engine(PG_URL, schema=schema)
    yield db
    await db.dispose()


async def terminate(db, pid: int) -> None:
    """Kill one PostgreSQL session from the outside, as a crashed host or a network cut would."""
    async with db.connect() as conn:
        assert (await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})).scalar()
        await conn.commit()


async def lock_holder(db, schema: str) -> int:
    """The PostgreSQL session holding the engine lease of ``schema`` (another process's, say)."""
    key = lease_key(schema)            # a bigint advisory key shows as classid (high half), objid (low half)
    async with db.connect() as conn:
        rows = await conn.execute(text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::bigint = :hi "
            "AND objid::bigint = :lo"), {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF})
        [pid] = rows.scalars().all()
    return int(pid)


async def count_coid(db, coid: str) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(orders)
                                       .where(orders.c.client_order_id == coid))).scalar())


# -- PostgreSQL lease ----------------------------------------------------------------------------------------
async def test_a_second_lease_waits_until_the_first_is_released(pg_db, schema):
    first = PgEngineLease(pg_db, check_s=0.2)
    second = PgEngineLease(pg_db, poll_s=0.05)
    try:
        assert await first.acquire(wait=False) and first.epoch == 1 and first.held
        assert first.key == lease_key(schema) != lease_key("public")
        assert not await second.acquire(wait=False) and second.epoch is None
        waiting = asyncio.create_task(second.acquire())
        await asyncio.sleep(0.5)
        assert not waiting.done()                      # a standby: not acquired while the first holds it
        await first.release()
        assert await asyncio.wait_for(waiting, 5) and second.epoch == 2
        async with pg_db.connect() as conn:
            row = (await conn.execute(text("SELECT epoch, holder FROM eng_lease WHERE name = 'engine'"))
                   ).one()
        assert row[0] == 2 and row[1].endswith(f":{os.getpid()}")
    finally:
        await first.release()
        await second.release()


async def test_when_the_holders_connection_dies_the_standby_takes_over_and_the_old_writes_are_fenced(pg_db):
    lost_calls = []
    # The old holder's watchdog is slow on purpose: fencing alone must stop its writes.
    old = PgEngineLease(pg_db, check_s=60, on_lost=lambda: lost_calls.append(1))
    new = PgEngineLease(pg_db, poll_s=0.05)
    engine = None
    try:
        assert await old.acquire(wait=False)
        engine = await open_engine(db=pg_db, clock=FixedClock(MON_10), config=CONFIG)
        engine.store.fence = old.fence
        assert (await engine.place(req("wamid.BEFORE"))).accepted          # the holder writes normally
        waiting = asyncio.create_task(new.acquire())
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await terminate(pg_db, old.backend_pid)
        assert await asyncio.wait_for(waiting, 5) and new.epoch == old.epoch + 1
        with pytest.raises(LeaseLost):                                     # the old holder after takeover
            await engine.place(req("wamid.AFTER"))
        assert await count_coid(pg_db, "wamid.AFTER") == 0 and await count_coid(pg_db, "wamid.BEFORE") == 1
        assert old.lost.is_set() and lost_calls == [1] and not old.held
        with pytest.raises(LeaseLost):
            await old.check()
    finally:
        if engine is not None:
            await engine.close()
        await old.release()
        await new.release()


@pytest.mark.parametrize("path", ["stream", "in_process"])
async def test_a_fenced_command_reaches_the_caller_as_engine_unavailable(pg_db, path):
    """Through RPC, or in process from a worker beside the engine, a write refused by the fence is "try
    again" (nothing was written), not an error."""
    old, new = PgEngineLease(pg_db, check_s=60), PgEngineLease(pg_db, poll_s=0.05)
    prefix = f"gwt:{uuid.uuid4().hex[:12]}:"
    client = redis_asyncio.from_url(REDIS_URL)
    engine = await open_engine(db=pg_db, clock=FixedClock(MON_10), config=CONFIG)
    server = EngineServer(engine, client, prefix=prefix, block_ms=100)
    local = LocalEngine()
    if path == "in_process":
        local.engine = engine
    remote = RemoteEngine(client, prefix=prefix, timeout_s=5, block_ms=100, local=local)
    try:
        assert await old.acquire(wait=False)
        engine.store.fence = old.fence
        server.start()
        assert (await remote.place(req("wamid.RPC1"))).accepted
        await terminate(pg_db, old.backend_pid)
        assert await new.acquire(wait=True) and new.epoch == 2
        with pytest.raises(EngineUnavailable, match="lost its lease"):
            await remote.place(req("wamid.RPC2"))
        assert await count_coid(pg_db, "wamid.RPC2") == 0
        assert await client.xlen(cmd_stream(prefix)) == (0 if path == "in_process" else 2)
    finally:
        await remote.close()
        await server.stop()
        await engine.close()
        await old.release()
        await new.release()
        await drop_keys(prefix)
        await client.aclose()


async def test_the_watchdog_notices_a_dead_lock_connection(pg_db):
    lease = PgEngineLease(pg_db, check_s=0.05, timeout_s=1)
    try:
        assert await lease.acquire(wait=False)
        await lease.check()
        await terminate(pg_db, lease.backend_pid)
        await asyncio.wait_for(lease.lost.wait(), 3)
    finally:
        await lease.release()


async def test_a_takeover_waits_for_the_old_holders_write_in_flight(pg_db):
    old = PgEngineLease(pg_db, check_s=60)
    new = PgEngineLease(pg_db, poll_s=0.05)
    try:
        assert await old.acquire(wait=False)
        async with pg_db.connect() as conn:
            await old.fence(conn)                            # a write transaction past its fence check
            await conn.execute(text("CREATE TABLE probe (n INT)"))
            await terminate(pg_db, old.backend_pid)
            waiting = asyncio.create_task(new.acquire())
            await asyncio.sleep(0.5)
            assert not waiting.done()                        # the epoch update waits for that transaction
            await conn.commit()
        assert await asyncio.wait_for(waiting, 5) and new.epoch == 2
    finally:
        await old.release()
        await new.release()


# -- SQLite lock ---------------------------------------------------------------------------------------------
async def test_sqlite_lease_refuses_a_second_holder_by_name(tmp_path: Path):
    path = tmp_path / "gw.db"
    first, second = SqliteEngineLease(path), SqliteEngineLease(path)
    await first.acquire()
    with pytest.raises(EngineBusy) as refused:
        await second.acquire()
    assert str(path) in str(refused.value) and "already serving" in str(refused.value)
    # another OS process is refused the same way
    code = (f"import asyncio; from bot.cluster.lease import SqliteEngineLease as L\n"
            f"asyncio.run(L({str(path)!r}).acquire())")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "EngineBusy" in done.stderr and str(path) in done.stderr
    await first.release()
    assert await second.acquire() and second.held
    await second.release()
    memory = [SqliteEngineLease(":memory:"), SqliteEngineLease(None)]
    for lease in memory:                                    # in-memory databases are private: no lock
        assert await lease.acquire()
        await lease.release()


async def test_open_lease_picks_the_lock_for_the_database(tmp_path: Path, pg_db, schema):
    lite = open_lease(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    assert isinstance(lite, SqliteEngineLease) and lite.lock_path == tmp_path / "a.db.lock"
    sqlite_db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    assert isinstance(open_lease(sqlite_db), SqliteEngineLease)
    await sqlite_db.dispose()
    assert isinstance(open_lease(pg_db), PgEngineLease)
    owned = open_lease(PG_URL, schema=schema)
    assert isinstance(owned, PgEngineLease)
    assert await owned.acquire(wait=False) and owned.epoch == 1
    await owned.release()


# -- counters continue after a restart -----------------------------------------------------------------------
async def test_order_and_trade_ids_continue_from_the_database(pg_db):
    first = await open_engine(db=pg_db, clock=FixedClock(MON_10), config=CONFIG)
    a = await first.place(req("wamid.1"))
    b = await first.place(req("wamid.2", symbol="INFY", quantity=3))
    await first.close()
    second = await open_engine(db=pg_db, clock=FixedClock(MON_10), config=CONFIG)
    try:
        async with pg_db.connect() as conn:
            max_order = (await conn.execute(select(func.max(orders.c.seq)))).scalar()
            max_trade = (await conn.execute(select(func.max(trades.c.seq)))).scalar()
        assert (second.core.order_seq, second.core.trade_seq) == (max_order, max_trade) and max_trade >= 2
        c = await second.place(req("wamid.3", symbol="ITC"))
        assert int(c.order.order_id[-9:]) == int(b.order.order_id[-9:]) + 1
        assert int(c.trades[0].trade_id) == int(b.trades[-1].trade_id) + 1
        assert c.order.order_id not in {a.order.order_id, b.order.order_id}
    finally:
        await second.close()


# -- two real engine processes -------------------------------------------------------------------------------
class EngineProcess:
    """``python -m bot.cli engine`` in a child process, its stdout lines collected by a thread."""

    def __init__(self, env: dict[str, str], prefix: str | None = None) -> None:
        args = ["engine", "--insecure-dev"] + ([] if prefix is None else ["--prefix", prefix])
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args],
                                     cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, None), daemon=True).start()

    def _pump(self, stream, into) -> None:
        for line in stream:
            if into is not None:
                into.put(line.rstrip("\n"))
            else:
                self.stderr.append(line)

    async def wait_for_line(self, needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.02)
                continue
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no {needle!r} in {self.seen!r}; rc={self.proc.poll()} "
                             f"stderr={''.join(self.stderr)[-2000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def engine_env(tmp_path: Path, schema: str, **extra: str) -> dict[str, str]:
    """The environment of an engine process: our schema (as a libpq option on the URL), the test Redis."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")
            and not k.startswith("GRIDWORKS_")}
    pg = PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1)
    return {**base, "DATABASE_URL": f"{pg}?options=-csearch_path%3D{schema}", "REDIS_URL": REDIS_URL,
            "GRIDWORKS_LEASE_SECONDS": "3", "GRIDWORKS_STATE_DIR": str(tmp_path),
            "GRIDWORKS_LOG_LEVEL": "WARNING", **extra}


async def drop_keys(prefix: str) -> None:
    client = redis_asyncio.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_killing_the_active_engine_process_hands_over_to_the_standby(tmp_path: Path, schema):
    prefix = f"gwt:{uuid.uuid4().hex[:12]}:"
    env = engine_env(tmp_path, schema, GRIDWORKS_CLOCK="2026-11-23T10:00:00+05:30",
                     GRIDWORKS_TICK_SECONDS="0.5")
    client = redis_asyncio.from_url(REDIS_URL)
    remote = RemoteEngine(client, prefix=prefix, timeout_s=10.0, block_ms=100)
    active = EngineProcess(env, prefix)
    standby = None
    try:
        assert "active (epoch 1)" in await active.wait_for_line("active", 30)
        standby = EngineProcess(env, prefix)
        await standby.wait_for_line("standby, waiting for the engine lease", 30)
        first = await remote.place(req("wamid.P1"))
        assert first.accepted and first.trades

        # orders in flight while the active engine dies: each is answered once the standby serves
        burst = [asyncio.create_task(remote.place(req(f"wamid.B{i}", quantity=1))) for i in range(20)]
        await asyncio.sleep(0.01)
        killed_at = time.monotonic()
        os.kill(active.proc.pid, signal.SIGKILL)
        funds = await remote.funds(ACC)                 # queued in the stream until the standby serves it
        failover_s = time.monotonic() - killed_at
        print(f"\nengine failover (kill -9 -> first answer from the standby): {failover_s:.2f} s")
        assert failover_s < 10
        assert "active (epoch 2)" in await standby.wait_for_line("active", 5)
        assert funds.cash_paise < 10_000_000 and funds.charges_paid_paise > 0     # state rebuilt from PG
        results = await asyncio.gather(*burst, return_exceptions=True)
        assert all(isinstance(r, OrderResult) and r.accepted for r in results), results
        # (an order the dead engine committed but never answered comes back from the standby as a duplicate)
        print(f"orders in flight at the kill: {len(results)}, answered as duplicates: "
              f"{sum(r.duplicate for r in results)}")
        db = make_engine(PG_URL, schema=schema)
        try:
            assert [await count_coid(db, f"wamid.B{i}") for i in range(20)] == [1] * 20   # each exactly once
        finally:
            await db.dispose()
        again = await remote.place(req("wamid.P1"))
        assert again.duplicate and again.order.order_id == first.order.order_id
        last_order = max(int(o.order_id[-9:]) for o in await remote.orders(ACC))
        last_trade = max(int(t.trade_id) for t in await remote.trades(ACC))
        second = await remote.place(req("wamid.P2", symbol="INFY"))
        assert int(second.order.order_id[-9:]) == last_order + 1        # counters continue from the database
        assert int(second.trades[0].trade_id) == last_trade + 1

        standby.proc.send_signal(signal.SIGTERM)
        assert standby.proc.wait(15) == 0
        assert active.proc.wait(5) == -signal.SIGKILL
    finally:
        active.kill()
        if standby is not None:
            standby.kill()
        await remote.close()
        await client.aclose()
        await drop_keys(prefix)


async def test_an_engine_process_whose_lock_connection_dies_stops_with_a_non_zero_exit(tmp_path: Path, schema,
                                                                                        pg_db):
    prefix = f"gwt:{uuid.uuid4().hex[:12]}:"
    engine = EngineProcess(engine_env(tmp_path, schema, GRIDWORKS_REDIS_PREFIX=prefix))   # the prefix setting
    try:
        await engine.wait_for_line("active (epoch 1)", 30)
        await terminate(pg_db, await lock_holder(pg_db, schema))
        await engine.wait_for_line("lease lost", 10)
        assert engine.proc.wait(15) == 3
        assert '"event": "lease.lost"' in "".join(engine.stderr)
    finally:
        engine.kill()
        await drop_keys(prefix)


async def test_a_serve_process_candidate_stands_again_after_losing_the_lease(tmp_path: Path, schema, pg_db,
                                                                            capsys):
    """In ``gridworks serve`` the engine role is one task among others: a lost lease ends the term (state
    discarded) and the process stands again, taking a new epoch with state rebuilt from the database."""
    from bot.cli.engine_role_cmd import engine_candidate
    from config.settings import load_settings

    prefix = f"gwt:{uuid.uuid4().hex[:12]}:"
    settings = load_settings(engine_env(tmp_path, schema, GRIDWORKS_REDIS_PREFIX=prefix,
                                        GRIDWORKS_LEASE_SECONDS="1", GRIDWORKS_TICK_SECONDS="0.5"))
    stop = asyncio.Event()
    out: list[str] = []

    async def said(text_: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not any(text_ in line for line in out):
            assert time.monotonic() < deadline, out
            out.extend(capsys.readouterr().out.splitlines())
            await asyncio.sleep(0.02)

    candidate = asyncio.create_task(engine_candidate(settings, stop=stop))
    client = redis_asyncio.from_url(REDIS_URL)
    remote = RemoteEngine(client, prefix=prefix, timeout_s=10, block_ms=100)
    try:
        await said("gridworks engine: active (epoch 1)")
        assert (await remote.open_account(ACC)).cash_paise == 10_000_000
        await terminate(pg_db, await lock_holder(pg_db, schema))
        await said("lease lost (epoch 1)")
        await said("gridworks engine: active (epoch 2)")
        assert (await remote.funds(ACC)).cash_paise == 10_000_000
        assert not candidate.done()
        stop.set()
        assert await asyncio.wait_for(candidate, 15) == 0
    finally:
        stop.set()
        await asyncio.gather(candidate, return_exceptions=True)
        await remote.close()
        await client.aclose()
        await drop_keys(prefix)
