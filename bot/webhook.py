"""The WhatsApp Cloud API webhook: verify, parse, dedupe, enqueue, acknowledge — the work happens behind.

``GET /webhook`` answers Meta's verification handshake; ``POST /webhook`` checks ``X-Hub-Signature-256``
(HMAC-SHA256 of the raw body, through pywa's validator), answers 200 at once and processes every message
and status of the batch in tracked background tasks, drained on shutdown. ``/healthz`` and ``/readyz``
serve the load balancer.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict

import structlog
from aiohttp import web
from pywa_async import WhatsApp
from sqlalchemy import text

from bot.app import Runtime
from bot.scheduler import Lane, LaneScheduler
from bot.tasks import TaskTracker
from bot.whatsapp.parse import PreferenceUpdate, StatusUpdate, parse_batch
from bot.whatsapp.sender import WhatsAppMessenger
from handlers.messages import InboundMessage
from handlers.middlewares.ordering import UserSerializer
from handlers.turn import TurnStatus
from engine.api import Tier

log = structlog.get_logger("gridworks.webhook")

RUNTIME = web.AppKey("runtime", Runtime)
CLIENT = web.AppKey("client", WhatsApp)
MESSENGER = web.AppKey("messenger", WhatsAppMessenger)
TASKS = web.AppKey("tasks", TaskTracker)
SERIAL = web.AppKey("serial", UserSerializer)
LANES = web.AppKey("lanes", LaneScheduler)
TIERS = web.AppKey("tiers", OrderedDict)
MAX_BODY = 3 * 1024 * 1024
TIER_CACHE_SIZE = 100_000


async def verify(request: web.Request) -> web.Response:
    q = request.query
    client = request.app[CLIENT]
    if q.get("hub.mode") != "subscribe" or not request.app[RUNTIME].settings.whatsapp.verify_token:
        return web.Response(status=403, text="forbidden")
    challenge, status = await client.webhook_challenge_handler(q.get("hub.verify_token"), q.get("hub.challenge"))
    return web.Response(status=status, text=challenge or "")


async def receive(request: web.Request) -> web.Response:
    raw = await request.read()
    client = request.app[CLIENT]
    if request.app[RUNTIME].settings.whatsapp.app_secret:
        signature = request.headers.get("X-Hub-Signature-256")
        if not signature:
            return web.Response(status=401, text="missing signature")
        if await client.webhook_update_validator(raw, signature) is not None:
            return web.Response(status=403, text="bad signature")
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except ValueError:
        return web.Response(status=400, text="invalid JSON")
    batch = parse_batch(body, client)
    app = request.app
    for message in batch.messages:
        app[TASKS].adopt(app[SERIAL].submit(message.sender.key, lambda m=message: _turn(app, m)))
    for status in batch.statuses:
        app[TASKS].spawn(_record_status(app, status), name="status")
    for pref in batch.preferences:
        app[TASKS].spawn(_record_preference(app, pref), name="preference")
    return web.json_response({"ok": True, "messages": len(batch.messages), "statuses": len(batch.statuses)})


async def _lane(app: web.Application, key: str) -> Lane:
    """PRO users' turns take the priority lane; the tier is cached (refreshed after each of their turns)."""
    cache = app[TIERS]
    if key not in cache:
        user = await app[RUNTIME].users.get(key)
        _remember(app, key, user.tier if user else Tier.LITE)
    cache.move_to_end(key)
    return cache[key]


def _remember(app: web.Application, key: str, tier: Tier) -> None:
    cache = app[TIERS]
    cache[key] = Lane.PRO if tier is Tier.PRO else Lane.LITE
    while len(cache) > TIER_CACHE_SIZE:
        cache.popitem(last=False)


async def _turn(app: web.Application, message: InboundMessage) -> None:
    """One message: the turn through the dispatcher, then its replies — chained in this user's order and
    run in the user's priority lane."""
    lane = await _lane(app, message.sender.key)
    await app[LANES].run(lane, lambda: _turn_now(app, message))


async def _turn_now(app: web.Application, message: InboundMessage) -> None:
    runtime, messenger = app[RUNTIME], app[MESSENGER]
    result = await runtime.dispatcher.feed(message)
    if result.status is TurnStatus.DUPLICATE:
        return
    await messenger.mark_read(message.id)
    user = await runtime.users.get(result.user_key)
    if user is not None:
        _remember(app, user.key, user.tier)
    if user is None:
        return
    if result.replies:
        await messenger.push(user, result.replies, correlation_id=result.correlation_id)
    for job in result.deferred:
        app[TASKS].spawn(_deferred(app, user, job, result.correlation_id), name="deferred")


async def _deferred(app: web.Application, user, job, correlation_id: str) -> None:
    replies = await job()
    if replies:
        await app[MESSENGER].push(user, replies, correlation_id=correlation_id)


async def _record_status(app: web.Application, status: StatusUpdate) -> None:
    await app[RUNTIME].audit.record_status(wamid=status.wamid, status=status.status, at=status.at,
                                           error_code=status.error_code, error_title=status.error_title)
    if status.error_code is not None:
        log.warning("delivery_failed", code=status.error_code, title=status.error_title)


async def _record_preference(app: web.Application, pref: PreferenceUpdate) -> None:
    users = app[RUNTIME].users
    user = await users.find(pref.user_id or pref.wa_id or "")
    if user is None:
        return
    await users.update(user.key, profile_changes={"marketing_opt_out": pref.value == "stop"})


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[RUNTIME].db.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - readiness reports any database failure as not ready
        return web.json_response({"status": "unavailable", "error": type(exc).__name__}, status=503)
    return web.json_response({"status": "ready"})


async def _tick_forever(runtime: Runtime, every: float) -> None:
    """Move the market on its own: resting orders fill, stops trigger, AMOs go out, alerts fire and trial
    reminders are due even when nobody writes. A failed tick is logged and the next one tries again."""
    while True:
        await asyncio.sleep(every)
        try:
            await runtime.tick()
        except Exception:  # noqa: BLE001 - the ticker must outlive any one failure
            log.exception("tick_failed")


def create_app(runtime: Runtime, *, client: WhatsApp, messenger: WhatsAppMessenger,
               concurrency: int = 64, tick_seconds: float | None = None) -> web.Application:
    """The aiohttp application. It knows nothing about sockets; ``gridworks serve`` or a test runs it.

    ``concurrency`` bounds the turns processed at once; waiting PRO turns go first (see bot/scheduler.py).
    The market ticks every ``tick_seconds`` (default: the settings' ``GRIDWORKS_TICK_SECONDS``) while the
    app runs.
    """
    app = web.Application(client_max_size=MAX_BODY)
    app[RUNTIME] = runtime
    app[CLIENT] = client
    app[MESSENGER] = messenger
    app[TASKS] = TaskTracker()
    app[SERIAL] = UserSerializer()
    app[LANES] = LaneScheduler(limit=concurrency)
    app[TIERS] = OrderedDict()
    app.router.add_get("/webhook", verify)
    app.router.add_post("/webhook", receive)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)

    async def drain(app: web.Application) -> None:
        await app[TASKS].drain()

    async def ticker(app: web.Application):
        task = asyncio.create_task(_tick_forever(runtime, tick_seconds or runtime.settings.tick_seconds))
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    app.on_shutdown.append(drain)
    app.cleanup_ctx.append(ticker)
    return app
