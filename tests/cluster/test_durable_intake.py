"""An acknowledged message is never lost: the web appends it to the intake before the 200, and with AOF
(``appendfsync always``) the intake survives kill -9 of the web process and of Redis itself."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import aiohttp
import pytest
import redis.asyncio as redis_asyncio

from bot.cluster.intake import RedisIntake
from handlers.messages import InboundMessage, Sender
from tests.conftest import REDIS_URL
from tests.support import payloads as p
from tests.support.redis_calls import count_script_calls
from tests.support.cluster import Cluster, post
from tests.support.graph_api import FakeGraphAPI
from tests.support.redis_server import AofRedis


@pytest.fixture
def aof_redis(tmp_path):
    server = AofRedis(tmp_path / "redis").start()
    yield server
    server.stop()


def _msg(i: int, phone: str = "919800004001") -> InboundMessage:
    return InboundMessage(id=f"wamid.durable{i}", sender=Sender(phone=phone), timestamp=datetime.now(timezone.utc),
                          text=f"message {i}")


async def test_appended_messages_survive_a_redis_crash_in_order_and_deduplicated(aof_redis):
    client = redis_asyncio.from_url(aof_redis.url)
    intake = RedisIntake(client, partitions=4, prefix="d:")
    assert await intake.append([_msg(i) for i in range(50)]) == 50
    assert await intake.append([_msg(3), _msg(7)]) == 0, "a redelivery never enters twice"
    await client.aclose()
    aof_redis.kill()
    aof_redis.start()
    client = redis_asyncio.from_url(aof_redis.url)
    intake = RedisIntake(client, partitions=4, prefix="d:")
    got = await intake.read(list(range(4)), "after-crash", count=100, block_ms=100)
    assert [e.message.id for _, e in got] == [f"wamid.durable{i}" for i in range(50)]
    assert await intake.append([_msg(9)]) == 0, "the dedupe marks survived too"
    await client.aclose()


async def test_concurrent_deliveries_share_an_append_and_each_learns_its_own_new_messages():
    """Webhooks arriving while an append is on the wire go together in the next script call; each is still
    told how many of *its* messages were new (a redelivery racing its original counts once), and the stream
    holds them in the order the deliveries were handed in."""
    import uuid

    client = redis_asyncio.from_url(REDIS_URL)
    prefix = f"co:{uuid.uuid4().hex[:8]}:"
    intake = RedisIntake(client, partitions=1, prefix=prefix)
    calls = count_script_calls(client)
    try:
        deliveries = [[_msg(i)] for i in range(40)] + [[_msg(5), _msg(40)], [_msg(41), _msg(41)]]
        counts = await asyncio.gather(*(intake.append(d) for d in deliveries))
        assert counts[:40] == [1] * 40
        assert counts[40:] == [1, 1], "the redelivered 5 counts for its first delivery only; 41 once"
        assert 1 <= len(calls) <= 3, f"forty-two deliveries at once share a few script calls, not {len(calls)}"
        got = await intake.read([0], "reader", count=100, block_ms=100)
        assert [e.message.id for _, e in got] == [f"wamid.durable{i}" for i in range(42)]
        assert await intake.append([_msg(0)]) == 0 and await intake.append([_msg(42)]) == 1
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_a_message_acknowledged_by_a_web_that_then_dies_is_answered(tmp_path, aof_redis, schema,
                                                                           model_ready):
    """No worker or engine runs yet: the web acknowledges, is killed with SIGKILL, Redis is killed too and
    restarted; then a worker and an engine start, and the user gets the answer, once."""
    graph = await FakeGraphAPI().start()
    cluster = Cluster(tmp=tmp_path, schema=schema, redis_url=aof_redis.url, prefix="d:", graph_url=graph.url)
    try:
        web = cluster.web("web")
        await cluster.wait_for("web", "listening")
        phone = "919800004002"
        body = p.envelope(p.messages_value([p.text(phone, "hello")], [p.contact(phone)]))
        async with aiohttp.ClientSession() as session:
            assert await post(session, web.port, body) == 200
        cluster.kill("web")
        aof_redis.kill()
        aof_redis.start()
        cluster.engine("engine")
        cluster.worker("worker")
        await cluster.wait_for("worker", "running")
        sent = await graph.wait_for(1, timeout=60)
        await asyncio.sleep(1.5)
    finally:
        cluster.stop_all()
        await graph.stop()
    assert [m["to"] for m in sent] == [phone], {n: pr.output()[-1500:] for n, pr in cluster.procs.items()}
    assert len(graph.messages) == 1, "answered exactly once"
