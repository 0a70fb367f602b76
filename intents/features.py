"""What the classifier sees: the normalised message with names and numbers masked.

"reliance ke 10 share 2450 pe le lo" becomes "xsymx ke xnumx share xnumx pe le lo", so the classifier learns
the shape of a buy order once instead of once per company and price, and "buy milk" can never look like
"buy xsymx" to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from intents.scan import Scanner, Span
from intents.text import find_receipt, mask_receipts, normalize, tokens

PLACEHOLDERS = {"sym": "xsymx", "amb": "xsymx", "ext": "xsymx", "num": "xnumx", "lang": "xlangx"}


@dataclass(frozen=True, slots=True)
class Analysed:
    """One message after the rule layer: tokens, spans, the masked text, and a receipt id if any."""

    normalized: str
    toks: list[str]
    spans: list[Span]
    masked: str
    receipt: str | None


_RUN3 = re.compile(r"(.)\1{2,}")
_RUN2 = re.compile(r"(.)\1+")


def respell(tok: str, vocab: frozenset[str]) -> str:
    """Undo chat elongation ("heyyy", "okk", "pleaseee") when that yields a word the data knows."""
    if tok in vocab or not tok.isascii() or not tok.isalpha() or len(tok) < 3:
        return tok
    for variant in (_RUN3.sub(r"\1", tok), _RUN3.sub(r"\1\1", tok), _RUN2.sub(r"\1", tok)):
        if variant in vocab:
            return variant
    return tok


def analyse(text: str, scanner: Scanner) -> Analysed:
    norm = normalize(text)
    receipt = find_receipt(norm)
    toks = tokens(mask_receipts(norm) if receipt else norm)
    if scanner.vocabulary:
        toks = [respell(t, scanner.vocabulary) for t in toks]
    spans = scanner.scan(toks)
    out: list[str] = []
    i = 0
    for span in spans:
        out.extend(toks[i:span.start])
        out.append(PLACEHOLDERS[span.kind])
        if span.suffix:
            # A glued case ending becomes its own word, so "રિલાયન્સનો ભાવ" reads like the spaced
            # "{sym} નો ભાવ" the training phrases are written in.
            out.append(span.suffix)
        i = span.end
    out.extend(toks[i:])
    return Analysed(norm, toks, spans, " ".join(out), receipt)
