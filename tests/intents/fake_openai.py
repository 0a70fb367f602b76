"""A small OpenAI-compatible HTTP server on 127.0.0.1 for testing the LLM fallback with the real client.

It answers ``POST /v1/chat/completions`` in the real wire format. ``replies`` maps a user message to the
assistant content to return (or to a delay in seconds, to exercise the timeout); unknown messages get a
500. Every request body is recorded in ``requests``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeOpenAI:
    replies: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        user = next((m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
        reply = self.replies.get(user)
        if reply is None:
            return web.json_response({"error": {"message": "no reply configured", "type": "server_error"}},
                                     status=500)
        if isinstance(reply, (int, float)):
            await asyncio.sleep(float(reply))
            reply = "{}"
        content = reply if isinstance(reply, str) else json.dumps(reply)
        return web.json_response({
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "test-model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        })

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
