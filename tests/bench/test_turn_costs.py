"""Round trips per turn, counted through the real pipeline (webhook app, roles, pywa to a fake Graph API):
upper bounds on SQL statements, Redis round trips and Graph API calls per kind of turn.

Counts, not times. The bounds are today's counts (issue 10); lowering one is the point of the hot-path work,
raising one needs a reason. Each turn must also have been answered, so a counter that stopped
counting cannot pass.
"""

from __future__ import annotations

from bot.bench import turn_costs
from tests.conftest import PG_URL, REDIS_URL

# row: (SQL statements incl. BEGIN/COMMIT/ROLLBACK, Graph API calls incl. read receipts / typing)
# Today's counts on main (3ae88a1). Before issue 10's work began (cb1bfc8): SQL 28, 9, 12, 12, 19, 22, 14
# (flow 55) and 2 Graph calls per turn (3 for portfolio: two replies), the read receipt separate.
EMBEDDED = {"first_turn": (18, 1), "price_repeat": (8, 1), "portfolio": (11, 2), "order_status": (11, 1),
            "buy": (14, 1), "pin": (17, 1), "confirm": (13, 1), "buy_pin_confirm": (44, 3)}
# PostgreSQL + Redis, engine role in the same process: (SQL, Graph, Redis round trips; a pipeline is one).
# Not counted: blocking stream reads that came back empty and the engine's periodic lease check (idling).
# Before (cb1bfc8): SQL 28, 9, 12, 12, 19, 22, 19 (flow 60); Redis 11, 11, 26, 15, 11, 27, 15 (flow 53).
# Redis at 91b9981: 10, 10, 25, 14, 10, 26, 18 (flow 54); a turn's commit, replies and ack are now one script,
# and a worker reads a session it committed in the same lease tenure from memory (the first turn still reads).
# SQL counts never saw the pool's pre-ping (BEGIN, ';', ROLLBACK per checkout: 9 round trips on a price turn),
# gone since 4879bca (tests/engine/test_pg_pool.py).
# Redis at 3e3dad3: 8, 7, 22, 11, 7, 23, 15 (flow 45); the turn's script now hands its new send-queue entries
# to the local sender instead of the sender reading them back.
# Since 55f6c6a a serve that is the engine calls it in process (the stream's four round trips per engine call
# are gone from this table: at 86552a9 Redis was 7, 6, 21, 10, 6, 22, 14, flow 42); hot reads on PostgreSQL
# run on the asyncpg driver outside a transaction (at 55f6c6a SQL was 19, 9, 12, 12, 16, 19, 25, flow 60; then
# 17, 7, 10, 8, 12, 13, 21, flow 46), and the message writer's batch is one array INSERT (no BEGIN, COMMIT).
CLUSTER = {"first_turn": (13, 1, 7), "price_repeat": (3, 1, 6), "portfolio": (4, 2, 9),
           "order_status": (4, 1, 6), "buy": (8, 1, 6), "pin": (9, 1, 6), "confirm": (17, 1, 6),
           "buy_pin_confirm": (34, 3, 18)}


def _answered(rows: dict) -> None:
    assert all(rows[name]["replies"] >= 1 for name in EMBEDDED), rows
    assert not any(rows[name]["error_replies"] for name in EMBEDDED), f"a turn failed: {rows}"
    assert all(rows[name]["sql"] > 0 for name in EMBEDDED), "every turn writes its audit row: SQL was counted"
    assert all(rows[name]["graph_calls"] > rows[name]["replies"] - 1 for name in EMBEDDED)


async def test_embedded_turn_costs_stay_within_todays_counts(tmp_path):
    rows = await turn_costs.embedded_costs(tmp_path)
    _answered(rows)
    over = {name: (rows[name]["sql"], rows[name]["graph_calls"], bounds) for name, bounds in EMBEDDED.items()
            if rows[name]["sql"] > bounds[0] or rows[name]["graph_calls"] > bounds[1]}
    assert not over, f"more round trips than before (sql, graph, bounds): {over}"
    assert all(rows[name]["redis_round_trips"] == 0 for name in EMBEDDED), "the embedded default has no Redis"


async def test_cluster_turn_costs_stay_within_todays_counts(tmp_path):
    rows = await turn_costs.cluster_costs(tmp_path, pg_url=PG_URL, redis_url=REDIS_URL)
    _answered(rows)
    over = {name: (rows[name]["sql"], rows[name]["graph_calls"], rows[name]["redis_round_trips"], bounds)
            for name, bounds in CLUSTER.items()
            if rows[name]["sql"] > bounds[0] or rows[name]["graph_calls"] > bounds[1]
            or rows[name]["redis_round_trips"] > bounds[2]}
    assert not over, f"more round trips than before (sql, graph, redis, bounds): {over}"
    assert rows["price_repeat"]["redis_round_trips"] > 0, "a cluster turn goes through Redis: it was counted"
