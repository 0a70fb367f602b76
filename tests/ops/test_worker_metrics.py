"""``gridworks worker`` as a process serves /metrics (queue gauges read from its Redis streams), /healthz and
/readyz (database, Redis, intent model) on GRIDWORKS_METRICS_PORT."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import aiohttp
import redis.asyncio as redis_asyncio

from tests.conftest import PG_URL, REDIS_URL, _drop_pg_schema, _pg_schema
from tests.ops.test_serve_ready import _free_port


async def test_worker_metrics_port(tmp_path: Path):
    schema = await _pg_schema()
    port = _free_port()
    prefix = f"gwwm:{uuid.uuid4().hex[:8]}:"
    pg = PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "GRIDWORKS_"))
           and k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(DATABASE_URL=f"{pg}?options=-csearch_path%3D{schema}", REDIS_URL=REDIS_URL,
               GRIDWORKS_REDIS_PREFIX=prefix, GRIDWORKS_METRICS_PORT=str(port),
               GRIDWORKS_STATE_DIR=str(tmp_path / "state"), WHATSAPP_GRAPH_URL="http://127.0.0.1:9",
               GRIDWORKS_PARTITIONS="2")
    env.update({k: os.environ[k] for k in ("GRIDWORKS_INTENTS_MODEL_DIR",) if k in os.environ})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "worker", "--insecure-dev",
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        lines = []
        while not any(b"running" in line for line in lines):
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=600)
            assert line, lines
            lines.append(line)
        assert any(f"metrics on port {port}".encode() in line for line in lines), lines
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                text = await r.text()
                assert r.status == 200 and 'gridworks_queue_depth{queue="intake"}' in text, text[-2000:]
                assert 'gridworks_queue_lag{queue="intake"}' in text
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                body = await r.json()
                assert r.status == 200 and body["checks"] == {"database": "ok", "redis": "ok", "intents": "ok"}
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await _drop_pg_schema(schema)
        client = redis_asyncio.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
