"""Normalisation and numbers: every Indic digit block, grouping, currency marks, k/lakh/crore, number words."""

from __future__ import annotations

import pytest

from intents.lexicon import build_lexicon
from intents.scan import Scanner
from intents.text import ascii_digits, normalize, tokenize

DIGIT_BLOCKS = {
    "Devanagari": "०१२३४५६७८९", "Bengali": "০১২৩৪৫৬৭৮৯", "Gurmukhi": "੦੧੨੩੪੫੬੭੮੯", "Gujarati": "૦૧૨૩૪૫૬૭૮૯",
    "Odia": "୦୧୨୩୪୫୬୭୮୯", "Tamil": "௦௧௨௩௪௫௬௭௮௯", "Telugu": "౦౧౨౩౪౫౬౭౮౯", "Kannada": "೦೧೨೩೪೫೬೭೮೯",
    "Malayalam": "൦൧൨൩൪൫൬൭൮൯", "Arabic-Indic": "٠١٢٣٤٥٦٧٨٩", "Ext Arabic-Indic": "۰۱۲۳۴۵۶۷۸۹",
}


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(build_lexicon())


def numbers(scanner: Scanner, text: str) -> list[float]:
    return [s.value for s in scanner.scan(tokenize(text)) if s.kind == "num"]


@pytest.mark.parametrize("block", list(DIGIT_BLOCKS))
def test_every_digit_block_becomes_ascii(block: str):
    assert ascii_digits(DIGIT_BLOCKS[block]) == "0123456789"


@pytest.mark.parametrize("text, value", [
    ("1,23,456", 123456), ("१,२३,४५६.५०", 123456.5), ("₹2,450/-", 2450), ("Rs.2450", 2450), ("INR 5000", 5000),
    ("5k", 5000), ("2.5 lakh", 250000), ("1 crore", 10000000), ("3 cr", 30000000), ("২৪৫০", 2450),
    ("1,250", 1250), ("fifty", 50), ("twenty five", 25), ("ten thousand", 10000),
])
def test_number_forms(scanner: Scanner, text: str, value: float):
    assert numbers(scanner, text) == [value]


def test_digits_and_classifiers_split():
    assert tokenize("১০টা শেয়ার") == ["10", "টা", "শেযার"]
    assert tokenize("2450pe") == ["2450", "pe"]


def test_normalize_folds_spelling_variants():
    assert normalize("हज़ार") == normalize("हजार")
    assert normalize("TCS") == "tcs"


@pytest.mark.parametrize("text, value", [("do hazaar", 2000), ("paanch sau", 500), ("das", 10),
                                         ("दो हज़ार", 2000), ("ढाई हजार", 2500), ("सौ शेयर", 100)])
def test_hindi_number_words(scanner: Scanner, text: str, value: float):
    assert numbers(scanner, text) == [value]


def test_names_are_not_read_as_multipliers(scanner: Scanner):
    spans = scanner.scan(tokenize("10 l&t"))
    assert [(s.kind, s.value) for s in spans] == [("num", 10.0), ("sym", "LT")]
    assert [s.value for s in scanner.scan(tokenize("nifty 50"))] == ["NIFTY 50"]


@pytest.mark.parametrize("text", ["alert ITC 1e9", "buy 1e5 TCS", "sell 2.5e+3 infy", "१e९"])
def test_exponent_notation_is_no_amount(scanner: Scanner, text: str):
    """Read digit by digit, "1e9" was 1 and 9: an alert at ₹9 (found by the webhook fuzz)."""
    assert numbers(scanner, text) == []
