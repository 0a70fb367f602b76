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
from tests.support import payloads as p
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
