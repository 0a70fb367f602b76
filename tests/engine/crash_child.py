"""Child process for the crash test: places a fixed stream of orders and prints ``ACK <coid> <order_id>`` only
after each ``place`` has returned (i.e. after its commit). The parent kills it with SIGKILL at random moments.

With a fifth argument BATCH (> 0) it runs with group commit and sends the stream through ``place_many`` in
batches of that size, printing the ACK lines of a batch only after the call returned; a sixth argument
``proc`` commits through the SQLite writer process (which the kill orphans: it must exit on its own).

Usage: python -m tests.engine.crash_child DB_PATH START_INDEX COUNT [BATCH [proc]]
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from datetime import timedelta

from engine.api import OrderRequest, OrderType, Product, Side
from engine.clock import FixedClock
from engine.db import make_engine
from engine.factory import open_engine
from engine.params import EngineParams
from tests.engine.conftest import CONFIG, MON_10

SYMBOLS = ("TCS", "ITC", "WIPRO", "SBIN")
ACCOUNTS = ("919800000011", "919800000012", "919800000013")


def instruction(i: int) -> OrderRequest:
    side = Side.SELL if i % 5 == 3 else Side.BUY
    product = Product.MIS if i % 4 == 1 else Product.CNC
    otype = OrderType.MARKET if i % 3 else OrderType.LIMIT
    return OrderRequest(account=ACCOUNTS[i % 3], client_order_id=f"wamid.crash.{i}", symbol=SYMBOLS[i % 4],
                        side=side, quantity=1 + i % 4, order_type=otype, product=product,
                        price_paise=None, source_message_id=f"wamid.crash.{i}")


def priced(engine, clock, i: int) -> OrderRequest:
    req = instruction(i)
    if req.order_type is OrderType.LIMIT:
        ltp = engine.market.ltp(req.symbol, clock.now())
        tick = engine.market.tick(req.symbol, clock.now().date())
        req = OrderRequest(**{**{f: getattr(req, f) for f in req.__slots__},
                              "price_paise": (ltp // tick - 3 + i % 7) * tick})
    return req


async def batches(engine, clock, start: int, count: int, size: int) -> None:
    """Two concurrent clients, each sending batches (so batches share group commits)."""
    async def client(indices: list[int]) -> None:
        for k in range(0, len(indices), size):
            chunk = indices[k:k + size]
            clock.set(MON_10 + timedelta(seconds=chunk[0]))
            reqs = [priced(engine, clock, i) for i in chunk]
            results = await engine.place_many(reqs)
            print("".join(f"ACK {r.client_order_id} {res.order.order_id if res.order else '-'} "
                          f"{int(res.duplicate)}\n" for r, res in zip(reqs, results)), end="", flush=True)

    idx = list(range(start, start + count))
    await asyncio.gather(client(idx[: len(idx) // 2]), client(idx[len(idx) // 2:]))


async def main(path: str, start: int, count: int, batch: int = 0, proc: bool = False) -> None:
    db = make_engine(f"sqlite+aiosqlite:///{path}")
    clock = FixedClock(MON_10 + timedelta(seconds=start))
    params = dataclasses.replace(EngineParams.from_config(CONFIG.engine), group_commit=True,
                                 writer_process=proc) if batch else None
    engine = await open_engine(db=db, clock=clock, config=CONFIG, params=params)
    for acct in ACCOUNTS:
        await engine.open_account(acct)
    print("READY", flush=True)
    if batch:
        await batches(engine, clock, start, count, batch)
        await engine.close()
        await db.dispose()
        return
    for i in range(start, start + count):
        clock.set(MON_10 + timedelta(seconds=i))
        req = priced(engine, clock, i)
        result = await engine.place(req)
        order_id = result.order.order_id if result.order else "-"
        print(f"ACK {req.client_order_id} {order_id} {int(result.duplicate)}", flush=True)
    await engine.close()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0,
                     len(sys.argv) > 5 and sys.argv[5] == "proc"))
