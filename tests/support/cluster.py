"""A GridWorks cluster as plain OS processes (web, worker, engine) on a private PostgreSQL schema and Redis
prefix, for the tests that kill them: Docker does not run here, and real processes are what fail for real."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import payloads as p

PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    port: int | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Cluster:
    tmp: Path
    schema: str
    redis_url: str
    prefix: str
    graph_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return f"{PG_BASE}?options=-csearch_path%3D{self.schema}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WHATSAPP_", "GRIDWORKS_"))}
        env.update({
            "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
            "WHATSAPP_APP_SECRET": p.APP_SECRET, "WHATSAPP_TOKEN": "EAAtoken",
            "WHATSAPP_PHONE_NUMBER_ID": p.PHONE_NUMBER_ID, "WHATSAPP_GRAPH_URL": self.graph_url,
            "GRIDWORKS_STATE_DIR": str(self.tmp / "state"), "GRIDWORKS_CLOCK": "2026-11-23T10:00:00+05:30",
            "GRIDWORKS_PARTITIONS": "8", "GRIDWORKS_LEASE_SECONDS": "2", "GRIDWORKS_TICK_SECONDS": "1",
            "GRIDWORKS_SEND_RATE": "1000", "GRIDWORKS_REDIS_PREFIX": self.prefix, "GRIDWORKS_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self, name: str, *args: str, port: int | None = None) -> Proc:
        log = self.tmp / f"{name}.log"
        fh = open(log, "ab")
        dev = ["--insecure-dev"] if args and args[0] in ("serve", "worker", "engine") else []   # test keys
        popen = subprocess.Popen([sys.executable, "-m", "bot.cli", *args, *dev],
                                 env=self.env(), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        fh.close()
        proc = self.procs[name] = Proc(name, popen, log, port)
        return proc

    def web(self, name: str) -> Proc:
        port = free_port()
        return self.start(name, "serve", "--web-only", "--host", "127.0.0.1", "--port", str(port), port=port)

    def serve(self, name: str) -> Proc:
        """An all-in-one ``gridworks serve``: web, a worker's share and a candidate for the engine."""
        port = free_port()
        return self.start(name, "serve", "--host", "127.0.0.1", "--port", str(port), port=port)

    def worker(self, name: str) -> Proc:
        return self.start(name, "worker")

    def engine(self, name: str) -> Proc:
        return self.start(name, "engine")

    async def wait_for(self, name: str, text: str, timeout: float = 90.0) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while text not in proc.output():
            if not proc.alive:
                raise AssertionError(f"{name} exited ({proc.popen.returncode}):\n{proc.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} never said {text!r}:\n{proc.output()[-3000:]}")
            await asyncio.sleep(0.05)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.alive:
            proc.popen.send_signal(sig)
            proc.popen.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.alive:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=self.env(), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)


async def post(session: aiohttp.ClientSession, port: int, body: dict[str, Any]) -> int:
    data = p.raw(body)
    async with session.post(f"http://127.0.0.1:{port}/webhook", data=data,
                            headers={"Content-Type": "application/json",
                                     "X-Hub-Signature-256": p.sign(data)}) as resp:
        await resp.read()
        return resp.status
