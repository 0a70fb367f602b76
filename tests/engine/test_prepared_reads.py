"""The hot-path reads (:class:`engine.db.Reads` over :class:`engine.db.Prepared`) give exactly the rows
SQLAlchemy gives for the same statement — types included (aware datetimes, dates, booleans, NULLs) — on a
SQLite file (the driver path on the loop) and on PostgreSQL (SQLAlchemy in autocommit); and the SQLite
message writer's driver inserts store what SQLAlchemy's insert stores, saying which rows were new."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, select

from bot.stores.sql import MESSAGE_COLUMNS, message_row, messages
from bot.stores.sql import metadata as bot_metadata
from engine.db import Prepared, Reads, SqliteRowInsert, create_tables, dispose, sqlite_twin
from engine.tables import metadata, orders, trades

IST = timezone(timedelta(hours=5, minutes=30))


def _order(n: int, **kw) -> dict:
    row = {c.name: None for c in orders.columns}
    row.update(order_id=f"O{n}", seq=n, client_order_id=f"c{n}", account="acc", symbol="TCS", side="BUY",
               quantity=10, order_type="LIMIT", product="CNC", validity="DAY", tier="LITE", price=307110,
               placed_at=datetime(2026, 11, 30, 9, 15, n, tzinfo=IST), updated_at=datetime(2026, 11, 30, 9, 16,
               tzinfo=timezone.utc), status="OPEN", stage="open", filled=0, filled_value=0, is_amo=n % 2 == 0,
               blocked=0, reserved=0, ch_brokerage=0, ch_stt=0, ch_exchange=0, ch_sebi=0, ch_stamp=0, ch_gst=0)
    row.update(kw)
    return row


async def test_prepared_reads_return_what_sqlalchemy_returns(db) -> None:
    async with db.begin() as conn:
        await create_tables(conn, metadata)
        await conn.execute(insert(orders), [_order(1), _order(2, release_at=datetime(2026, 12, 1, 9, 0, tzinfo=IST),
                                                               price=None, tag="nudge"), _order(3, stage="done")])
        await conn.execute(insert(trades), [{c.name: None for c in trades.columns} | dict(
            trade_id="T1", seq=1, order_id="O1", account="acc", symbol="TCS", side="BUY", quantity=10, price=307110,
            at=datetime(2026, 11, 30, 9, 15, 3, 250000, tzinfo=IST), product="CNC", trade_day=date(2026, 11, 30), ch_brokerage=0, ch_stt=0, ch_exchange=0, ch_sebi=0,
            ch_stamp=0, ch_gst=0)])
    of_account = select(orders).where(orders.c.account == bindparam("account"), orders.c.stage != "done") \
        .order_by(orders.c.seq.desc())
    cases = [
        (Prepared(of_account.limit(bindparam("limit"))), {"account": "acc", "limit": 5}),
        (Prepared(of_account.limit(1)), {"account": "acc"}),                # a literal limit: its default
        (Prepared(select(trades).where(trades.c.order_id == bindparam("order_id"))), {"order_id": "O1"}),
        (Prepared(select(orders.c.order_id, orders.c.is_amo).where(orders.c.order_id == bindparam("o"))),
         {"o": "missing"}),
    ]
    reads = Reads(db)
    try:
        for prepared, params in cases:
            async with db.connect() as conn:
                expected = [dict(r) for r in (await conn.execute(prepared.stmt, params)).mappings()]
            got = await reads.mappings(prepared, params)
            assert got == expected
            assert [type(v) for r in got for v in r.values()] == [type(v) for r in expected for v in r.values()]
        assert [r["order_id"] for r in await reads.mappings(*cases[0])] == ["O2", "O1"]
        assert [r["order_id"] for r in await reads.mappings(*cases[1])] == ["O2"]
        assert (await reads.mappings(*cases[2]))[0]["trade_day"] == date(2026, 11, 30)
    finally:
        await dispose(db)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_sqlite_row_insert_stores_what_sqlalchemy_stores_and_says_which_rows_were_new(db) -> None:
    async with db.begin() as conn:
        await create_tables(conn, bot_metadata)
    at = datetime(2026, 11, 30, 10, 0, 0, 123456, tzinfo=IST)
    async with db.begin() as conn:             # SQLAlchemy's own insert: the reference row
        await conn.execute(insert(messages), [message_row(wamid="ref", direction="in", user_key="u", kind="text",
                                                          body="hi", created_at=at, status_at=at)])
    twin = sqlite_twin(db)
    assert twin is not None
    rows = [message_row(wamid="w1", direction="in", user_key="u", kind="text", body="hi", created_at=at,
                        status_at=at),
            message_row(wamid="w1", direction="in", user_key="u", kind="text", body="again", created_at=at),
            message_row(wamid="ref", direction="in", user_key="u", kind="text", body="redelivered", created_at=at),
            message_row(wamid=None, direction="out", user_key="u", kind="text", body="unsent", created_at=at)]
    with twin.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        flags = SqliteRowInsert(messages, MESSAGE_COLUMNS, conflict="wamid").run(cursor, rows)
    assert flags == [True, False, False, True]
    async with db.connect() as conn:
        stored = {r["wamid"]: dict(r) for r in (await conn.execute(select(messages))).mappings()}
    assert stored["ref"]["body"] == "hi" and stored["w1"]["body"] == "hi" and len(stored) == 3
    for column in ("created_at", "status_at", "direction", "kind", "user_key"):
        assert stored["w1"][column] == stored["ref"][column], column
    await dispose(db)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_the_kept_reader_sees_what_another_process_commits_after_it_read(db) -> None:
    """The on-loop reader keeps one driver connection for good: it must never sit in an old snapshot. Another
    process (an operator command beside a running server) commits an order between two reads; the second read
    sees it."""
    import subprocess
    import sys

    async with db.begin() as conn:
        await create_tables(conn, metadata)
        await conn.execute(insert(orders), [_order(1)])
    reads = Reads(db)
    by_account = Prepared(select(orders.c.order_id).where(orders.c.account == bindparam("account")))
    try:
        assert [r["order_id"] for r in await reads.mappings(by_account, {"account": "acc"})] == ["O1"]
        path = db.url.database
        writer = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); "
                  "c.execute(\"UPDATE eng_orders SET order_id = 'O9', client_order_id = 'c9' WHERE order_id = 'O1'\"); "
                  "c.commit()")
        done = subprocess.run([sys.executable, "-c", writer, path], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert [r["order_id"] for r in await reads.mappings(by_account, {"account": "acc"})] == ["O9"]
    finally:
        await dispose(db)
