"""``gridworks bench engine``: matching throughput of the pure book, durable order throughput on SQLite with one
commit per order and with group commit, and the latency of one durable order.

Workloads are fixed (derived from a seed with :mod:`engine.prng`), so runs are comparable. Top-level imports
stay light: the engine and SQLAlchemy are imported inside :func:`run`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="small sizes (CI): runs in a few seconds")
    parser.add_argument("--orders", type=int, default=None, help="orders for the in-memory matching run")
    parser.add_argument("--durable", type=int, default=None,
                        help="orders for the one-commit-per-order run (the group-commit run places 10x as many)")
    parser.add_argument("--concurrency", type=int, default=256, help="concurrent clients for group commit")
    parser.add_argument("--batch", type=int, default=256,
                        help="orders per place_many call in the batched group-commit run")
    parser.add_argument("--batch-clients", type=int, default=4,
                        help="concurrent clients calling place_many in the batched run")
    parser.add_argument("--gc-threshold", type=int, default=0,
                        help="gen-0 GC threshold for the durable runs (0: Python's default); a deployment knob")
    parser.add_argument("--db", default=None, help="SQLite file (default: a temporary directory)")


def workload(n: int, seed: int = 7) -> list[tuple[str, int, int, int]]:
    """``n`` limit orders (id, side, price, qty) around ₹100.00 in 1-paisa ticks; about half cross."""
    from engine import prng

    k = prng.key(seed, "bench")
    out = []
    for i in range(n):
        side = 1 if prng.uniform(k, 3 * i) < 0.5 else -1
        offset = int(prng.uniform(k, 3 * i + 1) * 40) - 20
        qty = 1 + int(prng.uniform(k, 3 * i + 2) * 100)
        out.append((f"o{i}", side, 10_000 + offset * (1 if side == 1 else -1) - 5 * side, qty))
    return out


def bench_matching(n: int) -> dict[str, Any]:
    from engine.book import Book

    orders = workload(n)
    book = Book("BENCH")
    submit = book.submit
    fills = 0
    c0, t0 = time.process_time(), time.perf_counter()
    for oid, side, price, qty in orders:
        fills += len(submit(oid, side, price, qty)[0])
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"matching_orders": n, "matching_fills": fills, "matching_orders_per_s": round(n / dt),
            "matching_orders_per_cpu_s": round(n / max(cpu, 1e-9)), "matching_resting_after": len(book)}


async def _durable(path: str, n: int, *, group: bool, concurrency: int, batch: int = 0,
                   writer_process: bool = False) -> dict[str, Any]:
    """One durable run. ``batch`` > 0: ``concurrency`` clients each send ``batch`` orders per ``place_many``
    call (group commit on); otherwise one ``place`` per order, from ``concurrency`` clients when ``group``."""
    import dataclasses
    import os
    from datetime import datetime

    from engine.api import OrderRequest, OrderType, Side
    from engine.clock import IST, FixedClock
    from engine.db import make_engine
    from config.product import shipped_product_config
    from engine.factory import open_engine
    from engine.params import EngineParams

    cfg = shipped_product_config()
    params = dataclasses.replace(EngineParams.from_config(cfg.engine), group_commit=group,
                                 starting_cash=10**13, writer_process=writer_process)
    db = make_engine(f"sqlite+aiosqlite:///{path}")
    clock = FixedClock(datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    engine = await open_engine(db=db, clock=clock, config=cfg, params=params)
    accounts = [f"bench{i}" for i in range(16)]
    for a in accounts:
        await engine.open_account(a)
    ltp = engine.market.ltp("ITC", clock.now())
    tick = engine.market.tick("ITC", clock.now().date())
    tag = ("b" if batch else "g") if group else "s"

    def request(i: int) -> OrderRequest:
        # Resting limits a few ticks away from the market on both sides, every 4th one marketable.
        side = Side.BUY if i % 2 == 0 else Side.SELL
        away = (i % 7 + 2) * tick
        price = ltp - away if side is Side.BUY else ltp + away
        if i % 4 == 0:
            price = ltp + 20 * tick if side is Side.BUY else ltp - 20 * tick
        return OrderRequest(account=accounts[i % len(accounts)], client_order_id=f"{tag}-{i}", symbol="ITC",
                            side=side, quantity=1 + i % 5, order_type=OrderType.LIMIT, price_paise=price,
                            product=__import__("engine.api", fromlist=["Product"]).Product.MIS)

    reqs = [request(i) for i in range(n)]
    latencies: list[float] = []
    c0, m0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
    if batch:
        import asyncio

        async def batch_client(mine: list[OrderRequest]) -> None:
            for k in range(0, len(mine), batch):
                s = time.perf_counter()
                results = await engine.place_many(mine[k:k + batch])
                latencies.append(time.perf_counter() - s)
                assert len(results) == len(mine[k:k + batch])

        await asyncio.gather(*(batch_client(reqs[k::concurrency]) for k in range(concurrency)))
    elif group:
        import asyncio

        async def client(mine: list[OrderRequest]) -> None:    # one of `concurrency` concurrent users
            for r in mine:
                s = time.perf_counter()
                await engine.place(r)
                latencies.append(time.perf_counter() - s)

        await asyncio.gather(*(client(reqs[k::concurrency]) for k in range(concurrency)))
    else:
        for r in reqs:
            s = time.perf_counter()
            await engine.place(r)
            latencies.append(time.perf_counter() - s)
    dt, cpu, main = time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - m0
    counts = await engine.store.counts()
    t_before = os.times()
    await engine.close()        # waits for the writer process: its whole life's CPU (an upper bound) counts now
    t_after = os.times()
    child_cpu = (t_after.children_user + t_after.children_system
                 - t_before.children_user - t_before.children_system)
    await db.dispose()
    latencies.sort()
    key = ("batch" if batch else "group") if group else "single"
    if writer_process:
        key += "_proc"
    return {f"durable_{key}_orders": n, f"durable_{key}_orders_per_s": round(n / dt),
            f"durable_{key}_cpu_us_per_order": round(cpu / n * 1e6, 1),
            # the event-loop thread's share (the rest is the writer thread and the database driver)
            f"durable_{key}_loop_cpu_us_per_order": round(main / n * 1e6, 1),
            f"durable_{key}_p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
            f"durable_{key}_p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 3),
            **({f"durable_{key}_writer_process_cpu_us_per_order": round(child_cpu / n * 1e6, 1)}
               if writer_process else {}),
            f"durable_{key}_rows": counts, **({"durable_batch_size": batch, "durable_batch_clients": concurrency}
                                              if batch and not writer_process else {})}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import os

    quick = getattr(args, "quick", False)
    n_match = args.orders or (50_000 if quick else 300_000)
    n_durable = args.durable or (300 if quick else 2_000)
    figures: dict[str, Any] = {"mode": "quick" if quick else "full",
                               "load_average_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    figures.update(bench_matching(n_match))
    import gc

    gc_default = gc.get_threshold()
    gc_threshold = getattr(args, "gc_threshold", 0) or 0
    figures["gc_threshold"] = gc_threshold or gc_default[0]
    if gc_threshold:
        gc.set_threshold(gc_threshold, *gc_default[1:])
    try:
        _durable_runs(args, figures, n_durable)
    finally:
        gc.set_threshold(*gc_default)
    return figures


def _durable_runs(args: argparse.Namespace, figures: dict[str, Any], n_durable: int) -> None:
    import asyncio
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        base = args.db or os.path.join(tmp, "bench")
        for group in (False, True):
            path = f"{base}-{'group' if group else 'single'}.db"
            if os.path.exists(path):
                os.remove(path)
            figures.update(asyncio.run(_durable(path, n_durable * (10 if group else 1), group=group,
                                                concurrency=getattr(args, "concurrency", 256))))
        # One place() per order from many clients, with SQLite's work in the writer process.
        path = f"{base}-group-proc.db"
        if os.path.exists(path):
            os.remove(path)
        figures.update(asyncio.run(_durable(path, n_durable * 10, group=True,
                                            concurrency=getattr(args, "concurrency", 256), writer_process=True)))
        # The batch entry point: place_many with group commit (latencies are per place_many call).
        path = f"{base}-batch.db"
        if os.path.exists(path):
            os.remove(path)
        figures.update(asyncio.run(_durable(path, n_durable * 10, group=True,
                                            concurrency=getattr(args, "batch_clients", 4),
                                            batch=getattr(args, "batch", 256))))
        # The same with SQLite's work in a writer process (engine.sqlite_writer), beside the event loop.
        path = f"{base}-batch-proc.db"
        if os.path.exists(path):
            os.remove(path)
        figures.update(asyncio.run(_durable(path, n_durable * 10, group=True,
                                            concurrency=getattr(args, "batch_clients", 4),
                                            batch=getattr(args, "batch", 256), writer_process=True)))
    variants = ("group", "group_proc", "batch", "batch_proc")
    best = max(variants, key=lambda v: figures[f"durable_{v}_orders_per_s"])
    figures["durable_group_commit_target_orders_per_s"] = 20_000
    figures["durable_group_commit_best"] = best
    figures["durable_group_commit_best_orders_per_s"] = figures[f"durable_{best}_orders_per_s"]
