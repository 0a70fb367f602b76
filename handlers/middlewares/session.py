"""Load the user and their dialogue state before the handler; save the state after it."""

from __future__ import annotations

from handlers.ports import SessionStore
from handlers.session import Session
from handlers.turn import Next, Turn, TurnResult

SESSION_TTL_S = 7 * 24 * 3600


class SessionMiddleware:
    def __init__(self, *, store: SessionStore) -> None:
        self._store = store

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        key = turn.message.sender.key
        turn.user = await turn.services.users.get_or_create(turn.message.sender, now=turn.now)
        turn.tier = turn.user.tier
        session = Session.from_json(await self._store.load(key))
        if session.expired(turn.now):
            session.clear()
        turn.session = session
        result = await call_next(turn)
        if turn.session.awaiting is None and not turn.session.data:
            await self._store.delete(key)
        else:
            await self._store.save(key, turn.session.to_json(), ttl_s=SESSION_TTL_S)
        return result
