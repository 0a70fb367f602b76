"""Building the model: expand the phrases, analyse them exactly as messages are analysed at run time, train
the textcat, and store the tables the pipeline needs (fuzzy-match vocabulary, language-id word counts, an
exact-phrase memory) beside it. ``meta.json`` is written last and atomically: its presence marks a complete
model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from intents import model as M
from intents.features import analyse
from intents.fuzzy import FuzzyIndex
from intents.lexicon import DATA_DIR, build_lexicon
from intents.scan import Scanner

log = structlog.get_logger(__name__)


def word_counts(rows: list[tuple[str, list[str]]]) -> dict[str, dict[str, int]]:
    """Per-language word counts for language identification (placeholders like ``xsymx`` left out)."""
    counts: dict[str, dict[str, int]] = {}
    for lang, toks in rows:
        c = counts.setdefault(lang, {})
        for t in toks:
            if not (t.startswith("x") and t.endswith("x") and len(t) > 3):
                c[t] = c.get(t, 0) + 1
    return counts


def train(target: Path, *, data_dir: Path = DATA_DIR, config: M.TrainConfig = M.TrainConfig(),
          progress: bool = False) -> dict[str, Any]:
    """Build the model and its tables into ``target`` (atomically replaced meta.json marks it complete)."""
    from intents.expand import SLOT, load_phrases, train_files
    from intents.text import tokenize

    started = M.now()
    lexicon = build_lexicon(data_dir)
    vocab: set[str] = set()
    for path in train_files(data_dir):
        for phrases in load_phrases(path).values():
            for phrase in phrases:
                vocab.update(tokenize(SLOT.sub(" ", phrase)))
    # Curated names are not vocabulary (so a typo of one is corrected); the NSE layer's 2,400 names do not
    # take ordinary words ("share", "india") out of it.
    names = {t for key in (*lexicon.symbols, *lexicon.ambiguous) if key not in lexicon.nse_keys for t in key}
    vocabulary = sorted(vocab - names)
    scanner = Scanner(lexicon, FuzzyIndex(lexicon.fuzzy_names(), vocabulary=vocabulary))
    rows: list[tuple[str, str, str]] = []
    lang_rows: list[tuple[str, list[str]]] = []
    labels: dict[str, set[str]] = {}
    for ex in M.examples_for(data_dir):
        a = analyse(ex.text, scanner)
        if not a.toks:
            continue
        rows.append((a.masked, ex.lang, ex.intent))
        lang_rows.append((ex.lang, a.masked.split()))
        labels.setdefault(a.masked, set()).add(ex.intent)
    memory = {text: next(iter(ls)) for text, ls in labels.items() if len(ls) == 1}
    target.mkdir(parents=True, exist_ok=True)
    trained = bool(rows)
    if trained:
        nlp = M.train_textcat(rows, config, progress=progress)
        nlp.to_disk(target / "textcat")
    from intents.expand import slot_markers

    meta = {"markers": slot_markers(data_dir), "key": M.data_hash(data_dir, config), "trained": trained, "examples": len(rows),
            "config": repr(config), "vocabulary": vocabulary, "memory": memory,
            "langid": word_counts(lang_rows), "train_seconds": round(M.now() - started, 2)}
    M.save_meta(target / "meta.json", meta)
    log.info("intents.trained", examples=len(rows), seconds=meta["train_seconds"], path=str(target))
    return meta
