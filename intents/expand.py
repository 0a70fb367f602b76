"""Deterministic expansion of the hand-written training phrases in ``intents/data/<L>/train.yml``.

Slots ({sym}, {qty}, {price}, {trigger}, {amount}, {lang_name}, {receipt}) are filled from the lexicons with a
seeded generator, so the same data always yields the same training set (and the same model). Numbers are
written the ways people write them: ASCII, the language's own digits, Indian grouping, k/lakh, decimals.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10x faster

from intents.lexicon import DATA_DIR, LANG_CODES, _names, _read_yaml, lexicon_files
from intents.types import INTENTS
from locales.format import group_indian

SLOT = re.compile(r"\{(sym|qty|price|trigger|amount|lang_name|receipt)\}")
# Zero digit of each language's own script (for native-digit fillers).
_ZERO = {"hi": 0x0966, "mr": 0x0966, "bn": 0x09E6, "pa": 0x0A66, "gu": 0x0AE6, "or": 0x0B66, "ta": 0x0BE6,
         "te": 0x0C66, "kn": 0x0CE6, "ml": 0x0D66}
QTYS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 250, 500)
PRICES = (95, 172, 245.5, 288, 340, 410, 652.35, 690, 760, 880, 990, 1020, 1155, 1240, 1380, 1415, 1500, 1725,
          2050, 2440, 2450, 2800, 3125, 3900, 5500, 6900, 8950, 12100, 15600, 25900, 58000)
AMOUNTS = (500, 1000, 2000, 2500, 5000, 10000, 15000, 20000, 25000, 50000, 100000)
EXPANSIONS = 1


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    lang: str
    intent: str


def _digits(value: str, lang: str) -> str:
    zero = _ZERO.get(lang)
    if zero is None:
        return value
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in value)


def _number(value: float, lang: str, rng: random.Random, *, money: bool) -> str:
    whole = float(value).is_integer()
    text = str(int(value)) if whole else f"{value:.2f}"
    roll = rng.random()
    if money and whole and value >= 1000 and roll < 0.25:
        text = group_indian(int(value))
    elif money and whole and value >= 1000 and value % 1000 == 0 and roll < 0.4:
        text = f"{int(value) // 1000}k"
    if lang in _ZERO and rng.random() < 0.3:
        text = _digits(text, lang)
    return text


class Fillers:
    """Slot values per language: its own symbol and language names plus the shared Latin ones."""

    def __init__(self, data_dir: Path = DATA_DIR) -> None:
        self.syms: dict[str, list[str]] = {}
        self.langs: dict[str, list[str]] = {}
        shared_syms: list[str] = []
        shared_langs: list[str] = []
        for path in lexicon_files(data_dir):
            lang = path.parent.name
            doc = _read_yaml(path)
            syms = sorted({n for names in (doc.get("symbols") or {}).values() for n in _names(names)})
            langs = sorted({n for names in (doc.get("languages") or {}).values() for n in _names(names)})
            self.syms[lang] = syms
            self.langs[lang] = langs
            if lang == "en":
                shared_syms, shared_langs = syms, langs
        self.shared_syms = shared_syms or ["reliance", "tcs", "infosys", "sbi"]
        self.shared_langs = shared_langs or ["english", "hindi", "tamil"]

    def fill(self, template: str, lang: str, rng: random.Random) -> str:
        def one(m: re.Match[str]) -> str:
            slot = m.group(1)
            if slot == "sym":
                own = self.syms.get(lang) or []
                pool = own if own and (lang == "en" or rng.random() < 0.65) else self.shared_syms
                return rng.choice(pool)
            if slot == "lang_name":
                own = self.langs.get(lang) or []
                pool = own if own and rng.random() < 0.7 else self.shared_langs
                return rng.choice(pool)
            if slot == "qty":
                return _number(rng.choice(QTYS), lang, rng, money=False)
            if slot in ("price", "trigger"):
                return _number(rng.choice(PRICES), lang, rng, money=True)
            if slot == "amount":
                return _number(rng.choice(AMOUNTS), lang, rng, money=True)
            return "R-" + "".join(rng.choice("0123456789abcdef") for _ in range(6))

        return SLOT.sub(one, template)


def train_files(data_dir: Path = DATA_DIR) -> list[Path]:
    return sorted(p for p in data_dir.glob("*/train.yml") if p.parent.name in LANG_CODES)


def load_phrases(path: Path) -> dict[str, list[str]]:
    """A language's phrases by intent. A file that does not parse, or a phrase that is not text (an unquoted
    ``- {sym} …`` is a YAML mapping), fails loudly: skipping it would silently train without that language."""
    try:
        with path.open(encoding="utf-8") as fh:
            doc = yaml.load(fh, Loader=_LOADER) or {}
    except OSError:
        return {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    intents = doc.get("intents") if isinstance(doc, dict) else None
    out: dict[str, list[str]] = {}
    for intent, phrases in (intents or {}).items():
        if intent in INTENTS and isinstance(phrases, list):
            odd = [p for p in phrases if not isinstance(p, (str, int, float))]
            if odd:
                raise ValueError(f"{path}: {intent}: phrases must be text (quote a phrase that starts with "
                                 f"'{{'): {odd[0]!r}")
            out[intent] = [str(p) for p in phrases if str(p).strip()]
    return out


def expand(data_dir: Path = DATA_DIR, *, seed: int = 13, expansions: int = EXPANSIONS) -> list[Example]:
    """All training examples, in a stable order, with slots filled ``expansions`` times each."""
    fillers = Fillers(data_dir)
    out: list[Example] = []
    for path in train_files(data_dir):
        lang = path.parent.name
        rng = random.Random(f"{seed}:{lang}")
        for intent, phrases in sorted(load_phrases(path).items()):
            for phrase in phrases:
                if SLOT.search(phrase):
                    seen = set()
                    for _ in range(expansions):
                        text = fillers.fill(phrase, lang, rng)
                        if text not in seen:
                            seen.add(text)
                            out.append(Example(text, lang, intent))
                else:
                    out.append(Example(phrase, lang, intent))
    return out


# Which side of a slot a marker sits on: the word after {qty} is a share noun, the word before {trigger} a
# trigger word, and so on. Learned from the phrases themselves, so every language's postpositions and
# classifiers ("शेयर", "টা", "ભાવે", "க்கு", "ଟ୍ରିଗର") come from its own data.
_CONTEXTS = {("qty", 1): "share_nouns", ("price", -1): "price_markers", ("price", 1): "price_markers",
             ("trigger", -1): "trigger_markers", ("trigger", 1): "trigger_markers",
             ("amount", 1): "amount_markers", ("amount", -1): "currency"}


def slot_markers(data_dir: Path = DATA_DIR, *, min_count: int = 2, purity: float = 0.75) -> dict[str, list[str]]:
    """Marker words next to each slot kind in the training phrases (see ``_CONTEXTS``)."""
    from intents.text import tokenize

    counts: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for path in train_files(data_dir):
        for phrases in load_phrases(path).values():
            for phrase in phrases:
                slots: list[str] = []

                def number(m: re.Match[str]) -> str:
                    slots.append(m.group(1))
                    return f" {90001 + len(slots) - 1} "

                toks = tokenize(SLOT.sub(number, phrase))
                for i, tok in enumerate(toks):
                    if not tok.isdigit() or not tok.startswith("9000"):
                        continue
                    slot = slots[int(tok) - 90001]
                    for side in (-1, 1):
                        j = i + side
                        if 0 <= j < len(toks) and not toks[j][0].isdigit():
                            word = toks[j]
                            kind = _CONTEXTS.get((slot, side))
                            key = kind or "other"
                            counts.setdefault(word, {}).setdefault(key, 0)
                            counts[word][key] += 1
                            totals[word] = totals.get(word, 0) + 1
    out: dict[str, list[str]] = {}
    for word, by_kind in sorted(counts.items()):
        kind, n = max(by_kind.items(), key=lambda kv: (kv[1], kv[0]))
        if kind != "other" and n >= min_count and n / totals[word] >= purity:
            out.setdefault(kind, []).append(word)
    return out
