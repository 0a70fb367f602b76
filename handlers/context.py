"""The per-turn context handlers receive, and the services container the composition root fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable, Mapping, Sequence

from config.product import ProductConfig, shipped_product_config
from engine.api import OrderEngine, OrderView, Tier
from engine.clock import Clock
from handlers.messages import InboundMessage
from handlers.ports import IntentClassifier, Messenger, UserRepository
from handlers.replies import Reply
from handlers.session import Session
from handlers.users import User
from intents.types import IntentResult
from locales.catalog import Catalog, Translator

#: Work that finishes after the turn's replies went out (e.g. a ZK receipt): returns more replies.
Deferred = Callable[[], Awaitable[Sequence[Reply]]]


@dataclass(frozen=True, slots=True)
class Services:
    """Everything handlers may call, built once by the composition root (``bot/app.py``)."""

    catalog: Catalog
    clock: Clock
    users: UserRepository
    intents: IntentClassifier
    engine: OrderEngine
    receipts: Any | None = None
    alerts: Any | None = None
    messenger: Messenger | None = None
    #: ``config/*.toml``, typed and validated at start-up: read ``product.trading.confirmation.ttl_seconds``,
    #: never a mapping with a default.
    product: ProductConfig = field(default_factory=shipped_product_config)
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Effects:
    """What a turn did besides replying: orders created or changed, and deferred work."""

    orders: list[OrderView] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TurnContext:
    """One turn, as a handler sees it. ``session`` is the one mutable part: handlers update the dialogue
    state there and the session middleware saves it after the handler returns."""

    message: InboundMessage
    user: User
    lang: str
    tier: Tier
    session: Session
    match: IntentResult
    now: datetime
    t: Translator
    services: Services
    correlation_id: str
    effects: Effects = field(default_factory=Effects)
    retry: bool = False           # a worker's retry of a turn that may have run partly (see Dispatcher.handle)

    @property
    def text(self) -> str:
        return (self.message.text or "").strip()

    @property
    def payload_args(self) -> tuple[str, ...]:
        """``confirm:ORD1:n0nce`` → ``("ORD1", "n0nce")``."""
        if not self.message.payload:
            return ()
        return tuple(self.message.payload.split(":")[1:])

    def record_order(self, order: OrderView) -> None:
        self.effects.orders.append(order)

    def defer(self, job: Deferred) -> None:
        self.effects.deferred.append(job)


def for_catalog(catalog: Catalog, lang: str) -> Translator:
    return catalog.translator(lang)
