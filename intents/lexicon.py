"""Language knowledge merged from every ``intents/data/<L>/lexicon.yml``, ``intents/rules/common.yml`` and
the instrument master: symbol names, number words, multipliers, language names and romanized markers.

All keys are stored in normalised token form (tuples of rule tokens), so matching a message is a dictionary
lookup over its token n-grams — no regexes per name, whatever the number of names or scripts.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import yaml

from intents.text import tokenize
from locales.catalog import LANGUAGES

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10x faster

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
RULES_DIR = PACKAGE_DIR / "rules"
INSTRUMENTS_CSV = PACKAGE_DIR.parent / "engine" / "data" / "instruments.csv"
LANG_CODES: tuple[str, ...] = LANGUAGES      # the 12 variants, one list for the product

Key = tuple[str, ...]
# Generic words that must never resolve to a company on their own (first words of long names).
_NOT_NAMES = frozenset({"the", "of", "and", "ltd", "limited", "india", "company", "industries", "bank", "&"})


def _key(text: str) -> Key:
    return tuple(tokenize(str(text)))


@dataclass(frozen=True, slots=True)
class Lexicon:
    symbols: Mapping[Key, str]                      # unambiguous name → symbol
    ambiguous: Mapping[Key, tuple[str, ...]]        # shared name → candidate symbols
    numbers: Mapping[Key, float]
    multipliers: Mapping[Key, float]
    languages: Mapping[Key, str]                    # language name → code
    markers: Mapping[str, frozenset[str]]           # lang code → romanized marker words
    instruments: tuple[str, ...]
    words: Mapping[str, frozenset[str]] = field(default_factory=dict)   # rule word lists by name
    max_name_len: int = 1

    def word_set(self, name: str) -> frozenset[str]:
        return self.words.get(name, frozenset())


def load_instruments(path: Path = INSTRUMENTS_CSV) -> list[dict[str, str]]:
    """Rows of the instrument master (a small reader of our own: intents/ does not depend on engine/)."""
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _read_yaml(path: Path) -> dict:
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_LOADER) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def lexicon_files(data_dir: Path = DATA_DIR) -> list[Path]:
    return sorted(data_dir.glob("*/lexicon.yml"))


def _names(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            if isinstance(v, (str, int, float)):
                yield str(v)


def _instrument_names(rows: list[dict[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in rows:
        sym = row["symbol"]
        names = {sym, sym.replace("-", " "), sym.replace("&", " and ")}
        full = row.get("name", "")
        for suffix in (" Ltd", " Limited"):
            full = full.removesuffix(suffix)
        names.add(full)
        out.setdefault(sym, set()).update(n for n in names if n)
    return out


def build_lexicon(data_dir: Path = DATA_DIR, rules_dir: Path = RULES_DIR,
                  instruments_csv: Path = INSTRUMENTS_CSV) -> Lexicon:
    rules = _read_yaml(rules_dir / "common.yml")
    rows = load_instruments(instruments_csv)
    known = {r["symbol"] for r in rows}
    name_to_syms: dict[Key, set[str]] = {}

    def add_name(sym: str, name: str) -> None:
        if sym not in known:
            return
        key = _key(name)
        if key and not (len(key) == 1 and key[0] in _NOT_NAMES):
            name_to_syms.setdefault(key, set()).add(sym)

    for sym, names in _instrument_names(rows).items():
        for name in names:
            add_name(sym, name)
    numbers: dict[Key, float] = {}
    multipliers: dict[Key, float] = {}
    languages: dict[Key, str] = {}
    markers: dict[str, set[str]] = {}

    def merge(doc: dict, lang: str | None) -> None:
        for sym, names in (doc.get("symbols") or {}).items():
            for name in _names(names):
                add_name(str(sym), name)
        for word, value in (doc.get("numbers") or {}).items():
            if isinstance(value, (int, float)) and _key(word):
                numbers.setdefault(_key(word), float(value))
        for word, value in (doc.get("multipliers") or {}).items():
            if isinstance(value, (int, float)) and _key(word):
                multipliers.setdefault(_key(word), float(value))
        for code, names in (doc.get("languages") or {}).items():
            if str(code) in LANG_CODES:
                for name in _names(names):
                    if _key(name):
                        languages.setdefault(_key(name), str(code))
        if lang:
            markers.setdefault(lang, set()).update(
                t for m in _names(doc.get("markers") or []) for t in tokenize(m))

    merge(rules, None)
    for path in lexicon_files(data_dir):
        lang = path.parent.name
        merge(_read_yaml(path), lang if lang in LANG_CODES else None)

    symbols: dict[Key, str] = {}
    ambiguous: dict[Key, tuple[str, ...]] = {}
    for key, syms in name_to_syms.items():
        if len(syms) == 1:
            symbols[key] = next(iter(syms))
        else:
            ambiguous[key] = tuple(sorted(syms))
    # A first word shared by several companies' names ("tata steel", "tata motors") is ambiguous alone.
    first_words: dict[Key, set[str]] = {}
    for key, sym in symbols.items():
        if len(key) > 1 and key[0] not in _NOT_NAMES and not key[0].isdigit():
            first_words.setdefault(key[:1], set()).add(sym)
    for key, syms in first_words.items():
        if len(syms) > 1 and key not in symbols:
            ambiguous.setdefault(key, tuple(sorted(syms)))
    for word, syms in (rules.get("ambiguous") or {}).items():
        key = _key(word)
        symbols.pop(key, None)
        ambiguous[key] = tuple(sorted(s for s in syms if s in known))
    words = {name: frozenset(t for w in _names(rules.get(name) or []) for t in [" ".join(_key(w))] if t)
             for name in ("trap_numbers", "currency", "share_nouns", "price_markers", "weak_price_markers", "trigger_markers",
                          "amount_markers", "amount_verbs", "market_words", "intraday_words", "delivery_words", "veto_objects",
                             "foreign_services", "product_words")}
    max_len = max((len(k) for k in (*symbols, *ambiguous, *numbers, *multipliers, *languages)), default=1)
    return Lexicon(symbols=symbols, ambiguous=ambiguous, numbers=numbers, multipliers=multipliers,
                   languages=languages, markers={k: frozenset(v) for k, v in markers.items()},
                   instruments=tuple(r["symbol"] for r in rows), words=words, max_name_len=max_len)
