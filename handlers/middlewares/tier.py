"""Tier rules live here, not in handler bodies: resolve the routes for the user's tier, and answer a LITE
user who asks for a PRO-only feature with a short explanation and an upgrade button.

The offer is a turn result like any handler's: keyed by the account (``user.key``, which for a user first
stored by phone is not the BSUID their messages now carry) and carrying the user, so the channel addresses
it exactly as it addresses every other reply. What the offer says is the feature's (``handlers/pro_only.py``),
passed in by the composition root."""

from __future__ import annotations

from collections.abc import Callable

from handlers.replies import Reply
from handlers.router import Router
from handlers.turn import Next, Turn, TurnResult, TurnStatus
from locales.catalog import Translator

#: Route key used when intent gating asks for a clarification instead of guessing.
CLARIFY = "clarify"


def routing_intent(turn: Turn) -> str | None:
    match = turn.match
    if match is None or turn.message.payload is not None:
        return None
    return CLARIFY if match.clarify else match.intent


class TierMiddleware:
    def __init__(self, *, router: Router, pro_only: Callable[[Translator, str | None], Reply]) -> None:
        self._router = router
        self._pro_only = pro_only

    async def __call__(self, turn: Turn, call_next: Next) -> TurnResult:
        payload = turn.message.payload
        resolution = self._router.resolve(
            payload_action=payload.split(":", 1)[0] if payload is not None else None,
            awaiting=turn.session.awaiting if turn.session else None,
            intent=routing_intent(turn),
            tier=turn.tier,
        )
        if resolution.tier_blocked:
            reply = self._pro_only(turn.services.catalog.translator(turn.lang), resolution.blocked_feature)
            user = turn.user
            return TurnResult(status=TurnStatus.HANDLED, user_key=user.key if user else turn.message.sender.key,
                              correlation_id=turn.correlation_id, replies=(reply,), match=turn.match,
                              lang=turn.lang, awaiting=turn.session.awaiting if turn.session else None,
                              route="tier.pro_only", user=user)
        turn.routes = resolution.routes
        return await call_next(turn)
