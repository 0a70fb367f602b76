"""The PostgreSQL pool (``engine.db.make_engine``): a checkout costs no round trip of its own, and a
connection the server dropped costs one failed statement, after which the pool works again.

Why it matters: SQLAlchemy's ``pool_pre_ping`` on asyncpg is BEGIN, ``;``, ROLLBACK on every checkout --
three round trips, more than a price turn's own statements -- so the pool does without it and relies on
SQLAlchemy's disconnect handling plus the caller's retry (a worker retries a turn from its intake entry)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import BigInteger, Float, Integer, bindparam, event, func, literal, select, text
from sqlalchemy.exc import DBAPIError

from engine.db import Prepared, Reads, make_engine
from tests.conftest import PG_URL


@pytest.fixture
async def pg():
    db = make_engine(PG_URL)
    sent: list[str] = []

    @event.listens_for(db.sync_engine, "connect")
    def _log_queries(dbapi_conn, _record):
        dbapi_conn.driver_connection.add_query_logger(lambda record: sent.append(record.query))

    yield db, sent
    await db.dispose()


async def test_a_checkout_sends_nothing_before_the_statement(pg) -> None:
    """asyncpg's query log shows what goes outside prepared statements: pings and transaction control."""
    db, sent = pg
    ro = db.execution_options(isolation_level="AUTOCOMMIT")
    async with ro.connect() as conn:                   # the first checkout opens the connection
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    for n in (2, 3):
        await asyncio.sleep(0)                         # the log is written in a callback
        sent.clear()
        async with ro.connect() as conn:               # later checkouts reuse it: no ping before the SELECT
            assert (await conn.execute(text(f"SELECT {n}"))).scalar() == n
        await asyncio.sleep(0)
        assert sent == []
    async with db.begin() as conn:                     # a transaction: BEGIN, the statement, COMMIT, no more
        await conn.execute(text("SELECT 4"))
    await asyncio.sleep(0)
    assert [q.strip(" ;").split()[0].upper() for q in sent] == ["BEGIN", "COMMIT"]


async def test_a_connection_the_server_dropped_fails_once_then_the_pool_recovers(pg) -> None:
    db, _sent = pg
    async with db.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
    killer = make_engine(PG_URL)
    try:
        async with killer.connect() as conn:
            assert (await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})).scalar()
    finally:
        await killer.dispose()
    with pytest.raises(DBAPIError) as failed:          # the pooled connection is dead: its statement fails …
        async with db.connect() as conn:
            await conn.execute(text("SELECT 1"))
    assert failed.value.connection_invalidated
    async with db.connect() as conn:                   # … and the next checkout is a fresh connection
        assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar() != pid


async def test_a_driver_read_whose_connection_the_server_dropped_fails_once_without_its_parameters(pg):
    """Hot reads run on the pooled connection's asyncpg driver (``engine.db.Reads``): a dead connection
    costs that one read, its error shows no parameter (they are phone numbers), and the next read works."""
    db, _sent = pg
    reads = Reads(db)
    [row] = await reads.mappings(_PID, {"n": 1})
    killer = make_engine(PG_URL)
    try:
        async with killer.connect() as conn:
            assert (await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": row["pid"]})).scalar()
    finally:
        await killer.dispose()
    with pytest.raises(DBAPIError) as failed:
        await reads.mappings(_PID, {"n": 919800000777})
    assert failed.value.connection_invalidated and "919800000777" not in str(failed.value)
    [again] = await reads.mappings(_PID, {"n": 2})
    assert again["pid"] != row["pid"] and again["n"] == 2


async def test_a_driver_read_cancelled_mid_statement_never_lends_its_connection_out_mid_operation(pg):
    """A turn cancelled (shutdown, a deadline) while its read runs: the connection is replaced, so the next
    read does not find asyncpg still busy with the abandoned one; a statement the server refused (a bad
    value) leaves the connection in the pool."""
    db, _sent = pg
    reads = Reads(db)
    [row] = await reads.mappings(_PID, {"n": 1})
    slow = asyncio.create_task(reads.mappings(_SLEEP, {"s": 0.5}))
    await asyncio.sleep(0.1)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    [again] = await reads.mappings(_PID, {"n": 2})
    assert again["pid"] != row["pid"] and again["n"] == 2
    with pytest.raises(DBAPIError) as refused:
        await reads.mappings(_DIVIDE, {"n": 0})
    assert not refused.value.connection_invalidated
    assert (await reads.mappings(_PID, {"n": 3}))[0]["pid"] == again["pid"]


_SLEEP = Prepared(select(func.pg_sleep(bindparam("s", type_=Float)).label("slept")))
_DIVIDE = Prepared(select(func.mod(literal(1, Integer), bindparam("n", type_=Integer)).label("q")))
_PID = Prepared(select(func.pg_backend_pid().label("pid"), bindparam("n", type_=BigInteger).label("n")))
