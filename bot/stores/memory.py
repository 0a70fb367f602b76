"""In-process implementations of the session, dedupe and lock ports: the embedded default."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from contextlib import asynccontextmanager
from typing import AsyncIterator


class MemorySessionStore:
    def __init__(self, *, monotonic=time.monotonic) -> None:
        self._data: dict[str, tuple[str, float]] = {}
        self._now = monotonic

    async def load(self, user_key: str) -> str | None:
        item = self._data.get(user_key)
        if item is None:
            return None
        raw, expires = item
        if self._now() >= expires:
            self._data.pop(user_key, None)
            return None
        return raw

    async def save(self, user_key: str, raw: str, *, ttl_s: int) -> None:
        self._data[user_key] = (raw, self._now() + ttl_s)

    async def delete(self, user_key: str) -> None:
        self._data.pop(user_key, None)


class MemoryDedupeStore:
    """First-seen set with expiry; pruned lazily so memory stays bounded by the TTL window."""

    def __init__(self, *, monotonic=time.monotonic) -> None:
        self._seen: dict[str, float] = {}
        self._now = monotonic
        self._next_prune = 0.0

    async def first_seen(self, key: str, *, ttl_s: int) -> bool:
        now = self._now()
        if now >= self._next_prune:
            self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
            self._next_prune = now + 60
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            return False
        self._seen[key] = now + ttl_s
        return True


class MemoryUserLocks:
    """One FIFO asyncio lock per user, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: defaultdict[str, int] = defaultdict(int)

    @asynccontextmanager
    async def hold(self, user_key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(user_key, asyncio.Lock())
        self._users[user_key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[user_key] -= 1
            if not self._users[user_key]:
                del self._users[user_key]
                self._locks.pop(user_key, None)
