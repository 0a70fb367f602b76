"""The intent pipeline's output: one frozen value per message, consumed by the dispatcher and the trace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Exact intent names (a public interface: traces and eval files use them).
INTENTS: tuple[str, ...] = (
    "greeting", "help", "price_quote", "buy", "sell", "cancel_order", "order_status", "portfolio", "funds",
    "set_alert", "education", "upgrade", "verify_receipt", "change_language", "opt_out", "human_handoff",
    "confirm", "deny", "out_of_scope",
)
TRADE_INTENTS = frozenset({"buy", "sell"})


@dataclass(frozen=True, slots=True)
class Entities:
    """Entities found in a message. Money in rupees as given by the user (floats are fine here: the
    handler converts to paise on the tick grid before anything reaches the engine)."""

    symbol: str | None = None
    quantity: int | None = None
    price: float | None = None
    trigger_price: float | None = None
    order_type: str | None = None          # MARKET | LIMIT | SL | SL-M
    product: str | None = None             # CNC | MIS
    amount: float | None = None
    language: str | None = None
    topic: str | None = None               # education topic id, when recognised
    symbol_candidates: tuple[str, ...] = ()  # ambiguous name → ask back
    receipt: str | None = None             # receipt id for verify_receipt ("R-3FA9C2")
    unlisted: str | None = None            # a company that is not listed on NSE ("Netflix"): say so

    def to_dict(self) -> dict[str, Any]:
        """Only the entities that were found (the trace and eval shape)."""
        out: dict[str, Any] = {}
        for name in ("symbol", "quantity", "price", "trigger_price", "order_type", "product", "amount",
                     "language", "topic", "receipt", "unlisted"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.symbol_candidates:
            out["symbol_candidates"] = list(self.symbol_candidates)
        return out


@dataclass(frozen=True, slots=True)
class IntentResult:
    """What a message means. ``alternatives`` are the runner-up intents with scores, best first.

    ``clarify`` is set by confidence gating: the top two are close or the top is below threshold, so
    the bot asks "Did you mean …?" instead of guessing. ``source`` says which component decided
    (``model``, ``rules``, ``llm``).
    """

    intent: str
    confidence: float
    lang: str
    entities: Entities = field(default_factory=Entities)
    alternatives: tuple[tuple[str, float], ...] = ()
    clarify: bool = False
    source: str = "model"

    def to_trace(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "lang": self.lang,
            "entities": self.entities.to_dict(),
        }
