"""The cluster as real OS processes on a real PostgreSQL and Redis: 2 web + 2 workers + engine + standby.

Users run a full buy journey (onboarding, PIN, order, confirmation); every webhook delivery is sent three
times, split across both web processes, concurrently. Mid-load a worker, the active engine and a web process
(right after it answered 200) are killed with SIGKILL. Afterwards: exactly one order per user, every
acknowledged message processed once and answered once, each user's replies in the order they wrote, the
ledger balanced, no account committing more than it holds, no id shared by two rows — and an operator's
``users create --cash 5000`` beside the running cluster opens an account with exactly ₹5,000.

``GRIDWORKS_CLUSTER_USERS`` sets the number of users (the default keeps CI fast; 200 is the full run).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter, defaultdict

import aiohttp
import pytest
from sqlalchemy import text

from engine.db import make_engine
from tests.conftest import PG_URL, REDIS_URL
from tests.support import payloads as p
from tests.support.cluster import Cluster, post
from tests.support.graph_api import FakeGraphAPI

USERS = int(os.environ.get("GRIDWORKS_CLUSTER_USERS", "200"))
PIN = "4826"


def journey(phone: str) -> list[dict]:
    """The messages of one user's first buy, each a single-message webhook body."""
    contact = [p.contact(phone)]
    steps = [p.text(phone, "hello"), p.list_reply(phone, "onb_lang:en", "English"),
             p.button_reply(phone, "onb_consent:yes", "I agree"), p.text(phone, PIN),
             p.text(phone, "buy 10 TCS at market"), p.text(phone, "yes")]
    return [p.envelope(p.messages_value([m], contact)) for m in steps]


async def _rows(schema: str, sql: str) -> list:
    db = make_engine(PG_URL, schema=schema)
    try:
        async with db.connect() as conn:
            return (await conn.execute(text(sql))).all()
    finally:
        await db.dispose()


@pytest.mark.slow
async def test_cluster_survives_killed_worker_engine_and_web_with_exactly_once_effects(tmp_path, schema,
                                                                                      model_ready):
    graph = await FakeGraphAPI().start()
    prefix = f"ct:{uuid.uuid4().hex[:8]}:"
    cluster = Cluster(tmp=tmp_path, schema=schema, redis_url=REDIS_URL, prefix=prefix, graph_url=graph.url)
    try:
        cluster.engine("engine1")
        await cluster.wait_for("engine1", "active")
        cluster.engine("engine2")
        await cluster.wait_for("engine2", "standby")
        for name in ("worker1", "worker2"):
            cluster.worker(name)
        web1, web2 = cluster.web("web1"), cluster.web("web2")
        for name, line in (("worker1", "running"), ("worker2", "running"), ("web1", "listening"),
                           ("web2", "listening")):
            await cluster.wait_for(name, line)

        phones = [f"9198{700000 + i:06d}" for i in range(USERS)]
        journeys = {phone: journey(phone) for phone in phones}
        acked: dict[str, int] = {}          # message id -> index in its user's journey (acknowledged ones)
        webs = [web1.port, web2.port]
        faults: dict[str, float] = {}
        started = time.monotonic()

        async def deliver(session, body) -> bool:
            """The same delivery three times across the web processes still alive, concurrently."""
            ports = [port for port in webs if port is not None]
            targets = [ports[0], ports[-1], ports[0]]
            statuses = await asyncio.gather(*(post(session, port, body) for port in targets),
                                            return_exceptions=True)
            return any(s == 200 for s in statuses)

        async def user(session, phone: str, gate: asyncio.Semaphore) -> None:
            for i, body in enumerate(journeys[phone]):
                async with gate:
                    for _ in range(50):
                        if await deliver(session, body):
                            break
                        await asyncio.sleep(0.2)       # no web answered 200: Meta retries
                    else:
                        raise AssertionError("no web process acknowledged a delivery")
                mid = body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
                acked[mid] = i

        def fills() -> int:
            return sum('Done!' in json.dumps(m, ensure_ascii=False) for m in graph.messages)

        async def chaos(session) -> None:
            total = USERS * 6
            while len(graph.messages) < USERS * 2:   # workers are busy with onboarding turns
                await asyncio.sleep(0.05)
            cluster.kill("worker1")                  # a worker dies with entries in hand
            faults["worker_killed"] = time.monotonic() - started
            while fills() < USERS * 0.2:            # confirmations are flowing to the engine
                await asyncio.sleep(0.05)
            cluster.kill("engine1")                  # the active engine dies mid-load
            faults["engine_killed"] = time.monotonic() - started
            await cluster.wait_for("engine2", "active", timeout=30)
            faults["engine_failover_s"] = time.monotonic() - started - faults["engine_killed"]
            cluster.worker("worker3")                # the operator replaces the dead worker
            while len(acked) < total * 0.65:
                await asyncio.sleep(0.05)
            # A web process dies right after it answered 200: the message it acknowledged must not be lost.
            phone = f"9198{799999:06d}"
            journeys[phone] = journey(phone)[:1]
            body = journeys[phone][0]
            assert await post(session, web2.port, body) == 200
            cluster.kill("web2")
            webs[1] = None
            acked[body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]] = 0
            faults["web_killed"] = time.monotonic() - started

        async with aiohttp.ClientSession() as session:
            gate = asyncio.Semaphore(40)
            await asyncio.gather(chaos(session), *(user(session, phone, gate) for phone in phones))
        load_s = time.monotonic() - started

        # The operator opens an account beside the running cluster: it goes through the engine.
        done = cluster.cli("users", "create", "919899999999", "--cash", "5000", "--pin", "5931")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["cash_paise"] == 500_000

        # Wait until every user heard the fill (or time out with what is missing).
        deadline = time.monotonic() + 120
        filled: set[str] = set()
        while time.monotonic() < deadline:
            filled = {m["to"] for m in graph.messages if "Done!" in json.dumps(m, ensure_ascii=False)}
            if filled >= set(phones):
                break
            await asyncio.sleep(0.25)
        settle_s = time.monotonic() - started
        await asyncio.sleep(2)          # anything sent twice would arrive now
    finally:
        cluster.stop_all()
        await graph.stop()
    logs = {name: proc.output() for name, proc in cluster.procs.items()}
    if os.environ.get("GRIDWORKS_CLUSTER_DEBUG"):
        with open(os.environ["GRIDWORKS_CLUSTER_DEBUG"], "w") as fh:
            json.dump({"logs": logs, "sent": [(r.wamid, r.json) for r in graph.requests],
                       "acked": acked, "schema": schema}, fh, ensure_ascii=False, default=str)
    missing = sorted(set(phones) - filled)
    heard = {phone: [json.dumps(m, ensure_ascii=False)[100:220] for m in graph.messages if m.get("to") == phone]
             for phone in missing[:3]}
    assert not missing, (f"{len(missing)} users never heard about their order", heard,
                         {k: v[-3000:] for k, v in logs.items()})

    # -- exactly one order per confirmation, each complete -------------------------------------------------
    orders = await _rows(schema, "SELECT order_id, account, status, client_order_id FROM eng_orders")
    per_account = Counter(o.account for o in orders if o.account != "919899999999")
    assert len(per_account) == USERS and set(per_account.values()) == {1}, per_account.most_common(3)
    assert {o.status for o in orders} == {"COMPLETE"}

    # -- no id shared by two rows; every account opened once; ledger balanced; no over-commitment ------------
    trades = await _rows(schema, "SELECT t.trade_id, t.account, o.account AS order_account FROM eng_trades t "
                                 "JOIN eng_orders o ON o.order_id = t.order_id")
    assert len(trades) == USERS and all(t.account == t.order_account for t in trades)
    events = await _rows(schema, "SELECT e.order_id, count(DISTINCT o.account) AS accounts FROM eng_order_events e "
                                 "JOIN eng_orders o ON o.order_id = e.order_id GROUP BY e.order_id")
    assert all(e.accounts == 1 for e in events)
    entries = await _rows(schema, "SELECT entry_id, count(DISTINCT split_part(account_key, ':', 2)) AS accounts "
                                  "FROM eng_postings WHERE account_key LIKE 'cash:%' GROUP BY entry_id")
    assert all(e.accounts == 1 for e in entries), "a ledger entry touched two users' cash"
    openings = await _rows(schema, "SELECT account_key, count(*) AS n FROM eng_postings WHERE kind = 'opening' "
                                   "AND account_key LIKE 'cash:%' GROUP BY account_key")
    assert len(openings) == USERS + 1 and {o.n for o in openings} == {1}, "an account was opened twice"
    [balance] = await _rows(schema, "SELECT coalesce(sum(amount), 0) AS total FROM eng_postings")
    assert balance.total == 0, "the double-entry ledger does not balance"
    cash = {r.account_key: r.total for r in await _rows(
        schema, "SELECT account_key, sum(amount) AS total FROM eng_postings WHERE account_key LIKE 'cash:%' "
                "GROUP BY account_key")}
    assert all(v >= 0 for v in cash.values()), "an account spent more cash than it held"
    [operator] = [v for k, v in cash.items() if k.endswith("919899999999")]
    assert operator == 500_000, "the operator's account holds exactly ₹5,000"

    # -- every acknowledged message processed exactly once, and answered -----------------------------------
    inbound = await _rows(schema, "SELECT wamid, correlation_id FROM messages WHERE direction = 'in'")
    stored = Counter(r.wamid for r in inbound)
    assert set(acked) <= set(stored), f"{len(set(acked) - set(stored))} acknowledged messages were lost"
    assert max(stored.values()) == 1
    outbound = await _rows(schema, "SELECT id, wamid, correlation_id, body, user_key FROM messages "
                                   "WHERE direction = 'out' ORDER BY id")
    turn_of = {r.correlation_id: r.wamid for r in inbound}
    answered = {turn_of.get(r.correlation_id) for r in outbound}
    assert set(acked) <= answered, f"{len(set(acked) - answered)} acknowledged messages got no reply"
    repeated = Counter((r.correlation_id, r.body) for r in outbound)
    twice = [r for r in outbound if repeated[(r.correlation_id, r.body)] > 1]
    assert not twice, ("a reply was sent twice", [(r.id, r.wamid, r.user_key, r.body[:30]) for r in twice[:8]])
    sent = [m for m in graph.requests if m.wamid]
    logged = {r.wamid for r in outbound}
    assert logged <= {m.wamid for m in sent}
    # A send whose worker was killed between Meta's answer and recording it is sent again by the partition's
    # next owner (the Graph API takes no idempotency key): the one window where a user may see a reply twice.
    def what(m) -> tuple:
        return m.json.get("to"), json.dumps(m.json.get("text") or m.json.get("interactive"), ensure_ascii=False)

    resent = [m for m in sent if m.wamid not in logged]
    seen = Counter(what(m) for m in sent)
    assert all(seen[what(m)] == 2 for m in resent), [(m.wamid, what(m)) for m in resent if seen[what(m)] != 2]
    # How many fall in that window depends on how busy the machine was at the kill (0–1 run alone, 10 once in
    # a full suite run); what the design bounds is one per user: a user's lane has one send in flight at a
    # time, and an item marked sent is never sent again. Deliveries in flight are capped by the gate (40).
    per_user = Counter(m.json.get("to") for m in resent)
    assert all(n == 1 for n in per_user.values()), ("a user was sent two replies again", per_user.most_common(3))
    assert len(resent) <= 40, f"{len(resent)} replies resent after the worker crash"

    # -- each user's replies in the order their messages were sent ------------------------------------------
    step_of = {r.wamid: acked.get(r.wamid) for r in inbound}
    turn_by_wamid = {r.wamid: turn_of.get(r.correlation_id) for r in outbound}
    order: dict[str, list[int]] = defaultdict(list)
    for req in sent:
        step = step_of.get(turn_by_wamid.get(req.wamid))
        if step is not None:
            order[req.json.get("to")].append(step)
    disordered = [phone for phone, steps in order.items() if steps != sorted(steps)]
    assert not disordered, f"replies out of order for {len(disordered)} users, e.g. {order[disordered[0]]}"

    print(f"\ncluster: {USERS} users, {len(acked)} messages acknowledged ×3 deliveries, load {load_s:.1f}s, "
          f"all answered after {settle_s:.1f}s; {len(resent)} replies resent after the crash; faults at {faults}")
