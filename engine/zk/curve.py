"""BN254 G1 arithmetic on plain Python integers (the fast path; py_ecc stays the reference).

Why not py_ecc's point API directly: every field element there is an ``FQ`` object, and one scalar
multiplication costs 6-11 ms. Plain ints in Jacobian coordinates (x = X/Z², y = Y/Z³) with a=0 formulas
are 5-10x faster; ``tests/zk/test_curve_differential.py`` holds every function here to py_ecc.

Points: Jacobian ``(X, Y, Z)`` tuples, the identity is any point with ``Z == 0`` (``INF``); affine
``(x, y)`` tuples for table entries and encodings. BN254 G1 has cofactor 1, so "on the curve" is the only
subgroup check a decoder needs.

Timing: Python big-int arithmetic is variable-time. Secret scalars (blinders, nonces, the signing key)
go through fixed-window code paths with a fixed iteration count, which removes the grossest leak
(scalar bit length) but is not constant time; see engine/zk/__init__.py for the threat discussion.
"""

from __future__ import annotations

import os

P_INT = 21888242871839275222246405745257275088696311157297823662689037894645226208583


def _field_modulus():
    """gmpy2's mpz when installed (about 2x faster modular arithmetic), else plain ints.

    ``GRIDWORKS_ZK_BACKEND=int`` forces plain ints (the differential tests run both when gmpy2 is present).
    Coordinates then are mpz values; every encoder converts with ``int()``.
    """
    if os.environ.get("GRIDWORKS_ZK_BACKEND", "auto") != "int":
        try:
            from gmpy2 import mpz
            return mpz(P_INT), "gmpy2"
        except ImportError:
            pass
    return P_INT, "int"


P, BACKEND = _field_modulus()
Q = 21888242871839275222246405745257275088548364400416034343698204186575808495617
B = 3
G_AFFINE = (1, 2)
INF = (1, 1, 0)

Jac = tuple[int, int, int]
Aff = tuple[int, int]


def is_inf(p: Jac) -> bool:
    return p[2] % P == 0


def is_on_curve_affine(pt: Aff) -> bool:
    x, y = pt
    return 0 <= x < P and 0 <= y < P and (y * y - x * x * x - B) % P == 0


def to_jac(pt: Aff | None) -> Jac:
    return INF if pt is None else (pt[0], pt[1], 1)


def double(p: Jac) -> Jac:
    X, Y, Z = p
    if Z == 0 or Y == 0:
        return INF
    A = X * X % P
    Bq = Y * Y % P
    C = Bq * Bq % P
    D = 2 * ((X + Bq) * (X + Bq) - A - C) % P
    E = 3 * A % P
    X3 = (E * E - 2 * D) % P
    Y3 = (E * (D - X3) - 8 * C) % P
    Z3 = 2 * Y * Z % P
    return (X3, Y3, Z3)


def add_mixed(p: Jac, q: Aff) -> Jac:
    """p + q where q is affine (Z = 1): the cheap addition used by every table lookup."""
    X1, Y1, Z1 = p
    if Z1 == 0:
        return (q[0], q[1], 1)
    Z1Z1 = Z1 * Z1 % P
    U2 = q[0] * Z1Z1 % P
    S2 = q[1] * Z1 * Z1Z1 % P
    H = (U2 - X1) % P
    r = 2 * (S2 - Y1) % P
    if H == 0:
        return double(p) if r == 0 else INF
    HH = H * H % P
    I = 4 * HH % P
    J = H * I % P
    V = X1 * I % P
    X3 = (r * r - J - 2 * V) % P
    Y3 = (r * (V - X3) - 2 * Y1 * J) % P
    Z3 = ((Z1 + H) * (Z1 + H) - Z1Z1 - HH) % P
    return (X3, Y3, Z3)


def add(p: Jac, q: Jac) -> Jac:
    X1, Y1, Z1 = p
    X2, Y2, Z2 = q
    if Z1 == 0:
        return q
    if Z2 == 0:
        return p
    Z1Z1 = Z1 * Z1 % P
    Z2Z2 = Z2 * Z2 % P
    U1 = X1 * Z2Z2 % P
    U2 = X2 * Z1Z1 % P
    S1 = Y1 * Z2 * Z2Z2 % P
    S2 = Y2 * Z1 * Z1Z1 % P
    H = (U2 - U1) % P
    r = 2 * (S2 - S1) % P
    if H == 0:
        return double(p) if r == 0 else INF
    I = 4 * H * H % P
    J = H * I % P
    V = U1 * I % P
    X3 = (r * r - J - 2 * V) % P
    Y3 = (r * (V - X3) - 2 * S1 * J) % P
    Z3 = ((Z1 + Z2) * (Z1 + Z2) - Z1Z1 - Z2Z2) * H % P
    return (X3, Y3, Z3)


def neg(p: Jac) -> Jac:
    return (p[0], (-p[1]) % P, p[2])


def neg_aff(q: Aff) -> Aff:
    return (q[0], (-q[1]) % P)


def sub(p: Jac, q: Jac) -> Jac:
    return add(p, neg(q))


def to_affine(p: Jac) -> Aff | None:
    X, Y, Z = p
    if Z % P == 0:
        return None
    zi = pow(Z, -1, P)
    zi2 = zi * zi % P
    return (X * zi2 % P, Y * zi2 * zi % P)


def batch_to_affine(points: list[Jac]) -> list[Aff | None]:
    """Montgomery's trick: one inversion for the whole list (used to build tables)."""
    acc = 1
    prefix = []
    for X, Y, Z in points:
        prefix.append(acc)
        if Z % P:
            acc = acc * Z % P
    inv = pow(acc, -1, P) if acc != 1 or points else 1
    out: list[Aff | None] = [None] * len(points)
    for i in range(len(points) - 1, -1, -1):
        X, Y, Z = points[i]
        if Z % P == 0:
            continue
        zi = inv * prefix[i] % P
        inv = inv * Z % P
        zi2 = zi * zi % P
        out[i] = (X * zi2 % P, Y * zi2 * zi % P)
    return out


def eq(p: Jac, q: Jac) -> bool:
    if is_inf(p) or is_inf(q):
        return is_inf(p) and is_inf(q)
    Z1Z1 = p[2] * p[2] % P
    Z2Z2 = q[2] * q[2] % P
    return (p[0] * Z2Z2 - q[0] * Z1Z1) % P == 0 and (p[1] * Z2Z2 * q[2] - q[1] * Z1Z1 * p[2]) % P == 0


def mul(p: Jac, k: int) -> Jac:
    """Variable-base multiplication, 4-bit fixed window (public scalars; verification side)."""
    k %= Q
    if k == 0 or is_inf(p):
        return INF
    table = [INF, p]
    for _ in range(14):
        table.append(add(table[-1], p))
    acc = INF
    for shift in range((k.bit_length() + 3) // 4 * 4 - 4, -4, -4):
        acc = double(double(double(double(acc))))
        d = (k >> shift) & 15
        if d:
            acc = add(acc, table[d])
    return acc


def sqrt_fp(a: int) -> int | None:
    """Square root mod P (P ≡ 3 mod 4), or None when ``a`` is not a square."""
    r = pow(a, (P + 1) // 4, P)
    return r if r * r % P == a % P else None


def y_for_x(x: int) -> int | None:
    return sqrt_fp((x * x * x + B) % P)
