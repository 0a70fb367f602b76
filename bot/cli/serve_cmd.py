"""``gridworks serve [--host --port] [--insecure-dev]``: the WhatsApp webhook server."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the WhatsApp Cloud API webhook server")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--insecure-dev", action="store_true",
                   help="allow running without WHATSAPP_APP_SECRET (unsigned webhooks; development only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from config.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"gridworks serve: {exc}")
        return 2
    if not settings.whatsapp.app_secret and not args.insecure_dev:
        print("gridworks serve: WHATSAPP_APP_SECRET is not set. Webhooks could not be authenticated. "
              "Set it, or pass --insecure-dev for local development.")
        return 2
    return asyncio.run(serve(settings, host=args.host, port=args.port))


async def serve(settings, *, host: str, port: int) -> int:
    import asyncio
    import signal

    from aiohttp import web

    from bot.app import build_runtime
    from bot.logging import configure_logging
    from bot.webhook import create_app
    from bot.whatsapp.client import build_client
    from bot.whatsapp.sender import WhatsAppMessenger

    configure_logging(settings.log_level)
    client = build_client(settings.whatsapp)
    runtime = await build_runtime(settings, messenger=lambda audit: WhatsAppMessenger(client, audit=audit))
    app = create_app(runtime, client=client, messenger=runtime.services.messenger)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(f"gridworks serve: listening on http://{host}:{port}/webhook", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await runtime.close()
    return 0
