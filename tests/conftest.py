"""Shared fixtures. Real PostgreSQL and Redis are required: tests fail (never skip) when they are absent.

``database_url`` is parametrised over SQLite (a temp file) and PostgreSQL (a fresh schema per test), so
every database test runs on both. ``redis_url`` gives a private key prefix on the real server.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.clock import IST, FixedClock
from engine.db import make_engine

PG_URL = os.environ.get("GRIDWORKS_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GRIDWORKS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def clock() -> FixedClock:
    """Monday 23 Nov 2026, 10:00 IST: a normal trading session."""
    return FixedClock(datetime(2026, 11, 23, 10, 0, tzinfo=IST))


async def _pg_schema() -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = make_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        await engine.dispose()
    return schema


async def _drop_pg_schema(schema: str) -> None:
    engine = make_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request, tmp_path: Path):
    """An ``AsyncEngine`` on SQLite or on a private PostgreSQL schema (dropped afterwards)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        yield engine
        await engine.dispose()
        return
    schema = await _pg_schema()
    engine = make_engine(PG_URL, schema=schema)
    yield engine
    await engine.dispose()
    await _drop_pg_schema(schema)


@pytest.fixture
async def redis_client():
    """A real Redis client on a test database; the keys it made are removed afterwards."""
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL)
    await client.ping()  # fails the test when Redis is down: CI must provide it
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def runtime(tmp_path: Path, clock):
    """The embedded runtime (SQLite file, memory stores, no receipts) on the test clock."""
    from bot.app import build_runtime
    from config.settings import load_settings

    settings = load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "s"),
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"})
    rt = await build_runtime(settings, clock=clock, with_receipts=False)
    yield rt
    await rt.close()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]



@pytest.fixture
def fresh_structlog():
    """For tests running a CLI command in-process (``pytestmark = pytest.mark.usefixtures(...)``):
    configure_logging binds the stream current at call time (pytest's capture, closed after the test), so
    structlog's defaults are restored around each test and a later log call cannot hit a closed file."""
    import structlog

    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def graph():
    """The fake Graph API on a thread of its own, for a CLI command that runs its own event loop (a module
    may define its own ``graph`` instead)."""
    from tests.support.graph_api import graph_in_thread

    with graph_in_thread() as api:
        yield api
