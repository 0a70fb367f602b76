"""OpenTelemetry traces for the aiohttp server, SQLAlchemy, Redis and httpx (the Graph API): off by default.

On when the standard variables ask for it: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``), or
``OTEL_TRACES_EXPORTER`` (``otlp`` or ``console``); ``OTEL_SDK_DISABLED=true`` wins. The service name is
``OTEL_SERVICE_NAME`` or ``gridworks-<role>``; sampling, headers and the rest are the SDK's own ``OTEL_*``
variables. The packages are an optional extra (``pip install -e ".[tracing]"``); without them a request for
traces is one warning, never a failed start.

Spans obey the log rules: before export, URL query strings are cut (a verify token, a phone number), Redis
statements keep only the command name (arguments are message bodies and user keys), and exception messages
are dropped from span events (the type stays). SQL statements keep their placeholders; SQLAlchemy never puts
parameter values in spans.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import structlog

log = structlog.get_logger("gridworks.tracing")

_URL_KEYS = ("http.url", "url.full", "http.target", "url.query", "http.route.full")
_STATEMENT_KEYS = ("db.statement", "db.query.text")
_state: dict[str, Any] = {}


def requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces."""
    env = os.environ if env is None else env
    if (env.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return False
    exporter = (env.get("OTEL_TRACES_EXPORTER") or "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _clean_attributes(attributes: Mapping[str, Any] | None, *, redis: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if key in _URL_KEYS and isinstance(value, str):
            value = value.split("?", 1)[0] if key != "url.query" else "[redacted]"
        elif key in _STATEMENT_KEYS and redis and isinstance(value, str):
            value = value.split(" ", 1)[0]
        elif key == "exception.message":
            continue
        out[key] = value
    return out


def sanitized(span: Any) -> Any:
    """A copy of a finished span with the redactions above applied."""
    from opentelemetry.sdk.trace import Event, ReadableSpan

    attributes = span.attributes or {}
    redis = attributes.get("db.system") == "redis" or attributes.get("db.system.name") == "redis"
    events = [Event(e.name, _clean_attributes(e.attributes, redis=redis), e.timestamp) for e in span.events]
    return ReadableSpan(name=span.name, context=span.context, parent=span.parent, resource=span.resource,
                        attributes=_clean_attributes(attributes, redis=redis), events=events, links=span.links,
                        kind=span.kind, status=span.status, start_time=span.start_time, end_time=span.end_time,
                        instrumentation_scope=span.instrumentation_scope)


def _sanitizing(exporter: Any) -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter

    class SanitizingExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> Any:
            return exporter.export([sanitized(s) for s in spans])

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return exporter.force_flush(timeout_millis)

    return SanitizingExporter()


def configure_tracing(role: str, *, env: Mapping[str, str] | None = None, exporter: Any = None,
                      batch: bool = True) -> bool:
    """Instrument this process when the environment asks for traces (or ``exporter`` is given: tests).
    Call before the web app, database engines and clients are created. Returns whether tracing is on."""
    env = os.environ if env is None else env
    if exporter is None and not requested(env):
        return False
    if _state:
        return True
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as exc:
        log.warning("tracing_unavailable", reason="install the tracing extra: pip install 'gridworks[tracing]'",
                    error=type(exc).__name__)
        return False
    if exporter is None:
        if (env.get("OTEL_TRACES_EXPORTER") or "").strip().lower() == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporter = ConsoleSpanExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
    name = env.get("OTEL_SERVICE_NAME") or f"gridworks-{role}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    processor = BatchSpanProcessor if batch else SimpleSpanProcessor
    provider.add_span_processor(processor(_sanitizing(exporter)))
    trace.set_tracer_provider(provider)
    instrumentors = [AioHttpServerInstrumentor(), SQLAlchemyInstrumentor(), RedisInstrumentor(),
                     HTTPXClientInstrumentor()]
    for instrumentor in instrumentors:
        # The SQLAlchemy instrumentation declares "< 2.1" but works unchanged on 2.1 (tests/ops/test_tracing.py).
        instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)
    _state.update(provider=provider, instrumentors=instrumentors)
    _rebind_engine_factory()
    log.info("tracing_on", role=role)
    return True


def _rebind_engine_factory() -> None:
    """``engine.db`` imported ``create_async_engine`` before the instrumentation wrapped it (the CLI imports
    it while building its parser): point it at the wrapped factory so engines made from now on are traced."""
    import engine.db as engine_db
    from sqlalchemy.ext import asyncio as sa_asyncio

    _state["original_factory"] = engine_db.create_async_engine
    engine_db.create_async_engine = sa_asyncio.create_async_engine


def shutdown_tracing() -> None:
    """Flush spans and remove the instrumentation (process exit; tests)."""
    if not _state:
        return
    for instrumentor in _state["instrumentors"]:
        instrumentor.uninstrument()
    if "original_factory" in _state:
        import engine.db as engine_db

        engine_db.create_async_engine = _state["original_factory"]
    _state["provider"].shutdown()
    _state.clear()
