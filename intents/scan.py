"""Find names and numbers in a tokenised message: symbols (exact, ambiguous, fuzzy), language names and
numbers (digits, number words, multipliers, with the romanized traps).

The result is a list of :class:`Span` values over rule tokens; :mod:`intents.entities` decides what each
number means, and :mod:`intents.features` masks the spans for the classifier.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace

from intents.fuzzy import FuzzyIndex
from intents.lexicon import Lexicon

_MAX_SUFFIX = 6
# The virama of each South Indian script whose names end in a bare consonant: a case ending replaces it
# ("ബാങ്ക്" + "ിന്റെ" → "ബാങ്കിന്റെ"), so a stripped stem gets it back before the lexicon lookup.
_VIRAMA = {"Mlym": "\u0d4d", "Taml": "\u0bcd", "Telu": "\u0c4d", "Knda": "\u0ccd"}
_SCRIPT_RANGES = {"Mlym": (0x0D00, 0x0D7F), "Taml": (0x0B80, 0x0BFF), "Telu": (0x0C00, 0x0C7F),
                  "Knda": (0x0C80, 0x0CFF)}


def _virama_for(stem: str) -> str | None:
    """The virama to restore after ``stem``, when it ends in a consonant of a script that needs one."""
    if not stem:
        return None
    ch = stem[-1]
    o = ord(ch)
    for script, (lo, hi) in _SCRIPT_RANGES.items():
        if lo <= o <= hi:
            return _VIRAMA[script] if unicodedata.category(ch) == "Lo" else None
    return None


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    kind: str                 # sym | amb | lang | num | ext (a company not listed on NSE)
    value: object             # symbol str, candidate tuple, language code, float, or display name
    suffix: str = ""          # a case ending that was glued to the name ("રિલાયન્સ|નો")


def _is_number_token(tok: str) -> bool:
    return tok[0].isdigit()


class Scanner:
    """Longest-match scanning over token n-grams (lexicon keys are token tuples)."""

    def __init__(self, lexicon: Lexicon, fuzzy: FuzzyIndex | None = None) -> None:
        self.lx = lexicon
        self.fuzzy = fuzzy
        self.vocabulary: frozenset[str] = fuzzy.vocabulary if fuzzy is not None else frozenset()
        self.max_len = max(1, min(lexicon.max_name_len, 6))
        self.trap = lexicon.word_set("trap_numbers")
        self.share_nouns = lexicon.word_set("share_nouns")
        self.stock_words = lexicon.word_set("stock_context")
        # Everyday words never name a company by sound ("पुराना फ्रिज", "தக்காளி"): the training vocabulary and
        # the veto and product lists.
        known = self.vocabulary | lexicon.word_set("veto_objects") | lexicon.word_set("product_words")
        self.names = replace(lexicon.names, vocabulary=known) if lexicon.names is not None else None
        self._context = False

    def _lookup(self, key: tuple[str, ...], i: int) -> Span | None:
        lx = self.lx
        end = i + len(key)
        if key in lx.symbols:
            if len(key) == 1 and key[0] in self.vocabulary and key in lx.nse_keys:
                return None    # a word the training phrases use ("pakka") is not a small company's name
            return Span(i, end, "sym", lx.symbols[key])
        if key in lx.ambiguous:
            if len(key) == 1 and key[0] in self.vocabulary and key in lx.nse_keys:
                return None
            return Span(i, end, "amb", lx.ambiguous[key])
        if key in lx.languages:
            return Span(i, end, "lang", lx.languages[key])
        if key in lx.unlisted and (self._context or key not in lx.unlisted_context):
            return Span(i, end, "ext", lx.unlisted[key])
        return None

    def _name_at(self, toks: list[str], i: int) -> Span | None:
        for size in range(min(self.max_len, len(toks) - i), 0, -1):
            key = tuple(toks[i:i + size])
            span = self._lookup(key, i)
            if span is None and not key[-1].isascii():
                # Indic case endings glue onto names ("রিলায়েন্সের", "રિલાયન્સના", "ಕನ್ನಡದಲ್ಲಿ"): strip up to
                # six trailing characters of the last word, keeping a stem of at least three (four when the
                # ending is long).
                last = key[-1]
                stem = 3 if size == 1 else 2
                for cut in range(1, min(_MAX_SUFFIX, len(last) - stem) + 1):
                    if cut > 4 and len(last) - cut < 4:
                        break
                    stem_ = last[:-cut]
                    span = self._lookup(key[:-1] + (stem_,), i)
                    if span is None and (virama := _virama_for(stem_)) is not None:
                        # "ബാങ്കിന്റെ" → "ബാങ്ക" → "ബാങ്ക്" (Malayalam/Tamil/Telugu/Kannada names).
                        span = self._lookup(key[:-1] + (stem_ + virama,), i)
                    if span is not None:
                        span = replace(span, suffix=last[-cut:])
                        break
            if span is not None:
                return span
        return None

    def _symbol_starts(self, toks: list[str], i: int) -> bool:
        if i >= len(toks):
            return False
        span = self._name_at(toks, i)
        return span is not None and span.kind in ("sym", "amb")

    def _number_word_at(self, toks: list[str], i: int) -> tuple[int, float] | None:
        for size in range(min(3, len(toks) - i), 0, -1):
            key = tuple(toks[i:i + size])
            if key in self.lx.numbers:
                return size, self.lx.numbers[key]
        return None

    def _multiplier_at(self, toks: list[str], i: int) -> tuple[int, float] | None:
        for size in range(min(2, len(toks) - i), 0, -1):
            key = tuple(toks[i:i + size])
            if key in self.lx.multipliers:
                return size, self.lx.multipliers[key]
        tok = toks[i] if i < len(toks) else ""
        if tok and not tok.isascii() and tok not in self.share_nouns:
            # "હજારના", "हजारांचे": a multiplier with a case ending glued on (a stem of three or more
            # characters, so "शेयर" never reads as "शे" + ending).
            for cut in range(1, min(4, len(tok) - 3) + 1):
                key = (tok[:-cut],)
                if key in self.lx.multipliers:
                    return 1, self.lx.multipliers[key]
        return None

    def _number_at(self, toks: list[str], i: int) -> Span | None:
        """A number starting at token i: digits or words, then multipliers ("2.5 lakh", "do hazaar paanch sau")."""
        total = 0.0
        current: float | None = None
        j = i
        words_only = True
        while j < len(toks):
            tok = toks[j]
            if _is_number_token(tok):
                if current is not None and j > i:
                    break  # two separate figures ("10 2450")
                current = float(tok)
                words_only = False
                j += 1
                continue
            # A name at j ("10 l&t", "5 nifty 50") ends the number before any multiplier reading.
            # (At j == i the caller has just found no name there: no second lookup on the hot path.)
            name = self._name_at(toks, j) if j > i else None
            if name is not None and (name.end - name.start > 1 or name.kind in ("sym", "amb")):
                break
            mult = self._multiplier_at(toks, j) if j > i else None
            if mult is not None:
                size, m = mult
                if m >= 1000:
                    total += (current if current is not None else 1.0) * m
                    current = None
                else:
                    current = (current if current is not None else 1.0) * m
                j += size
                continue
            word = self._number_word_at(toks, j)
            if word is not None:
                size, v = word
                if current is not None and not (current >= 20 and v < 10 and current % 10 == 0):
                    if j > i and total == 0 and current < 1000:
                        break
                current = (current or 0.0) + v
                j += size
                continue
            break
        if j == i:
            # A bare "sau"/"सौ"/"hundred" before a share noun or a name is a count ("सौ शेयर", "sau reliance").
            mult = self._multiplier_at(toks, i)
            if mult is None or not (100 <= mult[1] <= 1000):
                return None
            nxt = toks[i + mult[0]] if i + mult[0] < len(toks) else ""
            if nxt in self.share_nouns or self._symbol_starts(toks, i + mult[0]):
                return Span(i, i + mult[0], "num", mult[1])
            return None
        value = total + (current or 0.0)
        if words_only and j - i == 1 and toks[i] in self.trap:
            # "bech do", "kar do": a romanized trap word is a number only before a share noun or a name.
            nxt = toks[j] if j < len(toks) else ""
            if not (nxt in self.share_nouns or self._symbol_starts(toks, j)):
                return None
        return Span(i, j, "num", value)

    def _indic_name(self, toks: list[str], i: int) -> Span | None:
        """An Indic-script or spelled company name (:mod:`intents.names`)."""
        if self.names is None:
            return None
        hit = self.names.match(toks, i)
        if hit is None or (hit.kind == "ext" and not self._context and _needs_context(self.lx, hit.value)):
            return None
        return Span(hit.start, hit.end, hit.kind, hit.value)

    def scan(self, toks: list[str]) -> list[Span]:
        spans: list[Span] = []
        i = 0
        n = len(toks)
        self._context = any(t in self.stock_words for t in toks)
        while i < n:
            tok = toks[i]
            span = None
            if _is_number_token(tok):
                span = self._number_at(toks, i)
            else:
                span = self._name_at(toks, i)
                if span is not None and span.kind == "amb" and not tok.isascii():
                    # "टाटा पावर", "एच डी एफ सी": a longer spelled or phonetic name beats a shared first word.
                    longer = self._indic_name(toks, i)
                    if longer is not None and longer.end > span.end:
                        span = longer
                if span is None:
                    span = self._number_at(toks, i)
                if span is None:
                    span = self._indic_name(toks, i)
                if span is None and self.fuzzy is not None:
                    span = self.fuzzy.match(toks, i)
            if span is None:
                i += 1
                continue
            spans.append(span)
            i = span.end
        return spans


def _needs_context(lexicon: Lexicon, display: object) -> bool:
    return any(lexicon.unlisted.get(k) == display for k in lexicon.unlisted_context)
