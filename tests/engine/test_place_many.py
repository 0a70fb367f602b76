"""``place_many``, the batch entry point: the same results as placing one by one, idempotent inside a batch,
across batches and under concurrency, durable before it answers (per-command and group commit)."""

import asyncio
import dataclasses

import pytest

from sqlalchemy import func, select

from engine.api import OrderRequest, OrderType, Product, Side
from engine.db import make_engine
from engine.factory import open_engine
from engine.params import EngineParams
from engine.store import orders
from tests.engine.conftest import CONFIG, limit, req

ACC = "919800000002"


def mixed_requests(prefix: str) -> list[OrderRequest]:
    """Fills, resting limits that later cross each other, rejections, CNC sells of what was just bought and a
    sell without holdings; the same instruction twice."""
    ltp_itc = 45_000   # within the simulated band; exact level does not matter for the comparison
    out = [
        req("TCS", Side.BUY, 5, account=ACC, coid=f"{prefix}.1"),
        req("ITC", Side.BUY, 10, account="919800000003", coid=f"{prefix}.2", product=Product.MIS),
        req("NOPE", account=ACC, coid=f"{prefix}.3"),
        req("TCS", Side.SELL, 3, account=ACC, coid=f"{prefix}.4"),
        req("WIPRO", Side.SELL, 3, account=ACC, coid=f"{prefix}.5"),               # no holdings: rejected
        limit("ITC", Side.BUY, 4, ltp_itc, account=ACC, coid=f"{prefix}.6"),
        req("TCS", Side.BUY, 5, account=ACC, coid=f"{prefix}.1"),                   # re-sent in the batch
        req("SBIN", Side.BUY, 0, account=ACC, coid=f"{prefix}.7"),                  # quantity invalid
        req("INFY", Side.BUY, 2, account="919800000004", coid=f"{prefix}.8", order_type=OrderType.MARKET),
    ]
    return out


def params(group: bool, writer_process: bool = False) -> EngineParams:
    return dataclasses.replace(EngineParams.from_config(CONFIG.engine), group_commit=group,
                               writer_process=writer_process)


async def count(db, coid_prefix: str) -> dict[str, int]:
    async with db.connect() as conn:
        rows = (await conn.execute(select(orders.c.client_order_id, func.count())
                                   .where(orders.c.client_order_id.like(f"{coid_prefix}%"))
                                   .group_by(orders.c.client_order_id))).all()
    return dict(rows)


async def test_place_many_returns_what_one_by_one_placement_returns(db, clock, tmp_path):
    reference_db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'one_by_one.db'}")
    one = await open_engine(db=reference_db, clock=clock, config=CONFIG)
    many = await open_engine(db=db, clock=clock, config=CONFIG, params=params(True))
    try:
        singles = [await one.place(r) for r in mixed_requests("wamid.M")]
        batch = await many.place_many(mixed_requests("wamid.M"))
        assert batch == singles
        assert [r.duplicate for r in batch] == [False] * 6 + [True, False, False]
        assert sum(r.accepted for r in batch) >= 5 and any(r.trades for r in batch)
        for a in (ACC, "919800000003", "919800000004"):
            assert await many.funds(a) == await one.funds(a)
            assert await many.holdings(a) == await one.holdings(a)
            assert await many.positions(a) == await one.positions(a)
        assert await many.ledger_balanced()
    finally:
        await one.close()
        await many.close()
        await reference_db.dispose()
    again = await open_engine(db=db, clock=clock, config=CONFIG)     # everything answered was committed
    try:
        assert await again.funds(ACC) == (await many.funds(ACC))
        assert sorted(o.order_id for o in await again.orders(ACC)) == \
            sorted({r.order.order_id for r in batch if r.order.account == ACC})
    finally:
        await again.close()


async def test_resubmission_inside_and_across_batches_and_concurrently(db, clock):
    for group in (False, True):
        tag = f"wamid.R{int(group)}"
        e = await open_engine(db=db, clock=clock, config=CONFIG, params=params(group))
        try:
            first = await e.place_many([req("ITC", Side.BUY, 2, account=ACC, coid=f"{tag}.a"),
                                        req("ITC", Side.BUY, 2, account=ACC, coid=f"{tag}.a"),
                                        req("TCS", Side.BUY, 1, account=ACC, coid=f"{tag}.b")])
            assert first[1].duplicate and first[1].order.order_id == first[0].order.order_id
            assert [t.trade_id for t in first[1].trades] == [t.trade_id for t in first[0].trades]
            second = await e.place_many([req("TCS", Side.BUY, 1, account=ACC, coid=f"{tag}.b"),
                                         req("ITC", Side.BUY, 2, account=ACC, coid=f"{tag}.c")])
            assert second[0].duplicate and second[0].order.order_id == first[2].order.order_id
            assert not second[1].duplicate
            single = await e.place(req("ITC", Side.BUY, 2, account=ACC, coid=f"{tag}.c"))
            assert single.duplicate and single.order.order_id == second[1].order.order_id
            # the same instructions from many concurrent callers, batched and not, in flight together
            calls = [e.place_many([req("WIPRO", Side.BUY, 1, account=ACC, coid=f"{tag}.d{k % 5}")
                                   for k in range(i, i + 7)]) for i in range(6)]
            calls += [e.place(req("WIPRO", Side.BUY, 1, account=ACC, coid=f"{tag}.d{i}")) for i in range(5)]
            answers = await asyncio.gather(*calls)
            flat = [r for a in answers for r in (a if isinstance(a, list) else [a])]
            by_coid: dict[str, set[str]] = {}
            for r in flat:
                by_coid.setdefault(r.order.client_order_id, set()).add(r.order.order_id)
            assert all(len(ids) == 1 for ids in by_coid.values()) and len(by_coid) == 5
            assert sum(not r.duplicate for r in flat) == 5
        finally:
            await e.close()
        assert set((await count(db, tag)).values()) == {1} and len(await count(db, tag)) == 8
    # a second engine on the same database (another process) racing a batch: the database decides
    a = await open_engine(db=db, clock=clock, config=CONFIG, params=params(True))
    b = await open_engine(db=db, clock=clock, config=CONFIG)
    try:
        x, y = await asyncio.gather(
            a.place_many([req("SBIN", Side.BUY, 1, account=ACC, coid=f"wamid.X{i}") for i in range(4)]),
            b.place_many([req("SBIN", Side.BUY, 1, account=ACC, coid=f"wamid.X{i}") for i in range(2, 6)]))
    finally:
        await a.close()
        await b.close()
    ids = {r.order.client_order_id: r.order.order_id for r in x}
    assert all(ids.get(r.order.client_order_id, r.order.order_id) == r.order.order_id for r in y)
    assert set((await count(db, "wamid.X")).values()) == {1} and len(await count(db, "wamid.X")) == 6


async def test_empty_batch(engine):
    assert await engine.place_many([]) == []


@pytest.mark.parametrize("writer_process", [False, True], ids=["writer_thread", "writer_process"])
async def test_answers_come_only_after_the_commit(clock, tmp_path, writer_process):
    """Read the file through a separate connection right after ``place_many`` returns, before the event loop
    runs anything else: every answered order must already be committed (also through the writer process)."""
    import sqlite3

    path = tmp_path / "durable.db"
    for group in (False, True):
        db = make_engine(f"sqlite+aiosqlite:///{path}")
        e = await open_engine(db=db, clock=clock, config=CONFIG, params=params(group, writer_process))
        try:
            others = [asyncio.ensure_future(e.place(req("ITC", Side.BUY, 1, account=ACC, coid=f"wamid.O{group}{i}")))
                      for i in range(5)]
            coids = [f"wamid.D{group}{i}" for i in range(6)]   # no duplicates: their look-up would await
            results = await e.place_many([req("TCS", Side.BUY, 1, account=ACC, coid=c) for c in coids])
            with sqlite3.connect(path) as raw:      # no await between the answer and this read
                stored = dict(raw.execute("SELECT client_order_id, order_id FROM eng_orders "
                                          "WHERE client_order_id LIKE ?", (f"wamid.D{group}%",)).fetchall())
            assert {r.order.client_order_id: r.order.order_id for r in results} == stored and len(stored) == 6
            await asyncio.gather(*others)
        finally:
            await e.close()
            await db.dispose()


async def test_writer_process_commits_what_one_by_one_placement_commits(clock, tmp_path):
    """SQLite's work in a child process: same answers, same stored ledger, the unique client order id still
    refuses a second order from another engine, and close() ends the child."""
    reference_db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'one_by_one.db'}")
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'proc.db'}")
    one = await open_engine(db=reference_db, clock=clock, config=CONFIG)
    many = await open_engine(db=db, clock=clock, config=CONFIG, params=params(True, writer_process=True))
    child = many.store._proc._proc
    try:
        singles = [await one.place(r) for r in mixed_requests("wamid.P")]
        assert await many.place_many(mixed_requests("wamid.P")) == singles
        assert await many.store.ledger_sums() == await one.store.ledger_sums()
        other = await open_engine(db=db, clock=clock, config=CONFIG)      # another process, no writer child
        try:
            again = await asyncio.gather(many.place(req("ITC", Side.BUY, 1, account=ACC, coid="wamid.PX")),
                                         other.place(req("ITC", Side.BUY, 1, account=ACC, coid="wamid.PX")))
        finally:
            await other.close()
        assert again[0].order.order_id == again[1].order.order_id and sum(r.duplicate for r in again) == 1
    finally:
        await one.close()
        await many.close()
        await reference_db.dispose()
        await db.dispose()
    assert child.returncode == 0
    assert (await count(db, "wamid.PX")) == {"wamid.PX": 1}


async def test_concurrent_place_calls_are_drained_together_with_one_by_one_results(clock, tmp_path):
    """Group mode coalesces concurrent ``place`` calls into one core pass and one commit: the answers equal
    sequential placement, re-sent ids come back as duplicates, and every answer is already on disk."""
    import sqlite3

    reference_db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'one_by_one.db'}")
    path = tmp_path / "drained.db"
    db = make_engine(f"sqlite+aiosqlite:///{path}")
    one = await open_engine(db=reference_db, clock=clock, config=CONFIG)
    grouped = await open_engine(db=db, clock=clock, config=CONFIG, params=params(True))
    try:
        singles = [await one.place(r) for r in mixed_requests("wamid.C")]
        fresh = [r for i, r in enumerate(mixed_requests("wamid.C")) if i != 6]   # 6 re-sends 0
        together = await asyncio.gather(*(grouped.place(r) for r in fresh))
        with sqlite3.connect(path) as raw:          # no await since the last answer
            stored = dict(raw.execute("SELECT client_order_id, order_id FROM eng_orders").fetchall())
        assert {r.order.client_order_id: r.order.order_id for r in together} == stored and len(stored) == 8
        resent = await asyncio.gather(*(grouped.place(r) for r in mixed_requests("wamid.C")))
        assert list(together) == singles[:6] + singles[7:]
        assert [r.order.order_id for r in resent] == [r.order.order_id for r in singles]
        assert all(r.duplicate for r in resent)
        assert await grouped.store.ledger_sums() == await one.store.ledger_sums()
    finally:
        await one.close()
        await grouped.close()
        await reference_db.dispose()
        await db.dispose()
