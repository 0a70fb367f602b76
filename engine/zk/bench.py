"""``gridworks bench zk [--json]``: receipt prove/verify time and size, signatures, log proofs, and the
event-loop latency of a trivial coroutine while a burst of receipts is proved in the process pool.

Top-level imports stay light (the CLI imports this module to build its parser).
"""

from __future__ import annotations

import argparse
import statistics
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--iterations", type=int, default=7, help="repetitions per timing (median reported)")
    parser.add_argument("--burst", type=int, default=8, help="receipts proved during the latency test")
    parser.add_argument("--processes", type=int, default=1, help="proving pool size in the latency test")


def _median_ms(fn, iterations: int) -> float:
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


def _median_cpu_ms(fn, iterations: int) -> float:
    """Process CPU time: what the work costs when other jobs share the 2 cores (wall time is also shown)."""
    times = []
    for _ in range(iterations):
        t = time.process_time()
        fn()
        times.append((time.process_time() - t) * 1000)
    return round(statistics.median(times), 2)


def _make_fill():
    """A realistic fill statement and opening, built with the same code the service uses."""
    import hashlib
    import secrets

    from engine.zk import generators as gens
    from engine.zk import merkle
    from engine.zk import receipt as rc
    from engine.zk.curve import INF, Q
    from engine.zk.signing import SigningKey
    from engine.zk.statements import FILL_M, FILL_N, FillStatement, log_id_for, trade_ref

    key = SigningKey.generate()
    r = [secrets.randbelow(Q - 1) + 1 for _ in range(5)]
    o = rc.FillOpening(limit=250_000, r_limit=r[0], quantity=10, r_quantity=r[1], prior=0, r_prior=0,
                       fill_price=249_950, r_fill_price=r[2], fill_quantity=4, r_fill_quantity=r[3])
    st = FillStatement(gens.params_id(FILL_N, FILL_M), log_id_for(key.public), key.key_id,
                       merkle.leaf_hash(hashlib.sha256(b"order").digest()), "BUY", "RELIANCE", 1_795_408_200_000_000,
                       trade_ref("T-1"), 0, 0, rc.commit(o.limit, o.r_limit), rc.commit(o.quantity, o.r_quantity), INF,
                       rc.commit(o.fill_price, o.r_fill_price), rc.commit(o.fill_quantity, o.r_fill_quantity))
    return key, st, o


def run(args: argparse.Namespace) -> dict:
    import os

    from py_ecc import optimized_bn128 as bn

    from engine.zk import generators as gens
    from engine.zk import merkle
    from engine.zk import rangeproof as rp
    from engine.zk import receipt as rc
    from engine.zk import signing
    from engine.zk.codec import Reader
    from engine.zk.curve import Q, mul
    from engine.zk.statements import FILL_M, FILL_N

    it = max(1, args.iterations)
    from engine.zk.curve import BACKEND

    figures: dict = {"backend": BACKEND, "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    t = time.perf_counter()
    gens.warm(FILL_N, FILL_M)
    figures["tables_build_ms"] = round((time.perf_counter() - t) * 1000, 1)

    key, st, o = _make_fill()
    proofs = []
    figures["prove_ms_median"] = _median_ms(lambda: proofs.append(rc.prove_fill(st, o)), it)
    proof = rp.RangeProof.read(Reader(proofs[-1]), FILL_N, FILL_M)
    figures["prove_cpu_ms_median"] = _median_cpu_ms(lambda: rc.prove_fill(st, o), it)
    figures["verify_ms_median"] = _median_ms(lambda: rc.verify_fill(st, proof), it)
    figures["verify_cpu_ms_median"] = _median_cpu_ms(lambda: rc.verify_fill(st, proof), it)
    batch = [(st, proof)] * 8
    figures["verify_batch8_ms_per_receipt"] = round(_median_ms(lambda: rc.verify_fills_batch(batch), 3) / 8, 2)
    body = st.to_bytes() + proofs[-1]
    receipt = body + key.sign(body)
    figures["receipt_bytes"] = len(receipt)
    figures["statement_bytes"] = len(st.to_bytes())
    figures["proof_bytes"] = len(proofs[-1])
    figures["target_prove_ms"], figures["target_verify_ms"], figures["target_receipt_bytes"] = 250, 50, 1536

    figures["sign_ms_median"] = _median_ms(lambda: key.sign(body), it * 5)
    sig = key.sign(body)
    figures["sign_verify_ms_median"] = _median_ms(lambda: signing.verify(key.public, body, sig), it * 5)

    k = 0x1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF % Q
    figures["scalar_mul_py_ecc_ms"] = _median_ms(lambda: bn.multiply(bn.G1, k), it)
    figures["scalar_mul_plain_int_ms"] = _median_ms(lambda: mul((1, 2, 1), k), it)
    figures["scalar_mul_fixed_base_ms"] = _median_ms(lambda: gens.fixed_G().mul(k), it * 5)

    figures.update(_portfolio(it))
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(65536)]
    tree = merkle.Tree(leaves)
    t = time.perf_counter()
    root = tree.root()
    figures["log_first_root_ms_65536_leaves"] = round((time.perf_counter() - t) * 1000, 1)
    tree.append(merkle.leaf_hash(b"new"))
    figures["log_append_root_ms_65537_leaves"] = _median_ms(lambda: tree.root(), it)
    root = tree.root()
    figures["inclusion_prove_ms_65537_leaves"] = _median_ms(lambda: tree.inclusion(12345), it)
    path = tree.inclusion(12345)
    figures["inclusion_verify_ms"] = _median_ms(
        lambda: merkle.verify_inclusion(leaves[12345], 12345, tree.size, path, root), it * 5)
    figures["consistency_prove_ms_65537_leaves"] = _median_ms(lambda: tree.consistency(40000), it)
    figures["inclusion_proof_bytes_1M_leaves"] = 20 * 32
    figures.update(_latency(st, o, args.burst, args.processes))
    return figures


def _portfolio(iterations: int) -> dict:
    """Portfolio ≥ threshold over 3 holdings (n = 64, m = 4: 256 generators)."""
    import secrets

    from engine.zk import generators as gens
    from engine.zk import rangeproof as rp
    from engine.zk import receipt as rc
    from engine.zk.codec import Reader
    from engine.zk.curve import Q
    from engine.zk.statements import PORTFOLIO_N, Holding, PortfolioStatement

    gens.warm(PORTFOLIO_N, 4)
    qty, prices = [10, 3, 250], [250_000, 400_000, 15_000]
    blinders = [secrets.randbelow(Q - 1) + 1 for _ in qty]
    st = PortfolioStatement(gens.params_id(PORTFOLIO_N, 4), b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 0,
                            5_000_000, tuple(Holding(s, p, rc.commit(q, r)) for s, p, q, r in
                                             zip(("RELIANCE", "TCS", "ITC"), prices, qty, blinders)))
    proofs = []
    prove = _median_ms(lambda: proofs.append(rc.prove_portfolio(st, qty, blinders)), max(1, iterations // 2))
    proof = rp.RangeProof.read(Reader(proofs[-1]), PORTFOLIO_N, 4)
    verify = _median_ms(lambda: rc.verify_portfolio(st, proof), max(1, iterations // 2))
    return {"portfolio3_prove_ms_median": prove, "portfolio3_verify_ms_median": verify,
            "portfolio3_receipt_bytes": len(st.to_bytes()) + len(proofs[-1]) + 64}


def _latency(st, o, burst: int, processes: int) -> dict:
    """p50/p99/max latency of a trivial coroutine (10 ms sleeps) before and during a proving burst."""
    import asyncio
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from engine.zk import receipt as rc

    async def probe(stop: asyncio.Event, out: list[float]) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            t = loop.time()
            await asyncio.sleep(0.01)
            out.append((loop.time() - t - 0.01) * 1000)

    async def main() -> dict:
        pool = ProcessPoolExecutor(max_workers=max(1, processes), mp_context=multiprocessing.get_context("spawn"),
                                   initializer=rc._worker_init)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(pool, rc.gens.warm, 32, 4)       # wait for the worker(s) to be ready
            base: list[float] = []
            stop = asyncio.Event()
            task = asyncio.create_task(probe(stop, base))
            await asyncio.sleep(1.0)
            stop.set()
            await task
            during: list[float] = []
            stop = asyncio.Event()
            task = asyncio.create_task(probe(stop, during))
            statement = st.to_bytes()
            t = time.perf_counter()
            await asyncio.gather(*(loop.run_in_executor(pool, rc.job_prove_fill, statement, o) for _ in range(burst)))
            elapsed = time.perf_counter() - t
            stop.set()
            await task
        finally:
            pool.shutdown()

        def pct(xs: list[float], q: float) -> float:
            xs = sorted(xs)
            return round(xs[min(len(xs) - 1, int(q * len(xs)))], 2)

        return {"loop_extra_latency_ms_p50_idle": pct(base, 0.5), "loop_extra_latency_ms_p99_idle": pct(base, 0.99),
                "loop_extra_latency_ms_p50_burst": pct(during, 0.5),
                "loop_extra_latency_ms_p99_burst": pct(during, 0.99),
                "loop_extra_latency_ms_max_burst": round(max(during), 2),
                "burst_receipts": burst, "burst_seconds": round(elapsed, 2),
                "burst_receipts_per_second": round(burst / elapsed, 2)}

    return asyncio.run(main())
