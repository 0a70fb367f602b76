"""Tracing is off by default and, when on, traces the aiohttp server, SQLAlchemy, Redis and httpx, with the
log rules applied to spans (no query strings, no Redis arguments)."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis.asyncio as redis_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from bot.tracing import configure_tracing, requested, shutdown_tracing
from engine.db import make_engine
from tests.conftest import REDIS_URL

SECRET = "verify-token-4826"
PHONE = "919866000010"


def test_off_unless_the_standard_variables_ask():
    assert not requested({})
    assert requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert requested({"OTEL_TRACES_EXPORTER": "console"})
    assert not requested({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    assert not requested({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
    assert configure_tracing("web", env={}) is False


async def test_server_sql_redis_and_httpx_spans_without_query_strings_or_redis_arguments(tmp_path: Path):
    exporter = InMemorySpanExporter()
    assert configure_tracing("web", exporter=exporter, batch=False)
    try:
        db = make_engine(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
        cache = redis_asyncio.from_url(REDIS_URL)

        async def hello(_request: web.Request) -> web.Response:
            async with db.connect() as conn:
                await conn.execute(text("SELECT 1"))
            await cache.set(f"gwtrace:{PHONE}", PHONE, ex=5)
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/hello", hello)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with httpx.AsyncClient() as http:
                response = await http.get(str(server.make_url("/hello")), params={"hub.verify_token": SECRET})
            assert response.status_code == 200
        finally:
            await server.close()
            await cache.aclose()
            await db.dispose()
    finally:
        shutdown_tracing()
    spans = exporter.get_finished_spans()
    kinds = {s.instrumentation_scope.name.rsplit(".", 1)[-1] for s in spans}
    assert {"aiohttp_server", "sqlalchemy", "redis", "httpx"} <= kinds, kinds
    dump = repr([(s.name, dict(s.attributes or {})) for s in spans])
    assert SECRET not in dump and PHONE not in dump, dump
    assert any("SELECT 1" in repr(dict(s.attributes or {})) for s in spans), dump
