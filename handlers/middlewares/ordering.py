"""One user's messages are handled one at a time.

Arrival order inside a process is kept by :class:`UserSerializer` (entered synchronously when a message
arrives); the UserLocks port adds mutual exclusion across processes (Redis) for multi-worker deployments."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, TypeVar

from handlers.ports import UserLocks
from handlers.turn import Next, Turn, TurnResult

T = TypeVar("T")


class UserSerializer:
    """Chains each user's jobs in call order; different users run concurrently."""

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Future] = {}

    def submit(self, key: str, job: Callable[[], Awaitable[T]]) -> "asyncio.Task[T]":
        previous = self._tails.get(key)

        async def run() -> T:
            if previous is not None:
                try:
                    await asyncio.shield(previous)
                except BaseException:  # noqa: BLE001 - the previous job's failure is not ours
                    pass
            return await job()

        task = asyncio.ensure_future(run())
        self._tails[key] = task
        task.add_done_callback(lambda t, k=key: self._tails.get(k) is t and self._tails.pop(k, None))
        return task

    @property
    def active_users(self) -> int:
        return len(self._tails)


class PerUserLock:
    def __init__(self, *, locks: UserLocks) -> None:
        self._locks = locks

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        async with self._locks.hold(turn.message.sender.key):
            return await call_next(turn)
