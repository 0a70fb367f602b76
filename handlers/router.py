"""Handlers registered by intent, dialogue state or button payload, and by tier — never an if/else ladder.

Resolution order for a turn: a tapped payload's action, then the state the dialogue awaits, then the
intent, then fallbacks. A handler may return :data:`UNHANDLED` to let the next candidate try (an awaiting
handler that sees an unrelated question, say). When routes exist for the key but none serves the user's
tier, the turn is *tier-blocked* and one middleware answers with the upgrade offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable, Iterator, Sequence, Union

from engine.api import Tier
from handlers.replies import Outcome, Reply

if TYPE_CHECKING:
    from handlers.context import TurnContext


class _Unhandled:
    _instance: "_Unhandled | None" = None

    def __new__(cls) -> "_Unhandled":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNHANDLED"


#: Sentinel a handler returns to pass the turn on to the next candidate route.
UNHANDLED = _Unhandled()

HandlerReturn = Union[Reply, Sequence[Reply], Outcome, _Unhandled, None]
Handler = Callable[["TurnContext"], Awaitable[HandlerReturn]]
ALL_TIERS = frozenset(Tier)


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    name: str
    intents: frozenset[str] = frozenset()
    awaiting: frozenset[str] = frozenset()
    payloads: frozenset[str] = frozenset()
    tiers: frozenset[Tier] = ALL_TIERS
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class Resolution:
    routes: tuple[Route, ...]
    tier_blocked: bool = False
    blocked_feature: str | None = None


def _tiers(tier: Tier | Sequence[Tier] | None) -> frozenset[Tier]:
    if tier is None:
        return ALL_TIERS
    if isinstance(tier, Tier):
        return frozenset({tier})
    return frozenset(tier)


@dataclass
class Router:
    """A named group of routes; routers nest with :meth:`include` and are composed at the root."""

    name: str
    _routes: list[Route] = field(default_factory=list)
    _children: list["Router"] = field(default_factory=list)

    def include(self, *routers: "Router") -> "Router":
        self._children.extend(routers)
        return self

    def _add(self, handler: Handler, **spec) -> Handler:
        self._routes.append(Route(handler=handler, name=f"{self.name}.{handler.__name__}", **spec))
        return handler

    def on_intent(self, *intents: str, tier: Tier | Sequence[Tier] | None = None):
        """Handle these intents (for the given tier(s); all tiers when omitted)."""
        return lambda fn: self._add(fn, intents=frozenset(intents), tiers=_tiers(tier))

    def on_awaiting(self, *states: str, tier: Tier | Sequence[Tier] | None = None):
        """Handle a message while the dialogue awaits one of ``states`` (e.g. ``"quantity"``)."""
        return lambda fn: self._add(fn, awaiting=frozenset(states), tiers=_tiers(tier))

    def on_payload(self, *actions: str, tier: Tier | Sequence[Tier] | None = None):
        """Handle taps whose payload starts with ``action:`` (or equals ``action``)."""
        return lambda fn: self._add(fn, payloads=frozenset(actions), tiers=_tiers(tier))

    def fallback(self):
        """Handle anything nothing else took. Register last."""
        return lambda fn: self._add(fn, fallback=True)

    def routes(self) -> Iterator[Route]:
        yield from self._routes
        for child in self._children:
            yield from child.routes()

    def resolve(self, *, payload_action: str | None, awaiting: str | None, intent: str | None,
                tier: Tier) -> Resolution:
        all_routes = list(self.routes())
        ordered: list[Route] = []
        blocked: str | None = None
        for kind, key in (("payloads", payload_action), ("awaiting", awaiting), ("intents", intent)):
            if key is None:
                continue
            matching = [r for r in all_routes if key in getattr(r, kind)]
            serving = [r for r in matching if tier in r.tiers]
            if matching and not serving and kind == "payloads":
                # A tapped PRO-only button is an explicit request: offer the upgrade even mid-dialogue.
                return Resolution(routes=(), tier_blocked=True, blocked_feature=key)
            if matching and not serving and blocked is None:
                blocked = key
            ordered.extend(serving)
        if blocked is not None and not ordered:
            return Resolution(routes=(), tier_blocked=True, blocked_feature=blocked)
        ordered.extend(r for r in all_routes if r.fallback)
        return Resolution(routes=tuple(ordered))
