"""Decode a webhook POST body safely: UTF-8 JSON, an object at the top, nesting bounded.

``json.loads`` alone accepts NaN/Infinity, guesses UTF-16/32, and meets deep nesting with a
``RecursionError`` (not a ``ValueError``) — and anything nested a few hundred levels deep that it does accept
is a trap for whatever walks the value later. ``load_body`` checks the nesting depth *before* parsing, with
an iterative scan of the brackets outside strings, and turns every way a body can be unreadable into one
exception, ``BadBody``.

The scan is C-level byte operations (``translate``, ``replace``, ``count``), never a Python loop over the
bytes: on an ordinary body of a few messages it costs a fraction of a microsecond (fewer brackets than the
bound proves the bound); a batch of many messages pays for the full scan, about a quarter of the time
``json.loads`` takes on it.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
"""Meta's envelopes nest about 8 levels deep; nothing legitimate comes near this."""

_COUNT_FIRST_BELOW = 8 * 1024
_TO_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_SYNTAX = bytes(c for c in range(256) if c not in b'[]{}"')


class BadBody(ValueError):
    """The body cannot be read as a webhook body. ``reason`` is short and fixed (never body content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _no_constant(name: str) -> None:
    raise BadBody("non-standard JSON constant")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
#: A ``\\uD800``–``\\uDFFF`` escape: the only way a lone surrogate gets into a parsed string (UTF-8 cannot carry one).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def load_body(raw: bytes, *, max_depth: int = MAX_DEPTH) -> dict:
    """The JSON object in ``raw``, or ``BadBody`` when it is not UTF-8, not JSON, not an object, or nested
    deeper than ``max_depth`` containers. Raises nothing else for any bytes."""
    if isinstance(raw, (bytearray, memoryview)):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise TypeError(f"load_body needs bytes, not {type(raw).__name__}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("not UTF-8") from None
    # Fewer openers (strings included) than the bound proves the bound: the common case, one or a few messages.
    # Bigger bodies almost always have more, so they skip the count and go straight to the scan.
    if (len(raw) > _COUNT_FIRST_BELOW or raw.count(b"[") + raw.count(b"{") > max_depth) and \
            nesting_depth(raw, max_depth) > max_depth:
        raise BadBody(f"nested deeper than {max_depth}")
    try:
        body = _DECODER.decode(text)
    except BadBody:
        raise
    except (ValueError, RecursionError):                # JSONDecodeError is a ValueError
        raise BadBody("not JSON") from None
    if not isinstance(body, dict):
        raise BadBody("top level is not an object")
    if _SURROGATE_ESCAPE.search(raw):
        body = _without_lone_surrogates(body)
    return body


def _without_lone_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate (``"\\udb93"`` alone is valid JSON) replaced by U+FFFD: such a
    string cannot be encoded as UTF-8, so storing, sealing or sending it raised deep inside a turn."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    return value


def nesting_depth(raw: bytes, limit: int) -> int:
    """How many containers deep the JSON in ``raw`` nests, counted up to ``limit + 1`` (meaning "deeper").
    Raises ``BadBody`` when its brackets do not balance (it is not JSON)."""
    return _depth(_syntax(raw), limit)


def _syntax(raw: bytes) -> bytes:
    """Only the brackets (``{}`` read as ``[]``) and the string delimiters of ``raw``: escaped backslashes,
    then escaped quotes are removed first, so every quote left delimits a string. The brackets still include
    those inside strings."""
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    return raw.translate(_TO_BRACKETS, _NOT_SYNTAX)


def _depth(syntax: bytes, limit: int) -> int:
    """The nesting depth of ``_syntax`` output, up to ``limit + 1``.

    Quote pairs delimit strings, so what lies between a pair — brackets a user typed into a message — is
    dropped (adjacent quotes first: most strings hold no bracket). Innermost ``[]`` pairs are then removed
    pass after pass: each pass removes one level, so the number of passes until nothing is left is the
    depth."""
    brackets = syntax.replace(b'""', b"")
    if b'"' in brackets:
        brackets = b"".join(brackets.split(b'"')[::2])
    run = b"[" * (limit + 1)
    for passes in range(limit + 1):
        if not brackets:
            return passes
        if passes == limit or run in brackets:          # limit + 1 openers in a row: deeper than limit
            return limit + 1
        inner_removed = brackets.replace(b"[]", b"")
        if len(inner_removed) == len(brackets):
            raise BadBody("not JSON")                    # unbalanced
        brackets = inner_removed
    return limit + 1
