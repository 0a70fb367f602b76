"""Tracked background tasks: the webhook acknowledges at once and works behind; shutdown drains the work."""

from __future__ import annotations

import asyncio
from typing import Awaitable

import structlog

log = structlog.get_logger("gridworks.tasks")


class TaskTracker:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Awaitable, *, name: str) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        return self.adopt(task)

    def adopt(self, task: asyncio.Task) -> asyncio.Task:
        """Track a task created elsewhere (e.g. by a per-user serializer)."""
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background_task_failed", task=task.get_name(), error=type(task.exception()).__name__)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for in-flight work (new tasks spawned meanwhile included), then cancel what is left."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._tasks:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await asyncio.wait(list(self._tasks), timeout=remaining)
        for task in list(self._tasks):
            task.cancel()
