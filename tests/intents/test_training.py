"""Training is deterministic and offline: same data → same model → same predictions; a cached model is
reused, a changed phrase retrains."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from intents.lexicon import DATA_DIR
from intents.model import data_hash
from intents.pipeline import IntentPipeline

PROBES = ["buy 10 reliance", "what is my balance", "order a pizza", "cancel my order", "hello"]


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """The English data only: enough to train a real model in a few seconds."""
    root = tmp_path_factory.mktemp("data")
    shutil.copytree(DATA_DIR / "en", root / "en")
    return root


def _scores(pipeline: IntentPipeline) -> list[dict[str, float]]:
    return [pipeline.nlp.get_pipe("textcat")(pipeline.tokenizers.get("en")(text)).cats for text in PROBES]


def test_same_data_same_predictions(small_data: Path, tmp_path: Path):
    a = IntentPipeline.load(model_dir=tmp_path / "a", data_dir=small_data)
    b = IntentPipeline.load(model_dir=tmp_path / "b", data_dir=small_data)
    assert _scores(a) == _scores(b)
    assert [a.classify(t).intent for t in PROBES] == [b.classify(t).intent for t in PROBES]
    meta_a = json.loads((tmp_path / "a" / "meta.json").read_text(encoding="utf-8"))
    meta_b = json.loads((tmp_path / "b" / "meta.json").read_text(encoding="utf-8"))
    assert meta_a["key"] == meta_b["key"] and meta_a["memory"] == meta_b["memory"]


def test_cached_model_is_reused_and_stale_one_retrained(small_data: Path, tmp_path: Path):
    target = tmp_path / "m"
    IntentPipeline.load(model_dir=target, data_dir=small_data)
    stamp = (target / "meta.json").stat().st_mtime_ns
    IntentPipeline.load(model_dir=target, data_dir=small_data)
    assert (target / "meta.json").stat().st_mtime_ns == stamp, "an up-to-date cache must not retrain"

    before = data_hash(small_data)
    train_yml = small_data / "en" / "train.yml"
    original = train_yml.read_text(encoding="utf-8")
    try:
        train_yml.write_text(original + "\n# a comment changes the hash\n", encoding="utf-8")
        assert data_hash(small_data) != before
        IntentPipeline.load(model_dir=target, data_dir=small_data)
        meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
        assert meta["key"] == data_hash(small_data)
    finally:
        train_yml.write_text(original, encoding="utf-8")
