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
from typing import Callable

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


class MissingKeys(LookupError):
    """The state directory holds no receipt keys and we were asked not to create them."""


def _load_or_create(path: Path, make: Callable[[], bytes], *, create: bool) -> bytes:
    """The hex bytes in ``path``; made by ``make`` and published once (0600) when absent. The file is
    written aside and hard-linked into place, so two processes starting together both read the one
    complete file that won the race."""
    if not path.exists():
        if not create:
            raise MissingKeys(f"no {path.name} in {path.parent}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make().hex())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return bytes.fromhex(path.read_text().strip())


def load_keys(cfg, *, create: bool = True) -> ReceiptKeys:
    """``cfg`` is a ``config.settings.SecretsConfig``. Keys from configuration win; otherwise the state
    directory's, generated on first use unless ``create`` is False (read-only tools never mint a key)."""
    state = Path(cfg.state_dir)
    signing = SigningKey.from_bytes(bytes.fromhex(cfg.signing_key) if cfg.signing_key else _load_or_create(
        state / SIGNING_FILE, lambda: SigningKey.generate().to_bytes(), create=create))
    seed = bytes.fromhex(cfg.blinding_seed) if cfg.blinding_seed else _load_or_create(
        state / SEED_FILE, lambda: pysecrets.token_bytes(32), create=create)
    if len(seed) < 16:
        raise ValueError("blinding seed must be at least 16 bytes")
    return ReceiptKeys(signing, seed)
