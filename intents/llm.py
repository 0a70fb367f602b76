"""Optional LLM fallback for low-confidence messages, through the ``openai`` package.

Used only when the operator configured a key (``config.settings.LLMConfig`` is passed in by the caller;
nothing here reads the environment). The model must answer with one JSON object; anything that does not
validate against our intent/entity schema — or a timeout, or any transport error — means "no answer", and
the pipeline keeps its own result. The answer still goes through the same entity rules and gating.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Sequence

import structlog

from intents.lexicon import LANG_CODES, load_instruments
from intents.types import INTENTS, Entities

log = structlog.get_logger(__name__)

ORDER_TYPES = ("MARKET", "LIMIT", "SL", "SL-M")
PRODUCTS = ("CNC", "MIS")
MAX_CONFIDENCE = 0.95  # an LLM's own confidence is not calibrated; never let it look certain

SYSTEM_PROMPT = (
    "You classify one WhatsApp message sent to an Indian stock-trading assistant. The message may be in "
    "English, Hindi, Hinglish or another Indian language, in any script. Reply with one JSON object only: "
    '{"intent": one of ' + json.dumps(list(INTENTS)) + ', "confidence": number 0..1, "entities": {"symbol": '
    'NSE symbol or null, "quantity": integer or null, "price": rupees or null, "trigger_price": rupees or null, '
    '"order_type": "MARKET"|"LIMIT"|"SL"|"SL-M"|null, "product": "CNC"|"MIS"|null, "amount": rupees or null, '
    '"language": language code or null}}. Never guess a quantity or a price the user did not write. Anything '
    "that is not about the user's investments (food, travel, music, sharing posts, meetings) is out_of_scope."
)


@dataclass(frozen=True, slots=True)
class LLMAnswer:
    intent: str
    confidence: float
    entities: Entities


def _positive(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    if kind is int:
        return int(value) if float(value).is_integer() else None
    return int(value) if float(value).is_integer() else float(value)


def parse_answer(raw: str, *, instruments: Sequence[str]) -> LLMAnswer | None:
    """Validate the model's JSON against our schema; unknown values are dropped, a bad intent voids it."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("intent") not in INTENTS:
        return None
    conf = data.get("confidence", 0.7)
    confidence = float(conf) if isinstance(conf, (int, float)) and not isinstance(conf, bool) else 0.7
    confidence = max(0.0, min(confidence, MAX_CONFIDENCE))
    ents = data.get("entities") if isinstance(data.get("entities"), dict) else {}
    symbol = ents.get("symbol")
    entities = Entities(
        symbol=symbol if isinstance(symbol, str) and symbol in instruments else None,
        quantity=_positive(ents.get("quantity"), int),
        price=_positive(ents.get("price"), float),
        trigger_price=_positive(ents.get("trigger_price"), float),
        order_type=ents.get("order_type") if ents.get("order_type") in ORDER_TYPES else None,
        product=ents.get("product") if ents.get("product") in PRODUCTS else None,
        amount=_positive(ents.get("amount"), float),
        language=ents.get("language") if ents.get("language") in LANG_CODES else None,
    )
    return LLMAnswer(intent=data["intent"], confidence=confidence, entities=entities)


class LLMFallback:
    """Asks an OpenAI-compatible chat-completions endpoint; ``classify`` returns None on any failure."""

    def __init__(self, config: Any, *, client: Any = None) -> None:
        self.model = getattr(config, "model", "gpt-4o-mini")
        self.timeout_s = float(getattr(config, "timeout_s", 3.0))
        if client is None:
            from openai import AsyncOpenAI

            client = AsyncOpenAI(api_key=config.api_key, base_url=config.base_url, timeout=self.timeout_s,
                                 max_retries=0)
        self.client = client
        self.instruments = tuple(row["symbol"] for row in load_instruments())

    async def classify(self, text: str, *, lang: str, candidates: Sequence[str] = ()) -> LLMAnswer | None:
        hint = f"Detected language: {lang}. Likely intents: {', '.join(candidates)}." if candidates else ""
        try:
            response = await asyncio.wait_for(
                self.client.chat.completions.create(
                    model=self.model, temperature=0, max_tokens=200, response_format={"type": "json_object"},
                    messages=[{"role": "system", "content": SYSTEM_PROMPT + " " + hint},
                              {"role": "user", "content": text}]),
                timeout=self.timeout_s)
            raw = response.choices[0].message.content
        except asyncio.TimeoutError:
            log.warning("intents.llm.timeout", timeout_s=self.timeout_s)
            return None
        except Exception as exc:  # noqa: BLE001 - any client/transport failure keeps the model's result
            log.warning("intents.llm.error", error=type(exc).__name__)
            return None
        answer = parse_answer(raw or "", instruments=self.instruments)
        if answer is None:
            log.warning("intents.llm.invalid")
        return answer

    async def aclose(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            await close()
