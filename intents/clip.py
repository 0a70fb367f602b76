"""How much of a message the classifier reads.

No real request needs more than a few hundred characters (the longest message in our evaluation data has
about a hundred), while the scanner's cost grows with the text: a 64K-character message cost seconds of CPU.
So the pipeline reads at most :data:`MAX_CHARS` characters; the conversation layer tells the user when a
message was cut. This module has no dependencies so that the handlers can use the same limit.
"""

from __future__ import annotations

import unicodedata

#: The classifier reads at most this many characters of a message.
MAX_CHARS = 1000
#: When cutting, prefer the last word boundary within this many characters of the limit.
_BOUNDARY_WINDOW = 100
#: Canonical combining class of the Indic viramas: the letter after one belongs to the same cluster.
_VIRAMA = 9


def clip(text: str, limit: int | None = MAX_CHARS) -> str:
    """The first ``limit`` characters of ``text`` (all of it when ``limit`` is None or not exceeded).

    The cut falls on a word boundary when one is near the limit, so the last word is not half a word; in
    an unbroken run it never leaves a dangling combining mark (a vowel sign or virama without its letter)."""
    if limit is None or len(text) <= limit:
        return text
    head = text[:limit]
    space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    if space >= limit - _BOUNDARY_WINDOW and space > 0:
        return head[:space].rstrip()
    cut = limit
    # text[cut] continues the cluster before it (a vowel sign, a virama, or the letter after a virama):
    # move the cut back to the start of that cluster.
    while cut > 0 and (unicodedata.category(text[cut]).startswith("M")
                       or unicodedata.combining(text[cut - 1]) == _VIRAMA):
        cut -= 1
    return text[:cut]


def was_clipped(text: str | None, limit: int | None = MAX_CHARS) -> bool:
    return text is not None and limit is not None and len(text) > limit
