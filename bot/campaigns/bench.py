"""``gridworks bench campaign``: segment evaluation over many users in PostgreSQL, and send throughput against
the fake Graph API at the campaign's configured rate.

Why these two: the audience query must stay a database job as the user base grows (we report the time at
several sizes and the linear projection to 1,000,000), and a campaign must send *at its rate* — the achieved
rate over the configured one should be ~1.0, limited by the rate and not by our CPU (an unthrottled run shows
the ceiling). Everything runs in a private PostgreSQL schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
START = "2026-11-23T10:00:00+05:30"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=100_000, help="users in the segment benchmark")
    parser.add_argument("--sends", type=int, default=3_000, help="nudges in each throughput run")
    parser.add_argument("--rates", default="100,500", help="configured campaign rates to measure (msgs/s)")
    parser.add_argument("--pg-url", default=os.environ.get("GRIDWORKS_BENCH_PG_URL", DEFAULT_PG))


_POPULATE = [
    # users: 5 % PRO (sealed profile), 8 % trial used, 6 % opted out, 12 languages
    """INSERT INTO users (key, phone, tier, language, profile, created_at, updated_at)
       SELECT '91' || lpad(g::text, 10, '0'), '91' || lpad(g::text, 10, '0'),
              CASE WHEN g % 20 = 0 THEN 'PRO' ELSE 'LITE' END,
              (ARRAY['en','hi','hi-Latn','bn','ta','te','mr','gu','kn','ml','pa','or'])[1 + g % 12],
              CASE WHEN g % 20 = 0 THEN 'v1.sealed'
                   WHEN g % 13 = 0 THEN '{"trial_used": true}'
                   WHEN g % 17 = 0 THEN '{"marketing_opt_out": true}' ELSE '{}' END,
              now(), now()
       FROM generate_series(1, :n) g""",
    # trades this month: every user 0..14 (half of them 11+)
    """INSERT INTO eng_trades (trade_id, seq, order_id, account, symbol, side, quantity, price, product,
                               trade_day, ch_brokerage, ch_stt, ch_exchange, ch_sebi, ch_stamp, ch_gst, at)
       SELECT 'T' || g || '-' || j, g * 20 + j, 'O' || g || '-' || j, '91' || lpad(g::text, 10, '0'), 'TCS',
              'BUY', 1, 350000, 'CNC', DATE '2026-11-02' + (j % 20), 0, 0, 0, 0, 0, 0, now()
       FROM generate_series(1, :n) g, generate_series(1, 14) j WHERE j <= (g::bigint * 7919) % 15""",
    """INSERT INTO eng_holdings (account, symbol, quantity, cost, realized, reserved, lots)
       SELECT '91' || lpad(g::text, 10, '0'), 'TCS', 30, 5000000 + (g::bigint * 104729) % 20000000, 0, 0, '[]'
       FROM generate_series(1, :n) g WHERE g % 2 = 0""",
    """INSERT INTO messages (wamid, direction, user_key, kind, body, created_at)
       SELECT 'wamid.in' || g || '-' || j, 'in', '91' || lpad(g::text, 10, '0'), 'text',
              CASE WHEN g % 5 = 0 AND j = 1 THEN 'is my data private?' ELSE 'price of TCS' END,
              now() - (j || ' days')::interval
       FROM generate_series(1, :n) g, generate_series(1, 3) j""",
]


async def _schema(url: str) -> tuple[str, Any]:
    from engine.db import make_engine

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    return schema, make_engine(url, schema=schema)


async def _drop(url: str, schema: str) -> None:
    from engine.db import make_engine

    admin = make_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await admin.dispose()


async def _fill_columns(db) -> None:
    """Engine tables may gain required columns: give any we do not set a default for the bench rows."""
    async with db.begin() as conn:
        for table in ("eng_trades", "eng_holdings"):
            await conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


async def segment_bench(url: str, sizes: list[int]) -> dict[str, Any]:
    from bot.campaigns.store import CampaignStore
    from campaigns.definition import parse
    from engine.clock import IST

    now = datetime.fromisoformat(START).astimezone(IST)
    spec = parse({"id": "bench", "segment": {"all": [{"tier": "LITE"}, {"trial_used": False},
                                                     {"opted_out": False}, {"trigger": "spec"}]}})
    out: dict[str, Any] = {}
    for n in sizes:
        schema, db = await _schema(url)
        try:
            store = CampaignStore(db, privacy_words=("privacy", "private", "encrypt"))
            await store.create_schema()
            await _fill_columns(db)
            t0 = time.perf_counter()
            async with db.begin() as conn:
                for sql in _POPULATE:
                    await conn.execute(text(sql), {"n": n})
                await conn.execute(text("ANALYZE"))
            populate = time.perf_counter() - t0
            timings, audience = [], 0
            for _ in range(3):
                t0 = time.perf_counter()
                audience = len(await store.audience(spec, now))
                timings.append(time.perf_counter() - t0)
            out[f"segment_{n}_users_s"] = round(statistics.median(timings), 3)
            out[f"segment_{n}_audience"] = audience
            out[f"segment_{n}_populate_s"] = round(populate, 1)
        finally:
            await db.dispose()
            await _drop(url, schema)
    big = max(sizes)
    # Hash joins and aggregates over the facts tables: linear in users (and their trades and messages).
    out["segment_projected_1000000_users_s"] = round(out[f"segment_{big}_users_s"] * 1_000_000 / big, 1)
    return out


async def send_bench(url: str, sends: int, rates: list[float]) -> dict[str, Any]:
    from bot.bench.graph_sink import GraphSink
    from bot.campaigns.runner import run
    from bot.campaigns.store import CampaignStore
    from bot.stores.sql import SqlUserRepository
    from bot.whatsapp.client import build_client
    from bot.whatsapp.sender import reply_sender
    from campaigns.definition import parse
    from config.settings import WhatsAppConfig
    from engine.clock import IST, FixedClock
    from locales.catalog import load_catalog
    from config.product import shipped_product_config

    out: dict[str, Any] = {}
    sink = await GraphSink().start()
    client = build_client(WhatsAppConfig(token="EAAbench", phone_number_id="1000", graph_url=sink.url))
    catalog, config = load_catalog(), shipped_product_config()
    clock = FixedClock(datetime.fromisoformat(START).astimezone(IST))
    try:
        for rate in [*rates, 100_000.0]:
            schema, db = await _schema(url)
            try:
                store = CampaignStore(db)
                await store.create_schema()
                async with db.begin() as conn:
                    await conn.execute(text(_POPULATE[0].replace("'v1.sealed'", "'{}'")
                                            .replace("WHEN g % 13 = 0 THEN '{\"trial_used\": true}'", "WHEN false THEN ''")
                                            .replace("WHEN g % 17 = 0 THEN '{\"marketing_opt_out\": true}'",
                                                     "WHEN false THEN ''")), {"n": sends})
                    await conn.execute(text("UPDATE users SET tier = 'LITE'"))
                c = parse({"id": f"r{int(rate)}", "segment": {"tier": "LITE"},
                           "arms": [{"name": "A", "weight": 1, "template": "gw_nudge_a"}], "policy": {"rate": rate}})
                arrivals: list[float] = []
                sink.on_reply = lambda _to, arrival: arrivals.append(arrival.mono)
                result = await run(store, c, send=reply_sender(client), now=clock.now, catalog=catalog, config=config,
                                   users=SqlUserRepository(db))
                sink.on_reply = None
                # The sending rate: first to last arrival at the Graph API (planning the audience excluded).
                achieved = (len(arrivals) - 1) / max(1e-9, arrivals[-1] - arrivals[0])
                label = "unthrottled" if rate >= 100_000 else f"rate_{int(rate)}"
                out[f"send_{label}_achieved_per_s"] = round(achieved, 1)
                if rate < 100_000:
                    out[f"send_{label}_ratio_to_configured"] = round(achieved / rate, 3)
                out[f"send_{label}_sent"] = result.sent
                out[f"send_{label}_run_s"] = round(result.seconds, 2)
            finally:
                await db.dispose()
                await _drop(url, schema)
        # Baseline: pywa's send_template to the same fake Graph API, 32 at a time, no database.
        from handlers.replies import Template

        reply = Template(name="gw_nudge_a", language="hi", params=("30",), button_payloads=("a:1", "b:1", "c:1"))
        semaphore = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with semaphore:
                await reply_sender(client)(f"92{i:010d}", reply)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(sends)))
        out["send_baseline_pywa_only_per_s"] = round(sends / (time.perf_counter() - t0), 1)
        out["send_unthrottled_ratio_to_baseline"] = round(out["send_unthrottled_achieved_per_s"]
                                                          / out["send_baseline_pywa_only_per_s"], 3)
    finally:
        await sink.stop()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bot.logging import configure_logging

    if args.pg_url.startswith("postgresql://"):
        args.pg_url = "postgresql+asyncpg://" + args.pg_url[len("postgresql://"):]

    configure_logging("ERROR")
    sizes = sorted({max(1000, args.users // 10), args.users})
    rates = [float(r) for r in str(args.rates).split(",") if r.strip()]

    async def both() -> dict[str, Any]:
        return {**await segment_bench(args.pg_url, sizes), **await send_bench(args.pg_url, args.sends, rates)}

    return asyncio.run(both())
