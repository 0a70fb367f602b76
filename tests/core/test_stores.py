"""The session store and its turn journal: the same suite against memory and a real Redis server."""

from __future__ import annotations

import asyncio

import pytest

from bot.stores.memory import MemoryDedupeStore, MemorySessionStore
from bot.stores.redis_stores import RedisSessionStore
from handlers.replies import Button, Buttons, Text


@pytest.fixture(params=["memory", "redis"])
async def sessions(request, unique, redis_client):
    if request.param == "memory":
        yield MemorySessionStore()
        return
    yield RedisSessionStore(redis_client, prefix=f"test:{unique}:")


async def test_sessions_round_trip_and_delete(sessions):
    assert await sessions.load("u1") is None
    await sessions.save("u1", '{"awaiting":"pin"}', ttl_s=60)
    assert await sessions.load("u1") == '{"awaiting":"pin"}'
    await sessions.delete("u1")
    assert await sessions.load("u1") is None


async def test_commit_turn_saves_state_and_journal_together(sessions):
    replies = [Text("one"), Buttons("two", (Button("yes:1", "Yes"), Button("no:1", "No")))]
    assert await sessions.load_turn("u1", "wamid.1") == (None, None)
    await sessions.commit_turn("u1", "wamid.1", state='{"awaiting":"confirm"}', ttl_s=60, replies=replies)
    state, done = await sessions.load_turn("u1", "wamid.1")
    assert state == '{"awaiting":"confirm"}' and list(done) == replies
    await sessions.commit_turn("u1", "wamid.2", state=None, ttl_s=60, replies=[])
    state, done = await sessions.load_turn("u1", "wamid.2")
    assert state is None and list(done) == [], "a turn with no replies is still recorded as done"
    assert (await sessions.load_turn("u1", "wamid.3"))[1] is None


async def test_dedupe_is_first_seen_exactly_once_under_concurrency():
    dedupe = MemoryDedupeStore()
    results = await asyncio.gather(*(dedupe.first_seen("in:wamid.1", ttl_s=60) for _ in range(20)))
    assert results.count(True) == 1
    assert await dedupe.first_seen("in:wamid.2", ttl_s=60) is True


async def test_memory_sessions_expire():
    now = [0.0]
    sessions = MemorySessionStore(monotonic=lambda: now[0])
    await sessions.save("u", "x", ttl_s=10)
    now[0] = 11
    assert await sessions.load("u") is None


async def test_a_fenced_commit_is_refused_once_the_lease_moved(redis_client, unique):
    """A worker paused past its partition lease cannot commit a turn on top of the new owner's: the journal
    commit checks the lease in the same script, and nothing of the refused turn is kept."""
    from handlers.ports import Superseded

    sessions = RedisSessionStore(redis_client, prefix=f"test:{unique}:")
    lease = f"test:{unique}:own:3"
    await redis_client.set(lease, "worker-a")
    await sessions.commit_turn("u1", "wamid.1", state='{"awaiting":"pin"}', ttl_s=60, replies=[Text("one")],
                               fence=(lease, "worker-a"))
    await redis_client.set(lease, "worker-b")          # the lease moved to another worker
    with pytest.raises(Superseded):
        await sessions.commit_turn("u1", "wamid.2", state=None, ttl_s=60, replies=[Text("two")],
                                   fence=(lease, "worker-a"))
    state, done = await sessions.load_turn("u1", "wamid.2")
    assert state == '{"awaiting":"pin"}' and done is None
