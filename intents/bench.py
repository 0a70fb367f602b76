"""``gridworks bench intents``: latency per message (p50/p99) and throughput, single and batched, with the
full NSE lexicon (2,400 companies); the lexicon's build time and memory, and its cached load time.

Latency is reported as wall-clock and as process CPU time: on a shared, busy machine the wall-clock tail
measures the scheduler, the CPU figure measures the pipeline.

Top-level imports stay light (the bench command imports this module when building its parser).
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=3000, help="how many messages to classify")
    parser.add_argument("--batch", type=int, default=64, help="batch size for classify_many")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    import structlog

    from intents.evaluate import default_eval_files, load_rows
    from intents.pipeline import IntentPipeline

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    lexicon_figures = _lexicon_cost()
    started = time.perf_counter()
    import spacy  # noqa: F401 - the library import is a process cost, reported apart from loading the model

    import_s = time.perf_counter() - started
    started = time.perf_counter()
    pipeline = IntentPipeline.load()
    load_s = time.perf_counter() - started
    from intents.evaluate import general_eval_files

    texts = [r["text"] for r in load_rows(default_eval_files() + general_eval_files())] or [
        "reliance ke 10 share 2450 pe le lo"]
    n = max(1, getattr(args, "messages", 3000))
    # Interleave the languages (the eval files are grouped by language) so the sample mixes them.
    stride = 7919
    sample = [texts[(i * stride) % len(texts)] for i in range(n)]
    pipeline.tokenizers.warm()
    for text in sample[:300]:
        pipeline.classify(text)  # warm-up
    wall: list[float] = []
    cpu: list[float] = []
    t0 = time.perf_counter()
    for text in sample:
        s, c = time.perf_counter_ns(), time.process_time_ns()
        pipeline.classify(text)
        cpu.append((time.process_time_ns() - c) / 1e6)
        wall.append((time.perf_counter_ns() - s) / 1e6)
    single_s = time.perf_counter() - t0
    batch = max(1, getattr(args, "batch", 64))
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        pipeline.classify_many(sample[i:i + batch])
    batched_s = time.perf_counter() - t0
    return {
        "messages": n,
        "import_spacy_s": round(import_s, 3),
        "load_s": round(load_s, 3),
        "single_p50_ms": round(_percentile(wall, 0.50), 3),
        "single_p99_ms": round(_percentile(wall, 0.99), 3),
        "single_max_ms": round(max(wall), 3),
        "single_cpu_p50_ms": round(_percentile(cpu, 0.50), 3),
        "single_cpu_p99_ms": round(_percentile(cpu, 0.99), 3),
        "single_msgs_per_s": round(n / single_s, 1),
        "batched_msgs_per_s": round(n / batched_s, 1),
        "batched_ms_per_msg": round(batched_s * 1000 / n, 3),
        "batch_size": batch,
    } | lexicon_figures


def _lexicon_cost() -> dict[str, Any]:
    """Building the lexicon from the data files (time, Python heap peak) and loading its pickled copy."""
    import pickle
    import tracemalloc

    from intents.lexicon import build_lexicon

    started = time.perf_counter()
    lexicon = build_lexicon()
    build_s = time.perf_counter() - started
    tracemalloc.start()
    kept = build_lexicon()
    size, peak = tracemalloc.get_traced_memory()   # size: what the built lexicon keeps
    del kept
    tracemalloc.stop()
    blob = pickle.dumps(lexicon, protocol=pickle.HIGHEST_PROTOCOL)
    started = time.perf_counter()
    pickle.loads(blob)
    load_s = time.perf_counter() - started
    return {"lexicon_companies": len(lexicon.instruments), "lexicon_names": len(lexicon.symbols) + len(lexicon.ambiguous),
            "lexicon_sound_keys": len(lexicon.names.keys) if lexicon.names is not None else 0,
            "lexicon_build_s": round(build_s, 3), "lexicon_heap_mb": round(size / 1e6, 1),
            "lexicon_build_peak_mb": round(peak / 1e6, 1), "lexicon_pickle_mb": round(len(blob) / 1e6, 1),
            "lexicon_cached_load_s": round(load_s, 3)}
