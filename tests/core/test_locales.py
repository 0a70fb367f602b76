"""Every key exists in all 12 languages with the same placeholders; formatting is Indian."""

from __future__ import annotations

from locales.catalog import LANGUAGES, load_catalog, placeholders
from locales.format import group_indian, rupees


def test_every_language_has_every_key_with_the_same_placeholders():
    catalog = load_catalog()
    english = catalog.texts["en"]
    problems = []
    for lang in LANGUAGES:
        table = catalog.texts.get(lang, {})
        missing = sorted(set(english) - set(table))
        extra = sorted(set(table) - set(english))
        if missing:
            problems.append(f"{lang}: missing {len(missing)} keys, e.g. {missing[:5]}")
        if extra:
            problems.append(f"{lang}: {len(extra)} keys not in en, e.g. {extra[:5]}")
        for key in set(english) & set(table):
            if placeholders(english[key]) != placeholders(table[key]):
                problems.append(f"{lang}:{key}: placeholders {sorted(placeholders(table[key]))} "
                                f"!= en {sorted(placeholders(english[key]))}")
    assert problems == []


def test_indian_number_formatting():
    assert group_indian(123456) == "1,23,456"
    assert group_indian(1234567890) == "1,23,45,67,890"
    assert rupees(12345650) == "₹1,23,456.50"
    assert rupees(-5) == "-₹0.05"
