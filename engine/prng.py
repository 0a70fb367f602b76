"""Deterministic pseudo-random numbers for the simulated market.

The market must give the same price for the same (seed, symbol, time) in every process, so values are
derived by hashing their coordinates (SplitMix64 finaliser) rather than drawn from a stateful generator.
This is deliberately *not* the ``random`` module (the engine reserves randomness for ``secrets``), and it is
not cryptographic: it only has to be stable and well mixed.
"""

from __future__ import annotations

import hashlib
import math

_MASK = (1 << 64) - 1


def _mix(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def key(*parts: object) -> int:
    """A stable 64-bit key for a tuple of coordinates (strings, ints, dates)."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def uniform(k: int, i: int = 0) -> float:
    """A uniform number in (0, 1) for stream ``k`` at index ``i``."""
    return ((_mix(k ^ _mix(i)) >> 11) + 0.5) / float(1 << 53)


def normal(k: int, i: int = 0) -> float:
    """A standard normal number (Box-Muller) for stream ``k`` at index ``i``."""
    u1 = uniform(k, 2 * i)
    u2 = uniform(k, 2 * i + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
