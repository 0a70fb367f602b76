"""Typo-tolerant symbol lookup ("relaince" → RELIANCE) with a deletion index (SymSpell style).

Every name is indexed under itself and its one-character deletions; a typed word is looked up the same way
and candidates are confirmed with an optimal-string-alignment distance. Lookups cost a few dictionary
probes, so the index stays fast with thousands of names in twelve scripts. Words the training data already
uses (ordinary vocabulary) are never corrected, which keeps "share" from becoming a company.
"""

from __future__ import annotations

from typing import Iterable

from intents.lexicon import Key


def osa_distance(a: str, b: str, limit: int = 3) -> int:
    """Optimal string alignment distance (Levenshtein + adjacent transposition), capped at ``limit``."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return min(prev[len(b)], limit)


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def max_edits(word: str) -> int:
    n = len(word)
    return 0 if n < 5 else 1 if n < 8 else 2


class FuzzyIndex:
    def __init__(self, names: dict[Key, object], *, vocabulary: Iterable[str] = ()) -> None:
        """``names`` maps token tuples to a symbol (str) or candidates (tuple); one- and two-word names
        are indexed by their joined text."""
        self._index: dict[str, set[str]] = {}
        self._names: dict[str, tuple[Key, object]] = {}
        self._vocab = frozenset(vocabulary)
        for key, value in names.items():
            if len(key) > 2:
                continue
            text = " ".join(key)
            if len(text) < 5:
                continue
            self._names[text] = (key, value)
            for variant in {text} | _deletes(text):
                self._index.setdefault(variant, set()).add(text)

    @property
    def vocabulary(self) -> frozenset[str]:
        return self._vocab

    def lookup(self, text: str) -> tuple[Key, object] | None:
        limit = max_edits(text)
        if limit == 0 or text in self._vocab:
            return None
        found: set[str] = set()
        for variant in {text} | _deletes(text):
            found |= self._index.get(variant, set())
        best: tuple[int, str] | None = None
        for name in sorted(found):
            d = osa_distance(text, name, limit + 1)
            if d <= min(limit, max_edits(name)) and (best is None or d < best[0]):
                best = (d, name)
        return self._names[best[1]] if best else None

    def match(self, toks: list[str], i: int):
        from intents.scan import Span  # local: scan imports this module

        for size in (2, 1):
            if i + size > len(toks):
                continue
            words = toks[i:i + size]
            if any(w[0].isdigit() or len(w) < 2 for w in words):
                continue
            hit = self.lookup(" ".join(words))
            if hit is not None:
                _, value = hit
                kind = "sym" if isinstance(value, str) else "amb"
                return Span(i, i + size, kind, value)
        return None
