"""Bulletproofs: completeness on random values and edges, soundness against a cheating prover,
agreement with the py_ecc reference verifier, and known-answer bytes from an injected RNG."""

import hashlib
import secrets

import pytest

from engine.zk import rangeproof as rp
from engine.zk import reference as ref
from engine.zk.codec import DecodeError, Reader
from engine.zk.curve import INF, Q
from engine.zk.receipt import commit
from engine.zk.transcript import Transcript
from tests.zk.helpers import CountingRng


def _prove(values, n, *, rng=secrets.token_bytes, blinders=None):
    blinders = blinders or [rp.random_scalar() for _ in values]
    V = [commit(v, r) for v, r in zip(values, blinders)]
    return rp.prove(Transcript(), values, blinders, V, n, rng=rng), V


@pytest.mark.parametrize("values", [[0], [1], [255], [0, 255], [1, 2, 3, 254], [secrets.randbelow(256) for _ in range(4)]])
def test_complete_for_edges_and_random_values_n8(values):
    proof, V = _prove(values, 8)
    assert rp.verify(Transcript(), proof, V, 8)


def test_complete_n32_m4_with_edges_and_reference_agrees_on_small_shape():
    proof, V = _prove([0, 1, 2**32 - 1, secrets.randbelow(2**32)], 32)
    assert rp.verify(Transcript(), proof, V, 32)
    small, Vs = _prove([7, 250], 8)
    assert ref.verify_range_proof(Transcript(), small, Vs, 8)


@pytest.mark.parametrize("values", [[256], [0, 2**8], [Q - 1], [5, Q - 3], [2**9 + 1, 3]])
def test_out_of_range_values_are_rejected_fast_and_reference(values):
    proof, V = _prove(values, 8)
    assert not rp.verify(Transcript(), proof, V, 8)


def test_reference_verifier_also_rejects_cheating_proof():
    proof, V = _prove([3, Q - 1], 8)
    assert not ref.verify_range_proof(Transcript(), proof, V, 8)


def test_proof_for_other_commitment_is_rejected():
    proof, V = _prove([5, 6], 8)
    assert not rp.verify(Transcript(), proof, [V[1], V[0]], 8)
    assert not rp.verify(Transcript(), proof, [commit(5, 1), V[1]], 8)


def test_size_and_roundtrip():
    proof, V = _prove([1, 2, 3, 4], 32)
    raw = proof.to_bytes()
    assert len(raw) == rp.proof_size(32, 4) == 992
    r = Reader(raw)
    back = rp.RangeProof.read(r, 32, 4)
    r.done()
    assert back.to_bytes() == raw
    assert rp.verify(Transcript(), back, V, 32)


def test_identity_points_in_proof_are_rejected():
    proof, V = _prove([1], 8)
    bad = rp.RangeProof(INF, proof.S, proof.T1, proof.T2, proof.tau_x, proof.mu, proof.t_hat, proof.L, proof.R,
                        proof.a, proof.b)
    with pytest.raises(DecodeError):
        rp.verify(Transcript(), bad, V, 8)
    raw = bad.to_bytes()
    with pytest.raises(DecodeError):
        rp.RangeProof.read(Reader(raw), 8, 1)


def test_known_answer_vector_from_injected_rng():
    """A fixed RNG stream gives exact bytes: catches silent transcript or serialisation drift."""
    blinders = [int.from_bytes(hashlib.sha256(b"b%d" % i).digest(), "big") % Q for i in range(2)]
    proof, V = _prove([42, 200], 8, rng=CountingRng(b"kat-rangeproof"), blinders=blinders)
    digest = hashlib.sha256(proof.to_bytes()).hexdigest()
    again, _ = _prove([42, 200], 8, rng=CountingRng(b"kat-rangeproof"), blinders=blinders)
    assert again.to_bytes() == proof.to_bytes()
    assert digest == KAT_RANGEPROOF_SHA256
    assert rp.verify(Transcript(), proof, V, 8)


def test_default_randomness_differs_between_proofs():
    a, V = _prove([42], 8, blinders=[7])
    b, _ = _prove([42], 8, blinders=[7])
    assert a.to_bytes() != b.to_bytes()


KAT_RANGEPROOF_SHA256 = "cae47f9799815d0d69f857d54824c50ddf7fe7c1939911be5d8019d5cf1dd25a"


def test_known_answer_fill_receipt_bytes():
    """Full 32×4 fill statement and proof from fixed blinders and a fixed RNG stream: exact bytes."""
    from engine.zk import receipt as rc
    from engine.zk.curve import INF
    from engine.zk.statements import FILL_M, FILL_N, FillStatement
    from engine.zk import generators as gens

    r = [int.from_bytes(hashlib.sha256(b"r%d" % i).digest(), "big") % Q for i in range(4)]
    o = rc.FillOpening(250000, r[0], 10, r[1], 0, 0, 249950, r[2], 4, r[3])
    st = FillStatement(gens.params_id(FILL_N, FILL_M), b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, "BUY", "RELIANCE",
                       1_795_408_200_000_000, b"\x04" * 32, 0, 0, commit(o.limit, o.r_limit),
                       commit(o.quantity, o.r_quantity), INF, commit(o.fill_price, o.r_fill_price),
                       commit(o.fill_quantity, o.r_fill_quantity))
    proof = rc.prove_fill(st, o, rng=CountingRng(b"kat-fill"))
    assert len(st.to_bytes()) == 351 and len(proof) == 992
    assert hashlib.sha256(st.to_bytes() + proof).hexdigest() == KAT_FILL_SHA256


KAT_FILL_SHA256 = "54c5371b8ebedc2756da4bef2a82b7d59af49c015b07a8a4238549161e2c39ce"
