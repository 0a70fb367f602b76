"""The least any WhatsApp bot must do, as the yardstick of ``gridworks bench e2e``: verify the webhook's
X-Hub-Signature-256, answer 200, and send one text reply per message to the Graph API over kept-alive
connections. ``python -m bot.bench.baseline --port N`` with the same WHATSAPP_* environment as the server."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os

from aiohttp import ClientSession, TCPConnector, web


def build_app() -> web.Application:
    secret = os.environ["WHATSAPP_APP_SECRET"].encode()
    url = (f"{os.environ['WHATSAPP_GRAPH_URL'].rstrip('/')}/v22.0/"
           f"{os.environ['WHATSAPP_PHONE_NUMBER_ID']}/messages")
    tasks: set[asyncio.Task] = set()

    async def reply(session: ClientSession, to: str) -> None:
        body = {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "OK"}}
        try:
            async with session.post(url, json=body) as resp:
                await resp.read()
        except Exception:  # noqa: BLE001 - the fake Graph API counts what arrived
            pass

    async def webhook(request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
            return web.Response(status=401)
        for entry in json.loads(raw).get("entry", ()):
            for change in entry.get("changes", ()):
                for msg in change.get("value", {}).get("messages", ()):
                    task = asyncio.create_task(reply(request.app["session"], msg["from"]))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        return web.Response(text="OK")

    async def session_ctx(app: web.Application):
        headers = {"Authorization": f"Bearer {os.environ.get('WHATSAPP_TOKEN', '')}"}
        async with ClientSession(connector=TCPConnector(limit=64), headers=headers) as session:
            app["session"] = session
            yield

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    app.cleanup_ctx.append(session_ctx)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    web.run_app(build_app(), host="127.0.0.1", port=port, access_log=None,
                print=lambda *_: print("baseline: listening", flush=True))


if __name__ == "__main__":
    main()
