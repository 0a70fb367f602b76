"""The JSON document is fully bound to the signed bytes: every byte of a receipt file matters.

The issue's Done-when: "flipping any byte of it makes the verifier reject it naming the check". The
readable fields (timestamps, sizes, the "proves" list, the key scheme...) used to be decoration the
verifier never looked at; now it re-renders the whole document from the decoded canonical parts and
requires the same JSON values at every level. Formatting is deliberately *not* bound (any JSON tool may
re-indent or reorder keys, and that changes nothing that is proved), so re-serialised documents verify.
"""

import base64
import copy
import json
import time

import pytest

from engine.zk.curve import Q
from engine.zk.verify import verify_receipt
from tests.zk.helpers import make_fill_document, make_portfolio_document

CHECKS = {"encoding", "document", "receipt_id", "params", "key", "signature", "tree_head", "inclusion",
          "order_leaf", "statement", "range_proof", "opening"}


@pytest.fixture(scope="module")
def fill():
    doc, opening, _, _ = make_fill_document(prior=3, extra_leaves=5)      # C_prior set, 3-hash inclusion path
    assert verify_receipt(doc, opening=opening).ok
    return doc, opening


@pytest.fixture(scope="module")
def portfolio():
    doc, opening = make_portfolio_document()
    assert verify_receipt(doc, opening=opening).ok
    return doc, opening


def _as_file(doc) -> bytes:
    """Serialised as the product writes the attachment (handlers/receipts.py)."""
    return json.dumps(doc, ensure_ascii=False, indent=1).encode()


def _flip_every_byte(raw: bytes) -> tuple[dict[str, int], float]:
    seen: dict[str, int] = {}
    started = time.perf_counter()
    for i in range(len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        result = verify_receipt(bytes(bad))           # never raises: an exception fails the test here
        assert not result.ok, f"byte {i} ({raw[max(0, i - 30):i + 30]!r}) flipped was accepted"
        assert result.failed_check in CHECKS, (i, result)
        assert result.summary.startswith(f"invalid: {result.failed_check}: "), result.summary
        seen[result.failed_check] = seen.get(result.failed_check, 0) + 1
    return seen, time.perf_counter() - started


def test_flipping_any_byte_of_a_fill_receipt_file_is_rejected_naming_the_check(fill):
    raw = _as_file(fill[0])
    assert verify_receipt(raw).ok
    seen, seconds = _flip_every_byte(raw)
    print(f"\nfill receipt: {len(raw)} byte flips rejected in {seconds:.1f} s: {seen}")
    assert sum(seen.values()) == len(raw) > 3000
    # the readable mirror is bound, not only the base64: these checks exist only for the wrapper fields
    assert {"encoding", "document", "receipt_id", "signature", "statement", "key", "tree_head", "inclusion",
            "order_leaf"} <= set(seen)


def test_flipping_any_byte_of_a_portfolio_proof_file_is_rejected(portfolio):
    raw = _as_file(portfolio[0])
    assert verify_receipt(raw).ok
    seen, seconds = _flip_every_byte(raw)
    print(f"\nportfolio proof: {len(raw)} byte flips rejected in {seconds:.1f} s: {seen}")
    assert {"encoding", "document", "statement", "key", "tree_head"} <= set(seen)


def _reorder(node):
    """Every object's keys in reverse order, recursively."""
    if isinstance(node, dict):
        return {k: _reorder(node[k]) for k in reversed(list(node))}
    if isinstance(node, list):
        return [_reorder(v) for v in node]
    return node


@pytest.mark.parametrize("dump", [
    lambda d: json.dumps(d),
    lambda d: json.dumps(d, separators=(",", ":")),
    lambda d: json.dumps(d, indent=4, sort_keys=True),
    lambda d: json.dumps(_reorder(d), indent="\t"),
    lambda d: "\r\n  " + json.dumps(d, indent=2).replace(": ", " :  ") + "\n\n",
])
def test_formatting_is_free_the_values_are_bound(fill, portfolio, dump):
    for doc, opening in (fill, portfolio):
        text = dump(doc)
        assert text != _as_file(doc).decode()
        result = verify_receipt(text.encode(), opening=opening)
        assert result.ok, result.summary
        assert verify_receipt(json.loads(text)).ok


def _paths(node, path=()):
    if isinstance(node, dict):
        yield path
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


def _node(doc, path):
    for k in path:
        doc = doc[k]
    return doc


def test_unknown_and_missing_keys_are_rejected_at_every_level(fill, portfolio):
    for doc, _ in (fill, portfolio):
        objects = list(_paths(doc))
        assert len(objects) >= 6                      # the top level and every nested object
        for path in objects:
            d = copy.deepcopy(doc)
            _node(d, path)["note"] = "harmless?"
            result = verify_receipt(d)
            assert (result.ok, result.failed_check) == (False, "document"), (path, result)
            assert "unknown field" in result.summary
            for key in list(_node(doc, path)):
                d = copy.deepcopy(doc)
                del _node(d, path)[key]
                result = verify_receipt(d)
                assert not result.ok and result.failed_check in ("document", "encoding"), (path, key, result)


@pytest.mark.parametrize("path, value, check", [
    (("log", "tree_head", "timestamp"), "2026-11-22T00:00:00+00:00", "statement"),
    (("public", "fill_time"), "x", "statement"),
    (("public", "range_bits"), 64, "statement"),
    (("public", "values"), 8, "statement"),
    (("receipt", "bytes"), 1406, "document"),
    (("engine_key", "scheme"), "ed25519", "key"),
    (("proves",), ["fill_price_respects_limit"], "document"),
    (("proves", 0), "anything_at_all", "document"),
    (("version",), 1.0, "encoding"),                 # equal in Python, another JSON value
    (("version",), True, "encoding"),
    (("public", "fill_seq"), False, "statement"),
    (("log", "leaf_index"), 7.0, "document"),
])
def test_readable_fields_are_bound_by_value_and_type(fill, path, value, check):
    d = copy.deepcopy(fill[0])
    _node(d, path[:-1])[path[-1]] = value
    result = verify_receipt(d)
    assert (result.ok, result.failed_check) == (False, check), result


def test_non_canonical_encodings_of_the_same_bytes_are_rejected(fill):
    doc = fill[0]
    # uppercase hex decodes to the same key and hashes; base64 with non-zero padding bits to the same head
    d = copy.deepcopy(doc)
    d["engine_key"]["public_key"] = d["engine_key"]["public_key"].upper()
    assert verify_receipt(d).failed_check == "key"
    d = copy.deepcopy(doc)
    d["log"]["inclusion"][0] = d["log"]["inclusion"][0].upper()
    assert verify_receipt(d).failed_check == "inclusion"
    text = doc["log"]["tree_head"]["b64"]
    assert text.endswith("=") and not text.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(text[-2])
    twin = text[:-2] + alphabet[last ^ 0b01] + "="       # the two low bits of that character are padding
    assert twin != text and base64.b64decode(twin) == base64.b64decode(text)
    d = copy.deepcopy(doc)
    d["log"]["tree_head"]["b64"] = twin
    assert verify_receipt(d).failed_check == "tree_head"


def test_duplicate_keys_and_json_constants_are_rejected(fill):
    text = _as_file(fill[0]).decode()
    dup = text.replace('"kind": "fill",', '"kind": "portfolio", "kind": "fill",', 1)
    assert dup != text and json.loads(dup) == fill[0]
    assert verify_receipt(dup).failed_check == "encoding"
    nan = text.replace('"version": 1', '"version": NaN', 1)
    assert verify_receipt(nan).failed_check == "encoding"


def _opening_cases(opening):
    yield {**opening, "note": "x"}
    for key in opening:
        yield {k: v for k, v in opening.items() if k != key}
    yield {**opening, "receipt_id": "R-" + "0" * 24}
    yield {**opening, "order_id": "O-2"}
    yield {**opening, "side": "SELL"}
    yield {**opening, "symbol": "TCS"}
    yield {**opening, "fill_quantity": str(opening["fill_quantity"])}
    yield {**opening, "fill_quantity": float(opening["fill_quantity"])}
    yield {**opening, "prior_filled_quantity": opening["prior_filled_quantity"] + Q}
    yield {**opening, "limit_blinder": opening["limit_blinder"].upper()}
    yield {**opening, "limit_blinder": "0x" + opening["limit_blinder"][2:]}
    yield {**opening, "limit_blinder": format(int(opening["limit_blinder"], 16) + Q, "x")}
    yield "not an object"


def test_the_opening_must_match_exactly(fill, portfolio):
    doc, opening = fill
    assert verify_receipt(doc, opening=opening).ok
    for bad in _opening_cases(opening):
        result = verify_receipt(doc, opening=bad)
        assert (result.ok, result.failed_check) == (False, "opening"), (bad, result)
    pdoc, popening = portfolio
    h0 = popening["holdings"][0]
    for bad in [{**popening, "total_paise": popening["total_paise"] + 1}, {**popening, "extra": 1},
                {**popening, "holdings": popening["holdings"][:1]},
                {**popening, "holdings": [{**h0, "price_paise": h0["price_paise"] + 1}] + popening["holdings"][1:]},
                {**popening, "holdings": [{**h0, "note": 1}] + popening["holdings"][1:]},
                {**popening, "holdings": [{**h0, "quantity": True}] + popening["holdings"][1:]},
                {**popening, "holdings": popening["holdings"][::-1]}]:
        result = verify_receipt(pdoc, opening=bad)
        assert (result.ok, result.failed_check) == (False, "opening"), (bad, result)
