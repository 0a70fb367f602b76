"""A local stand-in for Meta's Graph API on 127.0.0.1 that answers in the real wire format.

It records every request (path, headers, JSON or multipart body) so tests assert on exactly what our
client sent, and it can be told to fail sends to a recipient with Meta's error body (e.g. 131047).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)
    wamid: str | None = None          # the id we answered a message send with


class FakeGraphAPI:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.fail_for: dict[str, tuple[int, str]] = {}   # recipient → (code, title)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.changed = asyncio.Event()

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Message sends (not read receipts), in arrival order."""
        return [r.json for r in self.requests if r.path.endswith("/messages") and r.json
                and r.json.get("status") != "read"]

    @property
    def reads(self) -> list[dict[str, Any]]:
        return [r.json for r in self.requests if r.path.endswith("/messages") and r.json
                and r.json.get("status") == "read"]

    async def start(self) -> "FakeGraphAPI":
        app = web.Application()
        app.router.add_post("/{version}/{phone_id}/messages", self._messages)
        app.router.add_post("/{version}/{phone_id}/media", self._media)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def wait_for(self, count: int, *, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``count`` message sends arrived (or time out) and return them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.messages) < count and loop.time() < deadline:
            await asyncio.sleep(0.02)
        return self.messages

    def _record(self, request: web.Request, **kw: Any) -> Recorded:
        rec = Recorded(method=request.method, path=request.path, headers=dict(request.headers), **kw)
        self.requests.append(rec)
        return rec

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        rec = self._record(request, json=body)
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _error(190, "Invalid OAuth access token.", status=401, kind="OAuthException")
        if body.get("status") == "read":
            return web.json_response({"success": True})
        target = body.get("to") or body.get("recipient")
        if target in self.fail_for:
            code, title = self.fail_for[target]
            return _error(code, title)
        contact = {"input": target, "wa_id": body.get("to") or ""}
        if body.get("recipient"):
            contact["user_id"] = body["recipient"]
        rec.wamid = f"wamid.fake{next(self._ids):06d}"
        return web.json_response({"messaging_product": "whatsapp", "contacts": [contact],
                                  "messages": [{"id": rec.wamid}]})

    async def _media(self, request: web.Request) -> web.Response:
        form: dict[str, Any] = {}
        reader = await request.multipart()
        async for part in reader:
            data = await part.read()
            form[part.name] = {"filename": part.filename, "bytes": bytes(data),
                               "content_type": part.headers.get("Content-Type")}
        self._record(request, form=form)
        return web.json_response({"id": f"media{next(self._ids):06d}"})


def _error(code: int, title: str, *, status: int = 400, kind: str = "OAuthException") -> web.Response:
    return web.json_response({"error": {
        "message": f"({code}) {title}", "type": kind, "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": title}, "fbtrace_id": "AbCdEf123"}},
        status=status)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@contextlib.contextmanager
def graph_in_thread() -> Iterator[FakeGraphAPI]:
    """The fake Graph API on its own loop in a thread: for code under test that runs its own ``asyncio.run``
    (a CLI command called in-process)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    api = asyncio.run_coroutine_threadsafe(FakeGraphAPI().start(), loop).result(10)
    try:
        yield api
    finally:
        asyncio.run_coroutine_threadsafe(api.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def cli_env(tmp_path: Any, monkeypatch: Any, graph: FakeGraphAPI, *, clock: str) -> dict[str, str]:
    """The environment a CLI command run in-process reads: embedded SQLite under ``tmp_path``, the fake Graph
    API, a fixed start of the simulated clock (set in ``os.environ`` too, through ``monkeypatch``)."""
    values = {"GRIDWORKS_STATE_DIR": str(tmp_path / "state"), "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
              "GRIDWORKS_CLOCK": clock, "WHATSAPP_GRAPH_URL": graph.url,
              "WHATSAPP_TOKEN": "test-token", "WHATSAPP_PHONE_NUMBER_ID": "1000001"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values
