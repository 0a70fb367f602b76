"""Load the user's dialogue state before the handler; commit it, with the turn's replies, after it.

The commit is the turn journal: state and "this message is done" are written together, so a turn that is
retried after a crash either finds itself done (and its recorded replies are resent, once) or runs on the
state it started from. A message already done stops here.

A question whose wait is over is dropped before the turn runs (only its state's name is kept, never its data),
and the turn's reply starts with that conversation's timeout reply: the user learns the old question lapsed,
and their message is then handled as any other ("buy 10 TCS" after a lapsed PIN prompt starts a new order).
"""

from __future__ import annotations

from dataclasses import replace

import structlog

from handlers.conversation import lapse, timeout_reply
from handlers.ports import SessionStore
from handlers.replies import Text
from handlers.session import Session
from handlers.turn import Next, Turn, TurnResult, TurnStatus

log = structlog.get_logger("gridworks.session")
SESSION_TTL_S = 7 * 24 * 3600


class SessionMiddleware:
    def __init__(self, *, store: SessionStore) -> None:
        self._store = store

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        msg = turn.message
        key = msg.sender.key
        raw, done = await self._store.load_turn(key, msg.id)
        if done is not None:
            log.info("duplicate_dropped", message_id=msg.id, correlation_id=turn.correlation_id, journal=True)
            return TurnResult(status=TurnStatus.DUPLICATE, user_key=key, correlation_id=turn.correlation_id,
                              replies=tuple(done))
        turn.user = await turn.services.users.get_or_create(msg.sender, now=turn.now)
        turn.tier = turn.user.tier
        session = Session.from_json(raw)
        lapsed = lapse(session, turn.now)
        turn.session = session
        result = await call_next(turn)
        if lapsed is not None and result.status is TurnStatus.HANDLED:
            result = self._say_lapsed(turn, result, lapsed)
        if result.status is not TurnStatus.DUPLICATE:
            state = None if session.awaiting is None and not session.data else session.to_json()
            await self._store.commit_turn(key, msg.id, state=state, ttl_s=SESSION_TTL_S, replies=result.replies,
                                          fence=turn.fence)
        return result if result.user is not None else replace(result, user=turn.user)

    @staticmethod
    def _say_lapsed(turn: Turn, result: TurnResult, state: str) -> TurnResult:
        """The lapsed conversation's timeout reply first, in the language of the turn's answer (once: not when
        the answer already starts with it)."""
        key = timeout_reply(state)
        if key is None:
            return result
        note = Text(turn.services.catalog.render(result.lang or turn.lang, key))
        if result.replies and result.replies[0] == note:
            return result
        return replace(result, replies=(note, *result.replies))
