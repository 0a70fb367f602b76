"""The WhatsApp Cloud API webhook: verify, parse, append to the durable intake, *then* acknowledge.

``GET /webhook`` answers Meta's verification handshake. ``POST /webhook`` checks ``X-Hub-Signature-256``
(HMAC-SHA256 of the raw body, through pywa's validator), decodes the body with bounded nesting, parses every
item on its own (a malformed item is recorded as rejected and never blocks its neighbours), appends the
messages to the intake (deduplicated by message id) and the statuses, preference changes and rejections to the
side stream, and only then answers 200: Meta never redelivers what we acknowledged, so nothing acknowledged
may live only in this process's memory. If the intake cannot take the batch the answer is 503 and Meta
retries. Only a bad signature (401/403) or an unreadable body (400) fails a request otherwise.

The work happens behind, in the roles this process runs (:mod:`bot.roles`). ``/healthz`` and ``/readyz``
serve the load balancer.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from pywa_async import WhatsApp

from bot import metrics, readiness
from bot.cluster.intake import Intake, IntakeFull
from bot.cluster.side import preference_item, rejected_item, status_item, template_item
from bot.whatsapp.body import BadBody, load_body
from bot.whatsapp.parse import parse_batch

log = structlog.get_logger("gridworks.webhook")

CLIENT = web.AppKey("client", WhatsApp)
INTAKE = web.AppKey("intake", object)
SETTINGS = web.AppKey("settings", object)
DB = web.AppKey("db", object)
ROLES = web.AppKey("roles", object)
MAX_BODY = 3 * 1024 * 1024


async def verify(request: web.Request) -> web.Response:
    q = request.query
    client = request.app[CLIENT]
    if q.get("hub.mode") != "subscribe" or not request.app[SETTINGS].whatsapp.verify_token:
        return web.Response(status=403, text="forbidden")
    challenge, status = await client.webhook_challenge_handler(q.get("hub.verify_token"), q.get("hub.challenge"))
    return web.Response(status=status, text=challenge or "")


async def receive(request: web.Request) -> web.Response:
    raw = await request.read()
    app = request.app
    client = app[CLIENT]
    if app[SETTINGS].whatsapp.app_secret:
        signature = request.headers.get("X-Hub-Signature-256")
        if not signature:
            log.warning("webhook_rejected", reason="missing_signature", rate_limit="missing_signature")
            return web.Response(status=401, text="missing signature")
        # A non-ASCII header is no HMAC (and hmac.compare_digest raises TypeError on one: a 500 before this).
        if not signature.isascii() or await client.webhook_update_validator(raw, signature) is not None:
            log.warning("webhook_rejected", reason="bad_signature", rate_limit="bad_signature")
            return web.Response(status=403, text="bad signature")
    try:
        body = load_body(raw)
    except BadBody as exc:
        log.info("body_rejected", reason=exc.reason, rate_limit=exc.reason)
        return web.Response(status=400, text="invalid JSON")
    batch = parse_batch(body, client)
    intake: Intake = app[INTAKE]
    side = [status_item(s) for s in batch.statuses] + [preference_item(p) for p in batch.preferences]
    side += [rejected_item(r.kind, r.reason) for r in batch.rejected]
    side += [template_item(t) for t in batch.template_statuses]
    try:
        fresh = await intake.append(batch.messages)
        await intake.append_side(side)
    except IntakeFull:            # overloaded: the delivery waits at Meta (it retries a 503), not in memory
        log.warning("intake_full", rate_limit="intake_full")
        return web.Response(status=503, text="busy, try again")
    except Exception as exc:  # noqa: BLE001 - not durable: Meta must retry the whole delivery
        log.error("intake_unavailable", error=type(exc).__name__)
        return web.Response(status=503, text="try again")
    return web.json_response({"ok": True, "messages": len(batch.messages), "new": fresh,
                              "statuses": len(batch.statuses), "rejected": len(batch.rejected)})


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_web_app(*, settings, client: WhatsApp, intake: Intake, db, roles=None) -> web.Application:
    """The web role's aiohttp application. It knows nothing about sockets; ``gridworks serve`` or a test runs
    it. ``roles`` (:class:`bot.roles.Roles`), when given, run beside it and stop with it."""
    app = web.Application(client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[CLIENT] = client
    app[INTAKE] = intake
    app[DB] = db
    app.router.add_get("/webhook", verify)
    app.router.add_post("/webhook", receive)
    app.router.add_get("/healthz", healthz)
    readiness.install(app, settings=settings, db=db, roles=roles)   # /readyz (bot/readiness.py)
    metrics.add_routes(app)                                          # /metrics (bot/metrics.py)
    if roles is not None:
        app[ROLES] = roles

        async def run_roles(app: web.Application):
            await roles.start()
            yield
            await roles.stop()

        app.cleanup_ctx.append(run_roles)
    return app
