"""The session, dedupe and lock ports: the same suite against memory and a real Redis server."""

from __future__ import annotations

import asyncio

import pytest

from bot.stores.memory import MemoryDedupeStore, MemorySessionStore, MemoryUserLocks
from bot.stores.redis_stores import RedisDedupeStore, RedisSessionStore, RedisUserLocks


@pytest.fixture(params=["memory", "redis"])
async def stores(request, unique, redis_client):
    if request.param == "memory":
        yield MemorySessionStore(), MemoryDedupeStore(), MemoryUserLocks()
        return
    client = redis_client
    prefix = f"test:{unique}:"
    yield (RedisSessionStore(client, prefix=prefix), RedisDedupeStore(client, prefix=prefix),
           RedisUserLocks(client, prefix=prefix))


async def test_sessions_round_trip_and_delete(stores):
    sessions, _, _ = stores
    assert await sessions.load("u1") is None
    await sessions.save("u1", '{"awaiting":"pin"}', ttl_s=60)
    assert await sessions.load("u1") == '{"awaiting":"pin"}'
    await sessions.delete("u1")
    assert await sessions.load("u1") is None


async def test_dedupe_is_first_seen_exactly_once_under_concurrency(stores):
    _, dedupe, _ = stores
    results = await asyncio.gather(*(dedupe.first_seen("in:wamid.1", ttl_s=60) for _ in range(20)))
    assert results.count(True) == 1
    assert await dedupe.first_seen("in:wamid.2", ttl_s=60) is True


async def test_user_lock_serialises_one_user_and_not_others(stores):
    _, _, locks = stores
    active: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}

    async def work(user: str) -> None:
        async with locks.hold(user):
            active[user] += 1
            peak[user] = max(peak[user], active[user])
            await asyncio.sleep(0.01)
            active[user] -= 1

    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(work("a") for _ in range(5)), *(work("b") for _ in range(5)))
    assert peak == {"a": 1, "b": 1}
    assert asyncio.get_running_loop().time() - started < 0.5


async def test_memory_sessions_expire():
    now = [0.0]
    sessions = MemorySessionStore(monotonic=lambda: now[0])
    await sessions.save("u", "x", ttl_s=10)
    now[0] = 11
    assert await sessions.load("u") is None
