"""Training, caching and loading of the intent classifier (a spaCy ``textcat`` the project trains itself).

The model is rebuilt deterministically from the shipped data — fixed seeds, stable example order — into a
cache directory keyed by a hash of the data, the rules and this package's code, so a changed phrase or a
changed feature function can never be served by a stale model. Nothing trained is committed to git.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from intents.expand import Example, expand
from intents.lexicon import DATA_DIR, INSTRUMENTS_CSV, LANG_CODES, NSE_DIR, PACKAGE_DIR, RULES_DIR
from intents.types import INTENTS

log = structlog.get_logger(__name__)

MODEL_VERSION = "2"
# The modules whose code shapes the trained model (a change to any of them retrains on next load).
TRAINING_CODE = ("text.py", "lexicon.py", "names.py", "scan.py", "fuzzy.py", "features.py", "expand.py", "model.py",
                 "textcat_arch.py", "training.py", "types.py")
SEED = 13
ENV_MODEL_DIR = "GRIDWORKS_INTENTS_MODEL_DIR"
# spaCy has no language module for Punjabi and Odia: the multi-language tokenizer handles their scripts.
SPACY_LANG = {code: code for code in ("en", "hi", "bn", "ta", "te", "mr", "gu", "kn", "ml")}
SPACY_LANG.update({"hi-Latn": "en", "pa": "xx", "or": "xx"})


@dataclass(frozen=True, slots=True)
class TrainConfig:
    architecture: str = "subword"   # subword | bow | ensemble | cnn
    epochs: int = 10
    batch_size: int = 128
    dropout: float = 0.1
    ngram_size: int = 2
    length: int = 2 ** 17
    char_weight: float = 0.35
    char_min: int = 3
    char_max: int = 5


def data_hash(data_dir: Path = DATA_DIR, config: TrainConfig = TrainConfig()) -> str:
    h = hashlib.sha256(MODEL_VERSION.encode())
    h.update(repr(config).encode())
    data = sorted(data_dir.glob("*/train.yml")) + sorted(data_dir.glob("*/lexicon.yml"))
    # locales/format.py writes the Indian-grouped numbers of the expanded phrases.
    code = (sorted(RULES_DIR.glob("*.yml")) + [INSTRUMENTS_CSV] + sorted(NSE_DIR.glob("*.csv"))
            + [PACKAGE_DIR / f for f in TRAINING_CODE]
            + [PACKAGE_DIR.parent / "locales" / "format.py"])
    for base, paths in ((data_dir, data), (PACKAGE_DIR.parent, code)):
        for path in paths:
            if path.exists():
                h.update(str(path.relative_to(base)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:16]


def default_model_dir(key: str) -> Path:
    override = os.environ.get(ENV_MODEL_DIR)
    if override:
        return Path(override).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gridworks" / "intents" / key


def train_into(target: Path, *, data_dir: Path = DATA_DIR, progress: bool | None = None) -> None:
    """Train into a private directory, then swap it in: a process loading the cache (or another process
    training the same model at the same time) never sees a half-written model."""
    from intents.training import train

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    train(tmp, data_dir=data_dir, progress=show_progress() if progress is None else progress)
    try:
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError:
        # Another process swapped its (identical, deterministic) model in first.
        shutil.rmtree(tmp, ignore_errors=True)


def prune_cache(keep: Path, *, keep_last: int = 3) -> None:
    """Drop older models beside ``keep`` in the shared cache (each data change makes a new one)."""
    base = keep.parent
    if os.environ.get(ENV_MODEL_DIR) or base.name != "intents":
        return
    dirs = sorted((d for d in base.iterdir()
                   if d.is_dir() and d != keep and not d.name.startswith(".") and (d / "meta.json").exists()),
                  key=lambda d: (d / "meta.json").stat().st_mtime, reverse=True)
    for old in dirs[keep_last - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def _textcat_config(config: TrainConfig) -> dict[str, Any]:
    if config.architecture == "subword":
        model = {"@architectures": "gridworks.TextCatSubword.v1", "exclusive_classes": True,
                 "length": config.length, "char_weight": config.char_weight,
                 "char_min": config.char_min, "char_max": config.char_max, "nO": None}
    elif config.architecture == "bow":
        model = {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True, "ngram_size": config.ngram_size,
                 "no_output_layer": False, "length": config.length, "nO": None}
    else:
        tok2vec = {"@architectures": "spacy.Tok2Vec.v2",
                   "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 64,
                             "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"], "rows": [5000, 2500, 2500, 1000],
                             "include_static_vectors": False},
                   "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 64, "window_size": 1,
                              "maxout_pieces": 3, "depth": 2}}
        if config.architecture == "cnn":
            model = {"@architectures": "spacy.TextCatReduce.v1", "exclusive_classes": True, "use_reduce_first": False,
                     "use_reduce_last": False, "use_reduce_max": True, "use_reduce_mean": True, "tok2vec": tok2vec,
                     "nO": None}
        else:
            model = {"@architectures": "spacy.TextCatEnsemble.v2", "nO": None, "tok2vec": tok2vec,
                     "linear_model": {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True,
                                      "ngram_size": config.ngram_size, "no_output_layer": False,
                                      "length": config.length, "nO": None}}
    return {"threshold": 0.0, "model": model}


class Tokenizers:
    """One blank spaCy tokenizer per language variant, built on first use (building all twelve up front
    would cost a third of a second at load). Each keeps its own vocabulary — spaCy ties a vocabulary to a
    language — which is fine: the classifier's features are string hashes, so docs from any of them score
    the same way."""

    def __init__(self) -> None:
        self._by_spacy: dict[str, Any] = {}

    def get(self, code: str, default: Any = None) -> Any:
        name = SPACY_LANG.get(code, "xx")
        tok = self._by_spacy.get(name)
        if tok is None:
            import spacy

            tok = self._by_spacy[name] = spacy.blank(name).tokenizer
        return tok

    def warm(self) -> None:
        for code in LANG_CODES:
            self.get(code)


def make_tokenizers() -> Tokenizers:
    return Tokenizers()


def train_textcat(rows: list[tuple[str, str, str]], config: TrainConfig = TrainConfig(), *,
                  progress: bool = False):
    """Train on ``(masked_text, lang, intent)`` rows; returns the spaCy ``Language`` holding ``textcat``.
    ``progress``: a progress bar with the time left on stderr (tqdm)."""
    import spacy
    from spacy.training import Example as SpacyExample

    import intents.textcat_arch  # noqa: F401 - registers the architecture
    from spacy.util import fix_random_seed, minibatch

    fix_random_seed(SEED)
    nlp = spacy.blank("xx")
    textcat = nlp.add_pipe("textcat", config=_textcat_config(config))
    labels = [i for i in INTENTS]
    for label in labels:
        textcat.add_label(label)
    tokenizers = make_tokenizers()
    examples = []
    for text, lang, intent in rows:
        doc = tokenizers.get(lang, nlp.tokenizer)(text)
        examples.append(SpacyExample.from_dict(doc, {"cats": {label: float(label == intent) for label in labels}}))
    optimizer = nlp.initialize(lambda: examples[:2000])
    rng = random.Random(SEED)
    order = list(range(len(examples)))
    from tqdm import tqdm

    per_epoch = -(-len(examples) // config.batch_size)
    with tqdm(total=per_epoch * config.epochs, desc="training the intent model", unit="batch",
              file=sys.stderr, disable=not progress, dynamic_ncols=True,
              mininterval=0.2 if sys.stderr.isatty() else 10.0) as bar:
        for epoch in range(config.epochs):
            rng.shuffle(order)
            losses: dict[str, float] = {}
            bar.set_postfix(epoch=f"{epoch + 1}/{config.epochs}")
            for batch in minibatch([examples[i] for i in order], size=config.batch_size):
                nlp.update(batch, drop=config.dropout, sgd=optimizer, losses=losses)
                bar.update(1)
    return nlp


def show_progress() -> bool:
    """Progress bars on an interactive stderr, or when GRIDWORKS_PROGRESS=1 (e.g. an image build's log)."""
    flag = os.environ.get("GRIDWORKS_PROGRESS")
    if flag is not None:
        return flag not in ("", "0")
    return sys.stderr.isatty()


def cached_lexicon(target: Path, data_dir: Path = DATA_DIR, vocabulary: list[str] | tuple[str, ...] = ()):
    """The lexicon (2,400 companies and their sound keys: about half a second to build) and the typo index,
    pickled beside the model they go with; the model directory is keyed by the same data and code hash."""
    import pickle

    from intents.fuzzy import FuzzyIndex
    from intents.lexicon import build_lexicon

    path = target / "lexicon.pickle"
    try:
        with path.open("rb") as fh:
            return pickle.load(fh)
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, ValueError):
        pass
    lexicon = build_lexicon(data_dir)
    built = (lexicon, FuzzyIndex(lexicon.fuzzy_names(), vocabulary=vocabulary))
    try:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            pickle.dump(built, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass   # a read-only cache still works, only slower to start
    return built


def save_meta(path: Path, meta: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def load_meta(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def now() -> float:
    return time.perf_counter()


def examples_for(data_dir: Path = DATA_DIR) -> list[Example]:
    return expand(data_dir, seed=SEED)
