"""Drop redelivered messages before anything acts on them: the fast first line.

The DedupeStore port (memory or Redis, 7-day TTL as Meta retries for up to 7 days) answers at once; the
durable record (the audit log's unique message id, which survives restarts) follows in
``handlers/middlewares/audit.py`` once the session is known, before any handler runs."""

from __future__ import annotations

import structlog

from handlers.ports import DedupeStore
from handlers.turn import Next, Turn, TurnResult, TurnStatus

log = structlog.get_logger("gridworks.dedupe")
SEVEN_DAYS = 7 * 24 * 3600


class Dedupe:
    def __init__(self, *, store: DedupeStore) -> None:
        self._store = store

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        msg = turn.message
        if not await self._store.first_seen(f"in:{msg.id}", ttl_s=SEVEN_DAYS):
            log.info("duplicate_dropped", message_id=msg.id, correlation_id=turn.correlation_id)
            return TurnResult(status=TurnStatus.DUPLICATE, user_key=msg.sender.key,
                              correlation_id=turn.correlation_id)
        return await call_next(turn)
