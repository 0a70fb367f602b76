"""Cluster tests run real processes in a private PostgreSQL schema; the intent model is trained (or loaded)
once in the test process first, so worker processes only load it."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import _drop_pg_schema, _pg_schema


@pytest.fixture
async def schema():
    name = await _pg_schema()
    yield name
    await _drop_pg_schema(name)


@pytest.fixture
async def model_ready():
    from intents.pipeline import IntentPipeline

    await asyncio.to_thread(IntentPipeline.load)
