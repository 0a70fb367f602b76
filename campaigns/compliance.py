"""SEBI: a marketing nudge never names a stock and never suggests a trade.

:func:`violations` checks a text against every instrument we list (symbol, company name, and the names people
use for it in each language, from ``intents/data/<lang>/lexicon.yml``) and against trade verbs in our 12
language variants. Campaign templates and the chat replies to their buttons are checked by a test.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

#: Verbs (and stems) that would suggest a trade, per language; matched case-insensitively.
TRADE_WORDS: tuple[str, ...] = (
    "buy", "sell", "purchase", "invest in", "accumulate", "book profit", "target price", "multibagger", "tip",
    "खरीद", "ख़रीद", "बेच", "kharid", "khareed", "bech", "निवेश करें",
    "কিনুন", "কিনে", "বিক্রি করুন", "வாங்கு", "வாங்கவும்", "விற்", "కొనండి", "కొను", "అమ్మండి", "అమ్మ",
    "खरेदी करा", "विका", "ખરીદો", "ખરીદી", "વેચો", "ಖರೀದಿಸಿ", "ಮಾರಿ", "വാങ്ങൂ", "വാങ്ങുക", "വിൽക്കൂ", "വിൽക്കുക",
    "ਖਰੀਦੋ", "ਖ਼ਰੀਦੋ", "ਵੇਚੋ", "କିଣନ୍ତୁ", "ବିକ୍ରି କରନ୍ତୁ",
)


@lru_cache(maxsize=1)
def instrument_names() -> tuple[str, ...]:
    names: set[str] = set()
    with (ROOT / "engine" / "data" / "instruments.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            names.add(row["symbol"])
            names.add(row["name"].replace(" Ltd", "").strip())
    for lexicon in sorted((ROOT / "intents" / "data").glob("*/lexicon.yml")):
        data = yaml.safe_load(lexicon.read_text(encoding="utf-8")) or {}
        for aliases in (data.get("symbols") or {}).values():
            names.update(str(a) for a in aliases or ())
    return tuple(sorted(n for n in names if len(n) >= 2))


def _found(text: str, needle: str) -> bool:
    if needle.isascii():
        return re.search(rf"(?<![A-Za-z0-9]){re.escape(needle)}(?![A-Za-z0-9])", text, re.IGNORECASE) is not None
    return needle in text


def violations(text: str) -> list[str]:
    """What in ``text`` names a stock or suggests a trade (empty: compliant)."""
    found = [f"stock: {n}" for n in instrument_names() if _found(text, n)]
    found += [f"trade word: {w}" for w in TRADE_WORDS if _found(text, w)]
    return found
