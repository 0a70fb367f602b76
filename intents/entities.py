"""Turn scanned spans into :class:`intents.types.Entities` for an intent.

Numbers get a role from the words around them: a share noun after a number makes it the quantity, a price
marker ("@", "pe", "पर", "at") makes it the limit price, a trigger word the stop-loss trigger, a limit word the
limit price even after a trigger word ("stop loss 1400, limit 1390"), a direction word ("if it goes above 3200",
"3200 के ऊपर") the trigger when the order would chase the price (buy above, sell below) and else the limit price,
a currency mark with a possessive ("₹5000 ka TCS") the amount to invest. Nothing is ever invented: a role without evidence
and without a free number stays empty, and the handler asks for it.
"""

from __future__ import annotations

from intents.lexicon import Lexicon
from intents.scan import Span
from intents.types import Entities

_NEAR = 2


def _window(toks: list[str], start: int, end: int) -> tuple[list[str], list[str]]:
    before = toks[max(0, start - _NEAR):start]
    after = toks[end:end + _NEAR]
    return before, after


class EntityExtractor:
    def __init__(self, lexicon: Lexicon, learned: dict[str, list[str]] | None = None) -> None:
        """``learned``: marker words found next to slots in the training phrases (see
        :func:`intents.expand.slot_markers`); they extend the hand-written lists for every language."""
        self.lx = lexicon
        w = lexicon.word_set
        learned = learned or {}
        numberish = {k[0] for k in (*lexicon.numbers, *lexicon.multipliers) if len(k) == 1}

        def extra(name: str) -> frozenset[str]:
            return frozenset(t for t in learned.get(name, ()) if t not in numberish)

        self.currency = w("currency")
        self.currency_stems = tuple(c for c in self.currency if len(c) >= (2 if not c.isascii() else 4))
        self.share_nouns = w("share_nouns") | extra("share_nouns")
        self.price_markers = w("price_markers")
        self.weak_price_markers = (w("weak_price_markers") | extra("price_markers")) - self.price_markers
        self.limit_markers = w("limit_markers")
        self.rise, self.fall = w("rise_markers"), w("fall_markers")
        # A direction word is no trigger word by itself: "above 1600" is a limit for a sell (see extract).
        self.trigger_markers = ((w("trigger_markers") | extra("trigger_markers"))
                                - self.limit_markers - self.rise - self.fall)
        self.amount_markers = w("amount_markers")
        self.amount_verbs = w("amount_verbs") | extra("amount_markers")
        self.market = w("market_words")
        self.intraday = w("intraday_words")
        self.delivery = w("delivery_words")

    def _is_currency(self, tok: str) -> bool:
        return tok in self.currency or tok.startswith(self.currency_stems)

    def _after_trigger(self, toks: list[str], start: int) -> bool:
        """A trigger word right before the number ("trigger 390", "stop loss at 390", "sl @ 390")."""
        j = start
        if j > 0 and toks[j - 1] in self.limit_markers:
            return False
        if j > 0 and toks[j - 1] in self.price_markers and toks[j - 1] not in self.trigger_markers:
            j -= 1
        return j > 0 and (toks[j - 1] in self.trigger_markers or " ".join(toks[max(0, j - 2):j]) in self.trigger_markers)

    def _before_trigger(self, toks: list[str], end: int) -> bool:
        """A trigger word right after the number, maybe behind a price marker ("1400 पर स्टॉप लॉस", "1400 sl")."""
        after = toks[end:end + 3]
        if after and after[0] in self.price_markers and after[0] not in self.limit_markers:
            after = after[1:]
        return bool(after) and (after[0] in self.trigger_markers or " ".join(after[:2]) in self.trigger_markers)

    def _directed(self, toks: list[str], nums: list[Span]) -> tuple[Span, str] | None:
        """The number a direction word belongs to ("above 3200", "3200 से नीचे", "3200 పైకి వెళ్తే 5 కొను"): the
        nearest one, a word right next to it before one two words away; "rise" or "fall"."""
        best: tuple[int, int, Span, str] | None = None
        for order, span in enumerate(nums):
            for dist, k in ((1, span.start - 1), (1, span.end), (2, span.start - 2), (2, span.end + 1)):
                tok = toks[k] if 0 <= k < len(toks) else ""
                kind = "rise" if tok in self.rise else "fall" if tok in self.fall else None
                if kind and (best is None or (dist, order) < best[:2]):
                    best = (dist, order, span, kind)
        return None if best is None else (best[2], best[3])

    def _roles(self, toks: list[str], nums: list[Span]) -> dict[str, Span]:
        roles: dict[str, Span] = {}
        free: list[tuple[Span, bool, bool]] = []   # span, is_money, weak price evidence
        amount_context = any(t in self.amount_verbs for t in toks)
        directed = self._directed(toks, nums)
        for span in nums:
            value = float(span.value)
            if value < 1:
                continue  # "half", "aadha": a share of a holding, not a count or a price
            before, after = _window(toks, span.start, span.end)
            prev = before[-1] if before else ""
            after_cur = [t for t in after if not self._is_currency(t)]
            nxt = after_cur[0] if after_cur else ""
            multiplied = span.end - span.start > 1 and value >= 1000
            is_money = (self._is_currency(prev) or any(self._is_currency(t) for t in after[:1]) or multiplied
                        or prev == "worth" or (nxt in self.amount_markers and value >= 500))
            if prev in self.limit_markers:
                roles.setdefault("limit", span)
            elif self._after_trigger(toks, span.start):
                roles.setdefault("trigger_price", span)
            elif self._before_trigger(toks, span.end):
                roles.setdefault("trigger_before", span)     # "1400 sl": the trigger, unless "sl 1390" follows
            elif nxt in self.limit_markers:
                roles.setdefault("limit", span)
            elif directed is not None and span is directed[0]:
                roles.setdefault(directed[1], span)
            elif (nxt in self.share_nouns or prev in ("qty", "quantity")
                  or (len(after_cur) > 1 and after_cur[1] in self.share_nouns and not after_cur[0][0].isdigit())):
                roles.setdefault("quantity", span)
            elif prev in self.price_markers or nxt in self.price_markers:
                roles.setdefault("price", span)
            elif is_money and (nxt in self.amount_markers or prev in ("worth", "for", "of") or amount_context):
                roles.setdefault("amount", span)
            else:
                weak = prev in self.weak_price_markers or nxt in self.weak_price_markers
                free.append((span, is_money, weak))
        for span, is_money, weak in free:
            if ("quantity" not in roles and "amount" not in roles and not is_money and not weak
                    and float(span.value).is_integer()):
                roles["quantity"] = span
        if "trigger_before" in roles:
            # "at 3000 sl 2900": the number after the trigger word is the trigger, the one before it the price.
            ahead = roles.pop("trigger_before")
            roles.setdefault("price" if "trigger_price" in roles else "trigger_price", ahead)
        if "limit" in roles:
            # "stop loss at 1400 with limit 1395": the limit word names the price, the other price is the trigger.
            limit = roles.pop("limit")
            if "trigger_price" not in roles and "price" in roles and self._says_stop(toks):
                roles["trigger_price"] = roles.pop("price")
            roles["price"] = limit
        if "amount" in roles and "quantity" in roles:
            # A count and a money figure: the money is the limit price, not a value to invest.
            money = roles.pop("amount")
            roles.setdefault("price", money)
        for span, is_money, weak in free:
            if any(span is r for r in roles.values()):
                continue
            if is_money and "quantity" not in roles and "amount" not in roles and "price" not in roles:
                roles["amount"] = span
            elif "price" not in roles:
                roles["price"] = span
        return roles

    def _says_stop(self, toks: list[str]) -> bool:
        return any(t in self.trigger_markers or " ".join(toks[k:k + 2]) in self.trigger_markers
                   for k, t in enumerate(toks))

    def extract(self, intent: str, toks: list[str], spans: list[Span]) -> Entities:
        symbol = next((s.value for s in spans if s.kind == "sym"), None)
        candidates: tuple[str, ...] = ()
        if symbol is None:
            amb = next((s for s in spans if s.kind == "amb"), None)
            if amb is not None:
                candidates = tuple(amb.value)  # type: ignore[arg-type]
        language = next((s.value for s in spans if s.kind == "lang"), None)
        unlisted = None
        if symbol is None and not candidates and intent in ("price_quote", "buy", "sell", "set_alert"):
            unlisted = next((str(s.value) for s in spans if s.kind == "ext"), None)
            if unlisted is not None:
                return Entities(unlisted=unlisted)
        nums = [s for s in spans if s.kind == "num"]
        tokset = set(toks)
        if intent in ("buy", "sell"):
            roles = self._roles(toks, nums)
            # A price to cross: buying above / selling below the market is a stop, the other way a limit.
            chase, wait = ("rise", "fall") if intent == "buy" else ("fall", "rise")
            if chase in roles:
                roles.setdefault("trigger_price", roles.pop(chase))
            if wait in roles:
                roles.setdefault("price", roles.pop(wait))
            roles.pop("rise", None)
            roles.pop("fall", None)
            qty = roles.get("quantity")
            quantity = int(qty.value) if qty is not None and float(qty.value).is_integer() else None
            price = float(roles["price"].value) if "price" in roles else None
            trigger = float(roles["trigger_price"].value) if "trigger_price" in roles else None
            amount = float(roles["amount"].value) if "amount" in roles else None
            if tokset & self.market:
                price = None
            if trigger is not None:
                order_type = "SL" if price is not None else "SL-M"
            else:
                order_type = "LIMIT" if price is not None else "MARKET"
            product = "MIS" if tokset & self.intraday else "CNC" if tokset & self.delivery else None
            return Entities(symbol=symbol, quantity=quantity, price=_num(price), trigger_price=_num(trigger),
                            order_type=order_type, product=product, amount=_num(amount),
                            symbol_candidates=candidates)
        if intent == "set_alert":
            price = max((float(s.value) for s in nums), default=None)
            return Entities(symbol=symbol, price=_num(price), symbol_candidates=candidates)
        if intent == "change_language":
            return Entities(language=language)  # type: ignore[arg-type]
        if intent == "price_quote":
            return Entities(symbol=symbol, symbol_candidates=candidates)
        return Entities()


def _num(value: float | None) -> float | int | None:
    """Whole rupees as int (2450, not 2450.0) so traces and eval compare cleanly."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 2)
