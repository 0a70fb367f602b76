"""Field encryption at rest for PRO accounts: AES-256-GCM under a keyring from configuration.

Keys come from ``settings.secrets.data_keys`` (hex, 32 bytes each; the first is the current key, the
rest only decrypt, which is how rotation works). Without configured keys a development key is generated
once into ``settings.secrets.state_dir`` (git-ignored), never into the repository.

A token is ``gw1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``. The key id (first 8 hex digits of the
key's SHA-256) names the key that sealed it, so old rows stay readable after rotation and can be found
and re-encrypted. Every token is bound to where it is stored through the AEAD associated data (e.g.
``users.profile:<user key>``), so a ciphertext copied onto another user's row fails to decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "gw1"
NONCE_BYTES = 12
DEV_KEY_FILE = "data_keys"


class DataKeyError(ValueError):
    """A configured data key is malformed, or a token names a key we do not have."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def token_key_id(token: str) -> str:
    return token.split(":", 2)[1]


def _parse_key(raw: str) -> bytes:
    try:
        key = bytes.fromhex(raw.strip())
    except ValueError as exc:
        raise DataKeyError("GRIDWORKS_DATA_KEYS entries must be hex") from exc
    if len(key) != 32:
        raise DataKeyError(f"GRIDWORKS_DATA_KEYS entries must be 32 bytes (64 hex digits), got {len(key)} bytes")
    return key


def development_keys(state_dir: Path) -> list[str]:
    """The development keyring in ``state_dir``: created once with a fresh random key, private to the user."""
    path = Path(state_dir) / DEV_KEY_FILE
    if not path.exists():
        # Written aside and hard-linked into place: processes starting together (a cluster's engine and
        # workers) all read the one complete file that won, never an empty one being written.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{DEV_KEY_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


@dataclass(frozen=True)
class DataCipher:
    """A keyring; encrypts under the first key, decrypts under any."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise DataKeyError("a data cipher needs at least one key")
        object.__setattr__(self, "_by_id", {key_id(k): AESGCM(k) for k in self.keys})

    @classmethod
    def from_hex(cls, keys: Sequence[str]) -> "DataCipher":
        return cls(tuple(_parse_key(k) for k in keys))

    @classmethod
    def from_secrets(cls, secrets_config) -> "DataCipher":
        """From ``settings.secrets``: the configured keys, else the development key in the state dir."""
        keys = list(secrets_config.data_keys) or development_keys(secrets_config.state_dir)
        return cls.from_hex(keys)

    @property
    def current_id(self) -> str:
        return key_id(self.keys[0])

    def encrypt(self, plaintext: bytes, *, aad: bytes) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._by_id[self.current_id].encrypt(nonce, plaintext, aad)  # type: ignore[attr-defined]
        return f"{PREFIX}:{self.current_id}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, token: str, *, aad: bytes) -> bytes:
        prefix, kid, body = token.split(":", 2)
        if prefix != PREFIX:
            raise DataKeyError(f"not a {PREFIX} token")
        aead = self._by_id.get(kid)  # type: ignore[attr-defined]
        if aead is None:
            raise DataKeyError(f"no data key with id {kid}: add it to GRIDWORKS_DATA_KEYS to read this row")
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
        return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)

    def encrypt_text(self, text: str, *, aad: str) -> str:
        return self.encrypt(text.encode("utf-8"), aad=aad.encode("utf-8"))

    def decrypt_text(self, token: str, *, aad: str) -> str:
        return self.decrypt(token, aad=aad.encode("utf-8")).decode("utf-8")

    def is_current(self, token: str) -> bool:
        return token_key_id(token) == self.current_id


def seal_text(cipher: DataCipher, text: str | None, *, aad: str = "") -> str | None:
    """Seal one text for storage (``None`` stays ``None``): a ``gw1`` token under the current key, bound to
    ``aad`` (name where it is stored, e.g. ``messages.body:<user key>``, so a token copied elsewhere fails)."""
    return None if text is None else cipher.encrypt_text(text, aad=aad)


def open_text(cipher: DataCipher, value: str | None, *, aad: str = "") -> str | None:
    """The text behind a stored value: a token is decrypted (with the same ``aad``), anything else is a
    clear row (LITE, or written before sealing) and is returned as it is."""
    return cipher.decrypt_text(value, aad=aad) if is_token(value) else value


def reseal_text(cipher: DataCipher, value: str | None, *, aad: str = "") -> str | None:
    """For ``users reseal``-style rotation: the token re-sealed under the current key, or ``None`` when
    ``value`` is already current (or not a token), so callers rewrite only what changed."""
    if not is_token(value) or cipher.is_current(value):  # type: ignore[arg-type]
        return None
    return cipher.encrypt_text(cipher.decrypt_text(value, aad=aad), aad=aad)  # type: ignore[arg-type]
