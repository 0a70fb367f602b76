"""The loop-lag gate: turns are let in first come, first served, never more than the limit; the limit narrows
while the loop runs late and widens again once it does not; a waiter that gives up never keeps a place."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot import metrics
from bot.loop_gate import LagGate


def test_the_limit_narrows_by_a_quarter_to_its_floor_and_widens_by_one():
    gate = LagGate(most=64, least=16, target_s=0.015)
    gate.observe(0.05)
    assert gate.limit == 48
    for _ in range(10):
        gate.observe(0.05)
    assert gate.limit == 16 and gate.narrowed == 5        # 64, 48, 36, 27, 20 → 16
    gate.observe(0.001)
    gate.observe(0.015)                       # at target is not over it
    assert gate.limit == 18
    for _ in range(100):
        gate.observe(0.0)
    assert gate.limit == 64
    assert LagGate(most=4, least=24).least == 4           # a process with few partitions
    with pytest.raises(ValueError):
        LagGate(most=0)


async def test_turns_enter_in_arrival_order_and_never_above_the_limit():
    gate = LagGate(most=8, least=2)
    gate.limit = 2
    entered: list[int] = []
    release = [asyncio.Event() for _ in range(5)]

    async def turn(i: int) -> None:
        async with gate:
            entered.append(i)
            assert gate.active <= gate.limit
            await release[i].wait()

    tasks = [asyncio.create_task(turn(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert entered == [0, 1] and gate.active == 2
    release[1].set()
    await asyncio.sleep(0.01)
    assert entered == [0, 1, 2]
    gate.observe(0.0)                          # widening lets the next waiter in at once
    await asyncio.sleep(0.01)
    assert entered == [0, 1, 2, 3] and gate.active == 3
    for r in release:
        r.set()
    await asyncio.gather(*tasks)
    assert entered == [0, 1, 2, 3, 4] and gate.active == 0


async def test_a_waiter_that_gives_up_keeps_no_place():
    gate = LagGate(most=2, least=1)
    gate.limit = 1
    hold = asyncio.Event()

    async def turn() -> None:
        async with gate:
            await hold.wait()

    first = asyncio.create_task(turn())
    waiting = asyncio.create_task(turn())
    await asyncio.sleep(0.01)
    waiting.cancel()                          # cancelled while queued
    await asyncio.gather(waiting, return_exceptions=True)
    late = asyncio.create_task(turn())
    await asyncio.sleep(0.01)
    hold.set()
    await asyncio.sleep(0)                    # the first leaves and lets the late one in ...
    assert gate.active == 1 and late in asyncio.all_tasks() and not late.done()
    late.cancel()                             # ... which is cancelled before it runs: its place is given back
    await asyncio.gather(first, late, return_exceptions=True)
    assert gate.active == 0
    async with gate:
        assert gate.active == 1


async def test_a_loop_that_runs_late_narrows_the_gate():
    gate = LagGate(most=64, least=16, target_s=0.015, every_s=0.01)
    stop = asyncio.Event()
    watching = asyncio.create_task(gate.watch(stop))
    for _ in range(3):
        await asyncio.sleep(0.012)
        time.sleep(0.04)                      # a turn's step holding the loop, as a saturated loop does
    stop.set()
    await watching
    assert gate.narrowed >= 1 and gate.limit < 64
    assert metrics.TURN_LIMIT._value.get() == gate.limit          # what /metrics shows
