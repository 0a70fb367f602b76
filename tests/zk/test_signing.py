"""Schnorr signatures: fresh randomness per signature, agreement with py_ecc, known answers."""

from engine.zk import reference as ref
from engine.zk.signing import SigningKey, key_id, verify
from tests.zk.helpers import KEY, CountingRng


def test_two_signatures_of_the_same_message_differ_and_both_verify():
    a, b = KEY.sign(b"leaf"), KEY.sign(b"leaf")
    assert a != b
    assert verify(KEY.public, b"leaf", a) and verify(KEY.public, b"leaf", b)


def test_wrong_message_key_or_bytes_reject():
    sig = KEY.sign(b"leaf")
    assert not verify(KEY.public, b"leaf!", sig)
    assert not verify(SigningKey.generate().public, b"leaf", sig)
    for i in (0, 31, 32, 63):
        bad = bytearray(sig)
        bad[i] ^= 1
        assert not verify(KEY.public, b"leaf", bytes(bad))
    assert not verify(KEY.public, b"leaf", sig[:-1])
    assert not verify(b"\x00" * 32, b"leaf", sig)


def test_reference_verifier_agrees():
    sig = KEY.sign(b"leaf")
    assert ref.schnorr_verify(KEY.public, b"leaf", sig)
    assert not ref.schnorr_verify(KEY.public, b"leaf?", sig)


def test_known_answer_with_injected_rng():
    sig = KEY.sign(b"kat", rng=CountingRng(b"sig"))
    assert sig == KEY.sign(b"kat", rng=CountingRng(b"sig"))
    assert sig.hex() == KAT_SIG
    assert key_id(KEY.public).hex() == KAT_KEY_ID


def test_generated_keys_differ():
    assert SigningKey.generate().public != SigningKey.generate().public


KAT_SIG = ("a09692a77c8336988f85ea6b5336ef709ccebb37d6cda393f328ec052c3f0a3d"
           "268b340c1da93a222c7bdff9a257e7bbe0fda7538ed06b3496e07e15e4c70b22")
KAT_KEY_ID = "b851df21c1f523b58004d5e7fb2827af77746188677124b0477ba92d8d00e26a"
