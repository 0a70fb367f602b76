"""Language knowledge merged from every ``intents/data/<L>/lexicon.yml``, ``intents/rules/common.yml``,
``intents/rules/names.yml`` and the instrument data: symbol names, number words, multipliers, language names
and romanized markers.

Company names come in two layers. The curated layer (the 50-stock master, the per-language lexicons, the
aliases of names.yml) always wins. The NSE layer adds every listed company from NSE's EQUITY_L file: its
symbol, its official name with and without generic endings ("Tata Power Company" → "tata power"), and its
first word when that word is distinctive ("mrf", "zomato"); a first word several companies share
("hindustan") is ambiguous and the bot asks back. Ordinary words (names.yml ``common_words``) never name a
company alone. Indic spellings come from :mod:`intents.names` (romanized, matched phonetically).

All keys are stored in normalised token form (tuples of rule tokens), so matching a message is a dictionary
lookup over its token n-grams — no regexes per name, whatever the number of names or scripts.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from intents.text import tokenize
from locales.catalog import LANGUAGES

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10x faster

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
RULES_DIR = PACKAGE_DIR / "rules"
INSTRUMENTS_CSV = PACKAGE_DIR.parent / "engine" / "data" / "instruments.csv"
NSE_DIR = PACKAGE_DIR.parent / "engine" / "data" / "nse"
LANG_CODES: tuple[str, ...] = LANGUAGES      # the 12 variants, one list for the product

Key = tuple[str, ...]
# Generic words that must never resolve to a company on their own (first words of long names).
_NOT_NAMES = frozenset({"the", "of", "and", "ltd", "limited", "india", "company", "industries", "bank", "&"})
# Endings an official name can lose and still name the company ("Tata Power Company Limited" → "tata power").
_GENERIC_TAIL = frozenset({"limited", "ltd", "company", "co", "corporation", "corp", "industries", "industry",
                           "india", "enterprises", "and", "&", "of", "the", "inc", "plc", "-", "re"})
_MAX_SHARED_FIRST_WORD = 8


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
    unlisted: Mapping[Key, str] = field(default_factory=dict)           # not on NSE: name → display name
    unlisted_context: frozenset[Key] = frozenset()                      # … that need a stock word nearby
    company_names: Mapping[str, str] = field(default_factory=dict)      # symbol → official name
    popular: frozenset[str] = frozenset()          # curated, aliased and Nifty 500 symbols (typo-corrected)
    names: Any = None                              # intents.names.NameIndex (Indic and spelled names)
    nse_keys: frozenset[Key] = frozenset()         # names added by the NSE layer (not curated)
    alias_keys: frozenset[Key] = frozenset()       # names from names.yml aliases

    def fuzzy_names(self) -> dict[Key, object]:
        """The names typos are corrected towards: the curated names only (correcting towards 2,400 companies
        and their brand names turns ordinary words into companies: "tomato" → zomato, "smart" → dmart)."""
        return {k: v for k, v in (*self.symbols.items(), *self.ambiguous.items())
                if k not in self.nse_keys and k not in self.alias_keys}

    def word_set(self, name: str) -> frozenset[str]:
        return self.words.get(name, frozenset())


def newest_nse_file(prefix: str, nse_dir: Path = NSE_DIR) -> Path | None:
    files = sorted(nse_dir.glob(f"{prefix}_*.csv"))
    return files[-1] if files else None


def load_instruments(path: Path = INSTRUMENTS_CSV, *, nse_dir: Path | None = NSE_DIR) -> list[dict[str, str]]:
    """Rows ``{symbol, name, …}`` of the curated master, then every other NSE listing (a small reader of our
    own: intents/ does not depend on engine/)."""
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    equity = newest_nse_file("EQUITY_L", nse_dir) if nse_dir is not None else None
    if equity is None:
        return rows
    known = {r["symbol"] for r in rows}
    isins = {r.get("isin", "") for r in rows} - {""}
    with equity.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for raw in reader:
            if len(raw) < 7 or not raw[0].strip():
                continue
            symbol, name, isin = raw[0].strip().upper(), raw[1].strip(), raw[6].strip()
            if symbol not in known and isin not in isins:
                known.add(symbol)
                rows.append({"symbol": symbol, "name": name, "isin": isin, "nse": "1"})
    return rows


def _nifty500(nse_dir: Path = NSE_DIR) -> set[str]:
    path = newest_nse_file("ind_nifty500list", nse_dir)
    if path is None:
        return set()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return {r["Symbol"].strip().upper() for r in csv.DictReader(fh)}


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


def official_names(name: str) -> list[Key]:
    """An NSE official name as people say it: without "Limited", and without generic endings."""
    key = [t for t in _key(name) if t not in (".", ",")]
    while key and key[0] == "the":
        key = key[1:]
    while key and key[-1] in ("limited", "ltd"):
        key = key[:-1]
    out = [tuple(key)] if key else []
    while len(key) > 1 and key[-1] in _GENERIC_TAIL:
        key = key[:-1]
        if key[-1] not in _GENERIC_TAIL:
            out.append(tuple(key))
    return out


def build_lexicon(data_dir: Path = DATA_DIR, rules_dir: Path = RULES_DIR,
                  instruments_csv: Path = INSTRUMENTS_CSV, nse_dir: Path | None = NSE_DIR) -> Lexicon:
    rules = _read_yaml(rules_dir / "common.yml")
    extra = _read_yaml(rules_dir / "names.yml")
    rows = load_instruments(instruments_csv, nse_dir=nse_dir)
    known = {r["symbol"] for r in rows}
    name_to_syms: dict[Key, set[str]] = {}

    def add_name(sym: str, name: str) -> None:
        if sym not in known:
            return
        key = _key(name)
        if key and not (len(key) == 1 and key[0] in _NOT_NAMES):
            name_to_syms.setdefault(key, set()).add(sym)

    curated_rows = [r for r in rows if not r.get("nse")]
    for sym, names in _instrument_names(curated_rows).items():
        for name in names:
            add_name(sym, name)
    alias_keys: set[Key] = set()
    for sym, names in (extra.get("aliases") or {}).items():
        for name in _names(names):
            if _key(name) not in name_to_syms:
                alias_keys.add(_key(name))
            add_name(str(sym), name)
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
    common = frozenset(str(w) for w in _names(extra.get("common_words") or []))
    before = set(symbols) | set(ambiguous)
    _add_nse_names([r for r in rows if r.get("nse")], symbols, ambiguous, common)
    nse_keys = frozenset((set(symbols) | set(ambiguous)) - before)
    unlisted: dict[Key, str] = {}
    unlisted_context: set[Key] = set()
    for display, spec in (extra.get("not_listed") or {}).items():
        spec = spec if isinstance(spec, dict) else {"names": spec}
        for name in _names(spec.get("names") or []):
            key = _key(name)
            if key and key not in symbols and key not in ambiguous:
                unlisted[key] = str(display)
                if spec.get("context"):
                    unlisted_context.add(key)
    words = {name: frozenset(t for w in _names(rules.get(name) or extra.get(name) or []) for t in [" ".join(_key(w))] if t)
             for name in ("trap_numbers", "currency", "share_nouns", "price_markers", "weak_price_markers", "trigger_markers",
                          "limit_markers", "rise_markers", "fall_markers", "amount_markers", "amount_verbs", "market_words", "intraday_words", "delivery_words", "veto_objects",
                          "foreign_services", "product_words", "stock_context")}
    max_len = max((len(k) for k in (*symbols, *ambiguous, *numbers, *multipliers, *languages)), default=1)
    from intents.names import NameIndex

    popular = {r["symbol"] for r in curated_rows} | set(extra.get("aliases") or {}) | (
        _nifty500(nse_dir) if nse_dir is not None else set())

    def sounded(key: Key, syms: object) -> bool:
        """Names matched by sound from Indic script: the curated ones, and the multi-word official names of
        popular companies (a one-word name of a small company sounds like too many ordinary words)."""
        if key not in nse_keys:
            return True
        values = syms if isinstance(syms, tuple) else (syms,)
        return len(key) > 1 and any(v in popular for v in values)

    latin = [(k, "sym", v) for k, v in symbols.items() if sounded(k, v)]
    latin += [(k, "amb", v) for k, v in ambiguous.items() if sounded(k, v)]
    names = NameIndex.build(latin + [(k, "ext", v) for k, v in unlisted.items()], popular=frozenset(popular),
                            brands=[k for k in alias_keys if len(k) == 1] + list(unlisted),
                            spelled=[(k, "sym", v) for k, v in symbols.items()]
                            + [(k, "amb", v) for k, v in ambiguous.items()])
    return Lexicon(symbols=symbols, ambiguous=ambiguous, numbers=numbers, multipliers=multipliers,
                   languages=languages, markers={k: frozenset(v) for k, v in markers.items()},
                   instruments=tuple(r["symbol"] for r in rows), words=words, max_name_len=max_len,
                   unlisted=unlisted, unlisted_context=frozenset(unlisted_context),
                   company_names={r["symbol"]: r.get("name", "") for r in rows}, popular=frozenset(popular),
                   names=names, nse_keys=nse_keys, alias_keys=frozenset(alias_keys))


def _add_nse_names(rows: list[dict[str, str]], symbols: dict[Key, str], ambiguous: dict[Key, tuple[str, ...]],
                   common: frozenset[str]) -> None:
    """The NSE layer (see the module docstring): never overrides a curated name."""
    def usable(key: Key) -> bool:
        if not key or key in symbols or key in ambiguous:
            return False
        if len(key) == 1:
            word = key[0]
            return len(word) >= 3 and word not in common and word not in _NOT_NAMES and not word.isdigit()
        return not all(t in common or t in _NOT_NAMES or t in _GENERIC_TAIL for t in key) or len(key) >= 3

    found: dict[Key, set[str]] = {}
    first: dict[Key, set[str]] = {}
    for row in rows:
        sym = row["symbol"]
        keys = {_key(sym), _key(sym.replace("-", " ")), *official_names(row.get("name", ""))}
        for key in keys:
            if usable(key):
                found.setdefault(key, set()).add(sym)
        names = official_names(row.get("name", ""))
        if names and len(names[0]) > 1:
            word = names[0][:1]
            if len(word[0]) >= 4 and word[0].isalpha() and word[0] not in common and word[0] not in _NOT_NAMES:
                first.setdefault(word, set()).add(sym)
    for key, syms in found.items():
        if len(syms) == 1:
            symbols[key] = next(iter(syms))
        else:
            ambiguous[key] = tuple(sorted(syms))
    for key, syms in first.items():
        if key in symbols or key in ambiguous or key in found:
            continue
        if len(syms) == 1:
            symbols[key] = next(iter(syms))
        elif len(syms) <= _MAX_SHARED_FIRST_WORD:
            ambiguous[key] = tuple(sorted(syms))
