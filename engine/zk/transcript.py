"""Fiat–Shamir transcript: labelled, length-prefixed absorption into one running SHA-256.

Every message is framed as ``len(label) ‖ label ‖ len(data) ‖ data`` so no two sequences of absorbs
collide, and every challenge is absorbed back before the next one, so challenges depend on the whole
history. Verifiers rebuild the transcript from the statement and the proof and recompute every
challenge; nothing in a proof is ever read as a challenge.
"""

from __future__ import annotations

import hashlib

from engine.zk.codec import encode_point
from engine.zk.curve import Q, Jac

PROTOCOL = b"GRIDWORKS-ZK-RECEIPT"


class Transcript:
    def __init__(self, protocol: bytes = PROTOCOL, version: int = 1) -> None:
        self._h = hashlib.sha256()
        self.append(b"protocol", protocol)
        self.append(b"version", version.to_bytes(2, "big"))

    def append(self, label: bytes, data: bytes) -> None:
        self._h.update(len(label).to_bytes(1, "big") + label + len(data).to_bytes(4, "big"))
        self._h.update(data)

    def append_u64(self, label: bytes, value: int) -> None:
        self.append(label, value.to_bytes(8, "big"))

    def append_point(self, label: bytes, point: Jac) -> None:
        self.append(label, encode_point(point))

    def append_scalar(self, label: bytes, k: int) -> None:
        self.append(label, k.to_bytes(32, "big"))

    def challenge(self, label: bytes) -> int:
        """A scalar in [1, q): 512 bits of hash output reduced mod q (bias < 2^-250)."""
        counter = 0
        while True:
            self.append(b"challenge", label + counter.to_bytes(1, "big"))
            seed = self._h.copy().digest()
            wide = hashlib.sha512(b"GW-CHAL" + seed).digest()
            c = int.from_bytes(wide, "big") % Q
            self.append(b"challenge-out", c.to_bytes(32, "big"))
            if c:
                return c
            counter += 1  # pragma: no cover - probability 2^-254
