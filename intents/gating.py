"""Confidence gating and the safety rules that sit on top of the classifier.

The classifier proposes; these rules decide whether the bot may act on it. An order flow must never start
from a message that is not clearly a trade, so a buy/sell result needs a confident classifier *and* a
resolved symbol before ``clarify`` is False; a trade verb about everyday things ("buy milk", "order a pizza")
is vetoed outright.
"""

from __future__ import annotations

from dataclasses import dataclass

from intents.text import mentions
from intents.types import TRADE_INTENTS, Entities


VETOABLE = frozenset({"buy", "sell", "price_quote", "set_alert"})


@dataclass(frozen=True, slots=True)
class GatePolicy:
    out_of_scope_below: float = 0.5     # the open class: nothing the bot does fits well enough
    evidence_floor: float = 0.2         # the out-of-scope floor when the message names what it is about
    min_confidence: float = 0.5
    min_margin: float = 0.15
    trade_min_confidence: float = 0.75  # below this a trade is confirmed as "Did you mean …?" first
    opt_out_max_tokens: int = 4
    llm_below: float = 0.6              # aclassify asks the optional LLM below this (or when clarifying)


@dataclass(frozen=True, slots=True)
class Decision:
    intent: str
    clarify: bool
    source: str


def decide(*, intent: str, confidence: float, runner_up: float, entities: Entities, toks: list[str],
           veto_objects: frozenset[str], policy: GatePolicy = GatePolicy(), source: str = "model",
           has_language_name: bool = False, foreign: bool = False, has_topic: bool = False,
           veto_toks: list[str] | None = None) -> Decision:
    """``veto_toks``: the words outside company names ("buy 10 zomato" names ETERNAL, not food delivery);
    the pipeline passes them for price, trade and alert intents."""
    if entities.unlisted and intent in VETOABLE and confidence >= policy.out_of_scope_below:
        # "netflix share price", "buy 10 tesla": a real company, not on NSE: the quote handler says so.
        return Decision("price_quote", False, "rules")
    if foreign and intent not in ("out_of_scope", "greeting"):
        # "cancel my swiggy order", "netflix subscription band karo": another app's business.
        return Decision("out_of_scope", False, "rules")
    if intent in VETOABLE and mentions(toks if veto_toks is None else veto_toks, veto_objects):
        # "buy milk", "maruti car price", "tata sky recharge": everyday things, not securities.
        return Decision("out_of_scope", False, "rules")
    floor = policy.out_of_scope_below
    if (intent == "change_language" and has_language_name) or (intent == "education" and has_topic):
        # "ಕನ್ನಡದಲ್ಲಿ ಬರೆಯಿರಿ", "डीमैट अकाउंट क्यों चाहिए": a language name or a lesson keyword is strong evidence
        floor = policy.evidence_floor
    if intent != "out_of_scope" and confidence < floor:
        # Too unsure to name an intent: treat as out of scope, but offer the likeliest meanings.
        return Decision("out_of_scope", True, source)
    clarify = confidence < policy.min_confidence or (confidence - runner_up) < policy.min_margin
    if intent in TRADE_INTENTS:
        if entities.symbol is None or confidence < policy.trade_min_confidence:
            clarify = True
    if intent == "change_language" and not has_language_name:
        clarify = True
    if intent == "opt_out" and len(toks) > policy.opt_out_max_tokens:
        clarify = True
    return Decision(intent, clarify, source)
