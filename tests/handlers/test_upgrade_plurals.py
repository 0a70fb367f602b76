"""Counted days in the upgrade texts follow each language's CLDR plural rule ("in 1 day", not "in 1 days"):
the reminder a trial gets, the trial's start, the pay card and the trial row."""

from __future__ import annotations

import pytest

from locales.catalog import LANGUAGES, load_catalog
from locales.plural import counted

KEYS = ("upgrade.reminder_text", "upgrade.trial.started", "upgrade.pay.confirm", "upgrade.trial.description")
PARAMS = {"date": "26 Nov 2026", "plan": "PRO Plus", "price": "₹499"}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_english_says_one_day_and_two_days(catalog) -> None:
    t = catalog.translator("en")
    assert "(in 1 day)" in counted(t, "upgrade.reminder_text", 1, **PARAMS)
    assert "(in 2 days)" in counted(t, "upgrade.reminder_text", 2, **PARAMS)
    assert "for 1 day." in counted(t, "upgrade.pay.confirm", 1, **PARAMS)
    assert "for 30 days." in counted(t, "upgrade.pay.confirm", 30, **PARAMS)
    assert "(1 day)" in counted(t, "upgrade.trial.started", 1, **PARAMS)
    assert "for 1 day," in counted(t, "upgrade.trial.description", 1)
    for key in KEYS:
        assert "1 days" not in counted(t, key, 1, **PARAMS), key


def test_hindi_and_tamil_take_their_own_forms(catalog) -> None:
    hi = catalog.translator("hi")
    assert "(1 दिन बाकी)" in counted(hi, "upgrade.reminder_text", 1, **PARAMS)
    assert "(2 दिन बाकी)" in counted(hi, "upgrade.reminder_text", 2, **PARAMS)
    ta = catalog.translator("ta")                     # Tamil: நாள் for one, நாட்கள் for more
    assert "(இன்னும் 1 நாள்)" in counted(ta, "upgrade.reminder_text", 1, **PARAMS)
    assert "(இன்னும் 3 நாட்கள்)" in counted(ta, "upgrade.reminder_text", 3, **PARAMS)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_has_both_forms_and_fills_every_placeholder(catalog, lang: str) -> None:
    t = catalog.translator(lang)
    for key in KEYS:
        assert t.has(f"{key}.one") and t.has(f"{key}.other"), (lang, key)
        for n in (1, 2, 30):
            said = counted(t, key, n, **PARAMS)
            assert str(n) in said and "{" not in said, (lang, key, n, said)
