"""Counted words by CLDR plural rules (Babel): "1 share", "10 shares"; "1 பங்கு", "10 பங்குகள்".

A counted text is a table of CLDR forms under one key (``trading.shares.one`` / ``.other``, with ``{n}``); the
form is picked by the language's own rule (Hindi and Bengali say "one" for 0 and 1, Tamil only for 1), and a
language without a separate form falls back to ``other``.
"""

from __future__ import annotations

from functools import lru_cache

from babel import Locale

from locales.catalog import Translator
from locales.format import group_indian


@lru_cache(maxsize=32)
def _locale(lang: str) -> Locale:
    return Locale.parse(lang.split("-")[0])      # hi-Latn counts like hi


def plural_form(lang: str, n: int) -> str:
    """The CLDR plural category of ``n`` in ``lang``: "one", "other" (or "zero", "two", "few", "many")."""
    return _locale(lang).plural_form(abs(n))


def counted(t: Translator, key: str, n: int, **params: object) -> str:
    """``key``'s form for ``n`` with ``{n}`` filled in Indian grouping, e.g. ``counted(t, "trading.shares", 1)``;
    a whole counted sentence takes its other ``params`` too (``counted(t, "upgrade.pay.confirm", 1, plan=…)``)."""
    form = f"{key}.{plural_form(t.lang, n)}"
    return t(form if t.has(form) else f"{key}.other", n=group_indian(int(n)), **params)
