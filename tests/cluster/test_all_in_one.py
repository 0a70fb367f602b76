"""Two all-in-one ``gridworks serve`` processes pointed at one PostgreSQL + Redis (the topology an operator
gets by starting the server twice): leases and consumer groups decide who does what — one engine, one market
clock, each user's turns in one place — so nothing is corrupted and nothing is said twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import aiohttp
from sqlalchemy import text

from bot.stores.alerts import SqlAlertStore
from engine.clock import IST
from engine.db import make_engine
from engine.factory import build_market
from tests.conftest import PG_URL, REDIS_URL
from tests.support import payloads as p
from tests.support.cluster import Cluster, post
from tests.support.graph_api import FakeGraphAPI

USERS = 20
ONBOARDING = ("hello", "onb_lang:en", "onb_consent:yes", "4826")
ORDER = ("buy 2 INFY at market", "yes")


def step(phone: str, what: str) -> dict:
    """One webhook body: a list pick, a button or a text from ``phone``."""
    if what == "onb_lang:en":
        message = p.list_reply(phone, what, "English")
    elif what == "onb_consent:yes":
        message = p.button_reply(phone, what, "I agree")
    else:
        message = p.text(phone, what)
    return p.envelope(p.messages_value([message], [p.contact(phone)]))


async def two_serves(tmp_path, schema: str, graph: FakeGraphAPI) -> tuple[Cluster, Any, Any]:
    """serve1 (the engine) and serve2 (standby) on one PostgreSQL schema and Redis prefix, both listening."""
    cluster = Cluster(tmp=tmp_path, schema=schema, redis_url=REDIS_URL, prefix=f"a1:{uuid.uuid4().hex[:8]}:",
                      graph_url=graph.url)
    try:
        one = cluster.serve("serve1")
        await cluster.wait_for("serve1", "gridworks engine: active")
        two = cluster.serve("serve2")
        await cluster.wait_for("serve2", "standby")
        await cluster.wait_for("serve2", "listening")
    except BaseException:
        cluster.stop_all()
        raise
    return cluster, one, two


async def done_for(graph: FakeGraphAPI, phones: list[str], seconds: float = 90) -> set[str]:
    """The users whose order was confirmed ("Done!"), once all of them are or ``seconds`` have passed."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        done = {m["to"] for m in graph.messages if "Done!" in json.dumps(m, ensure_ascii=False)}
        if done >= set(phones) or asyncio.get_running_loop().time() > deadline:
            return done
        await asyncio.sleep(0.2)


async def test_two_all_in_one_servers_share_one_engine_one_clock_and_never_double(tmp_path, schema,
                                                                                   model_ready):
    graph = await FakeGraphAPI().start()
    cluster, one, two = await two_serves(tmp_path, schema, graph)
    db = make_engine(PG_URL, schema=schema)
    try:
        phones = [f"9198{710000 + i:06d}" for i in range(USERS)]

        async def journey(session, i: int, phone: str) -> None:
            for what in ONBOARDING + ORDER:
                body = step(phone, what)
                first, second = (one.port, two.port) if i % 2 else (two.port, one.port)
                assert set(await asyncio.gather(post(session, first, body), post(session, second, body))) == {200}

        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(journey(session, i, phone) for i, phone in enumerate(phones)))
        done = await done_for(graph, phones)
        # A price alert the market has already passed: the one market clock fires it once.
        start = datetime(2026, 11, 23, 10, 0, tzinfo=IST)
        ltp = build_market().quote("TCS", start).ltp_paise
        user_key = p.contact(phones[0])["user_id"]
        await SqlAlertStore(db).add(user_key=user_key, symbol="TCS", direction="above", target_paise=ltp // 2,
                                    reference_paise=ltp, now=start)
        for _ in range(200):
            if any("TCS" in json.dumps(m, ensure_ascii=False) and m.get("to") == phones[0]
                   and "alert" in json.dumps(m, ensure_ascii=False).lower() for m in graph.messages):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)           # three more ticks: a second clock would push it again
        async with db.connect() as conn:
            orders = (await conn.execute(text("SELECT account, status FROM eng_orders"))).all()
            [balance] = (await conn.execute(text("SELECT coalesce(sum(amount), 0) FROM eng_postings"))).one()
        async with aiohttp.ClientSession() as session:
            in_process = await _in_process_commands(session, one.port)
    finally:
        cluster.stop_all()
        await graph.stop()
        await db.dispose()
    logs = {name: proc.output()[-2000:] for name, proc in cluster.procs.items()}
    assert done >= set(phones), logs
    assert sorted(Counter(o.account for o in orders).values()) == [1] * USERS
    assert {o.status for o in orders} == {"COMPLETE"} and balance == 0
    alerts = [m for m in graph.messages if m.get("to") == phones[0] and "alert" in json.dumps(m).lower()]
    assert len(alerts) == 1, "the alert was pushed exactly once"
    actives = [name for name, out in logs.items() if "gridworks engine: active" in cluster.procs[name].output()]
    assert actives == ["serve1"], "one engine for the two servers"
    # serve1's worker called its own engine in memory (serve2's, if it ran turns, through the stream)
    assert in_process >= USERS


async def _in_process_commands(session: aiohttp.ClientSession, port: int) -> float:
    """Engine commands a serve's own worker sent its engine in memory (from its /metrics)."""
    async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
        lines = (await resp.text()).splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith("gridworks_engine_command_seconds_count") and 'path="in_process"' in line)


async def test_when_the_serve_that_is_the_engine_is_killed_the_other_takes_every_role_and_orders_once(
        tmp_path, schema, model_ready):
    """kill -9 of the serve that is the engine, with users mid-journey: the other serve takes the engine
    lease and the dead one's partitions, its own worker now calls the engine in process, and every user's
    order executes exactly once with the ledger balanced."""
    users = 10
    graph = await FakeGraphAPI().start()
    cluster, one, two = await two_serves(tmp_path, schema, graph)
    db = make_engine(PG_URL, schema=schema)
    phones = [f"9198{720000 + i:06d}" for i in range(users)]
    try:
        async def send(session, port: int, phone: str, steps: tuple[str, ...]) -> None:
            for what in steps:
                assert await post(session, port, step(phone, what)) == 200

        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(send(session, one.port, phone, ONBOARDING) for phone in phones))
            cluster.kill("serve1")                                  # SIGKILL, turns and sends in hand
            await asyncio.gather(*(send(session, two.port, phone, ORDER) for phone in phones))
            await cluster.wait_for("serve2", "gridworks engine: active")
            done = await done_for(graph, phones)
            in_process = await _in_process_commands(session, two.port)
        async with db.connect() as conn:
            orders = (await conn.execute(text("SELECT account, status FROM eng_orders"))).all()
            [balance] = (await conn.execute(text("SELECT coalesce(sum(amount), 0) FROM eng_postings"))).one()
    finally:
        cluster.stop_all()
        await graph.stop()
        await db.dispose()
    assert done >= set(phones), cluster.procs["serve2"].output()[-3000:]
    assert sorted(Counter(o.account for o in orders).values()) == [1] * users
    assert {o.status for o in orders} == {"COMPLETE"} and balance == 0
    assert in_process >= users, "after the take-over serve2's worker called its own engine in memory"
