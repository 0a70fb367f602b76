"""ReadingGate: before routing, a request for advice or a stop-loss is read as what it surely is
(``handlers/reading.py``), whatever the model guessed. Taps are left alone."""

from __future__ import annotations

from handlers.reading import reread
from handlers.turn import Next, Turn, TurnResult


class ReadingGate:
    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        if turn.match is not None and turn.message.payload is None and turn.message.text:
            turn.match = await reread(turn.services.catalog, turn.services.intents, turn.match, turn.message.text)
        return await call_next(turn)
