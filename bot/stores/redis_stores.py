"""Redis implementation of the session store and its turn journal, for multi-process deployments."""

from __future__ import annotations

import json
from typing import Sequence

from redis.asyncio import Redis

from handlers.replies import Reply

#: How long a committed turn is remembered: long enough for any crashed worker's entry to be taken over.
JOURNAL_TTL_S = 24 * 3600


def _text(raw: bytes | str | None) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


class RedisSessionStore:
    def __init__(self, client: Redis, *, prefix: str = "gw:") -> None:
        self._r = client
        self._p = prefix + "session:"
        self._d = prefix + "done:"

    async def load_turn(self, user_key: str, message_id: str) -> tuple[str | None, Sequence[Reply] | None]:
        raw, done = await self._r.mget(self._p + user_key, self._d + message_id)
        if done is None:
            return _text(raw), None
        from bot.cluster.reply_codec import reply_from_wire

        return _text(raw), [reply_from_wire(r) for r in json.loads(done)]

    async def commit_turn(self, user_key: str, message_id: str, *, state: str | None, ttl_s: int,
                          replies: Sequence[Reply]) -> None:
        from bot.cluster.reply_codec import reply_to_wire

        outcome = json.dumps([reply_to_wire(r) for r in replies], ensure_ascii=False, separators=(",", ":"))
        async with self._r.pipeline(transaction=True) as pipe:      # MULTI/EXEC: state and journal together
            if state is None:
                pipe.delete(self._p + user_key)
            else:
                pipe.set(self._p + user_key, state, ex=ttl_s)
            pipe.set(self._d + message_id, outcome, ex=JOURNAL_TTL_S)
            await pipe.execute()

    async def load(self, user_key: str) -> str | None:
        return _text(await self._r.get(self._p + user_key))

    async def save(self, user_key: str, raw: str, *, ttl_s: int) -> None:
        await self._r.set(self._p + user_key, raw, ex=ttl_s)

    async def delete(self, user_key: str) -> None:
        await self._r.delete(self._p + user_key)
