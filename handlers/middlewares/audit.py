"""The durable inbound record: every message is stored before any handler acts on it, exactly once.

It runs right after the session loads, because only the dialogue knows when the user is typing a secret:
while a PIN is awaited the body is withheld from the audit log (the instruction's id, sender and time are
still recorded). A message id that is already stored is a redelivery and stops here — unless the turn is a
retry of our own (a worker took over an entry a crashed worker had read): then the row is its own, and the
turn journal, not this record, decides whether it already ran.
"""

from __future__ import annotations

from dataclasses import replace

import structlog

from handlers.ports import AuditLog
from handlers.turn import Next, Turn, TurnResult, TurnStatus

log = structlog.get_logger("gridworks.audit")

#: Dialogue states in which the user's next message is a secret that must never be stored.
SECRET_STATES = frozenset({"pin", "pin_setup"})
WITHHELD = "[withheld: trading PIN]"


class AuditRecord:
    def __init__(self, *, audit: AuditLog) -> None:
        self._audit = audit

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        msg = turn.message
        stored = msg
        if turn.session is not None and turn.session.awaiting in SECRET_STATES and msg.text:
            stored = replace(msg, text=WITHHELD)
        fresh = await self._audit.record_inbound(stored, user_key=turn.user.key if turn.user else msg.sender.key,
                                                 correlation_id=turn.correlation_id)
        if not fresh and not turn.retry:
            log.info("duplicate_dropped", message_id=msg.id, correlation_id=turn.correlation_id, durable=True)
            return TurnResult(status=TurnStatus.DUPLICATE, user_key=msg.sender.key,
                              correlation_id=turn.correlation_id,
                              awaiting=turn.session.awaiting if turn.session else None)
        return await call_next(turn)
