"""The durable inbound record: every message is stored before any handler acts on it, exactly once.

It runs right after the session loads, because only the dialogue knows when the user is typing a secret.
Two kinds of text are withheld from the audit log (the instruction's id, sender and time are still recorded):

- anything typed while a PIN prompt is open (choosing or entering the PIN);
- a text that *is* the user's PIN, wherever it was typed (outside the prompt, during a lockout, as an answer
  to another question). Only PIN-shaped texts (4–6 digits) are checked, against the stored scrypt hash, on a
  worker thread: the hash costs tens of milliseconds of CPU, which must not stall other users' turns.

The turn itself goes on unchanged either way, so what the user sees never depends on whether a number
matched their PIN: the bot must not become an oracle that tells someone holding the phone which number is
the PIN, without the five-attempt lockout.

A message id that is already stored is a redelivery and stops here — unless the turn is a retry of our own
(a worker took over an entry a crashed worker had read): then the row is its own, and the turn journal, not
this record, decides whether it already ran.
"""

from __future__ import annotations

from dataclasses import replace

import structlog

from engine.api import Tier
from handlers.conversation import secret_state
from handlers.ports import AuditLog
from handlers.security import PinPolicy, is_users_pin
from handlers.turn import Next, Turn, TurnResult, TurnStatus

log = structlog.get_logger("gridworks.audit")

WITHHELD = "[withheld: trading PIN]"


def secret_text(turn: Turn) -> bool:
    """A PIN prompt (a state its conversation declares secret) is open: whatever is typed now may be the PIN
    (or a near miss of it)."""
    return turn.session is not None and secret_state(turn.session.awaiting)


class AuditRecord:
    def __init__(self, *, audit: AuditLog) -> None:
        self._audit = audit

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        msg = turn.message
        stored = msg
        if msg.text and (secret_text(turn) or await self._is_pin(turn, msg.text)):
            stored = replace(msg, text=WITHHELD)
        fresh = await self._audit.record_inbound(stored, user_key=turn.user.key if turn.user else msg.sender.key,
                                                 correlation_id=turn.correlation_id,
                                                 private=turn.user is not None and turn.user.tier is Tier.PRO)
        if not fresh and not turn.retry:
            log.info("duplicate_dropped", message_id=msg.id, correlation_id=turn.correlation_id, durable=True)
            return TurnResult(status=TurnStatus.DUPLICATE, user_key=msg.sender.key,
                              correlation_id=turn.correlation_id,
                              awaiting=turn.session.awaiting if turn.session else None)
        return await call_next(turn)

    @staticmethod
    async def _is_pin(turn: Turn, text: str) -> bool:
        if turn.user is None:
            return False
        policy = PinPolicy.from_config(turn.services.product.trading.pin)
        return await is_users_pin(turn.user.profile, text, policy)
