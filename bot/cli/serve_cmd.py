"""``gridworks serve`` (web, plus worker and engine unless told otherwise) and ``gridworks worker``.

Embedded (no ``REDIS_URL``): ``serve`` runs every role in one process, as it always did. Cluster: ``serve``
takes the web role and, unless ``--web-only``, a worker's share of the partitions and a place in the engine
election (standby while another process is the engine); ``gridworks worker`` is a worker alone.
"""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import INSECURE_DEV_HELP, require_production_secrets


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the WhatsApp Cloud API webhook server (and, by default, a worker and "
                                     "an engine candidate)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on")
    p.add_argument("--port", type=int, default=8080, help="port to listen on")
    p.add_argument("--insecure-dev", action="store_true", help=INSECURE_DEV_HELP)
    p.add_argument("--web-only", action="store_true",
                   help="cluster only: take the web role alone (workers and engines run elsewhere)")
    p.add_argument("--no-engine", action="store_true",
                   help="cluster only: never become the engine (run `gridworks engine` for that)")
    p.set_defaults(func=run)
    w = sub.add_parser("worker", help="cluster: run turns for a share of the intake partitions and send replies")
    w.add_argument("--insecure-dev", action="store_true", help=INSECURE_DEV_HELP)
    w.set_defaults(func=run_worker)


def _settings(_command: str):
    from bot.cli.common import settings

    return settings()


def run(args: argparse.Namespace) -> int:
    import asyncio

    settings = _settings("serve")
    if settings is None:
        return 2
    if not settings.whatsapp.app_secret and not args.insecure_dev:
        print("gridworks serve: WHATSAPP_APP_SECRET is not set. Webhooks could not be authenticated. "
              "Set it, or pass --insecure-dev for local development.", file=sys.stderr)
        return 2
    require_production_secrets(settings, insecure_dev=args.insecure_dev)
    if (args.web_only or args.no_engine) and not settings.storage.redis_url:
        print("gridworks serve: --web-only and --no-engine need a cluster (REDIS_URL); without it this process "
              "runs every role.", file=sys.stderr)
        return 2
    return asyncio.run(serve(settings, host=args.host, port=args.port, worker=not args.web_only,
                             engine=not (args.web_only or args.no_engine)))


def run_worker(args: argparse.Namespace) -> int:
    import asyncio

    settings = _settings("worker")
    if settings is None:
        return 2
    if not settings.storage.redis_url:
        print("gridworks worker: REDIS_URL is required (without a cluster, `gridworks serve` runs the worker).",
              file=sys.stderr)
        return 2
    require_production_secrets(settings, insecure_dev=args.insecure_dev)
    return asyncio.run(work(settings))


async def _until_signal() -> None:
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _roles(settings, *, command: str, **kw):
    from bot.cli.common import probe_services
    from bot.cluster.lease import EngineBusy
    from bot.logging import configure_logging, deployment_hash_key
    from bot.roles import build_roles
    from bot.tracing import configure_tracing
    from bot.whatsapp.client import build_client

    configure_logging(settings.log_level, hash_key=deployment_hash_key(settings.secrets))
    configure_tracing(command)              # only when OTEL_* asks for it (bot/tracing.py)
    await probe_services(settings)          # a database or Redis that is down: one line, exit 2
    client = build_client(settings.whatsapp)
    try:
        return client, await build_roles(settings, client=client, **kw)
    except EngineBusy as exc:
        print(f"gridworks {command}: {exc}", file=sys.stderr)
        return client, None


async def serve(settings, *, host: str, port: int, worker: bool = True, engine: bool = True) -> int:
    from aiohttp import web

    import asyncio

    from bot import readiness
    from bot.cli.common import freeze_startup_heap, start_metrics
    from bot.logging import access_logger
    from bot.webhook import create_web_app

    client, roles = await _roles(settings, command="serve", worker=worker, engine=engine)
    if roles is None:
        return 2
    app = create_web_app(settings=settings, client=client, intake=roles.intake, db=roles.db, roles=roles)
    await start_metrics(settings, roles, command="serve", server=False)      # /metrics is on the app
    runner = web.AppRunner(app, access_log_class=access_logger())
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    freeze_startup_heap()
    print(f"gridworks serve: listening on http://{host}:{port}/webhook", flush=True)
    try:
        await _until_signal()
        readiness.drain(app)                 # /readyz: 503 "draining" while the balancer notices
        if settings.drain_seconds:
            await asyncio.sleep(settings.drain_seconds)
    finally:
        await runner.cleanup()
    return 0


async def work(settings) -> int:
    client, roles = await _roles(settings, command="worker", worker=True, engine=False)
    if roles is None:
        return 2
    from bot.cli.common import freeze_startup_heap, start_metrics

    stop_metrics = await start_metrics(settings, roles, command="worker")
    await roles.start()
    freeze_startup_heap()
    print("gridworks worker: running", flush=True)
    try:
        await _until_signal()
    finally:
        await roles.stop()
        if stop_metrics is not None:
            await stop_metrics()
    return 0
