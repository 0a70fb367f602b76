"""The Coalescer behind group commits and pipelines: concurrent callers share a batch, each gets its own
result only once its batch ran, and a failed batch fails every caller in it (and only them)."""

from __future__ import annotations

import asyncio

import pytest

from bot.batching import Coalescer


async def test_callers_arriving_while_a_batch_runs_share_the_next_one():
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def run(jobs):
        batches.append(list(jobs))
        if len(batches) == 1:
            await gate.wait()            # the first batch is slow: everyone else arrives meanwhile
        return [job * 10 for job in jobs]

    c = Coalescer(run)
    first = asyncio.create_task(c.submit(1))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(c.submit(n)) for n in range(2, 7)]
    await asyncio.sleep(0)
    assert not any(t.done() for t in [first, *rest]), "nobody returns before their batch ran"
    gate.set()
    assert await asyncio.gather(first, *rest) == [10, 20, 30, 40, 50, 60]
    assert batches == [[1], [2, 3, 4, 5, 6]]


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_runs():
    calls = 0

    async def run(jobs):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database gone")
        return list(jobs)

    c = Coalescer(run)
    with pytest.raises(ConnectionError):
        await c.submit("a")
    assert await c.submit("b") == "b"


async def test_batches_are_bounded():
    sizes: list[int] = []

    async def run(jobs):
        sizes.append(len(jobs))
        await asyncio.sleep(0)
        return list(jobs)

    c = Coalescer(run, max_batch=4)
    assert await asyncio.gather(*(c.submit(n) for n in range(10))) == list(range(10))
    assert max(sizes) <= 4 and sum(sizes) == 10


async def test_a_lingering_job_rides_the_next_batch_or_goes_alone_after_its_linger():
    batches: list[list[str]] = []

    async def run(jobs):
        batches.append(list(jobs))
        return [None] * len(jobs)

    c: Coalescer[str] = Coalescer(run)
    lingering = asyncio.create_task(c.submit("ack-1", linger_s=0.5))
    await asyncio.sleep(0.01)
    assert batches == [] and not lingering.done()          # waiting for company
    await c.submit("mark-2")                                # starts a batch: the lingering job rides it
    await asyncio.wait_for(lingering, 0.1)
    assert batches == [["ack-1", "mark-2"]]
    await asyncio.wait_for(c.submit("ack-3", linger_s=0.02), 1)   # nobody comes: it goes alone
    assert batches == [["ack-1", "mark-2"], ["ack-3"]]


async def test_a_caller_cancelled_while_waiting_leaves_its_batch_and_the_others_results_intact():
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def run(jobs):
        batches.append(list(jobs))
        await gate.wait()
        return [job * 10 for job in jobs]

    c = Coalescer(run)
    first, second = asyncio.create_task(c.submit(1)), asyncio.create_task(c.submit(2))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    gate.set()
    assert await second == 20
    with pytest.raises(asyncio.CancelledError):
        await first
    assert batches == [[1, 2]]                 # the cancelled caller's job still ran, once
    assert await c.submit(3) == 30
