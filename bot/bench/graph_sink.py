"""A minimal fake WhatsApp Graph API for benchmarks: it answers sends in Meta's wire format and records, per
recipient, when each reply arrived.

``POST /{version}/{phone_id}/messages`` answers a send with ``{"messaging_product": "whatsapp", "contacts":
[...], "messages": [{"id": "wamid.bench…"}]}`` and a read receipt (``{"status": "read"}``) with ``{"success":
true}``; ``POST /{version}/{phone_id}/media`` answers an upload with a media id. Nothing else is kept of a
reply than its kind, whether it is one of the bot's error replies (busy/apology, recognised by their text's
prefix) and its arrival time on the monotonic and the wall clock, so the load generator in the same process
computes webhook-to-reply latency on one clock. It logs nothing (no phone numbers, no message text).

It runs on the benchmark's own event loop: its CPU lands in the benchmark process, never in a measured one.

Templates: ``POST /{version}/{waba_id}/message_templates`` creates one (answered ``PENDING``, or ``approve``'s
status), ``GET`` lists them in Meta's paged format, ``POST /{version}/{template_id}`` updates one; enough for
pywa's public ``create_template`` / ``get_templates`` / ``update_template`` (``gridworks templates sync``).
``fail`` maps a recipient to a Graph error code its sends are answered with (131049, 131050, …).
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
        self.fail: dict[str, int] = {}           # recipient -> error code its sends are refused with
        self.refused: dict[str, int] = defaultdict(int)   # recipient -> sends refused with its ``fail`` code
        self.templates: dict[str, dict[str, Any]] = {}   # template id -> what was created (plus id, status)
        self.approve = "PENDING"                 # the status new templates are created with
        self.template_bodies: dict[str, dict[str, Any]] = {}   # wamid -> the template part of that send
        self.trackers: dict[str, str] = {}       # wamid -> the biz_opaque_callback_data it was sent with
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "GraphSink":
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/{version}/{phone_id}/messages", self._messages)
        app.router.add_post("/{version}/{phone_id}/media", self._media)
        app.router.add_post("/{version}/{waba_id}/message_templates", self._create_template)
        app.router.add_get("/{version}/{waba_id}/message_templates", self._list_templates)
        app.router.add_post("/{version}/{template_id}", self._update_template)
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
        if target in self.fail:
            code = self.fail[target]
            self.refused[target] += 1
            return _error(code, _TITLES.get(code, "Error"))
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
        if isinstance(body.get("template"), dict):
            self.template_bodies[wamid] = body["template"]
        if isinstance(body.get("biz_opaque_callback_data"), str):
            self.trackers[wamid] = body["biz_opaque_callback_data"]
        return web.json_response({"messaging_product": "whatsapp", "contacts": [contact],
                                  "messages": [{"id": wamid}]})

    async def _create_template(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        tid = str(900000000 + next(self._ids))
        self.templates[tid] = {**body, "id": tid, "status": self.approve,
                               "parameter_format": body.get("parameter_format") or "POSITIONAL"}
        return web.json_response({"id": tid, "status": self.approve, "category": body.get("category")})

    async def _list_templates(self, request: web.Request) -> web.Response:
        data = list(self.templates.values())
        name = request.query.get("name")
        if name:
            data = [t for t in data if t.get("name") == name]
        return web.json_response({"data": data, "paging": {"cursors": {"before": "", "after": ""}},
                                  "summary": {"total_count": len(data), "message_template_count": len(data),
                                              "message_template_limit": 6000,
                                              "are_translations_complete": True}})

    async def _update_template(self, request: web.Request) -> web.Response:
        tid = request.match_info["template_id"]
        if tid not in self.templates:
            return _error(100, "Invalid parameter", status=400)
        body = json.loads(await request.read())
        self.templates[tid].update({k: v for k, v in body.items() if v is not None})
        return web.json_response({"success": True, "id": tid, "category": self.templates[tid].get("category")})

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


_TITLES = {131049: "This message was not delivered to maintain healthy ecosystem engagement.",
           131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages."}


def _error(code: int, title: str, *, status: int = 400) -> web.Response:
    return web.json_response({"error": {"message": f"({code}) {title}", "type": "OAuthException",
                                        "code": code, "fbtrace_id": "BenchSink",
                                        "error_data": {"messaging_product": "whatsapp", "details": title}}},
                             status=status)
