"""A long message cannot buy unbounded CPU: the pipeline reads at most ``max_chars`` characters, and
``aclassify`` runs long texts off the event loop (in a child process that classifies exactly as we do)."""

from __future__ import annotations

import asyncio
import random
import unicodedata

import pytest

import intents.pipeline as pipeline_module
from intents.clip import MAX_CHARS, clip, was_clipped
from intents.pipeline import IntentPipeline

DEVANAGARI = [chr(c) for c in range(0x0905, 0x0939)] + [chr(c) for c in range(0x093E, 0x094D)]


def random_words(chars: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    words = ["".join(rng.choice(DEVANAGARI) for _ in range(rng.randint(2, 8))) for _ in range(chars // 3)]
    return " ".join(words)[:chars]


def test_clip_keeps_short_texts_and_cuts_long_ones_on_a_boundary():
    assert clip("buy 10 TCS") == "buy 10 TCS"
    assert clip("x" * MAX_CHARS) == "x" * MAX_CHARS and not was_clipped("x" * MAX_CHARS)
    words = "TCS kharido " * 200
    cut = clip(words)
    assert len(cut) <= MAX_CHARS and words.startswith(cut) and words[len(cut)] == " ", "whole words only"
    assert was_clipped(words) and clip(words, None) == words


def test_clip_never_leaves_half_a_letter_in_an_unbroken_indic_run():
    text = "क्षत्रिय" * 300          # no spaces; conjuncts (virama) and vowel signs everywhere
    for limit in range(990, 1001):
        cut = clip(text, limit)
        assert len(cut) <= limit and text.startswith(cut)
        after = text[len(cut)]
        assert not unicodedata.category(after).startswith("M"), "no vowel sign or virama cut from its letter"
        assert unicodedata.combining(cut[-1]) != 9, "no letter cut from the conjunct its virama starts"


def test_classify_reads_at_most_max_chars(pipeline, monkeypatch):
    seen: list[int] = []
    real = pipeline_module.analyse
    monkeypatch.setattr(pipeline_module, "analyse", lambda text, scanner: seen.append(len(text)) or real(text,
                                                                                                      scanner))
    text = random_words(65536)
    result = pipeline.classify(text)
    assert seen == [len(clip(text))] and seen[0] <= MAX_CHARS
    assert result == pipeline.classify(clip(text))
    seen.clear()
    pipeline.classify_many([text, "price of TCS"])
    assert max(seen) <= MAX_CHARS


class RecordingOffload:
    def __init__(self, pipeline: IntentPipeline) -> None:
        self.pipeline = pipeline
        self.texts: list[str] = []

    async def classify(self, text: str, *, lang_hint: str | None = None):
        self.texts.append(text)
        return self.pipeline.classify(text, lang_hint=lang_hint)

    def close(self) -> None:
        pass


async def test_aclassify_sends_long_texts_off_the_loop_and_keeps_short_ones_inline(pipeline, monkeypatch):
    fake = RecordingOffload(pipeline)
    monkeypatch.setattr(pipeline, "offload", fake)
    short = await pipeline.aclassify("SBI 600 pe 50 kharido")
    assert fake.texts == [] and short.intent == "buy"
    long = random_words(65536, seed=3)
    result = await pipeline.aclassify(long, lang_hint="hi")
    assert fake.texts == [clip(long)] and len(fake.texts[0]) <= MAX_CHARS
    assert result == pipeline.classify(long, lang_hint="hi")


async def test_the_child_process_classifies_exactly_as_the_parent():
    pipeline = IntentPipeline.load(offload="process")
    try:
        assert type(pipeline.offload).__name__ == "ProcessOffload"
        assert await asyncio.to_thread(pipeline.offload.wait_ready, 120), "the child starts"
        texts = [random_words(5000, seed=s) for s in range(3)] + ["reliance ke 10 share 2450 pe le lo " * 20]
        for text in texts:
            assert await pipeline.aclassify(text) == pipeline.classify(text)
    finally:
        pipeline.close()
    assert pipeline.offload.state == "failed", "closed: nothing is sent to the child any more"


@pytest.mark.parametrize("mode", ["thread", "inline"])
async def test_other_offload_modes_give_the_same_answers(pipeline, mode):
    other = IntentPipeline(nlp=pipeline.nlp, lexicon=pipeline.lexicon, vocabulary=[], memory={},
                           langid_counts=pipeline.langid.counts, offload=mode)
    text = random_words(3000, seed=11)
    plain = IntentPipeline(nlp=pipeline.nlp, lexicon=pipeline.lexicon, vocabulary=[], memory={},
                           langid_counts=pipeline.langid.counts, offload="inline")
    assert await other.aclassify(text) == plain.classify(text)
    other.close()


def test_the_child_process_exits_when_its_parent_is_killed(tmp_path):
    """A worker killed with SIGKILL never shuts its classifier pool down: the child must not live on."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from intents.pipeline import IntentPipeline\n"
        "if __name__ == '__main__':\n"
        "    p = IntentPipeline.load(offload='process')\n"
        "    assert p.offload.wait_ready(120)\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while (line := parent.stdout.readline()) and line.strip() != "ready":
            lines.append(line)
        assert line.strip() == "ready", lines

        def children() -> list[int]:
            found = []
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        stat = Path(f"/proc/{entry}/stat").read_text()
                        cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
                    except OSError:
                        continue
                    if int(stat.rsplit(")", 1)[1].split()[1]) == parent.pid and b"spawn_main" in cmd:
                        found.append(int(entry))
            return found

        kids = children()
        assert kids, "the classifier child runs beside its parent"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(Path(f"/proc/{k}").exists() for k in kids):
            time.sleep(0.2)
        assert not any(Path(f"/proc/{k}").exists() for k in kids), "the orphaned child exited"
    finally:
        if parent.poll() is None:
            parent.kill()
