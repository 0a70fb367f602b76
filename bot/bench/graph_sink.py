"""A minimal fake WhatsApp Graph API for benchmarks: it answers sends in Meta's wire format and records, per
recipient, when each reply arrived.

``POST /{version}/{phone_id}/messages`` answers a send with ``{"messaging_product": "whatsapp", "contacts":
[...], "messages": [{"id": "wamid.bench…"}]}`` and a read receipt (``{"status": "read"}``) with ``{"success":
true}``; ``POST /{version}/{phone_id}/media`` answers an upload with a media id. Nothing else is kept of a
reply than its kind, whether it is one of the bot's error replies (busy/apology, recognised by their text's
prefix) and its arrival time on the monotonic and the wall clock, so the load generator in the same process
computes webhook-to-reply latency on one clock. It logs nothing (no phone numbers, no message text).

It runs on the benchmark's own event loop: its CPU lands in the benchmark process, never in a measured one.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Arrival:
    """One reply as the fake Graph API received it."""

    mono: float           # time.monotonic() at arrival
    wall: float           # time.time() at arrival
    kind: str             # "text", "interactive", "template", "document", …
    error: bool = False   # one of the bot's error replies (busy / apology)
    tag: str = ""         # interactive replies: "button:<first id's prefix>" / "list:<…>" (ids, never text)
    buttons: tuple[str, ...] = ()    # reply-button ids (server-bound ids, never text): what a user can tap


class GraphSink:
    """``await GraphSink().start()``; ``url`` is its base URL (``WHATSAPP_GRAPH_URL``). ``on_reply`` (if set)
    is called with ``(recipient, Arrival)`` for each message send, on the event loop, before the answer."""

    def __init__(self, *, error_prefixes: Iterable[str] = (),
                 on_reply: Callable[[str, Arrival], None] | None = None) -> None:
        self.error_prefixes = tuple(p for p in error_prefixes if p)
        self.on_reply = on_reply
        self.replies: dict[str, list[Arrival]] = defaultdict(list)
        self.reads: dict[str, float] = {}        # inbound message id -> monotonic time of its read receipt
        self.issued: list[str] = []              # the wamids this fake answered sends with, in order
        self.sends = 0
        self.calls = 0                           # every POST to the Graph API: sends, read receipts, uploads
        self.bad_requests = 0
        self.url = ""
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "GraphSink":
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/{version}/{phone_id}/messages", self._messages)
        app.router.add_post("/{version}/{phone_id}/media", self._media)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        self.replies.clear()
        self.reads.clear()
        self.issued.clear()
        self.sends = 0
        self.calls = 0
        self.bad_requests = 0

    def count(self, recipient: str) -> int:
        return len(self.replies.get(recipient, ()))

    async def _messages(self, request: web.Request) -> web.Response:
        mono, wall = time.monotonic(), time.time()
        self.calls += 1
        try:
            body = json.loads(await request.read())
        except ValueError:
            self.bad_requests += 1
            return _error(100, "Invalid parameter", status=400)
        if not isinstance(body, dict):
            self.bad_requests += 1
            return _error(100, "Invalid parameter", status=400)
        if body.get("status") == "read":
            mid = body.get("message_id")
            if isinstance(mid, str):
                self.reads.setdefault(mid, mono)
            return web.json_response({"success": True})
        target = body.get("to") or body.get("recipient") or ""
        kind = str(body.get("type") or "text")
        arrival = Arrival(mono=mono, wall=wall, kind=kind, error=self._is_error(body), tag=_tag(body),
                          buttons=_buttons(body))
        self.sends += 1
        self.replies[target].append(arrival)
        if self.on_reply is not None:
            self.on_reply(target, arrival)
        contact: dict[str, Any] = {"input": target, "wa_id": body.get("to") or ""}
        if body.get("recipient"):
            contact["user_id"] = body["recipient"]
        wamid = f"wamid.bench{next(self._ids):09d}"
        self.issued.append(wamid)
        return web.json_response({"messaging_product": "whatsapp", "contacts": [contact],
                                  "messages": [{"id": wamid}]})

    async def _media(self, request: web.Request) -> web.Response:
        self.calls += 1
        await request.read()
        return web.json_response({"id": f"media.bench{next(self._ids):09d}"})

    def _is_error(self, body: dict[str, Any]) -> bool:
        if not self.error_prefixes:
            return False
        text = ""
        if isinstance(body.get("text"), dict):
            text = str(body["text"].get("body") or "")
        elif isinstance(body.get("interactive"), dict):
            inner = body["interactive"].get("body")
            text = str(inner.get("text") or "") if isinstance(inner, dict) else ""
        return text.startswith(self.error_prefixes)


def _tag(body: dict[str, Any]) -> str:
    """What an interactive reply offers, by the prefix of its first button or row id (``onb_consent``)."""
    inner = body.get("interactive")
    if not isinstance(inner, dict):
        return ""
    action = inner.get("action") if isinstance(inner.get("action"), dict) else {}
    first = ""
    try:
        if action.get("buttons"):
            first = action["buttons"][0]["reply"]["id"]
        elif action.get("sections"):
            first = action["sections"][0]["rows"][0]["id"]
    except (KeyError, IndexError, TypeError):
        pass
    return f"{inner.get('type', '')}:{str(first).split(':', 1)[0]}"


def _buttons(body: dict[str, Any]) -> tuple[str, ...]:
    inner = body.get("interactive")
    action = inner.get("action") if isinstance(inner, dict) else None
    if not isinstance(action, dict) or not isinstance(action.get("buttons"), list):
        return ()
    return tuple(str(b.get("reply", {}).get("id", "")) for b in action["buttons"] if isinstance(b, dict))


def _error(code: int, title: str, *, status: int = 400) -> web.Response:
    return web.json_response({"error": {"message": f"({code}) {title}", "type": "OAuthException",
                                        "code": code, "fbtrace_id": "BenchSink",
                                        "error_data": {"messaging_product": "whatsapp", "details": title}}},
                             status=status)
