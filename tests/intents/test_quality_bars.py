"""The held-out evaluation and issue 3's quality bars, per language variant present in the data."""

from __future__ import annotations

import pytest

from intents.evaluate import default_eval_files, evaluate, load_rows
from intents.pipeline import IntentPipeline

ACCURACY_BAR = 0.95
ENTITY_BAR = 0.95


@pytest.fixture(scope="module")
def figures(pipeline: IntentPipeline) -> dict:
    rows = load_rows(default_eval_files())
    assert rows, "the held-out sets must exist"
    return evaluate(pipeline, rows)


def test_intent_accuracy_per_language(figures: dict):
    low = {lang: s["accuracy"] for lang, s in figures["per_language"].items() if s["accuracy"] < ACCURACY_BAR}
    assert not low, f"languages below {ACCURACY_BAR:.0%} intent accuracy: {low}"


def test_entity_exact_match_on_trades(figures: dict):
    assert figures["entity_exact_match"] >= ENTITY_BAR, figures["entity_field_accuracy"]
    low = {lang: s["entity_exact_match"] for lang, s in figures["per_language"].items()
           if s["entity_exact_match"] is not None and s["entity_exact_match"] < ENTITY_BAR}
    assert not low, f"languages below {ENTITY_BAR:.0%} entity exact-match: {low}"


def test_no_false_trades_on_out_of_scope(figures: dict):
    assert figures["oos_rows"] > 0
    assert figures["oos_false_trades"] == 0


def test_report_is_written(figures: dict, tmp_path):
    from intents.report import write_report

    page = write_report(figures, tmp_path)
    assert (tmp_path / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "confusion.png" in page.read_text(encoding="utf-8")


def test_held_out_rows_never_appear_in_training():
    """The held-out sets stay held out: no row of a language is also one of that language's training
    phrases (after normalisation)."""
    from intents.expand import load_phrases, train_files
    from intents.text import normalize

    phrases = {(path.parent.name, normalize(p)) for path in train_files()
               for ps in load_phrases(path).values() for p in ps}
    leaked = [(r["lang"], r["text"]) for r in load_rows(default_eval_files())
              if (r["lang"], normalize(r["text"])) in phrases]
    assert not leaked, leaked[:10]
