"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing, inclusion and consistency proofs.

Leaf hash SHA-256(0x00 ‖ leaf), node SHA-256(0x01 ‖ left ‖ right), split at the largest power of two
below n. Unbalanced trees never duplicate a last node, so the CVE-2012-2459 ambiguity cannot occur.
Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 literally, including "the proof is fully
consumed" and the exact-size checks: a proof verifies only against the one (size, root) it names.
"""

from __future__ import annotations

import hashlib
from typing import Sequence


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root_from_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (already ``leaf_hash``-ed)."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(root_from_hashes(hashes[:k]), root_from_hashes(hashes[k:]))


def inclusion_path(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1."""
    n = len(hashes)
    if not 0 <= index < n:
        raise IndexError("leaf index out of range")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return inclusion_path(index, hashes[:k]) + [root_from_hashes(hashes[k:])]
    return inclusion_path(index - k, hashes[k:]) + [root_from_hashes(hashes[:k])]


def consistency_path(old: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 (empty when old == n or old == 0)."""
    n = len(hashes)
    if not 0 <= old <= n:
        raise IndexError("old size out of range")
    if old == 0 or old == n:
        return []
    return _subproof(old, hashes, True)


def _subproof(m: int, hashes: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [root_from_hashes(hashes)]
    k = _split(n)
    if m <= k:
        return _subproof(m, hashes[:k], complete) + [root_from_hashes(hashes[k:])]
    return _subproof(m - k, hashes[k:], False) + [root_from_hashes(hashes[:k])]


def verify_inclusion(leaf_hash_value: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash_value
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2 (old == new needs an empty proof and equal roots; old == 0 is trivially true)."""
    if not 0 <= old <= new:
        return False
    if old == new:
        return not path and old_root == new_root
    if old == 0:
        return not path
    path = list(path)
    if old & (old - 1) == 0:       # old is a power of two: its root is the first "proof" node
        path = [old_root] + path
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class Tree:
    """An append-only RFC 9162 tree with cached perfect-subtree hashes.

    Perfect subtrees (power-of-two size, fully populated) never change once complete, so after the first
    computation a root, an inclusion path or a consistency path costs O(log n) hashes instead of O(n).
    ``truncate`` drops leaves (and cached subtrees that covered them) when an append is rolled back.
    """

    def __init__(self, hashes: Sequence[bytes] = ()) -> None:
        self.hashes: list[bytes] = list(hashes)
        self._cache: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        return len(self.hashes)

    def append(self, leaf_hash_value: bytes) -> int:
        self.hashes.append(leaf_hash_value)
        return len(self.hashes) - 1

    def truncate(self, size: int) -> None:
        del self.hashes[size:]
        self._cache = {k: v for k, v in self._cache.items() if k[0] + k[1] <= size}

    def _mth(self, start: int, n: int) -> bytes:
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self.hashes[start]
        perfect = n & (n - 1) == 0
        if perfect:
            hit = self._cache.get((start, n))
            if hit is not None:
                return hit
        k = _split(n)
        value = node_hash(self._mth(start, k), self._mth(start + k, n - k))
        if perfect:
            self._cache[(start, n)] = value
        return value

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise IndexError("size beyond the tree")
        return self._mth(0, size)

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise IndexError("leaf index out of range")
        out: list[bytes] = []
        start, n, m = 0, size, index
        while n > 1:
            k = _split(n)
            if m < k:
                out.append(self._mth(start + k, n - k))
                n = k
            else:
                out.append(self._mth(start, k))
                start, n, m = start + k, n - k, m - k
        return out[::-1]

    def consistency(self, old: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if not 0 <= old <= size <= self.size:
            raise IndexError("old size out of range")
        if old == 0 or old == size:
            return []
        out: list[bytes] = []
        start, n, m, complete = 0, size, old, True
        while m != n:
            k = _split(n)
            if m <= k:
                out.append(self._mth(start + k, n - k))
                n = k
            else:
                out.append(self._mth(start, k))
                start, n, m, complete = start + k, n - k, m - k, False
        if not complete:
            out.append(self._mth(start, n))
        return out[::-1]
