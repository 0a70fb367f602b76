"""The durable send queue, end to end: real pywa client → fake Graph API on 127.0.0.1, real Redis, and the
audit log on SQLite and PostgreSQL. Each queue test runs on both flavours (in-process and Redis)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from bot.cluster.outbound import (FAILED, Delivery, MemoryOutbound, OutboundItem, OutboundSender,
                                  RedisOutbound, RetryPolicy, _insert_in_order)
from bot.cluster.outbound_log import OutboundRecord, SqlOutboundLog
from bot.cluster.partitions import partition_of
from bot.cluster.reply_codec import reply_from_wire, reply_to_wire
from bot.cluster.send_rate import LocalRateLimiter, RedisRateLimiter
from bot.cluster.streams import StreamAck, ensure_group
from bot.stores.redis_stores import TURN_SCOPE, RedisSessionStore, TurnScope
from bot.stores.sql import SqlAuditLog, create_schema
from bot.whatsapp.client import build_client, close_client
from bot.whatsapp.sender import reply_sender
from config.settings import WhatsAppConfig
from engine.db import make_engine
from handlers.ports import Superseded
from handlers.replies import Button, Buttons, Document, ListReply, ListRow, Reply, Template, Text
from tests.conftest import REDIS_URL
from tests.support import payloads as p
from tests.support.redis_calls import count_script_calls
from tests.support.graph_api import FakeGraphAPI
from tests.support.graph_api import _error as meta_error

ROOT = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(attempts=4, backoff_s=0.01, max_backoff_s=0.1, pair_backoff_s=0.4)
EVERY_TYPE: list[Reply] = [
    Text("नमस्ते — price of TCS?"),
    Buttons("Confirm buy 10 TCS?", (Button("confirm:o1:n1", "Confirm"), Button("cancel:o1:n1", "Cancel")),
            header="Order", footer="Expires in 2 minutes"),
    ListReply("Your open orders", "Orders",
              (ListRow("o1", "BUY 10 TCS", "limit ₹4,000.00"), ListRow("o2", "SELL 5")),
              section_title="Open", header="Orders", footer="Pick one"),
    Template(name="price_alert", language="hi", params=("TCS", "₹4,000.00"), button_payloads=("alert:ok",),
             text="TCS crossed ₹4,000.00", category="UTILITY"),
    Document(filename="R-1.json", content=b'{"v":1}\x00\xff', mime_type="application/json",
             caption="receipt"),
]


class RecordingGraph(FakeGraphAPI):
    """The fake Graph API plus what these tests need: the wamids it returned, errors for a recipient's next
    sends only (``fail_next``), a 5xx outage, and a gate that holds the ``hold_at``-th send (never accepting
    it) so a sender can be killed in the middle of a Graph call."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[tuple[str, dict[str, Any]]] = []      # (wamid, request body), arrival order
        self.answers: list[tuple[float, str | None, int]] = []    # (monotonic time, recipient, HTTP status)
        self.fail_next: dict[str, list[tuple[int, str]]] = {}
        self.outage = 0                                             # next N sends answer 503 (not JSON)
        self.hold_at: int | None = None
        self.held = asyncio.Event()
        self.release = asyncio.Event()
        self.arrivals = 0

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        target = body.get("to") or body.get("recipient")
        response = await self._answer(request, body, target)
        self.answers.append((time.monotonic(), target, response.status))
        return response

    async def _answer(self, request: web.Request, body: dict[str, Any], target: str | None) -> web.Response:
        self.arrivals += 1
        if self.arrivals == self.hold_at:
            self.held.set()
            await self.release.wait()
            return web.Response(status=503, text="upstream gone")
        if self.outage > 0:
            self.outage -= 1
            return web.Response(status=503, text="Service Unavailable")
        if self.fail_next.get(target or ""):
            self._record(request, json=body)
            return meta_error(*self.fail_next[target or ""].pop(0))
        response = await super()._messages(request)
        if response.status == 200 and body.get("status") != "read":
            wamid = json.loads(response.body)["messages"][0]["id"]  # type: ignore[arg-type]
            self.accepted.append((wamid, body))
        return response

    def bodies(self, to: str) -> list[str]:
        return [_text(j) for _, j in self.accepted if j.get("to") == to]

    def attempts(self, to: str) -> int:
        return sum(1 for m in self.messages if m.get("to") == to)


def _text(body: dict[str, Any]) -> str:
    if body["type"] == "text":
        return body["text"]["body"]
    if body["type"] == "interactive":
        return body["interactive"]["body"]["text"]
    return body["type"]


@dataclass
class Env:
    graph: RecordingGraph
    queue: MemoryOutbound | RedisOutbound
    db: Any
    client: Any
    redis: Any = None
    prefix: str = ""
    runs: list[tuple[asyncio.Task, asyncio.Event]] = field(default_factory=list)

    @property
    def flavour(self) -> str:
        return "redis" if self.redis is not None else "memory"

    def sender(self, consumer: str = "s1", *, policy: RetryPolicy = FAST, **kw: Any) -> OutboundSender:
        return OutboundSender(self.queue, send=reply_sender(self.client), audit=SqlOutboundLog(self.db),
                              consumer=consumer, policy=policy, block_ms=50, **kw)

    def start(self, sender: OutboundSender, partitions: list[int]) -> tuple[asyncio.Task, asyncio.Event]:
        stop = asyncio.Event()
        run = (asyncio.create_task(sender.run(partitions, stop)), stop)
        self.runs.append(run)
        return run

    def item(self, key: str, to: str, reply: Reply | str, *, correlation_id: str | None = None):
        reply = Text(reply) if isinstance(reply, str) else reply
        return OutboundItem(key=key, user_key=to, to=to, reply=reply, correlation_id=correlation_id,
                            partition=partition_of(to, self.queue.partitions))

    async def rows(self, user_key: str | None = None) -> list[dict[str, Any]]:
        return await SqlAuditLog(self.db).outbound(user_key)

    async def depth(self) -> int:
        depth = self.queue.depth()
        return await depth if asyncio.iscoroutine(depth) else depth


async def until(check, *, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _redis_with_prefix():
    client = redis.from_url(REDIS_URL)
    await client.ping()
    return client, f"gwt:{uuid.uuid4().hex}:"


async def _drop_prefix(client, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def env(request, db):
    graph = await RecordingGraph().start()
    await create_schema(db)
    client = build_client(WhatsAppConfig(token="EAAtoken", phone_number_id=p.PHONE_NUMBER_ID,
                                         graph_url=graph.url))
    rds, prefix = (await _redis_with_prefix()) if request.param == "redis" else (None, "")
    queue = (RedisOutbound(rds, prefix=prefix, partitions=4) if rds is not None
             else MemoryOutbound(partitions=4))
    e = Env(graph=graph, queue=queue, db=db, client=client, redis=rds, prefix=prefix)
    try:
        yield e
    finally:
        for task, stop in e.runs:
            stop.set()
        await asyncio.gather(*(t for t, _ in e.runs), return_exceptions=True)
        graph.release.set()
        await close_client(client)
        await graph.stop()
        if rds is not None:
            await _drop_prefix(rds, prefix)


# -- the reply codec ----------------------------------------------------------------------------------------

def test_every_reply_type_round_trips_exactly_through_json():
    for reply in EVERY_TYPE:
        wire = json.loads(json.dumps(reply_to_wire(reply)))
        assert reply_from_wire(wire) == reply, reply
    item = OutboundItem(key="wamid.in1:0", user_key="IN.1234567", to="IN.1234567", reply=EVERY_TYPE[4],
                        correlation_id="c0ffee", partition=3)
    assert OutboundItem.from_json(item.to_json()) == item
    with pytest.raises(ValueError):
        reply_from_wire({"type": "sticker"})
    with pytest.raises(ValueError):
        reply_from_wire({"type": "buttons", "body": "x"})


_words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)


@settings(max_examples=150, deadline=None)
@given(body=_words, titles=st.lists(_words, min_size=1, max_size=3), footer=st.none() | _words,
       rows=st.lists(st.tuples(_words, st.none() | _words), min_size=1, max_size=10))
def test_replies_shortened_at_construction_still_round_trip(body, titles, footer, rows):
    candidates = [
        lambda: Text(body),
        lambda: Buttons(body * 20, tuple(Button(f"b{i}", t) for i, t in enumerate(titles)), footer=footer),
        lambda: ListReply(body, titles[0], tuple(ListRow(f"r{i}", t, d) for i, (t, d) in enumerate(rows)),
                          section_title=footer, footer=footer),
        lambda: Template(name="n", language="en", params=tuple(titles), text=body),
    ]
    for make in candidates:
        try:
            reply = make()
        except ValueError:                 # e.g. a blank text, two titles equal once shortened
            continue
        assert reply_from_wire(json.loads(json.dumps(reply_to_wire(reply)))) == reply


# -- the limiter (clock injected: exact slots) --------------------------------------------------------------

def test_local_limiter_spaces_slots_one_interval_apart_after_the_burst():
    now = [100.0]
    strict = LocalRateLimiter(10, clock=lambda: now[0])
    assert [round(strict.reserve(), 6) for _ in range(4)] == [0.0, 0.1, 0.2, 0.3]
    bursty = LocalRateLimiter(10, burst=3, clock=lambda: now[0])
    assert [round(bursty.reserve(), 6) for _ in range(5)] == [0.0, 0.0, 0.0, 0.1, 0.2]
    now[0] += 10                              # idle time does not bank more than the burst
    assert [round(bursty.reserve(), 6) for _ in range(4)] == [0.0, 0.0, 0.0, 0.1]


async def test_redis_limiter_instances_share_one_schedule():
    client, prefix = await _redis_with_prefix()
    try:
        a, b = (RedisRateLimiter(client, rate=50, number=p.PHONE_NUMBER_ID, prefix=prefix) for _ in range(2))
        waits = sorted(await asyncio.gather(*(limiter.reserve() for limiter in (a, b) * 5)))
        # ten reservations at once from two "processes" (each batching its own) take ten slots 20 ms apart:
        # the last waits ≥ 9 intervals (minus the few ms the second batch's round trip took)
        assert waits[0] == 0 and waits[-1] >= 0.18 - 0.05
        assert len(set(waits)) == 10, "no slot given twice"
        assert await client.pttl(a.key) > 0
    finally:
        await _drop_prefix(client, prefix)


# -- the queue ----------------------------------------------------------------------------------------------

async def test_enqueueing_a_known_key_twice_sends_once(env: Env):
    a = env.item("wamid.in1:0", "919800000001", "once")
    assert await env.queue.enqueue([a, a]) == 1
    assert await env.queue.enqueue([a]) == 0
    env.start(env.sender(), list(range(4)))
    await until(lambda: len(env.graph.accepted) == 1, what="the send")
    await until(lambda: _depth_zero(env), what="the ack")
    assert await env.queue.enqueue([a]) == 0, "a key already sent stays known"
    assert await env.depth() == 0
    assert env.graph.bodies("919800000001") == ["once"]
    rows = await env.rows("919800000001")
    assert [(r["status"], r["wamid"]) for r in rows] == [("accepted", env.graph.accepted[0][0])]


async def test_the_in_process_key_set_is_bounded_and_expires():
    def item(key: str) -> OutboundItem:
        return OutboundItem(key=key, user_key="u", to="919800000002", reply=Text("x"), correlation_id=None,
                            partition=0)

    small = MemoryOutbound(partitions=1, max_keys=2)
    assert await small.enqueue([item("a"), item("b"), item("c")]) == 3
    assert await small.enqueue([item("c"), item("a")]) == 1, "the oldest key was dropped past the bound"
    brief = MemoryOutbound(partitions=1, ttl_s=0.05)
    assert await brief.enqueue([item("a")]) == 1 and await brief.enqueue([item("a")]) == 0
    await asyncio.sleep(0.06)
    assert await brief.enqueue([item("a")]) == 1, "an expired key is new again"
    with pytest.raises(ValueError):
        await brief.enqueue([OutboundItem(key="z", user_key="u", to="9", reply=Text("x"), correlation_id=None,
                                          partition=1)])


async def _depth_zero(env: Env) -> bool:
    return await env.depth() == 0


async def test_each_users_replies_arrive_in_enqueue_order_across_retries(env: Env):
    users = ["919800000011", "919800000012", "919800000013", "IN.5550001"]
    env.graph.fail_next["919800000011"] = [(130429, "Rate limit hit")] * 2
    for batch in range(5):
        await env.queue.enqueue([env.item(f"m{batch}-{u}:{i}", u, f"{u[-2:]}-{batch}-{i}")
                                 for i in range(3) for u in users])
    sender = env.sender()
    for partition in range(4):
        await sender.set_partition(partition, True)
    try:
        await until(lambda: len(env.graph.accepted) == 60, what="all sends")
    finally:
        await sender.close()
    assert sender.partitions == [] and env.graph.attempts("919800000011") == 15 + 2
    for u in users:
        expected = [f"{u[-2:]}-{b}-{i}" for b in range(5) for i in range(3)]
        sent = [_text(j) for _, j in env.graph.accepted if (j.get("to") or j.get("recipient")) == u]
        assert sent == expected, u
    assert len(await env.rows()) == 60 and await env.depth() == 0


@pytest.mark.parametrize("fault", ["throughput-code", "http-503"])
async def test_a_transient_error_is_retried_then_sent_once(env: Env, fault: str):
    to = "919800000021"
    if fault == "throughput-code":
        env.graph.fail_next[to] = [(131000, "Something went wrong"), (130429, "Rate limit hit")]
    else:
        env.graph.outage = 2
    await env.queue.enqueue([env.item("wamid.t:0", to, "after the outage", correlation_id="corr1")])
    env.start(env.sender(), list(range(4)))
    await until(lambda: len(env.graph.accepted) == 1, what="the retried send")
    await until(lambda: _depth_zero(env), what="the ack")
    failure = 400 if fault == "throughput-code" else 503
    assert [status for _, _, status in env.graph.answers] == [failure, failure, 200]
    assert env.graph.bodies(to) == ["after the outage"]
    [row] = await env.rows(to)
    assert (row["status"], row["wamid"], row["correlation_id"]) == (
        "accepted", env.graph.accepted[0][0], "corr1")


async def test_final_errors_are_recorded_as_failed_and_not_retried(env: Env):
    blocked, flaky, fine = "919800000031", "919800000032", "919800000033"
    env.graph.fail_for[blocked] = (131047, "Re-engagement message")
    env.graph.fail_for[flaky] = (130429, "Rate limit hit")     # never recovers: retries are bounded
    await env.queue.enqueue([env.item("k:b", blocked, "outside the window"), env.item("k:f", flaky, "x"),
                             env.item("k:ok", fine, "delivered")])
    env.start(env.sender(), list(range(4)))
    await until(lambda: _depth_zero(env), what="every item acknowledged")
    assert env.graph.attempts(blocked) == 1, "131047 is final"
    assert env.graph.attempts(flaky) == FAST.attempts
    assert env.graph.bodies(fine) == ["delivered"]
    by_user = {r["user_key"]: r for r in await env.rows()}
    assert (by_user[blocked]["status"], by_user[blocked]["error_code"], by_user[blocked]["wamid"]) == (
        "failed", 131047, None)
    assert (by_user[flaky]["status"], by_user[flaky]["error_code"]) == ("failed", 130429)
    assert by_user[fine]["status"] == "accepted"
    assert (await env.queue.marks(["k:b"]))["k:b"] == f"{FAILED}:131047"


async def test_pair_rate_limit_delays_that_user_only(env: Env):
    env.queue = MemoryOutbound(partitions=1) if env.redis is None else RedisOutbound(
        env.redis, prefix=env.prefix, partitions=1)                     # both users share one partition
    busy, other = "919800000041", "919800000042"
    env.graph.fail_next[busy] = [(131056, "Pair rate limit hit")]
    await env.queue.enqueue([env.item("p:b0", busy, "b0"), env.item("p:b1", busy, "b1")])
    await env.queue.enqueue([env.item(f"p:o{i}", other, f"o{i}") for i in range(3)])
    env.start(env.sender(), [0])
    await until(lambda: len(env.graph.accepted) == 5, what="all sends")
    limited, accepted = [t for t, to, status in env.graph.answers if to == busy][:2]
    waited = accepted - limited
    order = [_text(j) for _, j in env.graph.accepted]
    assert order.index("o2") < order.index("b0"), "the other user's replies were not held up"
    assert env.graph.bodies(busy) == ["b0", "b1"] and env.graph.bodies(other) == ["o0", "o1", "o2"]
    assert waited >= FAST.pair_backoff_s * 0.5 - 0.05, "131056 waits the longer pair backoff"


async def test_an_item_marked_sent_before_a_crash_is_not_sent_again(env: Env):
    """A sender crashed after Meta accepted item 1 and its audit row was written, before the ack."""
    to = "919800000051"
    items = [env.item(f"wamid.c:{i}", to, f"c{i}") for i in range(3)]
    await env.queue.enqueue(items)
    for partition in range(4):       # the crashed sender had read them (a newly read entry is never checked)
        await env.queue.read(partition, "crashed", count=10, block_ms=10)
    await env.queue.mark(items[1].key, "wamid.before-crash")
    log = SqlOutboundLog(env.db)
    earlier = OutboundRecord(user_key=to, reply_type="text", body="c1", wamid="wamid.before-crash",
                             correlation_id=None)
    assert await log.record_outbound_many([earlier]) == 1
    env.start(env.sender(), list(range(4)))
    await until(lambda: _depth_zero(env), what="every item acknowledged")
    assert env.graph.bodies(to) == ["c0", "c2"]
    rows = await env.rows(to)
    assert sorted(r["wamid"] for r in rows) == sorted([w for w, _ in env.graph.accepted] + [earlier.wamid]), (
        "the recovered send is logged once")


async def test_audit_rows_carry_the_graph_wamids_so_statuses_match(env: Env):
    to = "919800000061"
    await env.queue.enqueue([env.item(f"wamid.s:{i}", to, r, correlation_id="c1")
                             for i, r in enumerate(EVERY_TYPE)])
    env.start(env.sender(), list(range(4)))
    await until(lambda: len(env.graph.accepted) == len(EVERY_TYPE), what="the sends")
    await until(lambda: _depth_zero(env), what="the acks")
    sent = env.graph.accepted
    assert [j["type"] for _, j in sent] == ["text", "interactive", "interactive", "template", "document"]
    assert sent[3][1]["template"]["components"][0]["parameters"][1] == {"type": "text", "text": "₹4,000.00"}
    upload = [r for r in env.graph.requests if r.path.endswith("/media")][0]
    assert upload.form["file"]["bytes"] == b'{"v":1}\x00\xff'
    rows = await env.rows(to)
    assert [r["wamid"] for r in rows] == [w for w, _ in sent]
    assert [r["kind"] for r in rows] == ["text", "buttons", "listreply", "template", "document"]
    audit = SqlAuditLog(env.db)
    for wamid, _ in sent:
        assert await audit.record_status(wamid=wamid, status="delivered", at=datetime.now(timezone.utc),
                                         error_code=None, error_title=None)
    assert {r["status"] for r in await env.rows(to)} == {"delivered"}


async def _schema(db) -> str | None:
    """The PostgreSQL schema the ``db`` fixture isolated this test in (None on SQLite)."""
    if db.dialect.name != "postgresql":
        return None
    async with db.connect() as conn:
        return (await conn.execute(text("SELECT current_schema()"))).scalar()


CHILD = r"""
import asyncio, json, sys
import redis.asyncio as redis
from bot.cluster.outbound import OutboundSender, RedisOutbound
from bot.cluster.outbound_log import SqlOutboundLog
from bot.whatsapp.client import build_client
from bot.whatsapp.sender import reply_sender
from config.settings import WhatsAppConfig
from engine.db import make_engine

async def main(cfg):
    db = make_engine(cfg["db"], schema=cfg["schema"])
    client = build_client(WhatsAppConfig(token="EAAtoken", phone_number_id=cfg["phone_id"],
                                         graph_url=cfg["graph"]))
    queue = RedisOutbound(redis.from_url(cfg["redis"]), prefix=cfg["prefix"], partitions=cfg["partitions"])
    sender = OutboundSender(queue, send=reply_sender(client), audit=SqlOutboundLog(db), consumer="a",
                            block_ms=50)
    await sender.run_partition(cfg["partition"], asyncio.Event())

asyncio.run(main(json.loads(sys.argv[1])))
"""


async def test_a_killed_sender_is_taken_over_and_each_reply_goes_once(env: Env):
    """Redis: a sender process is SIGKILLed in the middle of a Graph call; in-process: its task is cancelled
    there. Another consumer takes the partition over and sends the rest, each reply once, in order."""
    to = "919800000071"
    partition = partition_of(to, 4)
    await env.queue.enqueue([env.item(f"wamid.k:{i}", to, f"k{i}") for i in range(10)])
    env.graph.hold_at = 5
    if env.flavour == "redis":
        cfg = {"db": env.db.url.render_as_string(hide_password=False), "schema": await _schema(env.db),
               "graph": env.graph.url, "phone_id": p.PHONE_NUMBER_ID, "redis": REDIS_URL,
               "prefix": env.prefix, "partitions": 4, "partition": partition}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, json.dumps(cfg), cwd=ROOT)
        try:
            await asyncio.wait_for(env.graph.held.wait(), 30)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
        assert proc.returncode == -signal.SIGKILL
    else:
        task, _ = env.start(env.sender("a"), [partition])
        await asyncio.wait_for(env.graph.held.wait(), 10)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(env.graph.accepted) == 4
    env.graph.release.set()                   # the held call never reached "Meta"

    env.start(env.sender("b"), [partition])
    await until(lambda: len(env.graph.accepted) == 10, what="the rest of the replies")
    await until(lambda: _depth_zero(env), what="every item acknowledged")
    assert env.graph.bodies(to) == [f"k{i}" for i in range(10)]
    wamids = [r["wamid"] for r in await env.rows(to)]
    assert sorted(wamids) == sorted(w for w, _ in env.graph.accepted), "every send logged exactly once"
    if env.redis is not None:
        pending = await env.redis.xpending(env.queue.stream(partition), "senders")
        assert pending["pending"] == 0


async def _turn_commit(env: Env, user: str, message_id: str, fence: tuple[str, str]):
    """What a worker's turn stages for the one atomic step that queues its replies."""
    store = RedisSessionStore(env.redis, prefix=env.prefix)
    scope = TurnScope(fence=fence, fresh=True)
    token = TURN_SCOPE.set(scope)
    try:
        await store.commit_turn(user, message_id, state=None, ttl_s=60, replies=[], fence=fence)
    finally:
        TURN_SCOPE.reset(token)
    return scope.staged[0]


@pytest.mark.parametrize("env", ["redis"], indirect=True)
async def test_a_turns_replies_reach_the_partitions_sender_in_memory_not_read_back(env: Env):
    """The turn's own script reads its new entries into the local sender's pending list and hands them over:
    this sender never reads its queue (it never has room), yet each reply goes once, in order, and is acked."""
    to = "919800000081"
    partition = partition_of(to, 4)
    fence = (f"{env.prefix}lease:{partition}", "w1#1")
    await env.redis.set(*fence)
    sender = env.sender("w1", max_in_flight=0)
    env.queue.deliver_locally("w1", sender.take)
    env.start(sender, [partition])
    await until(lambda: partition in sender._runs, what="the partition's run")
    for n in range(3):
        commit = await _turn_commit(env, to, f"wamid.h{n}", fence)
        assert await env.queue.enqueue([env.item(f"wamid.h{n}:{i}", to, f"h{n}-{i}") for i in range(2)],
                                       commit=commit) == 2
    await until(lambda: len(env.graph.accepted) == 6, what="the handed-over replies")
    await until(lambda: _depth_zero(env), what="every item acknowledged")
    assert env.graph.bodies(to) == [f"h{n}-{i}" for n in range(3) for i in range(2)]
    assert len(await env.rows(to)) == 6
    # a push (no turn commit, no fence) is not handed over: it waits for a sender's own read
    await env.queue.enqueue([env.item("push:x:0", to, "pushed")])
    await asyncio.sleep(0.3)
    assert env.graph.bodies(to)[-1] == "h2-1" and await env.depth() == 1


@pytest.mark.parametrize("env", ["redis"], indirect=True)
async def test_turns_ending_at_once_share_a_script_call_and_a_lost_fence_supersedes_only_its_own(env: Env):
    """Turns of three partitions end at once: they share the script's calls, yet each is its own atomic
    step -- the turn whose partition moved to another worker writes nothing (no journal, no reply, its intake
    entry still pending) and is told so, while the other two commit, queue their reply and ack their entry."""
    users = {}
    for n in range(100):
        users.setdefault(partition_of(f"91980000{n:04d}", 4), f"91980000{n:04d}")
    (p1, u1), (p2, u2), (lost, u3) = sorted(users.items())[:3]
    entries = {}
    for part in (p1, p2, lost):
        await env.redis.set(f"{env.prefix}lease:{part}", "w1#1" if part != lost else "w2#2")
        stream = f"{env.prefix}in:{part}"
        await ensure_group(env.redis, stream, "workers")
        await env.redis.xadd(stream, {"m": "x"})
        [[_, [(entry_id, _)]]] = await env.redis.xreadgroup("workers", "w1", {stream: ">"})
        entries[part] = StreamAck(stream, "workers", entry_id.decode())
    commits = {part: await _turn_commit(env, user, f"wamid.t{part}", (f"{env.prefix}lease:{part}", "w1#1"))
               for part, user in ((p1, u1), (p2, u2), (lost, u3))}
    calls = count_script_calls(env.redis)
    results = await asyncio.gather(*(
        env.queue.enqueue([env.item(f"wamid.t{part}:0", user, f"t{part}")], ack=entries[part],
                          commit=commits[part])
        for part, user in ((p1, u1), (p2, u2), (lost, u3))), return_exceptions=True)
    assert results[:2] == [1, 1] and isinstance(results[2], Superseded), results
    assert 1 <= len(calls) < 3, "three turns ending at once share the script's calls"
    for part in (p1, p2, lost):
        written = part != lost
        assert await env.redis.exists(commits[part].journal_key) == written
        assert await env.redis.xlen(env.queue.stream(part)) == written
        pending = await env.redis.xpending(entries[part].stream, "workers")
        assert pending["pending"] == (0 if written else 1)


@pytest.mark.parametrize("env", ["redis"], indirect=True)
async def test_replies_handed_to_no_running_sender_wait_for_its_claim_and_go_once(env: Env):
    """A hand-over with no run to take it (the sender not started yet, or stopping) leaves the entries in
    the consumer's pending list; the next run claims them, and a hand-over racing that claim is not sent
    twice."""
    to = "919800000082"
    partition = partition_of(to, 4)
    fence = (f"{env.prefix}lease:{partition}", "w1#1")
    await env.redis.set(*fence)
    sender = env.sender("w1")
    env.queue.deliver_locally("w1", sender.take)
    await ensure_group(env.redis, env.queue.stream(partition), "senders")     # a sender ran here before
    commit = await _turn_commit(env, to, "wamid.n0", fence)
    await env.queue.enqueue([env.item(f"wamid.n0:{i}", to, f"n{i}") for i in range(2)], commit=commit)
    pending = await env.redis.xpending(env.queue.stream(partition), "senders")
    assert pending["pending"] == 2 and pending["consumers"] == [{"name": b"w1", "pending": 2}]
    assert env.graph.accepted == []

    env.graph.hold_at = 1                     # the first send waits, so both entries are in the run's lanes
    env.start(sender, [partition])
    await asyncio.wait_for(env.graph.held.wait(), 10)
    again = await env.queue.claim(partition, "w1")
    assert [d.item.key for d in again if d.item] == ["wamid.n0:0", "wamid.n0:1"]
    sender.take(partition, again)             # as if a hand-over had raced the claim
    env.graph.release.set()                   # the held call fails (503) and is retried
    await until(lambda: len(env.graph.accepted) == 2, what="both replies")
    await until(lambda: _depth_zero(env), what="every item acknowledged")
    await asyncio.sleep(0.2)
    assert env.graph.bodies(to) == ["n0", "n1"] and len(await env.rows(to)) == 2


def test_a_lane_keeps_unsent_items_in_queue_order_and_never_displaces_its_head():
    def d(entry_id: str) -> Delivery:
        return Delivery(entry_id, None)

    lane = deque([d("5-0"), d("7-0"), d("9-0")])
    _insert_in_order(lane, d("8-0"))
    _insert_in_order(lane, d("10-0"))
    _insert_in_order(lane, d("1-0"))          # older than the head in flight: right behind it
    assert [x.entry_id for x in lane] == ["5-0", "1-0", "7-0", "8-0", "9-0", "10-0"]


@pytest.fixture
async def sqlite_db(tmp_path: Path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'rate.db'}")
    await create_schema(engine)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize("flavour", ["memory", "redis"])
async def test_two_senders_together_stay_under_the_number_rate(flavour: str, sqlite_db):
    """200 items at 100/s through two senders (one per half of the partitions) cannot take under ~2 s."""
    graph = await RecordingGraph().start()
    rds, prefix = (await _redis_with_prefix()) if flavour == "redis" else (None, "")
    try:
        client = build_client(WhatsAppConfig(token="EAAtoken", phone_number_id=p.PHONE_NUMBER_ID,
                                             graph_url=graph.url))
        queue = (RedisOutbound(rds, prefix=prefix, partitions=4) if rds is not None
                 else MemoryOutbound(partitions=4))
        users = [f"9198000{n:05d}" for n in range(40)]
        assert {partition_of(u, 4) for u in users} == {0, 1, 2, 3}
        items = [OutboundItem(key=f"r:{u}:{i}", user_key=u, to=u, reply=Text(f"{i}"), correlation_id=None,
                              partition=partition_of(u, 4)) for i in range(5) for u in users]
        assert await queue.enqueue(items) == 200
        shared = LocalRateLimiter(100)

        def limiter():
            if rds is None:
                return shared
            return RedisRateLimiter(rds, rate=100, number=p.PHONE_NUMBER_ID, prefix=prefix)

        senders = [OutboundSender(queue, send=reply_sender(client), audit=SqlOutboundLog(sqlite_db),
                                  consumer=f"s{n}", limiter=limiter(), block_ms=50) for n in range(2)]
        stop = asyncio.Event()
        started = time.monotonic()
        runs = [asyncio.create_task(senders[0].run([0, 1], stop)),
                asyncio.create_task(senders[1].run([2, 3], stop))]
        try:
            await until(lambda: len(graph.accepted) >= 200, timeout=30, what="200 sends")
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            await asyncio.gather(*runs, return_exceptions=True)
        assert len(graph.accepted) == 200
        assert elapsed >= 1.9, f"200 sends at 100/s took only {elapsed:.2f} s"
    finally:
        await close_client(client)
        await graph.stop()
        if rds is not None:
            await _drop_prefix(rds, prefix)
