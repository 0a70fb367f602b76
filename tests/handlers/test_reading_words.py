"""The locales' words, as :func:`handlers.reading.says` finds them: the one-expression form (a trie of every
language's words) must find exactly what a search for each word in turn finds.

The texts: every word of every list alone, inside a sentence, with a plural ending, glued to letters or digits
on either side (a Latin-script word must not match inside another word) and cut short; and every line users
say in the scripted conversations, in all their languages."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from handlers.reading import says
from locales.catalog import load_catalog

CATALOG = load_catalog()
KEYS = sorted({k for table in CATALOG.texts.values() for k in table if ".words." in k or k.endswith("_kw")})
CONVERSATIONS = Path(__file__).resolve().parents[1] / "conversations"


@cache
def _reference_patterns(key: str) -> tuple[re.Pattern[str], ...]:
    """One pattern per word, as the words read: Latin-script words whole (plural endings allowed), others
    anywhere."""
    out = []
    for table in CATALOG.texts.values():
        for word in table.get(key, "").split("|"):
            w = " ".join(word.casefold().split())
            if w:
                body = re.escape(w)
                out.append(re.compile(rf"(?<![a-z0-9]){body}(?:s|es)?(?![a-z0-9])" if w.isascii() else body))
    return tuple(out)


def _reference(key: str, text: str) -> bool:
    text = " ".join(text.casefold().split())
    return any(p.search(text) for p in _reference_patterns(key))


def _said_in_conversations() -> list[str]:
    lines = []
    for path in sorted(CONVERSATIONS.glob("*.yml")):
        for step in yaml.safe_load(path.read_text(encoding="utf-8")).get("steps", []):
            if isinstance(step, dict) and isinstance(step.get("say"), str):
                lines.append(step["say"])
    return lines


def _around(word: str) -> list[str]:
    w = word.strip()
    return [w, f"please {w} now", f"{w}s", f"{w}es", f"x{w}", f"{w}x", f"9{w}", f"{w}9", f"{w[:-1]}",
            f"({w})", f"{w.upper()}!", f"  {w}   again"]


SAID = _said_in_conversations()


def test_the_conversations_give_the_comparison_real_sentences():
    assert len(SAID) > 300 and KEYS and "education.tips_kw" in KEYS


@pytest.mark.parametrize("key", KEYS)
def test_says_finds_exactly_the_words_a_search_per_word_finds(key):
    words = {w for table in CATALOG.texts.values() for w in table.get(key, "").split("|") if w.strip()}
    texts = [t for w in sorted(words) for t in _around(w)] + SAID
    found = [t for t in texts if says(CATALOG, key, t)]
    assert found == [t for t in texts if _reference(key, t)]
    # the comparison is not empty on either side: every word is found alone, and something is not found
    assert all(says(CATALOG, key, w) for w in words)
    assert len(found) < len(texts)
