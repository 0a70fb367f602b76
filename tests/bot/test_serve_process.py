"""`gridworks serve` as a real process: the Done-when of the foundation, exactly as an operator runs it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.support import payloads as p
from tests.support.graph_api import FakeGraphAPI


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_refuses_to_start_without_an_app_secret(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHATSAPP_")}
    env["GRIDWORKS_STATE_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--port", "0"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "WHATSAPP_APP_SECRET" in done.stderr


async def test_signed_batch_gets_three_replies_replay_none_bad_signature_403(tmp_path: Path):
    graph = await FakeGraphAPI().start()
    port = _free_port()
    env = dict(os.environ, WHATSAPP_APP_SECRET=p.APP_SECRET, WHATSAPP_VERIFY_TOKEN="v", WHATSAPP_TOKEN="EAAtoken",
               WHATSAPP_PHONE_NUMBER_ID=p.PHONE_NUMBER_ID, WHATSAPP_GRAPH_URL=graph.url,
               DATABASE_URL=f"sqlite:///{tmp_path / 'gw.db'}", GRIDWORKS_STATE_DIR=str(tmp_path / "state"),
               GRIDWORKS_CLOCK="2026-11-23T10:00:00+05:30")
    env.pop("REDIS_URL", None)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "serve", "--insecure-dev",
                                                "--host", "127.0.0.1",
                                                "--port", str(port), env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        # Start-up loads (on a fresh machine: first trains) the intent model; wait for the "listening" line.
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=600)
        assert b"listening" in line, line
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/healthz") as r:
                assert r.status == 200
            phones = ["919800000021", "919800000022", "919800000023"]
            body = p.raw(p.envelope(p.messages_value([p.text(x, "hi") for x in phones],
                                                     [p.contact(x) for x in phones])))
            headers = {"X-Hub-Signature-256": p.sign(body), "Content-Type": "application/json"}
            async with http.post(base + "/webhook", data=body, headers=headers) as r:
                assert r.status == 200
            sent = await graph.wait_for(3, timeout=30)
            await asyncio.sleep(1.0)
            first_round = {m["to"] for m in sent}
            assert first_round == set(phones)
            count = len(graph.messages)
            async with http.post(base + "/webhook", data=body, headers=headers) as r:
                assert r.status == 200
            async with http.post(base + "/webhook", data=body.replace(b"hi", b"yo"), headers=headers) as r:
                assert r.status == 403
            await asyncio.sleep(1.5)
            assert len(graph.messages) == count, "a replay and a forged POST must produce no reply"
        # A second process on the SQLite file this server serves is refused, clearly; so is an operator write.
        second = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--insecure-dev", "--port",
                                 str(_free_port())], env=env,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "already serving the database" in second.stderr, second.stderr
        assert "Traceback" not in second.stderr
        create = subprocess.run([sys.executable, "-m", "bot.cli", "users", "create", "919800000029", "--cash",
                                 "5000"], env=env, capture_output=True, text=True, timeout=120)
        assert create.returncode == 1 and "already serving the database" in create.stderr, create.stderr
        assert "Traceback" not in create.stderr
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=30)
        await graph.stop()
