"""The dispatcher: feeds one inbound message through the middleware chain to the handler.

Chain, outermost first: error capture → session (load, and stop if this message's turn already committed;
commit state + journal after the handler) → audit (the durable inbound record, PINs withheld) → language
(understand the message) → feature middlewares (handoff, subscription, onboarding) → tier (resolve routes,
PRO gate) → handler.

The dispatcher runs one turn per call and keeps no order of its own: a user's turns must be fed one at a time,
in arrival order. The intake's partitions guarantee that for the webhook (one owner per partition, which runs
its entries in order); the console channels feed one message at a time.

This is (with ``handlers/routes.py``) the composition root of the chain: middlewares know only the core, so the
few feature rules the core steps apply (re-reading a clarified message, the PRO-only offer) are passed in here.
"""

from __future__ import annotations

import hashlib
from functools import reduce
from typing import Awaitable, Callable, Sequence

from handlers.clarification import original_words
from handlers.context import Services, TurnContext
from handlers.middlewares.audit import AuditRecord
from handlers.middlewares.errors import ErrorCapture
from handlers.middlewares.language import LanguageMiddleware
from handlers.middlewares.session import SessionMiddleware
from handlers.middlewares.tier import TierMiddleware
from handlers.messages import InboundMessage
from handlers.ports import AuditLog, SessionStore
from handlers.pro_only import pro_only_reply
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
        services=turn.services, correlation_id=turn.correlation_id, retry=turn.retry,
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
            user=ctx.user,
        )
    raise LookupError("no route handled the turn: register a fallback")


class Dispatcher:
    """Owns the middleware chain; channels call :meth:`handle`, one turn at a time per user."""

    def __init__(self, *, router: Router, services: Services, sessions: SessionStore, audit: AuditLog,
                 extra_middlewares: Sequence[Middleware] = ()) -> None:
        self.router = router
        self.services = services
        chain: list[Middleware] = [
            ErrorCapture(),
            SessionMiddleware(store=sessions),
            AuditRecord(audit=audit),
            LanguageMiddleware(clarified=original_words),
            *extra_middlewares,
            TierMiddleware(router=router, pro_only=pro_only_reply),
        ]
        self._entry: Next = reduce(lambda nxt, mw: _bind(mw, nxt), reversed(chain), run_handlers)

    async def handle(self, message: InboundMessage, *, retry: bool = False,
                     fence: tuple[str, str] | None = None) -> TurnResult:
        """Run ``message``'s turn. ``retry``: the message was taken over from a worker that crashed while
        holding it, so its inbound record may exist already (the turn journal says whether it ran).
        ``fence``: the partition lease the turn's commit must still hold (raises ``Superseded``)."""
        turn = Turn(message=message, correlation_id=correlation_id(message.id), services=self.services,
                    now=self.services.clock.now(), retry=retry, fence=fence)
        return await self._entry(turn)


def correlation_id(message_id: str) -> str:
    """A turn's correlation id, derived from its message: a retried turn (after a worker crash) shares it with
    the first attempt, so its log lines, audit rows and replies stay linked."""
    return hashlib.blake2b(message_id.encode("utf-8"), digest_size=16).hexdigest()


def _bind(mw: Middleware, nxt: Next) -> Next:
    async def step(turn: Turn) -> TurnResult:
        return await mw(turn, nxt)

    return step
