"""Redis implementations of the session, dedupe and lock ports, for multi-process deployments."""

from __future__ import annotations

import asyncio
import secrets
from contextlib import asynccontextmanager
from typing import AsyncIterator

from redis.asyncio import Redis

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


class RedisSessionStore:
    def __init__(self, client: Redis, *, prefix: str = "gw:") -> None:
        self._r = client
        self._p = prefix + "session:"

    async def load(self, user_key: str) -> str | None:
        raw = await self._r.get(self._p + user_key)
        return raw.decode() if isinstance(raw, bytes) else raw

    async def save(self, user_key: str, raw: str, *, ttl_s: int) -> None:
        await self._r.set(self._p + user_key, raw, ex=ttl_s)

    async def delete(self, user_key: str) -> None:
        await self._r.delete(self._p + user_key)


class RedisDedupeStore:
    def __init__(self, client: Redis, *, prefix: str = "gw:") -> None:
        self._r = client
        self._p = prefix + "seen:"

    async def first_seen(self, key: str, *, ttl_s: int) -> bool:
        return bool(await self._r.set(self._p + key, b"1", nx=True, ex=ttl_s))


class RedisUserLocks:
    """A token lock per user (SET NX PX + compare-and-delete), renewed by expiry, polled with backoff."""

    def __init__(self, client: Redis, *, prefix: str = "gw:", lease_ms: int = 30_000) -> None:
        self._r = client
        self._p = prefix + "lock:"
        self._lease = lease_ms
        self._release = client.register_script(_RELEASE)

    @asynccontextmanager
    async def hold(self, user_key: str) -> AsyncIterator[None]:
        key = self._p + user_key
        token = secrets.token_hex(8)
        delay = 0.002
        while not await self._r.set(key, token, nx=True, px=self._lease):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            await self._release(keys=[key], args=[token])
