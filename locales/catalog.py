"""Load the locale files once and render texts with named placeholders.

Missing keys in a language fall back to English (and the parity test fails in CI); a missing
placeholder value is a programming error and raises at once rather than showing ``{qty}`` to a user.
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

LOCALES_DIR = Path(__file__).resolve().parent

#: The 12 supported language variants, in the order the language picker shows them.
LANGUAGES: tuple[str, ...] = ("en", "hi", "hi-Latn", "bn", "ta", "te", "mr", "gu", "kn", "ml", "pa", "or")
DEFAULT_LANGUAGE = "en"

_FORMATTER = string.Formatter()


def placeholders(text: str) -> frozenset[str]:
    """The named placeholders in ``text`` (``{qty}`` → ``qty``)."""
    return frozenset(name for _, name, _, _ in _FORMATTER.parse(text) if name)


def _flatten(prefix: str, table: Mapping[str, Any], out: dict[str, str]) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            _flatten(full, value, out)
        elif isinstance(value, str):
            out[full] = value
        else:
            raise ValueError(f"locale key {full!r} must be a string, got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Catalog:
    """All texts of all languages: ``texts[lang][key]``."""

    texts: Mapping[str, Mapping[str, str]]

    def has(self, lang: str, key: str) -> bool:
        return key in self.texts.get(lang, {})

    def raw(self, lang: str, key: str) -> str:
        table = self.texts.get(lang) or {}
        if key in table:
            return table[key]
        fallback = self.texts.get(DEFAULT_LANGUAGE, {})
        if key in fallback:
            return fallback[key]
        raise KeyError(f"no locale text for {key!r}")

    def render(self, lang: str, key: str, /, **params: Any) -> str:
        return self.raw(lang, key).format_map(_Strict(params, key))

    def translator(self, lang: str) -> "Translator":
        return Translator(self, lang if lang in self.texts else DEFAULT_LANGUAGE)


class _Strict(dict):
    def __init__(self, params: Mapping[str, Any], key: str) -> None:
        super().__init__(params)
        self._key = key

    def __missing__(self, name: str) -> str:
        raise KeyError(f"locale text {self._key!r} needs placeholder {name!r}")


@dataclass(frozen=True, slots=True)
class Translator:
    """A catalog bound to one language: ``t("core.greeting", name=...)``."""

    catalog: Catalog
    lang: str

    def __call__(self, key: str, /, **params: Any) -> str:
        return self.catalog.render(self.lang, key, **params)

    def has(self, key: str) -> bool:
        return self.catalog.has(self.lang, key) or self.catalog.has(DEFAULT_LANGUAGE, key)


def load_dir(root: Path) -> Catalog:
    texts: dict[str, dict[str, str]] = {}
    for lang_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        table: dict[str, str] = {}
        for path in sorted(lang_dir.glob("*.toml")):
            with path.open("rb") as fh:
                data = tomllib.load(fh)
            _flatten(path.stem, data, table)
        texts[lang_dir.name] = table
    return Catalog(texts)


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """The shipped catalog (cached: it is read once per process)."""
    return load_dir(LOCALES_DIR)
