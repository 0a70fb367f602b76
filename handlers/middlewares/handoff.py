"""HandoffGate: while an agent owns a conversation the bot stays quiet for that user.

The turn has already been stored by the dedupe step (the audit log is what the agent reads), so the
gate only has to stop routing: the result is ``SILENCED`` with no replies and the dialogue state untouched.
"""

from __future__ import annotations

from handlers.handoff import handoff_state
from handlers.turn import Next, Turn, TurnResult, TurnStatus


class HandoffGate:
    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        user = turn.user
        if user is not None and handoff_state(user) is not None:
            return TurnResult(status=TurnStatus.SILENCED, user_key=user.key, correlation_id=turn.correlation_id,
                              match=turn.match, lang=turn.lang,
                              awaiting=turn.session.awaiting if turn.session else None, route="handoff.silenced")
        return await call_next(turn)
