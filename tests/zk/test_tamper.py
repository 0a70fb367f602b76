"""Tampering with any part of a receipt document is rejected, with the check named, never an exception."""

import base64
import copy
import json

import pytest

from engine.zk import rangeproof as rp
from engine.zk.codec import Reader, encode_point
from engine.zk.signing import SigningKey
from engine.zk.statements import FillStatement
from engine.zk.verify import verify_receipt
from tests.zk.helpers import KEY, make_fill_document

CHECKS = {"encoding", "receipt_id", "params", "key", "signature", "tree_head", "inclusion", "order_leaf",
          "statement", "range_proof", "opening", "document"}


@pytest.fixture(scope="module")
def issued():
    doc, opening, st, o = make_fill_document()
    assert verify_receipt(doc).ok
    return doc, opening


def _raw(doc) -> bytes:
    return base64.b64decode(doc["receipt"]["b64"])


def _with_raw(doc, raw: bytes) -> dict:
    d = copy.deepcopy(doc)
    d["receipt"]["b64"] = base64.b64encode(raw).decode()
    return d


def _rejected(doc, **kw) -> str:
    result = verify_receipt(doc, **kw)
    assert not result.ok
    assert result.failed_check in CHECKS
    return result.failed_check


def test_flipping_bytes_across_the_whole_encoding_rejects(issued):
    doc, _ = issued
    raw = _raw(doc)
    seen = set()
    for n, i in enumerate(list(range(0, len(raw), 4)) + [len(raw) - 1]):
        for bit in ((0x01, 0x80)[n % 2],):
            bad = bytearray(raw)
            bad[i] ^= bit
            seen.add(_rejected(_with_raw(doc, bytes(bad))))
    assert {"encoding", "receipt_id", "signature"} <= seen


def test_truncate_and_extend_reject(issued):
    doc, _ = issued
    raw = _raw(doc)
    for bad in (raw[:-1], raw[:100], b"", raw + b"\x00", raw + raw[-64:]):
        _rejected(_with_raw(doc, bad))


def _resign(raw: bytes, edit, key: SigningKey = KEY) -> bytes:
    """A cheating engine edits the proof and re-signs: only the range proof can catch it."""
    body = raw[:-64]
    r = Reader(body)
    FillStatement.read(r)
    stmt = body[:r.pos]
    proof = rp.RangeProof.read(r, 32, 4)
    new_body = stmt + edit(proof).to_bytes()
    return new_body + key.sign(new_body)


@pytest.mark.parametrize("edit", [
    lambda p: rp.RangeProof(p.S, p.A, p.T1, p.T2, p.tau_x, p.mu, p.t_hat, p.L, p.R, p.a, p.b),       # swap A/S
    lambda p: rp.RangeProof(p.A, p.S, p.T2, p.T1, p.tau_x, p.mu, p.t_hat, p.L, p.R, p.a, p.b),       # swap T1/T2
    lambda p: rp.RangeProof(p.A, p.S, p.T1, p.T2, p.tau_x, p.mu, p.t_hat, p.R, p.L, p.a, p.b),       # swap L/R
    lambda p: rp.RangeProof(p.A, p.S, p.T1, p.T2, p.tau_x, p.mu, p.t_hat, p.L[::-1], p.R[::-1], p.a, p.b),
    lambda p: rp.RangeProof(p.A, p.S, p.T1, p.T2, p.mu, p.tau_x, p.t_hat, p.L, p.R, p.a, p.b),
    lambda p: rp.RangeProof(p.A, p.S, p.T1, p.T2, p.tau_x, p.mu, p.t_hat, p.L, p.R, p.b, p.a),
])
def test_structural_swaps_fail_signature_or_range_proof(issued, edit):
    doc, _ = issued
    # edited after issuance and re-signed: the signed log head no longer contains the leaf
    assert _rejected(_with_raw(doc, _resign(_raw(doc), edit))) == "inclusion"
    # a cheating engine that signs and logs the edited proof is caught by the range proof itself
    cheat, _, _, _ = make_fill_document(proof_edit=edit)
    assert _rejected(cheat) == "range_proof"


def test_swaps_without_resigning_fail_the_signature(issued):
    doc, _ = issued
    raw = _raw(doc)
    body = raw[:-64]
    r = Reader(body)
    FillStatement.read(r)
    at = r.pos
    A, S = body[at:at + 32], body[at + 32:at + 64]
    swapped = body[:at] + S + A + body[at + 64:] + raw[-64:]
    assert _rejected(_with_raw(doc, swapped)) == "signature"


def test_json_fields_tampering_is_named(issued):
    doc, _ = issued
    cases = {
        "receipt_id": lambda d: d.update(receipt_id="R-" + "0" * 24),
        "key": lambda d: d["engine_key"].update(public_key=SigningKey.generate().public.hex()),
        "tree_head": lambda d: d["log"]["tree_head"].update(
            b64=base64.b64encode(base64.b64decode(d["log"]["tree_head"]["b64"])[:-1] + b"\x00").decode()),
        "inclusion": lambda d: d["log"].update(inclusion=list(reversed(d["log"]["inclusion"]))),
        "statement": lambda d: d["public"].update(symbol="INFY"),
        "order_leaf": lambda d: d["order"].update(order_id="O-2"),
    }
    for expected, edit in cases.items():
        d = copy.deepcopy(doc)
        edit(d)
        assert _rejected(d) == expected, expected
    d = copy.deepcopy(doc)
    d["log"]["leaf_index"] -= 1
    assert _rejected(d) == "inclusion"
    d = copy.deepcopy(doc)
    d["log"]["tree_head"]["size"] += 1
    assert _rejected(d) == "statement"


def test_pinned_key_mismatch_is_named(issued):
    doc, _ = issued
    assert verify_receipt(doc, public_key=KEY.public).ok
    assert _rejected(doc, public_key=SigningKey.generate().public) == "key"


@pytest.mark.parametrize("junk", [b"", b"not json", b"[]", b"{}", "{\"format\": 1}", b"\xff\xfe", b"[" * 100000,
                                  b"[" * 1000, "{\"a\":" * 20000])
def test_garbage_input_never_raises(junk):
    assert _rejected(junk) == "encoding"


def test_a_document_without_its_parts_names_the_missing_field():
    result = verify_receipt(json.dumps({"format": "gridworks-zk-receipt", "version": 1, "kind": "fill"}))
    assert (result.ok, result.failed_check) == (False, "document")
    assert "receipt.b64" in result.summary


def test_random_json_mutations_never_raise(issued):
    doc, _ = issued

    def walk(node, path=()):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, path + (i,))
        else:
            yield path

    for path in walk(doc):
        for replacement in (None, "x"):
            d = copy.deepcopy(doc)
            target = d
            for k in path[:-1]:
                target = target[k]
            if target[path[-1]] == replacement:
                continue
            target[path[-1]] = replacement
            _rejected(d)       # every field is bound, the "informational" ones included


def test_identity_and_off_curve_points_in_receipt_are_encoding_errors(issued):
    doc, _ = issued
    raw = bytearray(_raw(doc))
    r = Reader(bytes(raw))
    FillStatement.read(r)
    a_at = r.pos
    ident = encode_point((1, 1, 0))
    bad = raw[:a_at] + ident + raw[a_at + 32:]
    assert _rejected(_with_raw(doc, bytes(bad))) == "encoding"
