"""ProOffer: after a turn in which the user's order filled, the always-on PRO offer when it falls due
(:func:`handlers.upgrade.pro_offer`: the month's Nth trade, once, under the campaigns' caps and opt-out).
Fills of resting orders reach the same rule through the upgrade module's tick hook."""

from __future__ import annotations

from dataclasses import replace

from engine.api import Tier
from handlers.turn import Next, Turn, TurnResult


class ProOffer:
    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        result = await call_next(turn)
        user = result.user or turn.user
        if user is None or user.tier is Tier.PRO or not any(o.filled_quantity for o in result.orders):
            return result                # only a LITE user's fill can make the offer due
        from handlers.upgrade import pro_offer

        fresh = await turn.services.users.get(user.key)
        offer = await pro_offer(turn.services, fresh, turn.now) if fresh is not None else None
        return result if offer is None else replace(result, replies=(*result.replies, offer))
