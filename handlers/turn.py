"""The mutable state a turn accumulates while passing through the middleware chain, and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Awaitable, Callable

from engine.api import OrderView, Tier
from handlers.context import Deferred, Services
from handlers.messages import InboundMessage
from handlers.replies import Reply, reply_to_trace
from handlers.session import Session
from handlers.users import User
from intents.types import IntentResult


class TurnStatus(StrEnum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"      # a redelivered message id: nothing ran
    SILENCED = "silenced"        # e.g. human handoff: stored, not answered
    ERROR = "error"              # unexpected failure: the user got an apology


@dataclass(slots=True)
class Turn:
    """Filled step by step by the middlewares; handlers see the frozen ``TurnContext`` built from it."""

    message: InboundMessage
    correlation_id: str
    services: Services
    now: datetime
    user: User | None = None
    session: Session | None = None
    match: IntentResult | None = None
    lang: str = "en"
    tier: Tier = Tier.LITE
    routes: tuple[Any, ...] = ()
    retry: bool = False            # taken over from a crashed worker: it may have run partly before
    fence: tuple[str, str] | None = None   # the partition lease the commit must still hold (cluster)


@dataclass(frozen=True, slots=True)
class TurnResult:
    status: TurnStatus
    user_key: str
    correlation_id: str
    replies: tuple[Reply, ...] = ()
    match: IntentResult | None = None
    lang: str | None = None
    orders: tuple[OrderView, ...] = ()
    awaiting: str | None = None
    deferred: tuple[Deferred, ...] = field(default=())
    route: str | None = None
    user: User | None = None        # the user the turn ran for (the channel addresses replies with it)

    def to_trace(self, *, sender: str, document_paths: dict[int, str] | None = None,
                 extra_replies: tuple[Reply, ...] = ()) -> dict[str, Any]:
        """One simulator trace line (public interface: later issues add fields, never rename)."""
        paths = document_paths or {}
        replies = self.replies + extra_replies
        match = self.match
        return {
            "from": sender,
            "intent": match.intent if match else None,
            "confidence": round(match.confidence, 4) if match else None,
            "lang": self.lang or (match.lang if match else None),
            "entities": match.entities.to_dict() if match else {},
            "replies": [reply_to_trace(r, path=paths.get(i)) for i, r in enumerate(replies)],
            "orders": [o.to_trace() for o in self.orders],
            "awaiting": self.awaiting,
            "status": self.status.value,
        }


Next = Callable[[Turn], Awaitable[TurnResult]]
