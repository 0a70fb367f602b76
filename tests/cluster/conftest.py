"""Cluster tests run real processes in a private PostgreSQL schema; the intent model is trained (or loaded)
once in the test process first, so worker processes only load it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as redis_asyncio

from engine.db import make_engine
from tests.conftest import PG_URL, REDIS_URL, _drop_pg_schema, _pg_schema


@pytest.fixture
async def schema():
    name = await _pg_schema()
    yield name
    await _drop_pg_schema(name)


@pytest.fixture
async def model_ready():
    from intents.pipeline import IntentPipeline

    await asyncio.to_thread(IntentPipeline.load)


@pytest.fixture
async def pg_db(schema):
    """An async engine on a private PostgreSQL schema."""
    db = make_engine(PG_URL, schema=schema)
    yield db
    await db.dispose()


async def delete_prefix(client, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def redis_prefixed():
    """A Redis client and a key prefix of this test's own (deleted afterwards)."""
    client = redis_asyncio.from_url(REDIS_URL)
    await client.ping()
    prefix = f"gwt:{uuid.uuid4().hex[:12]}:"
    yield client, prefix
    await delete_prefix(client, prefix)
    await client.aclose()
