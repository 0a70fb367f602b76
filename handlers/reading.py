"""What a message asks for beyond the model's intent, read before routing from the locales' own words.

Requests that must never depend on how sure the model was, because a wrong guess costs money or breaks a rule:
- a request for advice ("is it a good time to invest in HDFC Bank?", "which share gives profit") always gets the
  one no-advice answer (intent :data:`ADVICE`), in any language;
- a stop-loss on a holding ("set a stop loss on my infosys at 1650", "infosys pe 1650 ka stop loss laga do") is
  a SELL stop order with that trigger — never a limit sell that fills at once, never a buy;
- a change to an open order in words ("change my reliance order price to 1310") is :data:`MODIFY_ORDER`, never a
  new order; "cancel my TCS order" keeps its intent and gains the symbol.
Word lists live in ``locales/<lang>/education.toml`` (``tips_kw``) and ``locales/<lang>/trading.toml``
(``words.stop_loss``); every language's words count for every message (people mix scripts).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable

from intents.clip import clip
from intents.features import analyse
from intents.types import Entities, IntentResult
from locales.catalog import Catalog

ADVICE = "advice"
MODIFY_ORDER = "modify_order"
#: Intents a stop-loss word never turns into a stop order: a buy stays a buy (its own trigger is read by the
#: pipeline), and taps / yes / no belong to the dialogue they answer.
_KEEP = frozenset({"buy", "confirm", "deny", "set_alert", "cancel_order", "order_status"})
_CACHE: dict[tuple[str, int], tuple[Catalog, re.Pattern[str] | None]] = {}


#: Latin-script words match whole (with a plural ending), not inside another word; other scripts anywhere
_LATIN_BEFORE, _LATIN_AFTER = r"(?<![a-z0-9])", r"(?:s|es)?(?![a-z0-9])"


def _normal(word: str) -> str:
    return " ".join(word.casefold().split())


def _alternation(words: list[str]) -> str:
    """``words`` as one regular expression that branches on one character at a time (a trie), so a search
    tries each position once against a few branches rather than against every word in turn (the hundreds of
    advice words of eleven languages cost ~60 µs per message as a plain alternation, ~6 µs as a trie). It
    matches exactly the words given."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def expr(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + expr(rest) for ch, rest in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" not in node:
            return body
        return f"(?:{body})?" if len(branches) > 1 or len(branches[0]) > 1 else body + "?"

    return expr(trie)


def _patterns(catalog: Catalog, key: str) -> re.Pattern[str] | None:
    """Every language's ``key`` words as one expression (one search per message instead of one per word),
    compiled once per catalog (catalogs are immutable). None: no language has such words."""
    hit = _CACHE.get((key, id(catalog)))
    if hit is None or hit[0] is not catalog:
        words = {_normal(w) for table in catalog.texts.values() for w in table.get(key, "").split("|") if w.strip()}
        latin = sorted(w for w in words if w.isascii())
        other = sorted(w for w in words if not w.isascii())
        parts = ([_LATIN_BEFORE + _alternation(latin) + _LATIN_AFTER] if latin else []) \
            + ([_alternation(other)] if other else [])
        joined = re.compile("|".join(f"(?:{part})" for part in parts)) if parts else None
        hit = _CACHE[(key, id(catalog))] = (catalog, joined)
    return hit[1]


def says(catalog: Catalog, key: str, text: str) -> bool:
    """Does ``text`` hold one of the ``key`` words of any language?"""
    pattern = _patterns(catalog, key)
    return pattern is not None and pattern.search(_normal(text)) is not None


def asks_advice(catalog: Catalog, text: str) -> bool:
    return bool(text) and says(catalog, "education.tips_kw", text)


def says_stop_loss(catalog: Catalog, text: str) -> bool:
    return bool(text) and says(catalog, "trading.words.stop_loss", text)


def stop_loss_entities(entities: Entities) -> Entities | None:
    """The message's numbers as a stop order: a trigger stays the trigger (with a price it is an SL order);
    else the one price ("at 1650") is the trigger; else a lone number is. None: no number to trigger at."""
    if entities.trigger_price:
        return replace(entities, order_type="SL" if entities.price else "SL-M", amount=None)
    if entities.price:
        return replace(entities, trigger_price=entities.price, price=None, order_type="SL-M", amount=None)
    if entities.quantity and not entities.amount:
        return replace(entities, trigger_price=float(entities.quantity), quantity=None, order_type="SL-M")
    return None


def _entities_as(classifier: Any) -> Callable[..., Entities] | None:
    """The entities a message holds if it meant a given intent, read with the classifier's own scanner and
    extractor (None for a classifier without them: then the model's entities are all there is)."""
    scanner, extractor = getattr(classifier, "scanner", None), getattr(classifier, "extractor", None)
    if scanner is None or extractor is None:
        return None
    limit = getattr(classifier, "max_chars", None)

    def read(text: str, intent: str, *, lang_hint: str | None = None) -> Entities:
        a = analyse(clip(text, limit) if limit else text, scanner)
        return extractor.extract(intent, a.toks, a.spans)

    return read


async def reread(catalog: Catalog, classifier: Any, match: IntentResult, text: str) -> IntentResult:
    """``match``, or what the message surely asks for instead (advice, or a stop-loss SELL)."""
    if asks_advice(catalog, text):
        return replace(match, intent=ADVICE, confidence=1.0, clarify=False, source="rules", entities=Entities())
    as_intent = _entities_as(classifier)
    if match.intent == "cancel_order" and not match.entities.symbol and as_intent is not None:
        # "cancel my TCS order": which order (the pipeline reads no symbol for this intent).
        named = as_intent(text, "price_quote", lang_hint=match.lang)
        return replace(match, entities=replace(match.entities, symbol=named.symbol,
                                               symbol_candidates=named.symbol_candidates))
    if (match.intent not in ("confirm", "deny") and says(catalog, "trading.words.modify", text)
            and says(catalog, "trading.words.order", text)):
        # "change my reliance order price to 1310": a change to an open order, never a new one.
        entities = as_intent(text, "sell", lang_hint=match.lang) if as_intent is not None else match.entities
        return replace(match, intent=MODIFY_ORDER, confidence=1.0, clarify=False, source="rules",
                       entities=replace(entities, order_type=None))
    if match.intent in _KEEP or not says_stop_loss(catalog, text):
        return match
    entities = match.entities
    if match.intent != "sell" and as_intent is not None:
        entities = as_intent(text, "sell", lang_hint=match.lang)
    stop = stop_loss_entities(entities) if entities.symbol else None
    if stop is None:
        return match                                    # "what is a stop loss?": a lesson, not an order
    return replace(match, intent="sell", confidence=max(match.confidence, 0.9), clarify=False, source="rules",
                   entities=stop)


#: "sell all / half / a third of my …": the share of a holding, per ``trading.words.<name>`` in every language.
PARTS: tuple[tuple[str, str], ...] = (("third", "1/3"), ("half", "1/2"), ("all", "1"))


def part_said(catalog: Catalog, text: str) -> str | None:
    """"1", "1/2" or "1/3" when the message names a share of a holding instead of a count."""
    if not text:
        return None
    return next((part for name, part in PARTS if says(catalog, f"trading.words.{name}", text)), None)
