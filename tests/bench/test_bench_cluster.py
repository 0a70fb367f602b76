"""``gridworks bench cluster`` at tiny size: the machinery runs real processes and reports real figures.

Not a timed test: nothing asserts a speed. It asserts that every figure is present and sane, that messages
were actually answered (by matching replies at the fake Graph API), that the processes logged no traceback
and no phone number, and that the private schema and Redis keys are gone afterwards.
"""

from __future__ import annotations

import argparse
import asyncio

import redis.asyncio as redis_asyncio
from sqlalchemy import text

from bot.bench import cluster as bench
from engine.db import make_engine
from tests.conftest import PG_URL, REDIS_URL


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(list(argv))
    args.json = True
    return args


def _check_level(level: dict, processes: set[str]) -> None:
    assert level["sent"] == level["acknowledged"] > 0, level
    assert level["failed_deliveries"] == 0
    assert level["answered"] > 0 and level["answered_pct"] >= 95.0, level
    assert 0 < level["served_per_s"] <= level["offered_per_s"] * 1.5
    for key in ("ack_p50_ms", "ack_p99_ms", "reply_p50_ms", "reply_p99_ms"):
        assert level[key] is not None and level[key] >= 0, (key, level)
    assert level["ack_p50_ms"] <= level["ack_p99_ms"] and level["reply_p50_ms"] <= level["reply_p99_ms"]
    assert level["error_replies"] == 0
    assert isinstance(level["backlog_growth_per_s"], float)
    assert set(level["cpu_ms_per_msg"]) == processes
    assert all(v >= 0 for v in level["cpu_ms_per_msg"].values())
    assert level["cpu_ms_per_msg_total"] > 0, "the processes did the work, so they used CPU"


def _check_topology(topo: dict, processes: set[str]) -> None:
    assert "error" not in topo, topo.get("error")
    assert topo["problems"] == [], topo["problems"]
    assert topo["log_problems"] == {}, topo["log_problems"]
    assert topo["onboarding"]["failed"] == 0
    # the product's reply counts, measured: every turn of the journey and of the load answers at least once
    steps = {"hello", "lang", "consent", "pin", "price", "portfolio", "status"}
    assert set(topo["replies_per_turn"]) == steps
    assert all(n >= 1 for n in topo["replies_per_turn"].values())
    assert topo["stray_replies"] == 0, "a reply matched no turn: the matching is off"
    # what was acknowledged is in the message log once; every send that reached Graph is logged, none twice
    integrity = topo["integrity"]
    assert integrity["acknowledged"] > 0 and integrity["lost_inbound"] == 0, integrity
    assert integrity["duplicate_inbound_rows"] == integrity["replies_sent_twice"] == 0, integrity
    assert integrity["graph_sends"] == integrity["outbound_rows"] > 0, integrity
    assert integrity["sends_not_logged"] == integrity["logged_sends_unknown_to_graph"] == 0, integrity
    assert len(topo["levels"]) == 1
    _check_level(topo["levels"][0], processes)
    assert topo["sustained_per_s"] > 0


def test_embedded_tiny_run_reports_answered_messages():
    figures = bench.run(_args("--rate", "5", "--seconds", "2", "--users", "10", "--workers", "",
                              "--warmup", "0", "--grace", "5"))
    [topo] = figures["topologies"]
    assert topo["topology"] == "embedded"
    _check_topology(topo, {"serve"})
    assert topo["exit_codes"] == {"serve": 0}
    table = bench.table(figures)
    assert "embedded" in table and "sustained" in table


def test_cluster_tiny_run_with_engine_failover_and_cleanup():
    figures = bench.run(_args("--rate", "5", "--seconds", "2", "--users", "10", "--workers", "1",
                              "--skip-embedded", "--warmup", "0", "--redis-url", REDIS_URL,
                              "--lease-seconds", "2", "--tick-seconds", "1"))
    [topo] = figures["topologies"]
    assert topo["topology"] == "cluster-1-worker"
    _check_topology(topo, {"engine", "worker1", "web", "postgres", "redis"})   # + the servers serving them
    failover = topo["failover"]
    assert "error" not in failover, failover
    assert 0 < failover["standby_active_s"] <= failover["engine_turn_answered_s"] < 30, failover
    assert failover["probes"] >= 1
    assert topo["exit_codes"]["engine"] == -9                  # the killed one
    assert {topo["exit_codes"][n] for n in ("worker1", "web", "standby")} == {0}

    async def leftovers() -> tuple[int, int]:
        db = make_engine(PG_URL)
        try:
            async with db.connect() as conn:
                schemas = (await conn.execute(text("SELECT count(*) FROM information_schema.schemata "
                                                   "WHERE schema_name = :s"), {"s": topo["schema"]})).scalar()
        finally:
            await db.dispose()
        client = redis_asyncio.from_url(REDIS_URL)
        try:
            keys = [k async for k in client.scan_iter(match=f"{topo['redis_prefix']}*")]
        finally:
            await client.aclose()
        return schemas, len(keys)

    assert asyncio.run(leftovers()) == (0, 0)
