"""The engine's Schnorr signatures on BN254 G1 (one curve for everything; py_ecc can check them).

Why Schnorr and not Ed25519: receipts already depend on BN254, a verifier needs no second curve, and
signing with a fresh ``secrets`` nonce makes two signatures of the same message differ (so a nonce
can never be reused across messages even if the message repeats). The nonce is *hedged*: hashed
from the key, the message and 32 fresh random bytes, so a weak RNG alone does not leak the key.
Signature = R (32 B) ‖ s (32 B); e = H(domain ‖ key id ‖ R ‖ message) mod q; s = k + e·x.

Timing: Python big ints are not constant time; nonces and the key go through the fixed-window
fixed-base path (every window processed). Production deployments should hold the long-term key in
an HSM or native constant-time library; the signature format does not change.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Callable

from engine.zk import generators as gens
from engine.zk.codec import DecodeError, decode_point, decode_scalar, encode_point, encode_scalar
from engine.zk.curve import Q, Jac, add, eq, mul, neg

SIG_BYTES = 64
_DOMAIN = b"GRIDWORKS-ZK-SCHNORR-V1"
Rng = Callable[[int], bytes]


def key_id(public: bytes) -> bytes:
    return hashlib.sha256(b"GRIDWORKS-ZK-KEYID" + public).digest()


def _challenge(kid: bytes, r_bytes: bytes, message: bytes) -> int:
    h = hashlib.sha512(_DOMAIN + kid + r_bytes + len(message).to_bytes(8, "big") + message).digest()
    return int.from_bytes(h, "big") % Q


@dataclass(frozen=True)
class SigningKey:
    secret: int = field(repr=False)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "SigningKey":
        k = int.from_bytes(raw, "big")
        if not 0 < k < Q or len(raw) != 32:
            raise ValueError("signing key must be 32 bytes, 0 < k < q")
        return cls(k)

    @classmethod
    def generate(cls, rng: Rng = secrets.token_bytes) -> "SigningKey":
        while True:
            k = int.from_bytes(rng(64), "big") % Q
            if k:
                return cls(k)

    def to_bytes(self) -> bytes:
        return self.secret.to_bytes(32, "big")

    @property
    def public(self) -> bytes:
        return encode_point(gens.fixed_G().mul(self.secret))

    @property
    def key_id(self) -> bytes:
        return key_id(self.public)

    def sign(self, message: bytes, *, rng: Rng = secrets.token_bytes) -> bytes:
        kid = self.key_id
        nonce_seed = hashlib.sha512(_DOMAIN + b"/nonce" + self.to_bytes() + rng(32) + message).digest()
        k = int.from_bytes(nonce_seed, "big") % Q or 1
        r_bytes = encode_point(gens.fixed_G().mul(k))
        e = _challenge(kid, r_bytes, message)
        return r_bytes + encode_scalar((k + e * self.secret) % Q)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True iff ``signature`` is a valid signature on ``message`` by ``public``; never raises."""
    if len(signature) != SIG_BYTES:
        return False
    try:
        pub = decode_point(public)
        R = decode_point(signature[:32])
        s = decode_scalar(signature[32:])
    except DecodeError:
        return False
    e = _challenge(key_id(public), signature[:32], message)
    # s·G − e·X == R
    lhs: Jac = add(gens.fixed_G().mul(s), neg(mul(pub, e)))
    return eq(lhs, R)
