"""What the webhook fuzz found, pinned as plain tests (each failed before its fix)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.whatsapp.body import load_body
from tests.fuzz.harness import A, open_fuzz_world
from tests.support import payloads as p


async def test_a_non_ascii_signature_is_a_bad_signature_not_a_500(tmp_path: Path) -> None:
    """hmac.compare_digest raises TypeError on a non-ASCII str: the header used to reach it and answer 500."""
    w, close = await open_fuzz_world(tmp_path)
    try:
        raw = p.raw(p.envelope(p.messages_value([p.text(A, "hi")], [p.contact(A)])))
        for signature in ("sha256=é", "ß", "sha256=" + "０" * 64, p.sign(raw) + "é"):
            assert (await w.post_raw(raw, signature=signature)).status == 403, signature
        await w.roles.settle()
        assert w.graph.messages == [] and w.bad_log_lines() == []
    finally:
        await close()


async def test_a_lone_surrogate_in_a_text_is_answered_not_a_failed_turn(tmp_path: Path) -> None:
    """``"\\udb93"`` alone is valid JSON but no UTF-8 string: storing (or, for PRO, sealing) the text raised
    UnicodeEncodeError inside the turn. The body decoder replaces lone surrogates with U+FFFD."""
    w, close = await open_fuzz_world(tmp_path)
    try:
        for phone, text in ((A, "hi \udb93 there"), (A, "\udc00"), (A, "\ud83d\ude00 \ud800")):
            raw = json.dumps(p.envelope(p.messages_value([p.text(phone, text)], [p.contact(phone)])),
                             ensure_ascii=True).encode()
            assert (await w.post_raw(raw)).status == 200
            await w.roles.settle()
        assert [m["to"] for m in w.graph.messages].count(A) >= 3, "every one answered"
        assert w.bad_log_lines() == []
        assert load_body(b'{"t":"x\\udb93"}')["t"].encode("utf-8") == "x\ufffd\ufffd\ufffd".encode()
    finally:
        await close()
