"""Redis implementation of the session store and its turn journal, for multi-process deployments."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Sequence

from redis.asyncio import Redis

from handlers.ports import Superseded
from handlers.replies import Reply

#: How long a committed turn is remembered: long enough for any crashed worker's entry to be taken over.
JOURNAL_TTL_S = 24 * 3600


def _text(raw: bytes | str | None) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


# commit(K, A) -- K[1..3]: session, journal entry, fence (the session key when none);
# A[1..7]: state, ttl, outcome, journal ttl, fence value, has state, has fence.
# State and journal written together, and only while the fence (the lease) still holds (else false, nothing
# written). The one commit: alone here (on KEYS and ARGV), and per turn in the cluster's TURN_DONE script.
COMMIT_LUA = """
local function commit(K, A)
  if A[7] == '1' and redis.call('GET', K[3]) ~= A[5] then return false end
  if A[6] == '1' then redis.call('SET', K[1], A[1], 'EX', A[2]) else redis.call('DEL', K[1]) end
  redis.call('SET', K[2], A[3], 'EX', A[4])
  return true
end
"""
_COMMIT = COMMIT_LUA + "if commit(KEYS, ARGV) then return 1 end\nreturn -1\n"


@dataclass(frozen=True, slots=True)
class TurnCommit:
    """A turn's commit, staged: what :data:`COMMIT_LUA` writes (:func:`commit_keys`, :func:`commit_args`)."""

    message_id: str
    session_key: str
    journal_key: str
    fence: tuple[str, str] | None
    state: str | None
    ttl_s: int
    outcome: str


@dataclass(slots=True)
class TurnScope:
    """What a cluster worker tells the session store about the turn it runs (:data:`TURN_SCOPE`).

    * ``commit_turn`` stages its commit in ``staged`` instead of writing it; the worker writes it with the
      turn's replies and the intake acknowledgement in one atomic script
      (:data:`bot.cluster.outbound_queue.TURN_DONE`) -- one round trip and one step instead of two.
    * ``load_turn`` of a ``fresh`` entry (newly read, not a retry: the journal cannot hold it, and a duplicate
      is stopped by its audit row) answers from the state this worker staged under the same ``fence`` value,
      i.e. in the same tenure of the partition's lease: nobody else can have written it since. A retry, a new
      tenure or a cache miss reads Redis."""

    fence: tuple[str, str] | None
    fresh: bool
    staged: list[TurnCommit] = field(default_factory=list)


TURN_SCOPE: ContextVar[TurnScope | None] = ContextVar("gridworks_turn_scope", default=None)

#: Users whose last staged state a worker keeps (least recently used dropped first).
CACHED_SESSIONS = 100_000


def commit_keys(c: TurnCommit) -> list[str]:
    """:data:`COMMIT_LUA`'s three keys for ``c``."""
    return [c.session_key, c.journal_key, c.fence[0] if c.fence else c.session_key]


def commit_args(c: TurnCommit) -> list[str | int]:
    """:data:`COMMIT_LUA`'s seven arguments for ``c``."""
    return ["" if c.state is None else c.state, c.ttl_s, c.outcome, JOURNAL_TTL_S,
            c.fence[1] if c.fence else "", 0 if c.state is None else 1, 1 if c.fence else 0]


class RedisSessionStore:
    def __init__(self, client: Redis, *, prefix: str = "gw:") -> None:
        self._r = client
        self._p = prefix + "session:"
        self._d = prefix + "done:"
        self._commit = client.register_script(_COMMIT)
        self._cache: OrderedDict[str, tuple[str, str | None, float]] = OrderedDict()  # tenure, state, until

    async def load_turn(self, user_key: str, message_id: str) -> tuple[str | None, Sequence[Reply] | None]:
        scope = TURN_SCOPE.get()
        if scope is not None and scope.fresh and scope.fence is not None:
            hit = self._cache.get(user_key)
            if hit is not None and hit[0] == scope.fence[1] and hit[2] > time.monotonic():
                self._cache.move_to_end(user_key)
                return hit[1], None
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
        scope = TURN_SCOPE.get()
        if scope is not None:
            scope.staged.append(commit)
            if scope.fence is not None:
                self._remember(user_key, scope.fence[1], state, ttl_s)
            return
        if int(await self._commit(keys=commit_keys(commit), args=commit_args(commit))) < 0:
            raise Superseded(message_id)

    def _remember(self, user_key: str, tenure: str, state: str | None, ttl_s: int) -> None:
        """Kept a little shorter than Redis keeps it, so the cache never outlives the key."""
        self._cache[user_key] = (tenure, state, time.monotonic() + ttl_s * 0.99)
        self._cache.move_to_end(user_key)
        while len(self._cache) > CACHED_SESSIONS:
            self._cache.popitem(last=False)

    async def load(self, user_key: str) -> str | None:
        return _text(await self._r.get(self._p + user_key))

    async def save(self, user_key: str, raw: str, *, ttl_s: int) -> None:
        await self._r.set(self._p + user_key, raw, ex=ttl_s)

    async def delete(self, user_key: str) -> None:
        await self._r.delete(self._p + user_key)
