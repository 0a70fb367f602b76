"""What the webhook fuzz found, pinned as plain tests (each failed before its fix)."""

from __future__ import annotations

from pathlib import Path

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
