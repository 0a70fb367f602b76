"""Canonical fixed-width encodings of points and scalars, with strict decoding.

A point is 32 bytes: the x coordinate big-endian with the y parity in the top bit (0x80) and the
identity flag in the next bit (0x40). Decoding rejects everything that is not the one canonical
encoding of a curve point: x ≥ p, off-curve x, a set identity flag with other bits, a y parity that
does not exist, scalars ≥ q. Errors raise :class:`DecodeError`, which verifiers turn into the
"encoding" check rather than letting it escape.
"""

from __future__ import annotations

from engine.zk.curve import INF, P, Q, Jac, to_affine, y_for_x

POINT_BYTES = 32
SCALAR_BYTES = 32
_PARITY = 0x80
_INFINITY = 0x40


class DecodeError(ValueError):
    """Bytes that are not a canonical encoding."""


def encode_point(p: Jac) -> bytes:
    aff = to_affine(p)
    if aff is None:
        return bytes([_INFINITY]) + bytes(31)
    x, y = aff
    raw = bytearray(int(x).to_bytes(32, "big"))
    if y & 1:
        raw[0] |= _PARITY
    return bytes(raw)


def decode_point(data: bytes, *, allow_identity: bool = False) -> Jac:
    if len(data) != POINT_BYTES:
        raise DecodeError("point length")
    flags = data[0] & 0xC0
    if flags & _INFINITY:
        if not allow_identity:
            raise DecodeError("identity point not allowed here")
        if data[0] != _INFINITY or any(data[1:]):
            raise DecodeError("non-canonical identity")
        return INF
    x = int.from_bytes(bytes([data[0] & 0x3F]) + data[1:], "big")
    if x >= P:
        raise DecodeError("x not reduced")
    y = y_for_x(x)
    if y is None:
        raise DecodeError("x not on curve")
    want_odd = bool(flags & _PARITY)
    if y == 0 and want_odd:
        raise DecodeError("wrong parity")
    if (y & 1) != want_odd:
        y = P - y
    return (x, y, 1)


def encode_scalar(k: int) -> bytes:
    if not 0 <= k < Q:
        raise ValueError("scalar out of range")
    return k.to_bytes(32, "big")


def decode_scalar(data: bytes) -> int:
    if len(data) != SCALAR_BYTES:
        raise DecodeError("scalar length")
    k = int.from_bytes(data, "big")
    if k >= Q:
        raise DecodeError("scalar not reduced")
    return k


class Reader:
    """Sequential reader over canonical bytes; ``done()`` insists every byte was consumed."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError("truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def i64(self) -> int:
        return int.from_bytes(self.take(8), "big", signed=True)

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "big")

    def point(self, *, allow_identity: bool = False) -> Jac:
        return decode_point(self.take(POINT_BYTES), allow_identity=allow_identity)

    def scalar(self) -> int:
        return decode_scalar(self.take(SCALAR_BYTES))

    def done(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError("trailing bytes")


def fixed_text(text: str, width: int) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > width or b"\x00" in raw:
        raise ValueError(f"text does not fit {width} bytes")
    return raw + bytes(width - len(raw))


def read_text(raw: bytes) -> str:
    text = raw.rstrip(b"\x00")
    if b"\x00" in text:
        raise DecodeError("embedded NUL")
    try:
        return text.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DecodeError("text not ASCII") from exc
