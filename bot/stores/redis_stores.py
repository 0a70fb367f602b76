"""Redis implementation of the session store and its turn journal, for multi-process deployments."""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Sequence

from redis.asyncio import Redis

from handlers.ports import Superseded
from handlers.replies import Reply

#: How long a committed turn is remembered: long enough for any crashed worker's entry to be taken over.
JOURNAL_TTL_S = 24 * 3600


def _text(raw: bytes | str | None) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


# KEYS: session, journal entry[, fence]  ARGV: state, ttl, outcome, journal ttl, fence value, has state.
# One script, so state and journal are written together, and only while the fence (the lease) still holds.
_COMMIT = """
if KEYS[3] and redis.call('GET', KEYS[3]) ~= ARGV[5] then return 0 end
if ARGV[6] == '1' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) else redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
return 1
"""


@dataclass(frozen=True, slots=True)
class TurnCommit:
    """A turn's commit, staged: :data:`_COMMIT`'s keys (session, journal, fence or None) and arguments."""

    message_id: str
    session_key: str
    journal_key: str
    fence: tuple[str, str] | None
    state: str | None
    ttl_s: int
    outcome: str


#: Set by a cluster worker around a turn (a list): ``commit_turn`` stages its commit there instead of writing
#: it, and the worker writes it with the turn's replies and the intake acknowledgement in one atomic script
#: (:data:`bot.cluster.outbound_queue.TURN_DONE`) -- one round trip, and one step, instead of two.
STAGED_COMMIT: ContextVar[list[TurnCommit] | None] = ContextVar("gridworks_staged_commit", default=None)


def commit_args(c: TurnCommit) -> list[str | int]:
    """:data:`_COMMIT`'s ARGV for ``c`` (state, ttl, outcome, journal ttl, fence value, has state)."""
    return ["" if c.state is None else c.state, c.ttl_s, c.outcome, JOURNAL_TTL_S,
            c.fence[1] if c.fence else "", 0 if c.state is None else 1]


class RedisSessionStore:
    def __init__(self, client: Redis, *, prefix: str = "gw:") -> None:
        self._r = client
        self._p = prefix + "session:"
        self._d = prefix + "done:"
        self._commit = client.register_script(_COMMIT)

    async def load_turn(self, user_key: str, message_id: str) -> tuple[str | None, Sequence[Reply] | None]:
        raw, done = await self._r.mget(self._p + user_key, self._d + message_id)
        if done is None:
            return _text(raw), None
        from bot.cluster.reply_codec import reply_from_wire

        return _text(raw), [reply_from_wire(r) for r in json.loads(done)]

    async def commit_turn(self, user_key: str, message_id: str, *, state: str | None, ttl_s: int,
                          replies: Sequence[Reply], fence: tuple[str, str] | None = None) -> None:
        from bot.cluster.reply_codec import reply_to_wire

        outcome = json.dumps([reply_to_wire(r) for r in replies], ensure_ascii=False, separators=(",", ":"))
        commit = TurnCommit(message_id, self._p + user_key, self._d + message_id, fence, state, ttl_s,
                            outcome)
        staged = STAGED_COMMIT.get()
        if staged is not None:
            staged.append(commit)
            return
        keys = [commit.session_key, commit.journal_key] + ([fence[0]] if fence else [])
        if not await self._commit(keys=keys, args=commit_args(commit)):
            raise Superseded(message_id)

    async def load(self, user_key: str) -> str | None:
        return _text(await self._r.get(self._p + user_key))

    async def save(self, user_key: str, raw: str, *, ttl_s: int) -> None:
        await self._r.set(self._p + user_key, raw, ex=ttl_s)

    async def delete(self, user_key: str) -> None:
        await self._r.delete(self._p + user_key)
