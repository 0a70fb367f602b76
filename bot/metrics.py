"""Prometheus metrics: every definition in one place, and the one-line hooks the hot paths call.

Every role serves ``/metrics``: the web role on its aiohttp app (:func:`add_routes`), a worker or engine role
on a small port of its own (:func:`serve`, ``GRIDWORKS_METRICS_PORT``). Hooks are cheap: a labelled child is
looked up once per label combination and cached (a dict lookup per turn afterwards, no allocation beyond it); queue
depths and consumer lag are read from Redis only when Prometheus scrapes, never on the hot path.

What to alert on is in the README ("Deploy"): the turn error rate, turn p99, send errors by Meta code, intake
lag and pending, engine command p99, tick duration and the readiness of every role.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, disable_created_metrics,
                               generate_latest)

T = TypeVar("T")
disable_created_metrics()       # no *_created series: half the exposition, nothing we alert on

#: Latency buckets (seconds) for turns and engine commands: a turn's target is well under a second.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

TURNS = Counter("gridworks_turns", "Turns run, by intent, status and tier", ["intent", "status", "tier"])
TURN_SECONDS = Histogram("gridworks_turn_seconds", "Time to run one turn (dispatcher, all middlewares)",
                         buckets=LATENCY_BUCKETS)
SENDS = Counter("gridworks_sends", "Graph API sends by result and Meta error code ('none' when accepted)",
                ["result", "code"])
ENGINE_COMMAND_SECONDS = Histogram("gridworks_engine_command_seconds",
                                   "Time the engine took to execute one command from a worker, by how it "
                                   "came ('stream', or 'in_process' from a worker in the engine's own "
                                   "process)",
                                   ["command", "path"], buckets=LATENCY_BUCKETS)
TICK_SECONDS = Histogram("gridworks_tick_seconds", "Time one market tick took (advance and pushes)",
                         buckets=LATENCY_BUCKETS)
MODEL_LOAD_SECONDS = Gauge("gridworks_model_load_seconds", "How long loading (or first training) the intent "
                           "model took in this process")
QUEUE_DEPTH = Gauge("gridworks_queue_depth", "Entries in a queue (all its partitions)", ["queue"])
QUEUE_PENDING = Gauge("gridworks_queue_pending", "Entries delivered to a consumer and not yet acknowledged",
                      ["queue"])
QUEUE_LAG = Gauge("gridworks_queue_lag", "Entries not yet delivered to the consumer group", ["queue"])
READY = Gauge("gridworks_ready", "1 while this process reports ready (0 while starting or draining)")
TURN_LIMIT = Gauge("gridworks_turn_limit", "Turns the loop-lag gate lets run at once (narrower while the loop "
                   "runs late: a saturated process)")
TURN_LIMIT_NARROWED = Counter("gridworks_turn_limit_narrowed", "Times the loop-lag gate narrowed")

_turns: dict[tuple[str, str, str], Any] = {}
_sends: dict[tuple[str, str], Any] = {}
_commands: dict[tuple[str, str], Any] = {}


def _child(cache: dict, metric: Any, key: Any) -> Any:
    child = cache.get(key)
    if child is None:
        child = cache[key] = metric.labels(*key) if isinstance(key, tuple) else metric.labels(key)
    return child


# -- hooks (one line at each call site) --------------------------------------------------------------------

def turn(result: Any, seconds: float) -> None:
    """Count a finished turn (a ``handlers.turn.TurnResult``) and observe its latency."""
    match = getattr(result, "match", None)
    user = getattr(result, "user", None)
    status = getattr(result, "status", None)
    tier = getattr(user, "tier", None)
    key = (getattr(match, "intent", None) or "none", str(getattr(status, "value", status) or "none"),
           str(getattr(tier, "value", tier) or "none").lower())
    _child(_turns, TURNS, key).inc()
    TURN_SECONDS.observe(seconds)


async def timed_turn(running: Awaitable[T]) -> T:
    """``await metrics.timed_turn(dispatcher.handle(...))``: the turn's result, counted and timed (a turn that
    raised counts as status ``error``)."""
    started = time.perf_counter()
    try:
        result = await running
    except BaseException:
        _child(_turns, TURNS, ("none", "error", "none")).inc()
        TURN_SECONDS.observe(time.perf_counter() - started)
        raise
    turn(result, time.perf_counter() - started)
    return result


def counted_send(send: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Wrap a Graph API send function: every call counted by result and Meta error code."""

    async def sending(*args: Any, **kwargs: Any) -> T:
        try:
            result = await send(*args, **kwargs)
        except Exception as exc:
            code = getattr(exc, "code", None)
            _child(_sends, SENDS, ("error", str(code) if code is not None else type(exc).__name__)).inc()
            raise
        _child(_sends, SENDS, ("ok", "none")).inc()
        return result

    return sending


def engine_command(command: str, seconds: float, path: str = "stream") -> None:
    _child(_commands, ENGINE_COMMAND_SECONDS, (command, path)).observe(seconds)


async def timed_tick(running: Awaitable[T]) -> T:
    """``await metrics.timed_tick(engine.tick(now))``: the tick's result, its duration observed."""
    started = time.perf_counter()
    try:
        return await running
    finally:
        TICK_SECONDS.observe(time.perf_counter() - started)


async def timed_model_load(loading: Awaitable[T]) -> T:
    started = time.perf_counter()
    result = await loading
    MODEL_LOAD_SECONDS.set(time.perf_counter() - started)
    return result


# -- queues, read at scrape time ---------------------------------------------------------------------------

#: Async callables run before each scrape (bounded by SCRAPE_TIMEOUT_S); they set the queue gauges.
_refreshers: list[Callable[[], Awaitable[None]]] = []
SCRAPE_TIMEOUT_S = 2.0


def watch_queues(roles: Any = None, *, redis_url: str | None = None, prefix: str = "gw:",
                 partitions: int = 16) -> None:
    """Report queue depths at scrape time: the cluster's Redis streams (``redis_url``: depth, pending and the
    consumer group's lag per queue kind), or the embedded in-process queues of ``roles``."""
    _refreshers.clear()
    if redis_url:
        _refreshers.append(_redis_refresher(redis_url, prefix, partitions))
    elif roles is not None:
        _refreshers.append(_memory_refresher(roles))


def _memory_refresher(roles: Any) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        for name, queue in (("intake", roles.intake), ("outbound", roles.outbound)):
            if queue is None:
                continue
            depth = queue.depth
            value = depth() if callable(depth) else depth
            QUEUE_DEPTH.labels(name).set(await value if asyncio.iscoroutine(value) else value)
        worker = getattr(roles, "worker", None)
        if worker is not None:
            QUEUE_PENDING.labels("intake").set(worker.backlog + worker.active)

    return refresh


def queue_streams(prefix: str, partitions: int) -> dict[str, tuple[list[str], str]]:
    """Queue kind -> (its Redis streams, its consumer group): the names ``bot.cluster`` uses."""
    return {
        "intake": ([f"{prefix}in:{p}" for p in range(partitions)], "workers"),
        "side": ([f"{prefix}side"], "workers"),
        "outbound": ([f"{prefix}out:{p}" for p in range(partitions)], "senders"),
        "engine_commands": ([f"{prefix}eng:cmd"], "engine"),
        "engine_events": ([f"{prefix}eng:events"], "workers"),
    }


def _redis_refresher(url: str, prefix: str, partitions: int) -> Callable[[], Awaitable[None]]:
    from redis.asyncio import Redis

    client = Redis.from_url(url, decode_responses=True)
    kinds = queue_streams(prefix, partitions)

    async def refresh() -> None:
        pipe = client.pipeline(transaction=False)
        order: list[tuple[str, str, str]] = []
        for kind, (streams, group) in kinds.items():
            for stream in streams:
                pipe.xlen(stream)
                pipe.xinfo_groups(stream)
                order.append((kind, stream, group))
        answers = await pipe.execute(raise_on_error=False)
        depth = dict.fromkeys(kinds, 0)
        pending = dict.fromkeys(kinds, 0)
        lag = dict.fromkeys(kinds, 0)
        for i, (kind, _stream, group) in enumerate(order):
            length, groups = answers[2 * i], answers[2 * i + 1]
            if isinstance(length, int):
                depth[kind] += length
            if isinstance(groups, list):
                for info in groups:
                    if info.get("name") == group:
                        pending[kind] += int(info.get("pending") or 0)
                        lag[kind] += int(info.get("lag") or 0)     # Redis 7: not yet delivered
        for kind in kinds:
            QUEUE_DEPTH.labels(kind).set(depth[kind])
            QUEUE_PENDING.labels(kind).set(pending[kind])
            QUEUE_LAG.labels(kind).set(lag[kind])

    return refresh


async def render() -> bytes:
    """The exposition text, after refreshing the queue gauges (a slow Redis only leaves them stale)."""
    for refresh in list(_refreshers):
        try:
            await asyncio.wait_for(refresh(), SCRAPE_TIMEOUT_S)
        except Exception:  # noqa: BLE001, S110 - a scrape must answer even when Redis does not
            pass
    return generate_latest(REGISTRY)


# -- exposition --------------------------------------------------------------------------------------------

async def metrics_handler(_request: Any) -> Any:
    from aiohttp import web

    body = await render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: Any) -> None:
    """``GET /metrics`` on the web role's aiohttp app."""
    app.router.add_get("/metrics", metrics_handler)


async def serve(host: str, port: int, *, setup: Callable[[Any], None] | None = None
                ) -> Callable[[], Awaitable[None]]:
    """A metrics-only HTTP server (worker and engine roles: ``/metrics`` and ``/healthz``, plus what ``setup``
    adds, e.g. ``/readyz``); returns its closer. Port 0 picks a free one (bound port: :data:`bound_port`)."""
    global bound_port
    from aiohttp import web

    async def healthz(_request: Any) -> Any:
        return web.json_response({"status": "ok"})

    app = web.Application()
    add_routes(app)
    app.router.add_get("/healthz", healthz)
    if setup is not None:
        setup(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or ()
    bound_port = sockets[0].getsockname()[1] if sockets else port
    return runner.cleanup


bound_port: int | None = None
