"""The dispatcher: feeds one inbound message through the middleware chain to the handler.

Chain, outermost first: error capture → dedupe → per-user lock → session (load; save after the handler)
→ audit (the durable inbound record, PINs withheld) → language (understand the message) → feature
middlewares (handoff, subscription, onboarding) → tier (resolve routes, PRO gate) → handler. Per-user arrival order
is kept by a :class:`UserSerializer` entered synchronously in :meth:`Dispatcher.feed`.
"""

from __future__ import annotations

import uuid
from functools import reduce
from typing import Awaitable, Callable, Sequence

from handlers.context import Services, TurnContext
from handlers.middlewares.audit import AuditRecord
from handlers.middlewares.dedupe import Dedupe
from handlers.middlewares.errors import ErrorCapture
from handlers.middlewares.language import LanguageMiddleware
from handlers.middlewares.ordering import PerUserLock, UserSerializer
from handlers.middlewares.session import SessionMiddleware
from handlers.middlewares.tier import TierMiddleware
from handlers.messages import InboundMessage
from handlers.ports import AuditLog, DedupeStore, SessionStore, UserLocks
from handlers.replies import Outcome, Reply
from handlers.router import UNHANDLED, Router
from handlers.turn import Next, Turn, TurnResult, TurnStatus

Middleware = Callable[[Turn, Next], Awaitable[TurnResult]]


def normalize(returned) -> tuple[tuple[Reply, ...], tuple]:
    """A handler may return a reply, a sequence of replies, an :class:`Outcome` or None."""
    if returned is None:
        return (), ()
    if isinstance(returned, Outcome):
        return tuple(returned.replies), tuple(returned.orders)
    if isinstance(returned, (list, tuple)):
        return tuple(returned), ()
    return (returned,), ()


async def run_handlers(turn: Turn) -> TurnResult:
    """Terminal step: try the resolved routes in order until one handles the turn."""
    assert turn.user is not None and turn.session is not None and turn.match is not None
    ctx = TurnContext(
        message=turn.message, user=turn.user, lang=turn.lang, tier=turn.tier, session=turn.session,
        match=turn.match, now=turn.now, t=turn.services.catalog.translator(turn.lang),
        services=turn.services, correlation_id=turn.correlation_id,
    )
    for route in turn.routes:
        returned = await route.handler(ctx)
        if returned is UNHANDLED:
            continue
        replies, orders = normalize(returned)
        return TurnResult(
            status=TurnStatus.HANDLED, user_key=turn.user.key, correlation_id=turn.correlation_id,
            replies=replies, match=turn.match, lang=ctx.lang, orders=tuple(ctx.effects.orders) + orders,
            awaiting=ctx.session.awaiting, deferred=tuple(ctx.effects.deferred), route=route.name,
        )
    raise LookupError("no route handled the turn: register a fallback")


class Dispatcher:
    """Owns the chain and the per-user serializer; channels call :meth:`feed`."""

    def __init__(self, *, router: Router, services: Services, sessions: SessionStore, dedupe: DedupeStore,
                 locks: UserLocks, audit: AuditLog,
                 extra_middlewares: Sequence[Middleware] = ()) -> None:
        self.router = router
        self.services = services
        self._serializer = UserSerializer()
        chain: list[Middleware] = [
            ErrorCapture(),
            Dedupe(store=dedupe),
            PerUserLock(locks=locks),
            SessionMiddleware(store=sessions),
            AuditRecord(audit=audit),
            LanguageMiddleware(),
            *extra_middlewares,
            TierMiddleware(router=router),
        ]
        self._entry: Next = reduce(lambda nxt, mw: _bind(mw, nxt), reversed(chain), run_handlers)

    def feed(self, message: InboundMessage) -> "Awaitable[TurnResult]":
        """Queue ``message`` behind the same user's earlier messages and process it (returns a task)."""
        correlation_id = uuid.uuid4().hex

        def start() -> Awaitable[TurnResult]:
            turn = Turn(message=message, correlation_id=correlation_id, services=self.services,
                        now=self.services.clock.now())
            return self._entry(turn)

        return self._serializer.submit(message.sender.key, start)

    async def handle(self, message: InboundMessage) -> TurnResult:
        return await self.feed(message)


def _bind(mw: Middleware, nxt: Next) -> Next:
    async def step(turn: Turn) -> TurnResult:
        return await mw(turn, nxt)

    return step
