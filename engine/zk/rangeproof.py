"""Aggregated Bulletproofs range proof (Bünz et al. 2018, §4.3) over BN254 G1, plain-int arithmetic.

Proves that each of m Pedersen commitments V_j = v_j·G + γ_j·H opens to 0 ≤ v_j < 2^n. The caller
absorbs params_id, side and the base commitments first; ``prove``/``verify`` then absorb n, m, every
V_j and the context fields (leaving V out is the "Frozen Heart" forgery, see tests/zk/test_fiat_shamir.py), then A, S → y,
z → T1, T2 → x → τx, μ, t̂ → w → L_k, R_k → u_k. The verifier recomputes every challenge.

Prover speed: the inner-product argument never folds generator points. It tracks each original
generator's scalar coefficient instead and computes every L_k, R_k as one fixed-base MSM over the
original generators (precomputed shifted tables, no doublings). Verification is one combined MSM with
a random weight joining the t̂ check and the IPA check.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Callable, Sequence

from engine.zk import generators as gens
from engine.zk.codec import POINT_BYTES, SCALAR_BYTES, DecodeError, Reader, encode_point, encode_scalar
from engine.zk.curve import INF, Q, Jac, add, add_mixed, is_inf
from engine.zk.msm import msm_fixed, msm_var
from engine.zk.transcript import Transcript

Rng = Callable[[int], bytes]


def random_scalar(rng: Rng = secrets.token_bytes) -> int:
    """Uniform non-zero scalar from 64 random bytes (``secrets`` unless a test injects an RNG)."""
    while True:
        k = int.from_bytes(rng(64), "big") % Q
        if k:
            return k


#: The inner-product argument stops when the vectors have this length and sends them (2·8 scalars):
#: three fewer rounds of two 129-base MSMs (≈ 40% of proving time) for 256 more bytes. Revealing the
#: folded vectors is zero-knowledge for the same reason sending l and r is (they are blinded by sL, sR).
IPA_BASE = 8


def ipa_shape(N: int) -> tuple[int, int]:
    """(rounds, final vector length) for an inner product of length N (a power of two)."""
    base = min(IPA_BASE, N)
    return (N // base).bit_length() - 1, base


def proof_size(n: int, m: int) -> int:
    rounds, base = ipa_shape(n * m)
    return 4 * POINT_BYTES + 3 * SCALAR_BYTES + 2 * rounds * POINT_BYTES + 2 * base * SCALAR_BYTES


@dataclass(frozen=True, slots=True)
class RangeProof:
    A: Jac
    S: Jac
    T1: Jac
    T2: Jac
    tau_x: int
    mu: int
    t_hat: int
    L: tuple[Jac, ...]
    R: tuple[Jac, ...]
    a: tuple[int, ...]
    b: tuple[int, ...]

    def to_bytes(self) -> bytes:
        out = [encode_point(p) for p in (self.A, self.S, self.T1, self.T2)]
        out += [encode_scalar(k) for k in (self.tau_x, self.mu, self.t_hat)]
        for left, right in zip(self.L, self.R):
            out += [encode_point(left), encode_point(right)]
        out += [encode_scalar(k) for k in self.a] + [encode_scalar(k) for k in self.b]
        return b"".join(out)

    @classmethod
    def read(cls, reader: Reader, n: int, m: int) -> "RangeProof":
        """Strict decode: A, S, T1, T2 must be non-identity points; all scalars reduced."""
        A, S, T1, T2 = (reader.point() for _ in range(4))
        tau_x, mu, t_hat = reader.scalar(), reader.scalar(), reader.scalar()
        rounds, base = ipa_shape(n * m)
        L, R = [], []
        for _ in range(rounds):
            L.append(reader.point(allow_identity=True))
            R.append(reader.point(allow_identity=True))
        a = tuple(reader.scalar() for _ in range(base))
        b = tuple(reader.scalar() for _ in range(base))
        return cls(A, S, T1, T2, tau_x, mu, t_hat, tuple(L), tuple(R), a, b)


def _check_shape(n: int, m: int) -> None:
    if n not in (8, 16, 32, 64) or m < 1 or m & (m - 1) or m > 32:
        raise ValueError("unsupported range-proof shape")


Context = Sequence[tuple[bytes, bytes]]


def _absorb_statement(tr: Transcript, n: int, m: int, V: Sequence[Jac], context: Context,
                      bind_V: bool = True) -> None:
    """n, m, every derived V_j, then the caller's context fields — all before A and S.

    ``bind_V=False`` exists only so tests/zk/test_fiat_shamir.py can show the forgery it enables."""
    tr.append(b"rp/n", n.to_bytes(2, "big"))
    tr.append(b"rp/m", m.to_bytes(2, "big"))
    for v in V if bind_V else ():
        tr.append_point(b"rp/V", v)
    for label, data in context:
        tr.append(label, data)


def _powers(x: int, count: int) -> list[int]:
    out = [1] * count
    for i in range(1, count):
        out[i] = out[i - 1] * x % Q
    return out


def prove(tr: Transcript, values: Sequence[int], blinders: Sequence[int], V: Sequence[Jac], n: int, *,
          context: Context = (), rng: Rng = secrets.token_bytes) -> RangeProof:
    """Prove each value is in [0, 2^n). Out-of-range values still yield a proof (only its low n bits
    are used) that then fails verification: that is how the tests play a cheating prover."""
    m = len(values)
    _check_shape(n, m)
    N = n * m
    _absorb_statement(tr, n, m, V, context)
    aL = []
    for v in values:
        v %= Q
        aL += [(v >> i) & 1 for i in range(n)]
    aR = [(b - 1) % Q for b in aL]
    alpha, rho = random_scalar(rng), random_scalar(rng)
    sL = [random_scalar(rng) for _ in range(N)]
    sR = [random_scalar(rng) for _ in range(N)]
    # A = α·H + Σ aL_i·G_i + Σ aR_i·H_i; aL is 0/1 and aR is 0/-1: additions only.
    A = gens.fixed_H().mul(alpha)
    for i in range(N):
        if aL[i]:
            A = add_mixed(A, gens.G_vec(i))
        else:
            x, y = gens.H_vec(i)
            A = add_mixed(A, (x, (-y) % gens.P))
    S = add(gens.fixed_H().mul(rho),
            msm_fixed([(gens.rows_Gi(i), sL[i]) for i in range(N)] + [(gens.rows_Hi(i), sR[i]) for i in range(N)]))
    tr.append_point(b"rp/A", A)
    tr.append_point(b"rp/S", S)
    y = tr.challenge(b"y")
    z = tr.challenge(b"z")
    yN = _powers(y, N)
    zz = z * z % Q
    two_n = [1 << i for i in range(n)]
    l0 = [(a - z) % Q for a in aL]
    r0 = [0] * N
    r1 = [0] * N
    zj = zz
    for j in range(m):
        for i in range(n):
            k = j * n + i
            r0[k] = (yN[k] * (aR[k] + z) + zj * two_n[i]) % Q
            r1[k] = yN[k] * sR[k] % Q
        zj = zj * z % Q
    t1 = (sum(l0[k] * r1[k] for k in range(N)) + sum(sL[k] * r0[k] for k in range(N))) % Q
    t2 = sum(sL[k] * r1[k] for k in range(N)) % Q
    tau1, tau2 = random_scalar(rng), random_scalar(rng)
    T1 = add(gens.fixed_G().mul(t1), gens.fixed_H().mul(tau1))
    T2 = add(gens.fixed_G().mul(t2), gens.fixed_H().mul(tau2))
    tr.append_point(b"rp/T1", T1)
    tr.append_point(b"rp/T2", T2)
    x = tr.challenge(b"x")
    zj = zz
    tau_x = (tau2 * x * x + tau1 * x) % Q
    for j in range(m):
        tau_x = (tau_x + zj * blinders[j]) % Q
        zj = zj * z % Q
    mu = (alpha + rho * x) % Q
    lv = [(l0[k] + sL[k] * x) % Q for k in range(N)]
    rv = [(r0[k] + r1[k] * x) % Q for k in range(N)]
    t_hat = sum(a * b for a, b in zip(lv, rv)) % Q
    tr.append_scalar(b"rp/tau_x", tau_x)
    tr.append_scalar(b"rp/mu", mu)
    tr.append_scalar(b"rp/t_hat", t_hat)
    w = tr.challenge(b"w")
    y_inv = pow(y, -1, Q)
    L, R, a, b = _ipa_prove(tr, lv, rv, _powers(y_inv, N), w)
    return RangeProof(A, S, T1, T2, tau_x, mu, t_hat, tuple(L), tuple(R), a, b)


def _ipa_prove(tr: Transcript, a: list[int], b: list[int], h_coef: list[int], w: int):
    """Inner-product argument over G_i and H'_i = y^-i·H_i without folding any point.

    Original generator i sits at position i mod len in the current vectors; its coefficient in the
    folded generator is tracked in g_coef / h_coef, so L and R are MSMs over the original tables.
    """
    N = len(a)
    g_coef = [1] * N
    h_coef = list(h_coef)
    rows_G = [gens.rows_Gi(i) for i in range(N)]
    rows_H = [gens.rows_Hi(i) for i in range(N)]
    rows_U = gens.rows_U()
    L_out, R_out = [], []
    length = N
    _, base = ipa_shape(N)
    while length > base:
        half = length // 2
        a_lo, a_hi = a[:half], a[half:]
        b_lo, b_hi = b[:half], b[half:]
        c_L = sum(p * q for p, q in zip(a_lo, b_hi)) % Q
        c_R = sum(p * q for p, q in zip(a_hi, b_lo)) % Q
        pairs_L = [(rows_U, c_L * w)]
        pairs_R = [(rows_U, c_R * w)]
        for i in range(N):
            pos = i % length
            if pos >= half:   # G_hi with a_lo into L, H_hi with b_lo into R
                pairs_L.append((rows_G[i], a_lo[pos - half] * g_coef[i]))
                pairs_R.append((rows_H[i], b_lo[pos - half] * h_coef[i]))
            else:             # G_lo with a_hi into R, H_lo with b_hi into L
                pairs_R.append((rows_G[i], a_hi[pos] * g_coef[i]))
                pairs_L.append((rows_H[i], b_hi[pos] * h_coef[i]))
        Lk, Rk = msm_fixed(pairs_L), msm_fixed(pairs_R)
        tr.append_point(b"ipa/L", Lk)
        tr.append_point(b"ipa/R", Rk)
        u = tr.challenge(b"u")
        u_inv = pow(u, -1, Q)
        a = [(a_lo[j] * u + a_hi[j] * u_inv) % Q for j in range(half)]
        b = [(b_lo[j] * u_inv + b_hi[j] * u) % Q for j in range(half)]
        for i in range(N):
            if i % length >= half:
                g_coef[i] = g_coef[i] * u % Q
                h_coef[i] = h_coef[i] * u_inv % Q
            else:
                g_coef[i] = g_coef[i] * u_inv % Q
                h_coef[i] = h_coef[i] * u % Q
        L_out.append(Lk)
        R_out.append(Rk)
        length = half
    return L_out, R_out, tuple(a), tuple(b)


def verification_terms(tr: Transcript, proof: RangeProof, V: Sequence[Jac], n: int, weight: int, *,
                       context: Context = (), _bind_V: bool = True):
    """Absorb the proof and return (fixed-base pairs, variable-point pairs) whose MSM is the identity
    iff the proof verifies; ``weight`` (random, from the verifier) joins the two checks, and lets a
    caller add several proofs' terms into one MSM (batch verification)."""
    m = len(V)
    _check_shape(n, m)
    N = n * m
    rounds, base = ipa_shape(N)
    if len(proof.L) != rounds or len(proof.R) != rounds or len(proof.a) != base or len(proof.b) != base:
        raise DecodeError("wrong proof shape")
    for p in (proof.A, proof.S, proof.T1, proof.T2):
        if is_inf(p):
            raise DecodeError("identity point in proof")
    _absorb_statement(tr, n, m, V, context, _bind_V)
    tr.append_point(b"rp/A", proof.A)
    tr.append_point(b"rp/S", proof.S)
    y = tr.challenge(b"y")
    z = tr.challenge(b"z")
    tr.append_point(b"rp/T1", proof.T1)
    tr.append_point(b"rp/T2", proof.T2)
    x = tr.challenge(b"x")
    tr.append_scalar(b"rp/tau_x", proof.tau_x)
    tr.append_scalar(b"rp/mu", proof.mu)
    tr.append_scalar(b"rp/t_hat", proof.t_hat)
    w = tr.challenge(b"w")
    us = []
    for Lk, Rk in zip(proof.L, proof.R):
        tr.append_point(b"ipa/L", Lk)
        tr.append_point(b"ipa/R", Rk)
        us.append(tr.challenge(b"u"))
    u_invs = [pow(u, -1, Q) for u in us]
    # Generator i ends at position i mod base with factor s[i >> log2(base)], where
    # s[j] = Π_k u_k^{±1}, + when bit (rounds-1-k) of j is set; the H side uses the inverse s[B-1-j].
    B = 1 << rounds
    s = [1] * B
    s0 = 1
    for ui in u_invs:
        s0 = s0 * ui % Q
    s[0] = s0
    for j in range(1, B):
        top = j.bit_length() - 1
        k = rounds - 1 - top
        s[j] = s[j - (1 << top)] * us[k] * us[k] % Q
    shift = base.bit_length() - 1
    yN = _powers(y, N)
    y_inv = pow(y, -1, Q)
    y_invN = _powers(y_inv, N)
    zz = z * z % Q
    sum_y = sum(yN) % Q
    sum_2 = (1 << n) - 1
    z_pows = _powers(z, m + 3)
    delta = ((z - zz) * sum_y - sum(z_pows[3 + j] for j in range(m)) * sum_2) % Q
    c = weight
    a, b = proof.a, proof.b
    ab = sum(x_ * y_ for x_, y_ in zip(a, b))
    fixed = [
        (gens.rows_G(), c * (proof.t_hat - delta)),
        (gens.rows_H(), c * proof.tau_x - proof.mu),
        (gens.rows_U(), w * (proof.t_hat - ab)),
    ]
    for i in range(N):
        j, bit = divmod(i, n)
        pos, blk = i & (base - 1), i >> shift
        fixed.append((gens.rows_Gi(i), -z - a[pos] * s[blk]))
        h = z + y_invN[i] * (z_pows[2 + j] * (1 << bit) - b[pos] * s[B - 1 - blk])
        fixed.append((gens.rows_Hi(i), h))
    var = [(V[j], -c * z_pows[2 + j]) for j in range(m)]
    var += [(proof.T1, -c * x), (proof.T2, -c * x * x), (proof.A, 1), (proof.S, x)]
    for k in range(rounds):
        var.append((proof.L[k], us[k] * us[k]))
        var.append((proof.R[k], u_invs[k] * u_invs[k]))
    return fixed, var


def check_terms(fixed, var) -> bool:
    return is_inf(add(msm_fixed(fixed), msm_var(var)))


def verify(tr: Transcript, proof: RangeProof, V: Sequence[Jac], n: int, *, context: Context = ()) -> bool:
    fixed, var = verification_terms(tr, proof, V, n, random_scalar(), context=context)
    return check_terms(fixed, var)


__all__ = ["RangeProof", "prove", "verify", "verification_terms", "check_terms", "random_scalar", "proof_size",
           "INF"]
