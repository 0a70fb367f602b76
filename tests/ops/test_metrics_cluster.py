"""The cluster's metrics against the real Redis: queue depth, pending and consumer-group lag per queue kind
(XLEN / XINFO GROUPS at scrape time), engine command latency and tick duration from a real EngineServer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path

import redis.asyncio as redis_asyncio
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from bot.cluster.engine_rpc import EngineServer, RemoteEngine
from engine.clock import IST, FixedClock
from engine.db import make_engine
from engine.factory import open_engine
from tests.conftest import REDIS_URL
from tests.engine.conftest import CONFIG


async def samples() -> dict[tuple[str, tuple], float]:
    text = (await metrics.render()).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_queue_depth_pending_and_lag_are_read_from_the_streams_at_scrape_time():
    client = redis_asyncio.from_url(REDIS_URL)
    prefix = f"gwm:{uuid.uuid4().hex[:10]}:"
    try:
        await client.xgroup_create(f"{prefix}in:1", "workers", id="0", mkstream=True)
        for i in range(3):
            await client.xadd(f"{prefix}in:1", {"m": str(i)})
        await client.xreadgroup("workers", "w1", {f"{prefix}in:1": ">"}, count=1)   # one delivered, unacked
        await client.xadd(f"{prefix}eng:cmd", {"method": "funds"})                   # no group yet
        metrics.watch_queues(redis_url=REDIS_URL, prefix=prefix, partitions=2)
        got = await samples()
        assert got[("gridworks_queue_depth", (("queue", "intake"),))] == 3
        assert got[("gridworks_queue_pending", (("queue", "intake"),))] == 1
        assert got[("gridworks_queue_lag", (("queue", "intake"),))] == 2
        assert got[("gridworks_queue_depth", (("queue", "engine_commands"),))] == 1
        assert got[("gridworks_queue_depth", (("queue", "outbound"),))] == 0
    finally:
        metrics.watch_queues()
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_engine_command_latency_and_tick_duration(tmp_path: Path):
    client = redis_asyncio.from_url(REDIS_URL)
    prefix = f"gwm:{uuid.uuid4().hex[:10]}:"
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'e.db'}")
    clock = FixedClock(datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    engine = await open_engine(db=db, clock=clock, config=CONFIG)
    server = EngineServer(engine, client, prefix=prefix, block_ms=100)
    server.start()
    remote = RemoteEngine(client, prefix=prefix, timeout_s=5.0, block_ms=100)
    try:
        before = await samples()
        await remote.open_account("acc-m1", starting_cash_paise=100_000)
        await remote.funds("acc-m1")
        ticker = asyncio.create_task(server.run_ticker(0.05, clock))
        await asyncio.sleep(0.3)
        server.stop_ticker()
        await asyncio.wait_for(ticker, 5)
        after = await samples()
    finally:
        await remote.close()
        await server.stop()
        await engine.close()
        await db.dispose()
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    key = ("gridworks_engine_command_seconds_count", (("command", "funds"), ("path", "stream")))
    assert after[key] - before.get(key, 0) == 1
    ticks = ("gridworks_tick_seconds_count", ())
    assert after[ticks] - before.get(ticks, 0) >= 2
