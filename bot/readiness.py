"""``/readyz`` for the load balancer: ready only when this process can do its work, and not while it drains.

Checked on each request, each bounded by ``CHECK_TIMEOUT_S``: the database (``SELECT 1``), Redis when the
deployment has one (``PING``), and the intent model when this process runs turns (loaded with the runtime; a
web-only process needs none). ``gridworks serve`` calls :func:`drain` on SIGTERM: from then on the answer is
503 "draining", so the load balancer stops sending before the server closes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from sqlalchemy import text

from bot import metrics

CHECK_TIMEOUT_S = 2.0
STATE = web.AppKey("readiness", dict)


def install(app: web.Application, *, settings: Any, db: Any, roles: Any = None) -> None:
    """Serve ``GET /readyz`` on ``app``."""
    app[STATE] = {"settings": settings, "db": db, "roles": roles, "draining": False, "redis": None}
    app.router.add_get("/readyz", readyz)

    async def close_redis(app: web.Application):
        yield
        client = app[STATE].pop("redis", None)
        if client is not None:
            await client.aclose()

    app.cleanup_ctx.append(close_redis)


def drain(app: web.Application) -> None:
    """From now on ``/readyz`` answers 503 "draining" (the process is shutting down)."""
    app[STATE]["draining"] = True
    metrics.READY.set(0)


async def _database(state: dict) -> None:
    async with state["db"].connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _redis(state: dict) -> None:
    if state["redis"] is None:
        from redis.asyncio import Redis

        state["redis"] = Redis.from_url(state["settings"].storage.redis_url)
    await state["redis"].ping()


def _model(state: dict) -> str | None:
    """None when the model is not this process's business; else "ok", or raises when it is missing."""
    roles = state["roles"]
    if roles is None or getattr(roles, "worker", None) is None:
        return None
    runtime = getattr(roles, "runtime", None)
    services = getattr(runtime, "services", None)
    if services is None or getattr(services, "intents", None) is None:
        raise LookupError("intent model not loaded")
    return "ok"


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if state["draining"]:
        return web.json_response({"status": "draining"}, status=503)
    checks: dict[str, str] = {}
    ready = True
    probes: list[tuple[str, Any]] = [("database", _database)]
    if state["settings"].storage.redis_url:
        probes.append(("redis", _redis))
    for name, probe in probes:
        try:
            await asyncio.wait_for(probe(state), CHECK_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure is "not ready", named by type
            checks[name] = type(exc).__name__
            ready = False
    try:
        model = _model(state)
        if model is not None:
            checks["intents"] = model
    except LookupError:
        checks["intents"] = "missing"
        ready = False
    metrics.READY.set(1 if ready else 0)
    if not ready:
        return web.json_response({"status": "unavailable", "checks": checks}, status=503)
    return web.json_response({"status": "ready", "checks": checks})
