"""Multi-scalar multiplication: fixed-base tables for the published generators, Pippenger for the rest.

Why two paths: the Bulletproof generators G_i, H_i, G, H and U never change, so we precompute for each
base its 33 "shifted" copies 2^(8w)·B (signed 8-bit digits). An MSM over fixed bases then needs no
doublings at all: every (base, window) pair is one mixed addition into one of 128 shared buckets,
and the buckets are summed once. Points that come from a proof (V, A, S, T1, T2, L_k, R_k) go through
classic Pippenger with doublings. Both are held to py_ecc by the differential tests.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from engine.zk.curve import INF, P, Q, Aff, Jac, add, add_mixed, batch_to_affine, double, to_jac

WINDOW = 8
WINDOWS = 33  # 254-bit scalars, signed base-256 digits (+1 for the final carry)
HALF = 1 << (WINDOW - 1)


def signed_digits(k: int) -> list[int]:
    """Base-256 digits in [-128, 127] (the last may be 1 from the carry), least significant first."""
    k %= Q
    out = []
    for _ in range(WINDOWS):
        d = k & 0xFF
        k >>= WINDOW
        if d >= HALF:
            d -= 256
            k += 1
        out.append(d)
    return out


def _shifted(base: Aff) -> list[Aff]:
    pts: list[Jac] = [to_jac(base)]
    for _ in range(WINDOWS - 1):
        p = pts[-1]
        for _ in range(WINDOW):
            p = double(p)
        pts.append(p)
    return batch_to_affine(pts)  # type: ignore[return-value]


def shifted_rows(base: Aff) -> list[Aff]:
    """The affine points 2^(8w)·B, w = 0..32, for one fixed base (≈ 1 ms to build)."""
    return _shifted(base)


def msm_fixed(pairs: Iterable[tuple[list[Aff], int]]) -> Jac:
    """Σ k·B over ``(shifted_rows(B), k)`` pairs: one bucket set for every base and window, no doublings.

    Buckets are filled with affine points and reduced pairwise, level by level, with one batched
    inversion per level (Montgomery's trick): an affine addition then costs ~6 multiplications
    instead of ~11 for a mixed Jacobian addition.
    """
    buckets: list[list[Aff]] = [[] for _ in range(HALF + 1)]
    for rows, k in pairs:
        k %= Q
        w = 0
        while k:
            d = k & 0xFF
            k >>= WINDOW
            if d >= HALF:
                d -= 256
                k += 1
            if d > 0:
                buckets[d].append(rows[w])
            elif d < 0:
                x, y = rows[w]
                buckets[-d].append((x, P - y))
            w += 1
    return _sum_affine_buckets(_reduce_buckets(buckets))


def _reduce_buckets(buckets: list[list[Aff]]) -> list[Aff | None]:
    """Sum each bucket's affine points by pairwise levels sharing one inversion per level."""
    p = P
    lists = buckets
    while True:
        px0: list[int] = []
        py0: list[int] = []
        px1: list[int] = []
        py1: list[int] = []
        owner: list[int] = []
        nxt: list[list[Aff]] = []
        for b, pts in enumerate(lists):
            n = len(pts)
            if n < 2:
                nxt.append(list(pts))
                continue
            nxt.append([pts[-1]] if n & 1 else [])
            for k in range(0, n - 1, 2):
                x0, y0 = pts[k]
                x1, y1 = pts[k + 1]
                px0.append(x0)
                py0.append(y0)
                px1.append(x1)
                py1.append(y1)
                owner.append(b)
        m = len(owner)
        if not m:
            return [pts[0] if pts else None for pts in lists]
        prefix = [0] * m
        acc = 1
        for k in range(m):
            prefix[k] = acc
            acc = acc * ((px1[k] - px0[k]) or 1) % p
        inv = pow(acc, -1, p)
        for k in range(m - 1, -1, -1):
            x0 = px0[k]
            x1 = px1[k]
            d = (x1 - x0) or 1
            di = inv * prefix[k] % p
            inv = inv * d % p
            if x0 == x1:
                sp = _special_sum((x0, py0[k]), (x1, py1[k]))
                if sp is not None:
                    nxt[owner[k]].append(sp)
                continue
            y0 = py0[k]
            lam = (py1[k] - y0) * di % p
            x3 = (lam * lam - x0 - x1) % p
            nxt[owner[k]].append((x3, (lam * (x0 - x3) - y0) % p))
        lists = nxt


def _special_sum(p: Aff, q: Aff) -> Aff | None:
    """p + q when x coordinates coincide: a doubling or the identity (rare; done the slow way)."""
    if (p[1] + q[1]) % P == 0:
        return None
    from engine.zk.curve import to_affine
    return to_affine(double(to_jac(p)))


def _sum_affine_buckets(buckets: list[Aff | None]) -> Jac:
    running = INF
    total = INF
    for d in range(len(buckets) - 1, 0, -1):
        b = buckets[d]
        if b is not None:
            running = add_mixed(running, b)
        total = add(total, running)
    return total


def _sum_buckets(buckets: list[Jac | None]) -> Jac:
    running = INF
    total = INF
    for d in range(len(buckets) - 1, 0, -1):
        b = buckets[d]
        if b is not None:
            running = add(running, b)
        total = add(total, running)
    return total


class FixedBase:
    """Single fixed-base multiplication with a full signed-digit table (33 × 128 affine points).

    Every window is processed (fixed iteration count), so the running time does not reveal the
    scalar's bit length; used for G and H, which multiply secret blinders and nonces.
    """

    def __init__(self, base: Aff) -> None:
        rows = _shifted(base)
        self.table: list[list[Aff]] = []
        for r in rows:
            pts: list[Jac] = [to_jac(r)]
            for _ in range(HALF - 1):
                pts.append(add_mixed(pts[-1], r))
            self.table.append(batch_to_affine(pts))  # type: ignore[arg-type]

    def mul(self, k: int) -> Jac:
        acc = INF
        dummy = INF
        for w, d in enumerate(signed_digits(k)):
            if d > 0:
                acc = add_mixed(acc, self.table[w][d - 1])
            elif d < 0:
                x, y = self.table[w][-d - 1]
                acc = add_mixed(acc, (x, P - y))
            else:                       # same work for a zero digit: one addition per window, always
                dummy = add_mixed(dummy, self.table[w][0])
        return acc


def msm_var(pairs: Sequence[tuple[Jac, int]]) -> Jac:
    """Pippenger over arbitrary points (converted to affine once, then mixed additions)."""
    pairs = [(p, k % Q) for p, k in pairs if k % Q and p[2] % P]
    if not pairs:
        return INF
    affs = batch_to_affine([p for p, _ in pairs])
    n = len(pairs)
    c = 3 if n < 8 else 4 if n < 24 else 5 if n < 80 else 6 if n < 200 else 7
    half = 1 << (c - 1)
    mask = (1 << c) - 1
    windows = 254 // c + 2
    digit_rows = []
    for _, k in pairs:
        row = []
        for _ in range(windows):
            d = k & mask
            k >>= c
            if d >= half:
                d -= 1 << c
                k += 1
            row.append(d)
        digit_rows.append(row)
    acc = INF
    for w in range(windows - 1, -1, -1):
        for _ in range(c):
            acc = double(acc)
        buckets: list[Jac | None] = [None] * (half + 1)
        for j, row in enumerate(digit_rows):
            d = row[w]
            if d:
                x, y = affs[j]  # type: ignore[misc]
                if d < 0:
                    d = -d
                    y = P - y
                b = buckets[d]
                buckets[d] = (x, y, 1) if b is None else add_mixed(b, (x, y))
        acc = add(acc, _sum_buckets(buckets))
    return acc
