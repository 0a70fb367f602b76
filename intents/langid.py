"""Which language variant a message is in.

The script decides first (Tamil letters are Tamil). Where several variants share a script — Devanagari
(hi, mr) and Latin (en, Hinglish, romanized Bengali/Tamil/…) — a small naive-Bayes word model trained on the
same phrases as the classifier decides, helped by each lexicon's romanized ``markers`` and by the user's
known language (``lang_hint``) when the words alone do not settle it.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

from intents.text import dominant_script

SCRIPT_LANGS: dict[str, tuple[str, ...]] = {
    "Deva": ("hi", "mr"), "Beng": ("bn",), "Guru": ("pa",), "Gujr": ("gu",), "Orya": ("or",), "Taml": ("ta",),
    "Telu": ("te",), "Knda": ("kn",), "Mlym": ("ml",),
}
_ALPHA = 0.5
_HINT_BONUS = 1.5
_MARKER_BONUS = 2.0


class LanguageIdentifier:
    def __init__(self, counts: Mapping[str, Mapping[str, int]], markers: Mapping[str, Iterable[str]]) -> None:
        """``counts[lang][word]``: word counts per language from the training phrases (placeholders removed)."""
        self.counts = {lang: dict(c) for lang, c in counts.items()}
        self.totals = {lang: sum(c.values()) for lang, c in self.counts.items()}
        vocab: set[str] = set()
        for c in self.counts.values():
            vocab.update(c)
        self.vsize = max(1, len(vocab))
        self.vocab = vocab
        self.markers = {lang: frozenset(m) for lang, m in markers.items()}
        # the word model's log-probabilities, computed once (the model is fixed once trained; scoring a message
        # then costs a lookup per word and language rather than a logarithm)
        self._logp = {lang: {w: self._log_p(n, self.totals[lang]) for w, n in c.items()}
                      for lang, c in self.counts.items()}
        self._unseen = {lang: self._log_p(0, self.totals[lang]) for lang in self.counts}
        latin = [lang for lang, c in self.counts.items()
                 if lang == "en" or lang == "hi-Latn" or any(w.isascii() and w.isalpha() for w in c)]
        self.latin_langs = tuple(sorted(set(latin) | {"en", "hi-Latn"}))

    def _log_p(self, n: int, total: int) -> float:
        return math.log((n + _ALPHA) / (total + _ALPHA * self.vsize))

    def score(self, lang: str, toks: list[str]) -> float:
        """Naive Bayes: the log-likelihood of ``toks`` under ``lang``'s word model (add-α smoothing over the whole
        vocabulary; words no language knows count for none), plus a bonus per romanized marker word."""
        logp = self._logp.get(lang, {})
        unseen = self._unseen[lang] if lang in self._unseen else self._log_p(0, 0)
        markers = self.markers.get(lang, ())
        score = 0.0
        for t in toks:
            if t in self.vocab:
                score += logp.get(t, unseen)
            if t in markers:
                score += _MARKER_BONUS
        return score

    def identify(self, text: str, toks: list[str], *, hint: str | None = None) -> str:
        script = dominant_script(text)
        if script is None:
            return hint if hint else "en"
        if script == "Latn":
            candidates = self.latin_langs
            latin_hint = "hi-Latn" if hint == "hi" else hint
        else:
            candidates = SCRIPT_LANGS.get(script, ("en",))
            latin_hint = hint
        if len(candidates) == 1:
            return candidates[0]
        words = [t for t in toks if t[0].isalpha()]
        scores = {lang: self.score(lang, words) for lang in candidates if lang in self.counts or lang == "en"}
        if not scores:
            return candidates[0]
        if latin_hint in scores:
            scores[latin_hint] += _HINT_BONUS
        elif script == "Latn":
            scores["en"] = scores.get("en", 0.0) + 0.5  # plain Latin text defaults to English
        if not any(t in self.vocab for t in words):
            return latin_hint if latin_hint in scores else candidates[0]
        return max(sorted(scores), key=lambda lang: scores[lang])
