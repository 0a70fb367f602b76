"""In-process implementations of the session store (with its turn journal) and a first-seen set: the embedded
default."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Sequence

from handlers.replies import Reply

#: Turns remembered as done (a retry in one process can only follow a failure moments before).
JOURNAL_SIZE = 100_000


class MemorySessionStore:
    def __init__(self, *, monotonic=time.monotonic) -> None:
        self._data: dict[str, tuple[str, float]] = {}
        self._done: OrderedDict[str, tuple[Reply, ...]] = OrderedDict()
        self._now = monotonic

    async def load_turn(self, user_key: str, message_id: str) -> tuple[str | None, Sequence[Reply] | None]:
        return await self.load(user_key), self._done.get(message_id)

    async def commit_turn(self, user_key: str, message_id: str, *, state: str | None, ttl_s: int,
                          replies: Sequence[Reply], fence: tuple[str, str] | None = None) -> None:
        if state is None:
            await self.delete(user_key)
        else:
            await self.save(user_key, state, ttl_s=ttl_s)
        self._done[message_id] = tuple(replies)
        if len(self._done) > JOURNAL_SIZE:
            self._done.popitem(last=False)

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
