"""One user, one partition: the stable hash that keeps a user's messages (and replies) in arrival order
across any number of web processes and workers."""

from __future__ import annotations

import zlib


def partition_of(user_key: str, partitions: int) -> int:
    """CRC-32 of the UTF-8 key modulo ``partitions``: stable across processes, versions and machines
    (Python's ``hash`` is salted per process, so it would split one user across partitions)."""
    return zlib.crc32(user_key.encode("utf-8")) % partitions
