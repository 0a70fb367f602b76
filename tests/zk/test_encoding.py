"""Canonical encodings: every non-canonical point or scalar is rejected."""

import pytest

from engine.zk import curve as c
from engine.zk.codec import DecodeError, Reader, decode_point, decode_scalar, encode_point, encode_scalar


def test_scalar_must_be_reduced_and_exact_length():
    assert decode_scalar(encode_scalar(c.Q - 1)) == c.Q - 1
    for bad in (c.Q.to_bytes(32, "big"), (c.Q + 5).to_bytes(32, "big"), (2**256 - 1).to_bytes(32, "big")):
        with pytest.raises(DecodeError):
            decode_scalar(bad)
    with pytest.raises(DecodeError):
        decode_scalar(b"\x01" * 31)
    with pytest.raises(DecodeError):
        decode_scalar(b"\x01" * 33)


def _valid_point() -> bytes:
    return encode_point(c.mul((1, 2, 1), 12345))


def test_x_not_reduced_is_rejected():
    with pytest.raises(DecodeError):
        decode_point(c.P.to_bytes(32, "big"))
    raw = bytearray((c.P + 1).to_bytes(32, "big"))
    with pytest.raises(DecodeError):
        decode_point(bytes(raw))


def test_off_curve_x_is_rejected():
    x = 0
    while c.y_for_x(x) is not None:
        x += 1
    with pytest.raises(DecodeError, match="curve"):
        decode_point(x.to_bytes(32, "big"))


def test_parity_bit_selects_y_and_both_parities_decode_to_negatives():
    raw = _valid_point()
    flipped = bytes([raw[0] ^ 0x80]) + raw[1:]
    p, q = decode_point(raw), decode_point(flipped)
    assert c.is_inf(c.add(p, q))


def test_identity_only_where_allowed_and_only_canonical():
    ident = encode_point(c.INF)
    with pytest.raises(DecodeError):
        decode_point(ident)
    assert c.is_inf(decode_point(ident, allow_identity=True))
    for bad in (bytes([0xC0]) + bytes(31), bytes([0x40]) + bytes(30) + b"\x01", bytes(32)):
        with pytest.raises(DecodeError):
            decode_point(bad, allow_identity=True)


def test_reserved_bit_with_x_is_rejected():
    raw = _valid_point()
    with pytest.raises(DecodeError):
        decode_point(bytes([raw[0] | 0x40]) + raw[1:])


def test_wrong_lengths_and_trailing_bytes():
    with pytest.raises(DecodeError):
        decode_point(_valid_point()[:31])
    with pytest.raises(DecodeError):
        decode_point(_valid_point() + b"\x00")
    r = Reader(_valid_point() + b"\x00")
    r.point()
    with pytest.raises(DecodeError):
        r.done()
    with pytest.raises(DecodeError):
        Reader(b"\x00").take(2)
