"""Compose the product: feature routers, extra middlewares and tick hooks (used by the composition root only).

Each feature module ``handlers/<name>.py`` exposes ``router``; modules that act on the passage of time
(fills of resting orders, price alerts, trial expiry) expose ``async on_tick(services, now, events)``
returning ``[(user, replies), …]`` to push.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any, Sequence

from handlers.context import Services
from handlers.replies import Reply
from handlers.router import Router
from handlers.users import User

#: Feature routers, most specific first; ``basics`` holds the fallback and therefore goes last.
FEATURES: tuple[str, ...] = (
    "onboarding", "trading", "orders", "analytics", "portfolio", "receipts", "alerts", "education",
    "language", "handoff", "optout", "upgrade", "advice", "quotes", "basics",
)

#: Modules with ``on_tick`` hooks.
TICK_HOOKS: tuple[str, ...] = ("notifications", "alerts", "upgrade")


def build_router() -> Router:
    root = Router("root")
    root.include(*(importlib.import_module(f"handlers.{name}").router for name in FEATURES))
    return root


def build_middlewares() -> list[Any]:
    """The feature middlewares inserted between the language step and the tier step, in order. Middlewares
    know only the core: each feature rule a gate applies is passed in here."""
    from handlers import handoff, onboarding, reading, service_window, upgrade
    from handlers.middlewares.handoff import HandoffGate
    from handlers.middlewares.onboarding import OnboardingGate
    from handlers.middlewares.pro_offer import ProOffer
    from handlers.middlewares.reading import ReadingGate
    from handlers.middlewares.subscription import SubscriptionCheck

    return [
        ReadingGate(reread=reading.reread),
        HandoffGate(handed_off=handoff.handoff_state),
        SubscriptionCheck(expire=upgrade.expire_if_due, touch=service_window.seen_changes),
        OnboardingGate(onboarded=onboarding.onboarded, converse=onboarding.converse),
        ProOffer(offer=upgrade.pro_offer),
    ]


async def run_tick_hooks(services: Services, now: datetime, events: Sequence[Any]
                         ) -> list[tuple[User, Sequence[Reply]]]:
    pushes: list[tuple[User, Sequence[Reply]]] = []
    for name in TICK_HOOKS:
        hook = getattr(importlib.import_module(f"handlers.{name}"), "on_tick")
        pushes.extend(await hook(services, now, events))
    return pushes
