"""Standalone receipt verification: no database, no network — the document carries everything.

Checks run in a fixed order and the first failure is named (stable machine names): ``encoding``,
``document`` (a field missing, unknown or of the wrong type), ``receipt_id``, then the full-document
binding, then ``params``, ``key``, ``signature``, ``tree_head``, ``inclusion``, ``order_leaf``,
``range_proof``, ``opening``.

Full-document binding: after decoding the canonical parts (receipt, order leaf, signed tree head, key,
inclusion paths) the verifier re-renders the document with ``engine.zk.document`` exactly as the engine
does and requires the same JSON values everywhere — no differing field, no missing key, no unknown key,
at every level. A difference is named for what it mirrors (``statement`` for the public fields and the
tree-head mirror, ``key``, ``receipt_id``, ``inclusion``, ``order_leaf``, ``encoding`` for non-canonical
base64/hex) or ``document``. So flipping any byte of a receipt file is rejected: either the JSON breaks,
a key changes, or a value no longer equals its rendering from the signed bytes. Formatting (whitespace,
key order) is not bound: it carries no meaning and any JSON tool may change it.
The opening, when given, must likewise hold exactly the fields the engine issues, with canonical values.
Malformed input of any shape yields a failed result, never an exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from engine.zk import generators as gens
from engine.zk import merkle
from engine.zk import rangeproof as rp
from engine.zk import signing
from engine.zk.codec import DecodeError, Reader, decode_point
from engine.zk.curve import Q, eq
from engine.zk.document import FORMAT, fill_document, first_difference, portfolio_document, unb64
from engine.zk.receipt import commit, fill_terms, verify_portfolio
from engine.zk.statements import (FILL_M, FILL_N, PORTFOLIO_N, FillStatement, OrderStatement, PortfolioStatement,
                                  TreeHead, log_id_for, order_ref, receipt_id_for)

SIG = signing.SIG_BYTES


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    failed_check: str | None
    summary: str
    kind: str | None = None
    receipt_id: str | None = None


class _Fail(Exception):
    def __init__(self, check: str, detail: str) -> None:
        super().__init__(detail)
        self.check = check
        self.detail = detail


def _need(cond: bool, check: str, detail: str) -> None:
    if not cond:
        raise _Fail(check, detail)


MAX_DOCUMENT_BYTES = 64 * 1024
MAX_NESTING = 8


def _nesting_ok(text: str) -> bool:
    """Receipts nest 4 levels deep. Deeply nested input can overflow the C stack inside ``json.loads``
    (a crash, not an exception), so it is refused before parsing."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    """A repeated key would let two files with different bytes carry different "last" values unnoticed."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(document: dict | bytes | str) -> dict:
    if isinstance(document, (bytes, bytearray, str)):
        if len(document) > MAX_DOCUMENT_BYTES:
            raise _Fail("encoding", "document too large")
        try:
            text = document.decode("utf-8") if isinstance(document, (bytes, bytearray)) else document
        except UnicodeDecodeError as exc:
            raise _Fail("encoding", "not UTF-8") from exc
        if not _nesting_ok(text):
            raise _Fail("encoding", "nested too deeply")
        try:
            document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
        except ValueError as exc:
            raise _Fail("encoding", "not JSON") from exc
    _need(isinstance(document, dict), "encoding", "document is not an object")
    _need(document.get("format") == FORMAT and document.get("version") == 1, "encoding", "unknown format")
    return document


def _split_signed(raw: bytes) -> tuple[bytes, bytes]:
    _need(len(raw) > SIG, "encoding", "too short")
    return raw[:-SIG], raw[-SIG:]


def verify_receipt(document: dict | bytes | str, *, public_key: bytes | None = None,
                   opening: dict | None = None) -> VerifyResult:
    """Verify a receipt document; ``public_key`` pins the engine key, ``opening`` checks the user's values."""
    receipt_id = None
    kind = None
    try:
        doc = _parse(document)
        kind = doc.get("kind")
        receipt_id = doc.get("receipt_id")
        summary = _verify(doc, public_key, opening)
        return VerifyResult(True, None, summary, kind, receipt_id)
    except _Fail as fail:
        return VerifyResult(False, fail.check, f"invalid: {fail.check}: {fail.detail}", kind, receipt_id)
    except (DecodeError, KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError,
            OverflowError, OSError) as exc:
        return VerifyResult(False, "encoding", f"invalid: encoding: {type(exc).__name__}", kind, receipt_id)


def _at(doc: dict, *path: str) -> Any:
    node: Any = doc
    for key in path:
        _need(isinstance(node, dict) and key in node, "document", f"missing field {'.'.join(path)}")
        node = node[key]
    return node


def _typed(doc: dict, typ: type, *path: str) -> Any:
    value = _at(doc, *path)
    _need(type(value) is typ, "document", f"{'.'.join(path)} has the wrong type")
    return value


def _b64_at(doc: dict, *path: str) -> bytes:
    try:
        return unb64(_typed(doc, str, *path))
    except ValueError as exc:
        raise _Fail("encoding", f"{'.'.join(path)} is not base64") from exc


def _hex_at(doc: dict, *path: str) -> bytes:
    try:
        return bytes.fromhex(_typed(doc, str, *path))
    except ValueError as exc:
        raise _Fail("encoding", f"{'.'.join(path)} is not hex") from exc


def _hexes_at(doc: dict, *path: str) -> list[bytes]:
    items = _typed(doc, list, *path)
    _need(all(type(h) is str for h in items), "document", f"{'.'.join(path)} has the wrong type")
    try:
        return [bytes.fromhex(h) for h in items]
    except ValueError as exc:
        raise _Fail("encoding", f"{'.'.join(path)} is not hex") from exc


def _verify(doc: dict, public_key: bytes | None, opening: dict | None) -> str:
    kind = doc["kind"]
    _need(kind in ("fill", "portfolio"), "encoding", "unknown kind")
    # 1. decode every canonical part the document carries
    raw = _b64_at(doc, "receipt", "b64")
    body, sig = _split_signed(raw)
    r = Reader(body)
    st: Any = FillStatement.read(r) if kind == "fill" else PortfolioStatement.read(r)
    stmt_len = r.pos
    n, m = (FILL_N, FILL_M) if kind == "fill" else (PORTFOLIO_N, st.m)
    proof = rp.RangeProof.read(r, n, m)
    r.done()
    statement_bytes = body[:stmt_len]
    receipt_id = receipt_id_for(statement_bytes)
    _need(_typed(doc, str, "receipt_id") == receipt_id, "receipt_id", "id is not the statement hash")
    pub = _hex_at(doc, "engine_key", "public_key")
    decode_point(pub)
    kid = signing.key_id(pub)
    head_raw = _b64_at(doc, "log", "tree_head", "b64")
    head_body, head_sig = _split_signed(head_raw)
    hr = Reader(head_body)
    head = TreeHead.read(hr)
    hr.done()
    index = _typed(doc, int, "log", "leaf_index")
    path = _hexes_at(doc, "log", "inclusion")
    common = dict(receipt_id=receipt_id, receipt=raw, statement=st, public_key=pub, key_id=kid, leaf_index=index,
                  inclusion=path, head_signed=head_raw, head_size=head.size, head_root=head.root,
                  head_time_us=head.timestamp_us)
    if kind == "fill":
        order_id = _typed(doc, str, "order", "order_id")
        order_raw = _b64_at(doc, "order", "leaf_b64")
        order_body, order_sig = _split_signed(order_raw)
        orr = Reader(order_body)
        ost = OrderStatement.read(orr)
        orr.done()
        order_index = _typed(doc, int, "order", "leaf_index")
        opath = _hexes_at(doc, "order", "inclusion")
        expected = fill_document(**common, order_id=order_id, order_leaf=order_raw, order_leaf_index=order_index,
                                 order_inclusion=opath)
    else:
        expected = portfolio_document(**common)
    # 2. the whole document must be the rendering of those parts (values, not formatting)
    difference = first_difference(expected, doc)
    if difference is not None:
        raise _Fail(*difference)
    # 3. the cryptographic checks, cheapest first
    _need(st.params_id == gens.params_id(n, m), "params", "unknown generator set")
    _need(kid == st.key_id, "key", "key id mismatch")
    _need(public_key is None or bytes(public_key) == pub, "key", "not the pinned engine key")
    _need(st.log_id == log_id_for(pub), "key", "log id is not this key's log")
    _need(signing.verify(pub, body, sig), "signature", "engine signature")
    _need(signing.verify(pub, head_body, head_sig), "tree_head", "tree head signature")
    _need(head.log_id == st.log_id, "tree_head", "tree head of another log")
    _need(merkle.verify_inclusion(merkle.leaf_hash(raw), index, head.size, path, head.root), "inclusion",
          "receipt not in the signed log head")
    if kind == "fill":
        _need(merkle.leaf_hash(order_raw) == st.order_leaf_hash, "order_leaf", "order leaf hash")
        _need(signing.verify(pub, order_body, order_sig), "order_leaf", "order leaf signature")
        _need(ost.order_ref == order_ref(order_id), "order_leaf", "order id")
        _need(ost.params_id == st.params_id and ost.side == st.side and ost.symbol == st.symbol
              and eq(ost.C_L, st.C_L) and eq(ost.C_q, st.C_q), "order_leaf", "order leaf fields")
        _need(merkle.verify_inclusion(st.order_leaf_hash, order_index, head.size, opath, head.root),
              "inclusion", "order leaf not in the signed log head")
        _need(rp.check_terms(*fill_terms(st, proof, rp.random_scalar())), "range_proof", "range proof")
        if opening is not None:
            _check_fill_opening(st, receipt_id, order_id, opening)
        return (f"valid fill receipt {receipt_id}: {st.side} {st.symbol} fill within limit, "
                f"1 <= qty <= remaining, signed by {kid.hex()[:16]}, leaf {index} of {head.size}")
    _need(verify_portfolio(st, proof), "range_proof", "range proof")
    if opening is not None:
        _check_portfolio_opening(st, receipt_id, opening)
    return (f"valid portfolio proof {receipt_id}: value >= {st.threshold_paise} paise over "
            f"{len(st.holdings)} holdings, signed by {kid.hex()[:16]}, leaf {index} of {head.size}")


# ---- openings: exactly the fields the engine issues (engine/zk/results.py, service.py), canonical values ----

FILL_OPENING_PAIRS = (("limit_paise", "limit_blinder"), ("quantity", "quantity_blinder"),
                      ("prior_filled_quantity", "prior_blinder"), ("fill_price_paise", "fill_price_blinder"),
                      ("fill_quantity", "fill_quantity_blinder"))
FILL_OPENING_KEYS = frozenset({"receipt_id", "order_id", "side", "symbol"}
                              | {k for pair in FILL_OPENING_PAIRS for k in pair})
PORTFOLIO_OPENING_KEYS = frozenset({"receipt_id", "total_paise", "holdings"})
HOLDING_OPENING_KEYS = frozenset({"symbol", "quantity", "price_paise", "blinder"})
_BLINDER = re.compile(r"[0-9a-f]{64}")


def _fields(o: Any, keys: frozenset[str], what: str) -> dict:
    _need(isinstance(o, dict), "opening", f"{what} is not an object")
    _need(not keys - o.keys(), "opening", f"{what} lacks {sorted(keys - o.keys())}")
    _need(not o.keys() - keys, "opening", f"{what} has unknown fields {sorted(map(str, o.keys() - keys))}")
    return o


def _value(v: Any, bits: int, what: str) -> int:
    _need(type(v) is int and 0 <= v < 1 << bits, "opening", f"{what} is not a value in range")
    return v


def _blinder(r: Any, what: str) -> int:
    _need(type(r) is str and _BLINDER.fullmatch(r) is not None and int(r, 16) < Q, "opening",
          f"{what} is not a canonical blinder")
    return int(r, 16)


def _check_fill_opening(st: FillStatement, receipt_id: str, order_id: str, o: Any) -> None:
    o = _fields(o, FILL_OPENING_KEYS, "opening")
    _need(o["receipt_id"] == receipt_id and o["order_id"] == order_id and o["side"] == st.side
          and o["symbol"] == st.symbol, "opening", "opening is for another receipt")
    commitments = (st.C_L, st.C_q, st.C_prior, st.C_f, st.C_qf)
    for (v_key, r_key), C in zip(FILL_OPENING_PAIRS, commitments):
        value, blinder = _value(o[v_key], FILL_N, v_key), _blinder(o[r_key], r_key)
        _need(eq(commit(value, blinder), C), "opening", f"{v_key} does not open the commitment")


def _check_portfolio_opening(st: PortfolioStatement, receipt_id: str, o: Any) -> None:
    o = _fields(o, PORTFOLIO_OPENING_KEYS, "opening")
    _need(o["receipt_id"] == receipt_id, "opening", "opening is for another receipt")
    holdings = o["holdings"]
    _need(type(holdings) is list and len(holdings) == len(st.holdings), "opening", "holding count")
    total = 0
    for h, oh in zip(st.holdings, holdings):
        oh = _fields(oh, HOLDING_OPENING_KEYS, f"holding {h.symbol}")
        _need(oh["symbol"] == h.symbol and oh["price_paise"] == h.price_paise
              and type(oh["price_paise"]) is int, "opening", f"holding {h.symbol} is another holding")
        quantity = _value(oh["quantity"], PORTFOLIO_N, f"holding {h.symbol} quantity")
        _need(eq(commit(quantity, _blinder(oh["blinder"], "blinder")), h.C), "opening", f"holding {h.symbol}")
        total += quantity * h.price_paise
    _need(type(o["total_paise"]) is int and o["total_paise"] == total, "opening", "total does not match")
