"""Reference implementations on py_ecc (``optimized_bn128``): slow, simple, and the ground truth.

The fast plain-int code in curve/msm/rangeproof/signing is held to these by differential tests. The
reference range-proof verifier follows the paper's two separate checks with explicitly folded
generators (no batching, no tables), so it shares no arithmetic shortcut with the fast verifier —
only the transcript, which is the specification.
"""

from __future__ import annotations

from typing import Sequence

from py_ecc import optimized_bn128 as bn

from engine.zk import generators as gens
from engine.zk import signing
from engine.zk.codec import decode_point, decode_scalar
from engine.zk.curve import Q, Aff, Jac, to_affine
from engine.zk.statements import FILL_N
from engine.zk.transcript import Transcript

PyPoint = tuple


def from_aff(p: Aff | None) -> PyPoint:
    return bn.Z1 if p is None else (bn.FQ(int(p[0])), bn.FQ(int(p[1])), bn.FQ.one())


def from_jac(p: Jac) -> PyPoint:
    return from_aff(to_affine(p))


def to_aff(p: PyPoint) -> Aff | None:
    if bn.is_inf(p):
        return None
    x, y = bn.normalize(p)
    return (int(x), int(y))


def mul(p: PyPoint, k: int) -> PyPoint:
    return bn.multiply(p, k % Q)


def msm(pairs: Sequence[tuple[PyPoint, int]]) -> PyPoint:
    acc = bn.Z1
    for p, k in pairs:
        acc = bn.add(acc, mul(p, k))
    return acc


def hash_to_curve_check(pt: Aff) -> bool:
    return bn.is_on_curve(from_aff(pt), bn.b)


def commit(v: int, r: int) -> PyPoint:
    return bn.add(mul(bn.G1, v), mul(from_aff(gens.H()), r))


def schnorr_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    pub = from_jac(decode_point(public))
    R = from_jac(decode_point(signature[:32]))
    s = decode_scalar(signature[32:])
    e = signing._challenge(signing.key_id(public), signature[:32], message)
    return bn.eq(mul(bn.G1, s), bn.add(R, mul(pub, e)))


def verify_range_proof(tr: Transcript, proof, V: Sequence[Jac], n: int, context=()) -> bool:
    """The paper's verifier (§4.2 and the IPA of §3) with py_ecc points."""
    m = len(V)
    N = n * m
    tr.append(b"rp/n", n.to_bytes(2, "big"))
    tr.append(b"rp/m", m.to_bytes(2, "big"))
    for v in V:
        tr.append_point(b"rp/V", v)
    for label, data in context:
        tr.append(label, data)
    tr.append_point(b"rp/A", proof.A)
    tr.append_point(b"rp/S", proof.S)
    y, z = tr.challenge(b"y"), tr.challenge(b"z")
    tr.append_point(b"rp/T1", proof.T1)
    tr.append_point(b"rp/T2", proof.T2)
    x = tr.challenge(b"x")
    tr.append_scalar(b"rp/tau_x", proof.tau_x)
    tr.append_scalar(b"rp/mu", proof.mu)
    tr.append_scalar(b"rp/t_hat", proof.t_hat)
    w = tr.challenge(b"w")
    G, H, U = bn.G1, from_aff(gens.H()), from_aff(gens.U())
    Gv = [from_aff(gens.G_vec(i)) for i in range(N)]
    y_inv = pow(y, -1, Q)
    Hp = [mul(from_aff(gens.H_vec(i)), pow(y_inv, i, Q)) for i in range(N)]
    sum_y = sum(pow(y, i, Q) for i in range(N)) % Q
    delta = ((z - z * z) * sum_y - sum(pow(z, 3 + j, Q) for j in range(m)) * ((1 << n) - 1)) % Q
    lhs = bn.add(mul(G, proof.t_hat), mul(H, proof.tau_x))
    rhs = msm([(from_jac(V[j]), pow(z, 2 + j, Q)) for j in range(m)]
              + [(G, delta), (from_jac(proof.T1), x), (from_jac(proof.T2), x * x)])
    if not bn.eq(lhs, rhs):
        return False
    P = bn.add(from_jac(proof.A), mul(from_jac(proof.S), x))
    for i in range(N):
        j, bit = divmod(i, n)
        P = bn.add(P, mul(Gv[i], -z))
        P = bn.add(P, mul(Hp[i], z * pow(y, i, Q) + pow(z, 2 + j, Q) * (1 << bit)))
    P = bn.add(P, mul(H, -proof.mu))
    Uw = mul(U, w)
    P = bn.add(P, mul(Uw, proof.t_hat))
    Gc, Hc = Gv, Hp
    for Lk, Rk in zip(proof.L, proof.R):
        tr.append_point(b"ipa/L", Lk)
        tr.append_point(b"ipa/R", Rk)
        u = tr.challenge(b"u")
        ui = pow(u, -1, Q)
        half = len(Gc) // 2
        P = bn.add(bn.add(mul(from_jac(Lk), u * u), P), mul(from_jac(Rk), ui * ui))
        Gc = [bn.add(mul(Gc[k], ui), mul(Gc[half + k], u)) for k in range(half)]
        Hc = [bn.add(mul(Hc[k], u), mul(Hc[half + k], ui)) for k in range(half)]
    final = mul(Uw, sum(x_ * y_ for x_, y_ in zip(proof.a, proof.b)))
    for j in range(len(Gc)):
        final = bn.add(final, bn.add(mul(Gc[j], proof.a[j]), mul(Hc[j], proof.b[j])))
    return bn.eq(P, final)


__all__ = ["from_aff", "from_jac", "to_aff", "mul", "msm", "commit", "schnorr_verify", "verify_range_proof",
           "hash_to_curve_check", "FILL_N"]
