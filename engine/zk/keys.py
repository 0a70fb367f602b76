"""Key material for receipts: the engine signing key and the blinding seed.

Production passes both as hex through configuration (``GRIDWORKS_SIGNING_KEY``,
``GRIDWORKS_BLINDING_SEED``). Development leaves them empty: they are generated once with ``secrets``
and kept in files under ``secrets.state_dir`` (mode 0600), never in code and never committed.

Blinders are ``HMAC-SHA512(seed, label ‖ ref ‖ nonce) mod q`` with a fresh 16-byte ``secrets`` nonce
stored beside the order or fill: the engine can re-derive an opening later (the order's blinders are
needed again at every fill) without storing blinders, and neither the database nor the seed alone
reveals them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets as pysecrets
from dataclasses import dataclass, field
from pathlib import Path

from engine.zk.curve import Q
from engine.zk.signing import SigningKey

SIGNING_FILE = "zk_signing_key.hex"
SEED_FILE = "zk_blinding_seed.hex"


@dataclass(frozen=True)
class ReceiptKeys:
    signing: SigningKey = field(repr=False)
    blinding_seed: bytes = field(repr=False)

    def blinder(self, label: str, ref: str, nonce: bytes) -> int:
        mac = hmac.new(self.blinding_seed, label.encode() + b"\x00" + ref.encode() + b"\x00" + nonce,
                       hashlib.sha512).digest()
        return int.from_bytes(mac, "big") % Q or 1


def _from_file_or_new(path: Path, nbytes: int) -> bytes:
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = pysecrets.token_bytes(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(raw.hex())
    return raw


def load_keys(cfg) -> ReceiptKeys:
    """``cfg`` is a ``config.settings.SecretsConfig``."""
    state = Path(cfg.state_dir)
    if cfg.signing_key:
        signing = SigningKey.from_bytes(bytes.fromhex(cfg.signing_key))
    else:
        path = state / SIGNING_FILE
        if not path.exists():
            key = SigningKey.generate()
            _from_file_or_new_value(path, key.to_bytes())
        signing = SigningKey.from_bytes(bytes.fromhex(path.read_text().strip()))
    seed = bytes.fromhex(cfg.blinding_seed) if cfg.blinding_seed else _from_file_or_new(state / SEED_FILE, 32)
    if len(seed) < 16:
        raise ValueError("blinding seed must be at least 16 bytes")
    return ReceiptKeys(signing, seed)


def _from_file_or_new_value(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(raw.hex())
