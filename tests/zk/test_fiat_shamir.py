"""Fiat–Shamir binding: every statement and context element changes the challenges, and the regression
that dropping V from the transcript lets a prover forge a "range proof" for an out-of-range value."""

from dataclasses import fields, replace

import pytest

from engine.zk import generators as gens
from engine.zk import rangeproof as rp
from engine.zk import receipt as rc
from engine.zk.codec import DecodeError, Reader
from engine.zk.curve import INF, Q, add, neg
from engine.zk.statements import FillStatement
from engine.zk.transcript import Transcript
from tests.zk.helpers import make_opening, make_order_leaf, make_statement


@pytest.fixture(scope="module")
def fill():
    o = make_opening(limit=250000, quantity=10, prior=2, fill_price=249000, fill_quantity=3)
    st = make_statement("BUY", o, order_leaf=make_order_leaf("BUY", o), prior_count=1)
    raw = rc.prove_fill(st, o)
    r = Reader(raw)
    proof = rp.RangeProof.read(r, 32, 4)
    return st, proof


def _other(value):
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:]
    if isinstance(value, str):
        return "SELL" if value == "BUY" else ("INFY" if value == "RELIANCE" else value + "X")
    if isinstance(value, int):
        return value + 1
    if isinstance(value, tuple):                       # a point: add G
        return add(value, (1, 2, 1))
    raise AssertionError(type(value))


def test_honest_fill_verifies(fill):
    st, proof = fill
    assert rc.verify_fill(st, proof)


@pytest.mark.parametrize("name", [f.name for f in fields(FillStatement)])
def test_changing_any_statement_or_context_field_rejects(fill, name):
    st, proof = fill
    changed = replace(st, **{name: _other(getattr(st, name))})
    assert not rc.verify_fill(changed, proof)


def test_changing_n_or_m_rejects(fill):
    st, proof = fill
    tr, context = rc.fill_transcript(st)
    V = rc.fill_V(st)
    assert rp.check_terms(*rp.verification_terms(tr, proof, V, 32, rp.random_scalar(), context=context))
    tr, context = rc.fill_transcript(st)
    with pytest.raises(DecodeError, match="shape"):       # fewer values: the proof's shape no longer fits
        rp.verification_terms(tr, proof, V[:2], 32, rp.random_scalar(), context=context)
    tr, context = rc.fill_transcript(st)                  # same shape (n·m = 128), other n and m: rejected
    assert not rp.check_terms(*rp.verification_terms(tr, proof, V + V, 16, rp.random_scalar(), context=context))
    tr, context = rc.fill_transcript(st)
    assert not rp.check_terms(*rp.verification_terms(tr, proof, V, 32, rp.random_scalar(),
                                                     context=list(context) + [(b"extra", b"")]))


def _forge_without_v(n: int, tr: Transcript):
    """The Frozen Heart forgery: commit to arbitrary (non-bit) vectors, then solve for V at the end."""
    N = n
    G, H = gens.fixed_G(), gens.fixed_H()
    aL = [rp.random_scalar() for _ in range(N)]
    aR = [rp.random_scalar() for _ in range(N)]
    sL = [rp.random_scalar() for _ in range(N)]
    sR = [rp.random_scalar() for _ in range(N)]
    alpha, rho = rp.random_scalar(), rp.random_scalar()
    from engine.zk.msm import msm_fixed
    A = add(H.mul(alpha), msm_fixed([(gens.rows_Gi(i), aL[i]) for i in range(N)]
                                    + [(gens.rows_Hi(i), aR[i]) for i in range(N)]))
    S = add(H.mul(rho), msm_fixed([(gens.rows_Gi(i), sL[i]) for i in range(N)]
                                  + [(gens.rows_Hi(i), sR[i]) for i in range(N)]))
    rp._absorb_statement(tr, n, 1, [], (), bind_V=False)
    tr.append_point(b"rp/A", A)
    tr.append_point(b"rp/S", S)
    y, z = tr.challenge(b"y"), tr.challenge(b"z")
    yN = [pow(y, i, Q) for i in range(N)]
    l0 = [(a - z) % Q for a in aL]
    r0 = [(yN[i] * (aR[i] + z) + z * z * (1 << i)) % Q for i in range(N)]
    r1 = [yN[i] * sR[i] % Q for i in range(N)]
    t1 = (sum(a * b for a, b in zip(l0, r1)) + sum(a * b for a, b in zip(sL, r0))) % Q
    t2 = sum(a * b for a, b in zip(sL, r1)) % Q
    tau1, tau2 = rp.random_scalar(), rp.random_scalar()
    T1, T2 = add(G.mul(t1), H.mul(tau1)), add(G.mul(t2), H.mul(tau2))
    tr.append_point(b"rp/T1", T1)
    tr.append_point(b"rp/T2", T2)
    x = tr.challenge(b"x")
    lv = [(l0[i] + sL[i] * x) % Q for i in range(N)]
    rv = [(r0[i] + r1[i] * x) % Q for i in range(N)]
    t_hat = sum(a * b for a, b in zip(lv, rv)) % Q
    tau_x, mu = rp.random_scalar(), (alpha + rho * x) % Q
    tr.append_scalar(b"rp/tau_x", tau_x)
    tr.append_scalar(b"rp/mu", mu)
    tr.append_scalar(b"rp/t_hat", t_hat)
    w = tr.challenge(b"w")
    L, R, a, b = rp._ipa_prove(tr, lv, rv, [pow(pow(y, -1, Q), i, Q) for i in range(N)], w)
    delta = ((z - z * z) * sum(yN) - z ** 3 * ((1 << n) - 1)) % Q
    zinv2 = pow(z * z, -1, Q)
    value = zinv2 * (t_hat - delta - x * t1 - x * x * t2) % Q
    blinder = zinv2 * (tau_x - x * tau1 - x * x * tau2) % Q
    V = add(G.mul(value), H.mul(blinder))
    proof = rp.RangeProof(A, S, T1, T2, tau_x, mu, t_hat, tuple(L), tuple(R), a, b)
    return proof, V, value


def test_regression_v_less_transcript_accepts_a_forgery_and_ours_rejects_it():
    n = 8
    proof, V, value = _forge_without_v(n, Transcript())
    assert value >= 2 ** n                       # V commits to an out-of-range value (overwhelmingly likely)
    weight = rp.random_scalar()
    v_less = rp.verification_terms(Transcript(), proof, [V], n, weight, _bind_V=False)
    assert rp.check_terms(*v_less), "a V-less transcript accepts the forgery"
    assert not rp.verify(Transcript(), proof, [V], n), "binding V rejects it"


def test_challenges_depend_on_history():
    a, b = Transcript(), Transcript()
    a.append(b"x", b"1")
    b.append(b"x", b"2")
    assert a.challenge(b"c") != b.challenge(b"c")
    c1, c2 = Transcript(), Transcript()
    c1.append(b"ab", b"c")
    c2.append(b"a", b"bc")                       # framing: no ambiguity between label and data
    assert c1.challenge(b"c") != c2.challenge(b"c")
    t = Transcript()
    assert t.challenge(b"c") != t.challenge(b"c")  # each challenge is absorbed back


def test_identity_derived_commitment_is_still_bound(fill):
    st, proof = fill
    assert not rc.verify_fill(replace(st, C_prior=INF, prior_count=0), proof)
    assert not rc.verify_fill(replace(st, C_f=add(st.C_f, neg(st.C_f))), proof)
