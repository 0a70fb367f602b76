"""ProOffer: after a turn in which the user's order filled, the always-on PRO offer when it falls due (the
upgrade feature's rule, :func:`handlers.upgrade.pro_offer`, passed in by the composition root: the month's
Nth trade, once, under the campaigns' caps and opt-out). Fills of resting orders reach the same rule through
the upgrade module's tick hook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from engine.api import Tier
from handlers.context import Services
from handlers.replies import Reply
from handlers.turn import Next, Turn, TurnResult
from handlers.users import User

Offer = Callable[[Services, User, datetime], Awaitable[Reply | None]]


class ProOffer:
    def __init__(self, *, offer: Offer) -> None:
        self._offer = offer

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        result = await call_next(turn)
        user = result.user or turn.user
        if user is None or user.tier is Tier.PRO or not any(o.filled_quantity for o in result.orders):
            return result                # only a LITE user's fill can make the offer due
        fresh = await turn.services.users.get(user.key)
        offer = await self._offer(turn.services, fresh, turn.now) if fresh is not None else None
        return result if offer is None else replace(result, replies=(*result.replies, offer))
