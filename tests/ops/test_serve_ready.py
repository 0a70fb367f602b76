"""``gridworks serve`` as a process: /readyz checks what it depends on, /metrics answers, and after SIGTERM the
process says "draining" (GRIDWORKS_DRAIN_SECONDS) before it closes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_ready_metrics_then_draining_after_sigterm(tmp_path: Path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "GRIDWORKS_"))
           and k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(WHATSAPP_APP_SECRET="s3cret", WHATSAPP_VERIFY_TOKEN="v", WHATSAPP_TOKEN="EAAt",
               WHATSAPP_PHONE_NUMBER_ID="1", WHATSAPP_GRAPH_URL="http://127.0.0.1:9", GRIDWORKS_DRAIN_SECONDS="4",
               DATABASE_URL=f"sqlite:///{tmp_path / 'gw.db'}", GRIDWORKS_STATE_DIR=str(tmp_path / "state"))
    env.update({k: os.environ[k] for k in ("GRIDWORKS_INTENTS_MODEL_DIR",) if k in os.environ})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", "--insecure-dev", "--host", "127.0.0.1", "--port", str(port),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=600)
        assert b"listening" in line, line
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/readyz") as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["checks"] == {"database": "ok", "intents": "ok"}
            async with http.get(base + "/metrics") as r:
                text = await r.text()
                assert r.status == 200 and "gridworks_model_load_seconds" in text and "gridworks_ready 1.0" in text
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(1.0)
            async with http.get(base + "/readyz") as r:
                assert r.status == 503 and (await r.json())["status"] == "draining"
            async with http.get(base + "/healthz") as r:
                assert r.status == 200            # alive, just not taking new work
        assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
