"""ReadingGate: before routing, a message is read as what it surely is, whatever the model guessed.

- A request for advice or a stop-loss (the reading feature's rule, ``handlers/reading.py``, passed in by the
  composition root). Taps are left alone.
- A PIN typed while a secret state is open (a PIN prompt) carries no entities: never echoed in the trace or
  used downstream.
- A JSON document sent to the bot is a receipt to verify (the text model sees only a caption, if any).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from handlers.conversation import secret_state
from handlers.messages import MessageKind
from handlers.security import looks_like_pin_attempt
from handlers.turn import Next, Turn, TurnResult
from intents.types import Entities, IntentResult

Reread = Callable[..., Awaitable[IntentResult]]


class ReadingGate:
    def __init__(self, *, reread: Reread) -> None:
        self._reread = reread

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        msg = turn.message
        if turn.match is not None and msg.payload is None and msg.text:
            turn.match = await self._reread(turn.services.catalog, turn.services.intents, turn.match, msg.text)
        if turn.match is not None and turn.session is not None and secret_state(turn.session.awaiting) \
                and looks_like_pin_attempt(msg.text or ""):
            turn.match = replace(turn.match, entities=Entities(), alternatives=())
        attachment = msg.attachment
        if turn.match is not None and msg.kind == MessageKind.DOCUMENT and attachment is not None and (
                (attachment.filename or "").lower().endswith(".json") or "json" in (attachment.mime_type or "")):
            turn.match = replace(turn.match, intent="verify_receipt", confidence=1.0, clarify=False,
                                 alternatives=(), source="document")
        return await call_next(turn)
