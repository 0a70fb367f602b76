"""HandoffGate: while an agent owns a conversation the bot stays quiet for that user.

The turn has already been stored by the dedupe step (the audit log is what the agent reads), so the
gate only has to stop routing: the result is ``SILENCED`` with no replies and the dialogue state untouched.
Whether an agent owns the user is the handoff feature's rule, passed in by the composition root.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers.turn import Next, Turn, TurnResult, TurnStatus
from handlers.users import User


class HandoffGate:
    def __init__(self, *, handed_off: Callable[[User], Any]) -> None:
        self._handed_off = handed_off

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        user = turn.user
        if user is not None and self._handed_off(user):
            return TurnResult(status=TurnStatus.SILENCED, user_key=user.key, correlation_id=turn.correlation_id,
                              match=turn.match, lang=turn.lang,
                              awaiting=turn.session.awaiting if turn.session else None, route="handoff.silenced")
        return await call_next(turn)
