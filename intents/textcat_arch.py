"""The classifier's architecture: spaCy's bag-of-words text classifier with subword features.

spaCy's ``TextCatBOW`` sees whole words only, so "खरीदो", "खरीदना" and "ख़रीदूँ" are unrelated to it, and an
inflected or misspelt word it never saw contributes nothing. This architecture keeps the same sparse linear
layer and softmax but feeds it hashed word unigrams, word bigrams and character 3–5-grams of every word
(with word-boundary marks), the cheap version of the subword signal the shared note measured as worth ~10
points on Hindi — at bag-of-words speed (tens of microseconds per message).
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import List

import numpy
import spacy
from spacy.ml.models.textcat import resize_and_set_ref
from spacy.strings import hash_string
from spacy.tokens import Doc
from thinc.api import Model, SparseLinear_v2, chain, resizable, softmax_activation, with_cpu
from thinc.layers.resizable import resize_linear_weighted
from thinc.types import Floats2d

NEG_VALUE = -5000
PLACEHOLDER = ("xsymx", "xnumx", "xlangx", "xrcptx")


@lru_cache(maxsize=200_000)
def word_features(word: str, char_min: int, char_max: int) -> tuple[int, ...]:
    keys = [hash_string("w:" + word)]
    if word in PLACEHOLDER or len(word) < 2:
        return tuple(keys)
    marked = f"<{word}>"
    for n in range(char_min, char_max + 1):
        for i in range(0, len(marked) - n + 1):
            keys.append(hash_string("c:" + marked[i:i + n]))
    return tuple(keys)


def _forward(model: Model, docs: List[Doc], is_train: bool):
    cmin, cmax = model.attrs["char_min"], model.attrs["char_max"]
    char_weight = model.attrs["char_weight"]
    batch_keys: list[numpy.ndarray] = []
    batch_vals: list[numpy.ndarray] = []
    for doc in docs:
        words = [t.lower_ for t in doc]
        feats: dict[int, float] = {hash_string("bias"): 1.0}
        for w in words:
            ks = word_features(w, cmin, cmax)
            feats[ks[0]] = feats.get(ks[0], 0.0) + 1.0
            for k in ks[1:]:
                feats[k] = feats.get(k, 0.0) + char_weight
        for a, b in zip(words, words[1:]):
            k = hash_string(f"b:{a} {b}")
            feats[k] = feats.get(k, 0.0) + 1.0
        batch_keys.append(numpy.fromiter(feats.keys(), dtype="uint64", count=len(feats)))
        batch_vals.append(numpy.fromiter(feats.values(), dtype="float32", count=len(feats)))
    lengths = model.ops.asarray([len(k) for k in batch_keys], dtype="int32")
    keys = numpy.concatenate(batch_keys) if batch_keys else numpy.zeros((0,), dtype="uint64")
    vals = numpy.concatenate(batch_vals) if batch_vals else numpy.zeros((0,), dtype="float32")
    return (keys, vals, lengths), lambda dY: []


def subword_features(char_min: int, char_max: int, char_weight: float) -> Model:
    return Model("subword_features", _forward,
                 attrs={"char_min": char_min, "char_max": char_max, "char_weight": char_weight})


@spacy.registry.architectures("gridworks.TextCatSubword.v1")
def build_subword_classifier(exclusive_classes: bool = True, length: int = 2 ** 18, char_min: int = 3,
                             char_max: int = 5, char_weight: float = 0.35, nO: int | None = None
                             ) -> Model[List[Doc], Floats2d]:
    length = 2 ** (length - 1).bit_length()
    sparse = SparseLinear_v2(nO=nO, length=length)
    fill = {"b": NEG_VALUE, "W": 0}
    resizable_layer = resizable(sparse, resize_layer=partial(resize_linear_weighted, fill_defaults=fill))
    model = with_cpu(chain(subword_features(char_min, char_max, char_weight), resizable_layer), sparse.ops)
    model = chain(model, with_cpu(softmax_activation(), sparse.ops))
    if nO is not None:
        model.set_dim("nO", nO)
    model.set_ref("output_layer", sparse)
    model.attrs["multi_label"] = not exclusive_classes
    model.attrs["resize_output"] = partial(resize_and_set_ref, resizable_layer=resizable_layer)
    return model
