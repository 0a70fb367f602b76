from __future__ import annotations

import asyncio

from bot.scheduler import Lane, LaneScheduler


async def test_pro_turns_start_before_waiting_lite_and_bulk_turns():
    scheduler = LaneScheduler(limit=1)
    started: list[str] = []
    gate = asyncio.Event()

    async def job(name: str):
        started.append(name)
        if name == "first":
            await gate.wait()

    first = asyncio.create_task(scheduler.run(Lane.LITE, lambda: job("first")))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(scheduler.run(lane, lambda n=name: job(n)))
               for lane, name in [(Lane.BULK, "bulk"), (Lane.LITE, "lite"), (Lane.PRO, "pro1"), (Lane.PRO, "pro2")]]
    await asyncio.sleep(0.01)
    assert scheduler.waiting == 4 and started == ["first"]
    gate.set()
    await asyncio.gather(first, *waiting)
    assert started == ["first", "pro1", "pro2", "lite", "bulk"]
    assert scheduler.running == 0


async def test_concurrency_is_bounded_and_cancellation_frees_the_slot():
    scheduler = LaneScheduler(limit=2)
    peak = 0

    async def job():
        nonlocal peak
        peak = max(peak, scheduler.running)
        await asyncio.sleep(0.005)

    blocker = asyncio.create_task(scheduler.run(Lane.LITE, lambda: asyncio.sleep(10)))
    await asyncio.sleep(0)
    await asyncio.gather(*(scheduler.run(Lane.LITE, job) for _ in range(10)))
    assert peak == 2
    blocker.cancel()
    await asyncio.gather(blocker, return_exceptions=True)
    assert scheduler.running == 0
