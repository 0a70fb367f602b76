"""A turn is done in one atomic step on a real Redis -- its commit (state and journal, only while the fence
holds), its replies queued once, its intake entry acknowledged -- and stream acks of many partitions share one
round trip.

Why: each Redis round trip costs a worker ~0.1 ms of CPU; these were three of the nine a price turn made."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

from bot.cluster.intake import GROUP as INTAKE_GROUP
from bot.cluster.intake import RedisIntake
from bot.cluster.outbound_queue import MemoryOutbound, OutboundItem, RedisOutbound
from bot.cluster.streams import StreamAck, stream_acks
from bot.stores.redis_stores import TURN_SCOPE, RedisSessionStore, TurnScope
from handlers.ports import Superseded
from handlers.messages import InboundMessage, Sender
from handlers.replies import Text


def _message(mid: str, phone: str = "919800000301") -> InboundMessage:
    return InboundMessage(id=mid, sender=Sender(phone=phone, user_id=None, name=None), text="price of TCS",
                          timestamp=datetime(2026, 11, 23, 4, 30, tzinfo=timezone.utc))


def _items(mid: str, p: int, n: int = 2) -> list[OutboundItem]:
    return [OutboundItem(key=f"{mid}:{i}", user_key="919800000301", to="919800000301", reply=Text(f"r{i}"),
                         correlation_id=None, partition=p) for i in range(n)]


async def _pending(client, stream: str, group: str) -> int:
    return int((await client.xpending(stream, group))["pending"])


async def test_replies_queued_with_the_entry_acknowledged_once_also_on_a_retry(redis_prefixed) -> None:
    """Without a commit (a journalled turn's replies queued again), the items, then the acknowledgement."""
    client, prefix = redis_prefixed
    intake = RedisIntake(client, partitions=4, prefix=prefix)
    queue = RedisOutbound(client, partitions=4, prefix=prefix)
    await intake.append([_message("wamid.A")])
    [(p, entry)] = await intake.read(range(4), "w1", count=10, block_ms=100)
    stream = intake.stream(p)
    assert await _pending(client, stream, INTAKE_GROUP) == 1
    done = intake.ack_of(p, entry.entry_id)
    assert done == StreamAck(stream, INTAKE_GROUP, entry.entry_id)

    assert await queue.enqueue(_items("wamid.A", p), ack=done) == 2
    assert await _pending(client, stream, INTAKE_GROUP) == 0 and await client.xlen(stream) == 0
    assert await client.xlen(queue.stream(p)) == 2
    # a retry after a crash does it all again: nothing new is queued, the acknowledgement is a no-op
    assert await queue.enqueue(_items("wamid.A", p), ack=done) == 0
    assert await client.xlen(queue.stream(p)) == 2
    # with nothing to queue, the entry is still acknowledged
    await intake.append([_message("wamid.B")])
    [(p2, entry2)] = await intake.read(range(4), "w1", count=10, block_ms=100)
    assert await queue.enqueue([], ack=intake.ack_of(p2, entry2.entry_id)) == 0
    assert await _pending(client, intake.stream(p2), INTAKE_GROUP) == 0


async def test_acks_of_many_partitions_made_together_share_one_batch(redis_prefixed) -> None:
    client, prefix = redis_prefixed
    intake = RedisIntake(client, partitions=8, prefix=prefix)
    await intake.append([_message(f"wamid.M{i}", phone=f"9198000004{i:02d}") for i in range(24)])
    read = await intake.read(range(8), "w1", count=100, block_ms=100)
    assert len(read) == 24 and len({p for p, _ in read}) > 1
    acks = stream_acks(client)
    before = acks._batch.batches
    await asyncio.gather(*(intake.ack(p, [e.entry_id]) for p, e in read))
    assert acks._batch.batches - before <= 2          # the first goes at once, the rest wait and go together
    for p in range(8):
        assert await client.xlen(intake.stream(p)) == 0


async def test_an_in_process_queue_refuses_to_acknowledge_a_stream_entry() -> None:
    queue = MemoryOutbound(partitions=4)
    try:
        await queue.enqueue(_items("wamid.C", 1), ack=StreamAck("s", "g", "1-0"))
    except TypeError:
        pass
    else:
        raise AssertionError("an acknowledgement it cannot make must not be dropped silently")
    assert queue.depth() == 0


async def _staged(store: RedisSessionStore, message_id: str, *, state: str | None, fence=None):
    """What a worker's turn stages: ``commit_turn`` under :data:`TURN_SCOPE` writes nothing."""
    scope = TurnScope(fence=fence, fresh=True)
    token = TURN_SCOPE.set(scope)
    try:
        await store.commit_turn("919800000301", message_id, state=state, ttl_s=60, replies=[Text("r0")],
                                fence=fence)
    finally:
        TURN_SCOPE.reset(token)
    [commit] = scope.staged
    return commit


def _turn_parts(redis_prefixed):
    """Intake, send queue and session store on a private prefix, and a partition's fence (key, our value)."""
    client, prefix = redis_prefixed
    return (client, prefix, RedisIntake(client, partitions=4, prefix=prefix),
            RedisOutbound(client, partitions=4, prefix=prefix), RedisSessionStore(client, prefix=prefix),
            (f"{prefix}lease:p", "worker-1"))


async def test_a_turn_commits_queues_and_acknowledges_in_one_step(redis_prefixed) -> None:
    client, prefix, intake, queue, store, fence = _turn_parts(redis_prefixed)
    await client.set(fence[0], fence[1])
    await intake.append([_message("wamid.T")])
    [(p, entry)] = await intake.read(range(4), "w1", count=10, block_ms=100)
    commit = await _staged(store, "wamid.T", state='{"awaiting": "pin"}', fence=fence)
    assert await store.load_turn("919800000301", "wamid.T") == (None, None)     # staged: nothing written yet

    assert await queue.enqueue(_items("wamid.T", p, n=1), ack=intake.ack_of(p, entry.entry_id),
                               commit=commit) == 1
    state, done = await store.load_turn("919800000301", "wamid.T")
    assert state == '{"awaiting": "pin"}' and done == [Text("r0")]
    assert await client.xlen(queue.stream(p)) == 1
    assert await _pending(client, intake.stream(p), INTAKE_GROUP) == 0
    assert await client.xlen(intake.stream(p)) == 0

    # a turn with nothing to say still commits (here: the state is cleared) and is acknowledged
    await intake.append([_message("wamid.U")])
    [(p2, entry2)] = await intake.read(range(4), "w1", count=10, block_ms=100)
    commit = await _staged(store, "wamid.U", state=None, fence=fence)
    assert await queue.enqueue([], ack=intake.ack_of(p2, entry2.entry_id), commit=commit) == 0
    assert (await store.load_turn("919800000301", "wamid.U"))[0] is None
    assert await client.exists(f"{prefix}done:wamid.U")
    assert await _pending(client, intake.stream(p2), INTAKE_GROUP) == 0


async def test_a_turn_whose_lease_was_lost_writes_nothing(redis_prefixed) -> None:
    client, _prefix, intake, queue, store, fence = _turn_parts(redis_prefixed)
    await client.set(fence[0], "worker-2")                 # another worker took the partition over meanwhile
    await intake.append([_message("wamid.V")])
    [(p, entry)] = await intake.read(range(4), "w1", count=10, block_ms=100)
    commit = await _staged(store, "wamid.V", state='{"awaiting": "pin"}', fence=fence)
    try:
        await queue.enqueue(_items("wamid.V", p), ack=intake.ack_of(p, entry.entry_id), commit=commit)
    except Superseded:
        pass
    else:
        raise AssertionError("a superseded turn must not be written")
    assert await store.load_turn("919800000301", "wamid.V") == (None, None)
    assert await client.xlen(queue.stream(p)) == 0 and not await client.exists(queue._key("wamid.V:0"))
    assert await _pending(client, intake.stream(p), INTAKE_GROUP) == 1     # left for the new owner
    assert json.loads(commit.outcome)                                       # the staged replies, unwritten


async def _load(store: RedisSessionStore, message_id: str, *, fence, fresh: bool):
    token = TURN_SCOPE.set(TurnScope(fence=fence, fresh=fresh))
    try:
        return await store.load_turn("919800000301", message_id)
    finally:
        TURN_SCOPE.reset(token)


async def test_a_fresh_turn_reads_the_state_its_worker_committed_in_the_same_tenure_only(redis_prefixed):
    client, _prefix, intake, queue, store, fence = _turn_parts(redis_prefixed)
    await client.set(fence[0], fence[1])
    await intake.append([_message("wamid.W")])
    [(p, entry)] = await intake.read(range(4), "w1", count=10, block_ms=100)
    commit = await _staged(store, "wamid.W", state='{"awaiting": "pin"}', fence=fence)
    await queue.enqueue([], ack=intake.ack_of(p, entry.entry_id), commit=commit)
    # Someone writes the key behind this worker's back: only a new tenure could, so the cache must not be
    # asked in one. This stands in for "another worker owned the partition meanwhile".
    await client.set(f"{_prefix}session:919800000301", '{"awaiting": "other"}')
    assert await _load(store, "wamid.X", fence=fence, fresh=True) == ('{"awaiting": "pin"}', None)
    assert await _load(store, "wamid.X", fence=(fence[0], "worker-1#2"), fresh=True) == \
        ('{"awaiting": "other"}', None)                               # a new tenure reads Redis
    assert await _load(store, "wamid.X", fence=fence, fresh=False) == ('{"awaiting": "other"}', None)  # a retry
    state, done = await _load(store, "wamid.W", fence=fence, fresh=False)   # a retry still finds its journal
    assert done == [Text("r0")]


async def test_each_acquisition_of_a_partition_has_a_lease_value_of_its_own(redis_prefixed):
    from bot.cluster.ownership import RedisOwnership

    client, prefix = redis_prefixed
    own = RedisOwnership(client, worker_id="w1", partitions=2, lease_s=5, prefix=prefix)
    gained, _ = await own.refresh()
    assert gained == {0, 1}
    first = own.fence(0)
    assert await client.get(first[0]) == first[1].encode()
    await client.delete(first[0])                    # the lease lapsed (a pause): another tenure must follow
    gained, lost = await own.refresh()
    assert 0 in lost and 0 in gained and own.fence(0) != first
    assert await client.get(first[0]) == own.fence(0)[1].encode()
    await own.close()
    assert not await client.exists(first[0])


async def _read_all(queue: RedisOutbound, partitions: int = 4) -> list:
    from bot.cluster.streams import ensure_group

    got = []
    for p in range(partitions):
        await ensure_group(queue._r, queue.stream(p), "senders")
    for p in range(partitions):
        got += [(p, d) for d in await queue.read(p, "s1", count=100, block_ms=10)]
    return got


async def test_a_sent_entrys_ack_rides_the_next_sends_mark(redis_prefixed) -> None:
    """A sender's two writes per send (the sent mark, later the ack) share round trips: the ack lingers and
    goes with the next mark instead of alone. Idle, it goes alone once its linger is over."""
    client, prefix = redis_prefixed
    queue = RedisOutbound(client, partitions=4, prefix=prefix)
    await queue.enqueue(_items("wamid.L", 0, n=3))
    (_, first), (_, second), (_, third) = await _read_all(queue)
    acks = stream_acks(client)
    before = acks._batch.batches
    await queue.mark(first.item.key, "wamid.1")                 # alone: nothing else is going on
    acked = asyncio.create_task(queue.ack(0, [first.entry_id]))
    await asyncio.sleep(0)
    assert not acked.done()                                     # lingering
    await queue.mark(second.item.key, "wamid.2")                # this batch carries the ack
    await asyncio.wait_for(acked, 1)
    assert acks._batch.batches - before == 2
    assert await client.xlen(queue.stream(0)) == 2              # acknowledged and deleted
    assert await queue.marks([first.item.key, second.item.key]) == {first.item.key: "wamid.1",
                                                                    second.item.key: "wamid.2"}
    await asyncio.wait_for(queue.ack(0, [second.entry_id, third.entry_id]), 1)   # idle: alone, after its linger
    assert acks._batch.batches - before == 3
    assert await client.xlen(queue.stream(0)) == 0
    assert int((await client.xpending(queue.stream(0), "senders"))["pending"]) == 0


async def test_a_lingering_ack_learns_that_its_batch_failed(redis_prefixed) -> None:
    client, prefix = redis_prefixed
    acks = stream_acks(client)
    acked = asyncio.create_task(acks.ack(f"{prefix}out:0", "senders", ["1-0"], linger_s=0.5))
    await asyncio.sleep(0)
    try:
        await acks.put(f"{prefix}k", "v", ex=-5)                # Redis refuses the batch (invalid expire)
    except Exception:  # noqa: BLE001 - expected
        pass
    else:
        raise AssertionError("a SET with a negative expiry must fail")
    try:
        await asyncio.wait_for(acked, 1)
    except asyncio.TimeoutError:
        raise AssertionError("the parked ack was never told") from None
    except Exception:  # noqa: BLE001 - the batch's error reached it
        pass
    else:
        raise AssertionError("a parked ack in a failed batch must not report success")
