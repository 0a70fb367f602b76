"""Public generators by hash-to-curve (try-and-increment) from a published domain string.

G is the standard BN254 generator (1, 2); H, U and the Bulletproof vectors G_i, H_i are hashed from
``DOMAIN`` + label, so nobody knows a discrete-log relation between them. Generators are indexed, not
sized: the (n=32, m=4) receipt set is a prefix of every larger set. ``params_id(n, m)`` hashes the
encodings of every generator a proof of that shape uses; the receipt value is pinned in tests.
Shifted tables for the fast MSM are built lazily per generator and cached per process.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from engine.zk.codec import encode_point
from engine.zk.curve import G_AFFINE, P, Aff, y_for_x
from engine.zk.msm import FixedBase, shifted_rows

DOMAIN = b"ZKRECEIPT-V1-BN254G1"


def hash_to_curve(label: bytes) -> Aff:
    """Try-and-increment: x = SHA-512(DOMAIN ‖ label ‖ counter) mod p until x³+3 is a square; even y."""
    counter = 0
    while True:
        digest = hashlib.sha512(DOMAIN + b"/" + label + b"/" + counter.to_bytes(4, "big")).digest()
        x = int.from_bytes(digest, "big") % P
        y = y_for_x(x)
        if y is not None and y != 0:
            return (x, y if y % 2 == 0 else P - y)
        counter += 1


def G() -> Aff:
    return G_AFFINE


@lru_cache(maxsize=None)
def H() -> Aff:
    return hash_to_curve(b"H")


@lru_cache(maxsize=None)
def U() -> Aff:
    return hash_to_curve(b"U")


@lru_cache(maxsize=None)
def G_vec(i: int) -> Aff:
    return hash_to_curve(b"G_" + str(i).encode())


@lru_cache(maxsize=None)
def H_vec(i: int) -> Aff:
    return hash_to_curve(b"H_" + str(i).encode())


@lru_cache(maxsize=None)
def params_id(n: int, m: int) -> bytes:
    h = hashlib.sha256(DOMAIN + b"/params/" + n.to_bytes(2, "big") + m.to_bytes(2, "big"))
    for pt in (G(), H(), U()):
        h.update(encode_point((pt[0], pt[1], 1)))
    for i in range(n * m):
        h.update(encode_point((*G_vec(i), 1)))
        h.update(encode_point((*H_vec(i), 1)))
    return h.digest()


# ---- cached tables for the fast arithmetic (per process) ----

@lru_cache(maxsize=None)
def fixed_G() -> FixedBase:
    return FixedBase(G())


@lru_cache(maxsize=None)
def fixed_H() -> FixedBase:
    return FixedBase(H())


@lru_cache(maxsize=None)
def rows_G() -> list[Aff]:
    return shifted_rows(G())


@lru_cache(maxsize=None)
def rows_H() -> list[Aff]:
    return shifted_rows(H())


@lru_cache(maxsize=None)
def rows_U() -> list[Aff]:
    return shifted_rows(U())


@lru_cache(maxsize=None)
def rows_Gi(i: int) -> list[Aff]:
    return shifted_rows(G_vec(i))


@lru_cache(maxsize=None)
def rows_Hi(i: int) -> list[Aff]:
    return shifted_rows(H_vec(i))


def warm(n: int, m: int) -> None:
    """Build every table a proof of shape (n, m) needs (call once per worker process)."""
    fixed_G(), fixed_H(), rows_G(), rows_H(), rows_U()
    for i in range(n * m):
        rows_Gi(i), rows_Hi(i)
