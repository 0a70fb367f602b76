"""Classification off the event loop, for the texts long enough to matter.

Most of a classification is pure Python (scanning for names and numbers, fuzzy lookups), so it holds the
GIL. On a thread it still takes the event loop's turn every switch interval, and every await of the other
users' turns (each database round trip hops through a thread) waits for it. A child process shares nothing
with the loop: :class:`ProcessOffload` keeps one that loads the same trained model and classifies there.
``bot/bench/stall.py`` measures both against the loop.

The child starts on first use, in the background (spawning and loading the model takes a second or two);
until it is ready, and if it ever cannot start, texts go to one dedicated thread instead. (The child is not
recycled after N tasks: ``max_tasks_per_child`` deadlocks on Python 3.11, CPython gh-115634.)

The child is *spawned* (a fresh interpreter, never a fork of a process with threads and an event loop), so
the usual rule of ``multiprocessing`` holds: a script that uses the pipeline keeps its top-level work under
``if __name__ == "__main__":`` (the ``gridworks`` command and ``python -m`` modules do).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from engine.children import exit_with_parent

if TYPE_CHECKING:
    from intents.gating import GatePolicy
    from intents.pipeline import IntentPipeline
    from intents.types import IntentResult

log = structlog.get_logger(__name__)

Classify = Callable[..., "IntentResult"]

# ------------------------------------------------------------------------------------------- in the child
_CHILD: IntentPipeline | None = None


def _child_start(model_dir: str, data_dir: str, policy: GatePolicy, max_chars: int | None) -> None:
    global _CHILD
    from intents.pipeline import IntentPipeline

    exit_with_parent()   # a SIGKILLed parent never shuts this pool down

    pipeline = IntentPipeline.load(model_dir=Path(model_dir), data_dir=Path(data_dir), offload="inline",
                                   max_chars=max_chars)
    pipeline.policy = policy
    pipeline.tokenizers.warm()          # build every language's tokenizer now, not on a user's message
    _CHILD = pipeline


def _child_classify(text: str, lang_hint: str | None) -> IntentResult:
    assert _CHILD is not None, "the initializer loads the pipeline"
    return _CHILD.classify(text, lang_hint=lang_hint)


# ------------------------------------------------------------------------------------------ in the parent
class ThreadOffload:
    """Classify on one dedicated thread (the fallback: it frees the loop only partly, see above)."""

    def __init__(self, classify: Classify) -> None:
        self._classify = classify
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intents")

    async def classify(self, text: str, *, lang_hint: str | None = None) -> IntentResult:
        return await asyncio.wrap_future(self._pool.submit(self._classify, text, lang_hint=lang_hint))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ProcessOffload:
    """Classify in a child process that holds its own copy of the pipeline (see the module docstring)."""

    #: A child that dies this many times (killed, out of memory) is not restarted again: threads from then on.
    MAX_RESTARTS = 3

    def __init__(self, pipeline: IntentPipeline, *, fallback: ThreadOffload, workers: int = 1,
                 start_timeout_s: float = 300.0) -> None:
        assert pipeline.model_dir is not None and pipeline.data_dir is not None
        self._pipeline = pipeline
        self._fallback = fallback
        self._workers = workers
        self._start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._state = "idle"             # idle → starting → ready; failed: threads only
        self._settled = threading.Event()    # set when a start has ended (ready or failed)
        self._restarts = 0

    @property
    def state(self) -> str:
        return self._state

    async def classify(self, text: str, *, lang_hint: str | None = None) -> IntentResult:
        pool = self._pool if self._state == "ready" else None
        if pool is not None:
            try:
                future = pool.submit(_child_classify, text, lang_hint)
            except (BrokenProcessPool, RuntimeError):   # broken, or shut down by close() meanwhile
                self._discard(pool)
            else:
                try:
                    return await asyncio.wrap_future(future)
                except BrokenProcessPool:               # the child died (killed, out of memory)
                    log.warning("intents_child_lost", restarts=self._restarts)
                    self._discard(pool)
        elif self._state == "idle":
            self.start()
        return await self._fallback.classify(text, lang_hint=lang_hint)

    def start(self) -> None:
        """Start the child in the background (spawning it from the loop's thread would block the loop)."""
        with self._lock:
            if self._state != "idle":
                return
            self._state = "starting"
            self._settled.clear()
        threading.Thread(target=self._start, name="intents-child-start", daemon=True).start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the child is ready (benchmarks and tests); False if it failed or timed out."""
        self.start()
        self._settled.wait(timeout)
        return self._state == "ready"

    def _start(self) -> None:
        p = self._pipeline        # read now: the child is configured as the pipeline is when it starts
        args = (str(p.model_dir), str(p.data_dir), p.policy, p.max_chars)
        pool: ProcessPoolExecutor | None = None
        try:
            pool = ProcessPoolExecutor(max_workers=self._workers, initializer=_child_start, initargs=args,
                                       mp_context=multiprocessing.get_context("spawn"))
            pool.submit(_child_classify, "", None).result(timeout=self._start_timeout_s)
            ok = True
        except Exception as exc:  # noqa: BLE001 - any failure to start means: classify on a thread
            log.error("intents_child_failed", error=type(exc).__name__)
            ok = False
        with self._lock:
            kept = ok and self._state == "starting"
            if kept:
                self._pool, self._state = pool, "ready"
            elif self._state == "starting":
                self._state = "failed"
            if kept:                     # said before waiters wake, so it never interleaves with what they print
                log.info("intents_child_ready")
            self._settled.set()
        if not kept and pool is not None:    # failed, or closed while starting
            pool.shutdown(wait=False, cancel_futures=True)

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is not pool:
                return
            self._pool = None
            self._restarts += 1
            self._state = "idle" if self._restarts < self.MAX_RESTARTS else "failed"
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._state = "failed"
            self._settled.set()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self._fallback.close()
