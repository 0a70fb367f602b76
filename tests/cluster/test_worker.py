"""The worker over the in-process intake, with the real dispatcher: one user's turns in arrival order and
never concurrent, different users concurrently; a turn that failed on infrastructure is retried in place
(before anything behind it) and answered once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone


from bot.cluster.intake import MemoryIntake
from bot.cluster.outbound import MemoryOutbound
from bot.cluster.ownership import SoleOwnership
from bot.cluster.push import OutboundMessenger
from bot.cluster import worker as worker_mod
from bot.cluster.worker import TurnWorker
from bot.stores.memory import MemorySessionStore
from handlers.dispatcher import Dispatcher
from handlers.messages import InboundMessage, Sender
from handlers.replies import Text
from handlers.router import Router


def msg(mid: str, phone: str, text: str) -> InboundMessage:
    return InboundMessage(id=mid, sender=Sender(phone=phone), timestamp=datetime.now(timezone.utc), text=text)


class FlakyOutbound(MemoryOutbound):
    """The send queue is down for the first ``failures`` enqueues (as Redis would be)."""

    def __init__(self, failures: int) -> None:
        super().__init__(partitions=4)
        self.failures = failures

    async def enqueue(self, items, **options):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("send queue unavailable")
        return await super().enqueue(items, **options)


async def run_worker(runtime, router: Router, messages: list[InboundMessage], outbound: MemoryOutbound,
                     on_read=None):
    intake = MemoryIntake(partitions=4)
    dispatcher = Dispatcher(router=router, services=runtime.services, sessions=MemorySessionStore(),
                            audit=runtime.audit)
    worker = TurnWorker(dispatcher=dispatcher, intake=intake, ownership=SoleOwnership(4),
                        messenger=OutboundMessenger(outbound, partitions=4), consumer="t", lease_s=0.3,
                        on_read=on_read)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await intake.append(messages)
    for _ in range(500):
        await asyncio.sleep(0.02)
        if intake.depth == 0 and worker.backlog == 0 and worker.active == 0 and worker.turns >= len(messages):
            break
    stop.set()
    await task
    return worker


async def test_one_user_in_arrival_order_different_users_concurrently(runtime):
    router = Router("t")
    seen: list[tuple[str, str]] = []
    active: dict[str, int] = {}
    overlap, doubled = [], []

    @router.fallback()
    async def slow(ctx):
        key = ctx.user.key
        active[key] = active.get(key, 0) + 1
        if len([k for k, v in active.items() if v]) > 1:
            overlap.append(True)
        if active[key] != 1:
            doubled.append(key)
        await asyncio.sleep(0.02)
        seen.append((key, ctx.text))
        active[key] -= 1
        return None

    a, b = "919800000201", "919800000202"     # two users in different partitions
    messages = [msg(f"a{i}", a, f"a message {i}") for i in range(5)] + \
               [msg(f"b{i}", b, f"b message {i}") for i in range(5)]
    await run_worker(runtime, router, messages, MemoryOutbound(partitions=4))
    assert doubled == [], "one user's turns never overlap"
    assert [t for k, t in seen if k == a] == [f"a message {i}" for i in range(5)]
    assert [t for k, t in seen if k == b] == [f"b message {i}" for i in range(5)]
    assert overlap, "different users ran concurrently"


async def test_an_infrastructure_failure_is_retried_in_place_and_answered_once(runtime, monkeypatch):
    monkeypatch.setattr(worker_mod, "RETRY_FIRST_S", 0.01)
    router = Router("t")
    calls: list[str] = []

    @router.fallback()
    async def answer(ctx):
        calls.append(ctx.message.id)
        return Text(f"answer to {ctx.text}")

    phone = "919800000203"
    outbound = FlakyOutbound(failures=2)
    await run_worker(runtime, router, [msg("m1", phone, "one"), msg("m2", phone, "two")], outbound)
    queued = [d.item.reply.body for p in range(4) for d in list(outbound._ready[p])]
    assert queued == ["answer to one", "answer to two"], "each answered once, in order, after the retries"
    assert calls == ["m1", "m2"], "the retried turn replays its journal, it does not run again"


async def test_read_receipts_only_where_the_reply_does_not_say_it(runtime, monkeypatch):
    """A prompt reply is the read receipt; a slow turn shows the typing indicator (once); a turn with
    nothing to say marks its message read."""
    monkeypatch.setattr(worker_mod, "TYPING_AFTER_S", 0.05)
    router = Router("t")

    @router.fallback()
    async def answer(ctx):
        if ctx.text == "slow":
            await asyncio.sleep(0.3)
        if ctx.text == "quiet":
            return None
        return Text("ok")

    reads: list[tuple[str, bool]] = []

    async def on_read(message_id: str, typing: bool) -> None:
        reads.append((message_id, typing))

    phone = "919800000204"
    messages = [msg("fast", phone, "fast"), msg("slow", phone, "slow"), msg("quiet", phone, "quiet")]
    await run_worker(runtime, router, messages, MemoryOutbound(partitions=4), on_read=on_read)
    assert sorted(reads) == [("quiet", False), ("slow", True)]


async def test_a_turn_whose_tenure_ended_is_run_again_before_the_messages_queued_behind_it(runtime):
    """The partition's lease lapses during a user's first turn and this same worker takes it again (a new
    tenure): that turn cannot commit, and the messages already queued behind it must not be answered before
    it. The new tenure's run claims all three, oldest first. (Seen with two servers starved of CPU: a
    consent tap answered after the PIN and the order that followed it.) Real Redis: intake, ownership,
    session store and send queue."""
    import uuid

    import redis.asyncio as redis_asyncio

    from bot.cluster.intake import RedisIntake
    from bot.cluster.outbound_queue import RedisOutbound
    from bot.cluster.ownership import RedisOwnership
    from bot.stores.redis_stores import RedisSessionStore
    from tests.conftest import REDIS_URL

    client = redis_asyncio.from_url(REDIS_URL)
    prefix = f"tenure:{uuid.uuid4().hex[:8]}:"
    intake = RedisIntake(client, partitions=1, prefix=prefix)
    ownership = RedisOwnership(client, worker_id="w1", partitions=1, lease_s=0.6, prefix=prefix)
    router = Router("t")
    seen: list[str] = []

    @router.fallback()
    async def answer(ctx):
        seen.append(ctx.message.id)
        if seen == ["m1"]:                      # the lease lapses mid-turn; the worker takes it again
            before = ownership.fence(0)
            await client.delete(f"{prefix}own:0")
            for _ in range(100):
                if ownership.fence(0) != before and 0 in ownership.owned():
                    break
                await asyncio.sleep(0.02)
        return Text(f"answer to {ctx.text}")

    dispatcher = Dispatcher(router=router, services=runtime.services,
                            sessions=RedisSessionStore(client, prefix=prefix), audit=runtime.audit)
    worker = TurnWorker(dispatcher=dispatcher, intake=intake, ownership=ownership,
                        messenger=OutboundMessenger(RedisOutbound(client, prefix=prefix, partitions=1),
                                                    partitions=1), consumer="w1", lease_s=0.6)
    phone = "919800000204"
    await intake.append([msg("m1", phone, "one"), msg("m2", phone, "two"), msg("m3", phone, "three")])
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(300):
            await asyncio.sleep(0.02)
            if len(seen) >= 4 and (await client.xpending(intake.stream(0), "workers"))["pending"] == 0:
                break
    finally:
        stop.set()
        await task
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    assert seen[0] == "m1" and seen[1:] == ["m1", "m2", "m3"], seen
