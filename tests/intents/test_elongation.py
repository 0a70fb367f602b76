"""Chat elongation in Latin words ("okkk", "heyyy", "pleeease") is undone in normalisation, never inside
receipt ids or digit-bearing tokens."""

from __future__ import annotations

import pytest

from intents.pipeline import IntentPipeline
from intents.text import collapse_elongation, normalize


@pytest.mark.parametrize("raw, expected", [
    ("okkk", "okk"),
    ("heyyy", "heyy"),
    ("pleeease", "pleease"),
    ("stop losss", "stop loss"),
    ("sooo goood", "soo good"),
])
def test_runs_of_three_or_more_latin_letters_become_two(raw: str, expected: str):
    assert normalize(raw) == expected


@pytest.mark.parametrize("text", ["r-3faaa2", "R-aaab12 check", "raaabcd", "abc123ddd9", "book", "ਕੱਕਕ"])
def test_receipt_ids_digit_tokens_and_other_scripts_are_left_alone(text: str):
    assert collapse_elongation(text.lower()) == text.lower()


def test_receipt_with_repeated_hex_letters_survives(pipeline: IntentPipeline):
    result = pipeline.classify("verify receipt R-3faaa2")
    assert result.entities.receipt == "R-3faaa2"


@pytest.mark.parametrize("text, intent", [
    ("okkkk", "confirm"),
    ("heyyyy", "greeting"),
    ("pleeeease help", "help"),
])
def test_elongated_messages_classify_like_plain_ones(pipeline: IntentPipeline, text: str, intent: str):
    assert pipeline.classify(text).intent == intent
