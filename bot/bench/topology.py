"""GridWorks topologies as plain OS processes for benchmarks: the embedded default (``gridworks serve`` on
SQLite) and a cluster (``gridworks serve --web-only``, ``gridworks worker`` ×N, ``gridworks engine``) on a
private PostgreSQL schema and a unique Redis prefix, both created here and removed afterwards.

Each process is ``sys.executable -m bot.cli …`` with its output in its own log file; readiness is the line
the command prints ("gridworks serve: listening", "gridworks worker: running", "gridworks engine: active" or
"standby"). CPU time per process comes from ``/proc/<pid>/stat`` (utime + stime, plus the children it waited
for and the live descendants it spawned), so the benchmark's own CPU (load generator, fake Graph API) never
counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any, Iterable

CLOCK = "2026-11-23T10:00:00+05:30"          # a Monday, 10:00 IST: the simulated market is open
PHONE_NUMBER_ID = "109876543210"
READY = {"web": "gridworks serve: listening", "embedded": "gridworks serve: listening",
         "worker": "gridworks worker: running", "baseline": "baseline: listening"}
_PASS_THROUGH = ("GRIDWORKS_INTENTS_MODEL_DIR", "GRIDWORKS_ZK_BACKEND", "GRIDWORKS_PARTITIONS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- CPU time from /proc -------------------------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and of the children it has waited for) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) may contain spaces and parentheses: split after its closing one
    fields = raw[raw.rindex(")") + 2:].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return ppid, (utime + stime + cutime + cstime) / _TICK


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """CPU seconds of each process in ``pids`` including its live descendants (read in one pass of /proc)."""
    table: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            got = _stat(int(entry.name))
            if got is not None:
                table[int(entry.name)] = got
    children: dict[int, list[int]] = {}
    for pid, (ppid, _cpu) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, float] = {}
    for root in pids:
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            if pid in table:
                total += table[pid][1]
                todo.extend(children.get(pid, ()))
        out[root] = total
    return out


def rss_bytes(pids: Iterable[int]) -> dict[int, int]:
    """Resident memory of each process in ``pids`` plus its live descendants (bytes, from /proc)."""
    parents = _parents()
    out: dict[int, int] = {}
    for root in pids:
        total, todo = 0, [root]
        while todo:
            pid = todo.pop()
            total += _vm_rss(pid)
            todo.extend(child for child, parent in parents.items() if parent == pid)
        out[root] = total
    return out


def _parents() -> dict[int, int]:
    """pid -> parent pid of every live process."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            got = _stat(int(entry.name))
            if got is not None:
                parents[int(entry.name)] = got[0]
    return parents


def _vm_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def machine_cpu() -> tuple[float, float]:
    """(busy CPU seconds, elapsed CPU seconds) of the whole machine so far, summed over its CPUs."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])                 # user nice system idle iowait irq softirq steal
    idle = fields[3] + fields[4]
    return (total - idle) / _TICK, total / _TICK


def cpu_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """Seconds per name between two :meth:`Topology.cpu` snapshots (a PostgreSQL backend that appeared in
    between counts in full; one that went away in between is missed)."""
    out = {name: after.get(name, value) - value for name, value in before.items() if name != "postgres"}
    if "postgres" in after:
        old = before.get("postgres", {})
        out["postgres"] = sum(max(0.0, v - old.get(pid, 0.0)) for pid, v in after["postgres"].items())
    return out


def _socket_inodes(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def _tcp_table() -> list[tuple[int, int, int]]:
    """(local port, remote port, inode) of every TCP socket (IPv4 and IPv6) in this network namespace."""
    rows = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(path).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9:
                rows.append((int(parts[1].rsplit(":", 1)[1], 16), int(parts[2].rsplit(":", 1)[1], 16),
                             int(parts[9])))
    return rows


def pg_backends(pids: Iterable[int], *, port: int = 5432) -> list[int]:
    """PostgreSQL backend processes (same machine) serving a connection of ``pids`` or their descendants:
    their client ports, matched to the server side's sockets by inode through ``/proc``."""
    family = set(pids)
    parents = _parents()
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in family and pid not in family:
                family.add(pid)
                changed = True
    ours: set[int] = set()
    for pid in family:
        ours |= _socket_inodes(pid)
    tcp = _tcp_table()
    client_ports = {local for local, remote, inode in tcp if remote == port and inode in ours}
    if not client_ports:
        return []
    server_inodes = {inode for local, remote, inode in tcp if local == port and remote in client_ports}
    backends = []
    for pid in parents:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        if _socket_inodes(pid) & server_inodes:
            backends.append(pid)
    return backends


def redis_server(port: int) -> int | None:
    """The pid of the redis-server (same machine) listening on ``port``, or None. Its CPU belongs in a
    cluster's figures: every command a role sends costs it there too."""
    listening = {inode for local, remote, inode in _tcp_table() if local == port and remote == 0}
    for pid in _parents():
        try:
            if not Path(f"/proc/{pid}/comm").read_text().startswith("redis-server"):
                continue
        except OSError:
            continue
        if _socket_inodes(pid) & listening:
            return pid
    return None


def _pg_port(url: str) -> int:
    try:
        return urlsplit(_plain_pg(url)).port or 5432
    except ValueError:
        return 5432


# -- processes -----------------------------------------------------------------------------------------------
@dataclass
class Proc:
    name: str
    role: str                    # embedded | web | worker | engine
    popen: subprocess.Popen
    log: Path
    port: int | None = None
    cpu_at_exit: float | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@dataclass
class Topology:
    """A set of GridWorks processes sharing one environment. ``kind`` is ``embedded`` or ``cluster``."""

    kind: str
    tmp: Path
    env: dict[str, str]
    procs: dict[str, Proc] = field(default_factory=dict)
    schema: str | None = None
    redis_url: str | None = None
    prefix: str | None = None
    pg_url: str | None = None

    # -- starting and stopping ------------------------------------------------------------------------------
    def start(self, name: str, role: str, *args: str, port: int | None = None,
              module: str = "bot.cli") -> Proc:
        log = self.tmp / f"{name}.log"
        with open(log, "ab") as fh:
            dev = ["--insecure-dev"] if module == "bot.cli" else []      # a benchmark runs on generated keys
            popen = subprocess.Popen([sys.executable, "-m", module, *args, *dev], env=self.env, stdout=fh,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.tmp)
        proc = self.procs[name] = Proc(name, role, popen, log, port)
        return proc

    def start_embedded(self, name: str = "serve") -> Proc:
        port = free_port()
        return self.start(name, "embedded", "serve", "--host", "127.0.0.1", "--port", str(port), port=port)

    def start_web(self, name: str = "web") -> Proc:
        port = free_port()
        return self.start(name, "web", "serve", "--web-only", "--host", "127.0.0.1", "--port", str(port),
                          port=port)

    def start_serve(self, name: str = "serve") -> Proc:
        """A cluster ``gridworks serve`` with every role: web, a worker for all partitions, the engine."""
        port = free_port()
        return self.start(name, "web", "serve", "--host", "127.0.0.1", "--port", str(port), port=port)

    def start_baseline(self, name: str = "baseline") -> Proc:
        """The yardstick of :mod:`bot.bench.baseline` (verify, answer 200, one reply per message)."""
        port = free_port()
        return self.start(name, "baseline", "--port", str(port), port=port, module="bot.bench.baseline")

    def start_worker(self, name: str) -> Proc:
        return self.start(name, "worker", "worker")

    def start_engine(self, name: str) -> Proc:
        args = ["engine"]
        if self.prefix and _engine_takes_prefix():
            args += ["--prefix", self.prefix]
        return self.start(name, "engine", *args)

    async def wait_for(self, name: str, text: str | None = None, *, timeout: float = 180.0,
                       since: int = 0) -> float:
        """Wait until process ``name`` printed ``text`` (its readiness line by default) after byte ``since``
        of its log; returns the monotonic time it was seen. Raises if the process exits or times out."""
        proc = self.procs[name]
        text = text or READY[proc.role]
        deadline = time.monotonic() + timeout
        while True:
            if text in proc.output()[since:]:
                return time.monotonic()
            if not proc.alive:
                raise RuntimeError(f"{name} exited with code {proc.popen.returncode} before saying {text!r}; "
                                   f"log tail:\n{_tail(proc.output())}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not say {text!r} within {timeout:g}s; log tail:\n"
                                   f"{_tail(proc.output())}")
            await asyncio.sleep(0.02)

    def signal(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        if proc.alive:
            proc.cpu_at_exit = cpu_seconds([proc.pid]).get(proc.pid)
            proc.popen.send_signal(sig)

    def stop_all(self, *, timeout: float = 20.0) -> dict[str, int | None]:
        """SIGTERM every live process, SIGKILL what is still alive after ``timeout``; the exit codes."""
        live = [p for p in self.procs.values() if p.alive]
        if live:
            cpu = cpu_seconds([p.pid for p in live])
            for proc in live:
                proc.cpu_at_exit = cpu.get(proc.pid)
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in live:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        return {name: p.popen.returncode for name, p in self.procs.items()}

    # -- measuring ------------------------------------------------------------------------------------------
    def cpu(self) -> dict[str, Any]:
        """A CPU snapshot: seconds so far of every live process (with its descendants) by name and, for a
        cluster, of each PostgreSQL backend serving one of its connections (``"postgres"``: pid -> seconds).
        :func:`cpu_delta` turns two snapshots into seconds per name."""
        live = {name: p for name, p in self.procs.items() if p.alive}
        by_pid = cpu_seconds([p.pid for p in live.values()])
        snap: dict[str, Any] = {name: by_pid.get(p.pid, 0.0) for name, p in live.items()}
        if self.kind == "cluster":
            backends = pg_backends([p.pid for p in live.values()], port=_pg_port(self.pg_url or ""))
            snap["postgres"] = cpu_seconds(backends) if backends else {}
            server = redis_server(urlsplit(self.redis_url or "").port or 6379)
            if server is not None:
                snap["redis"] = cpu_seconds([server]).get(server, 0.0)
        return snap

    def problems(self, leak: "re.Pattern[str] | None" = None) -> dict[str, dict[str, int]]:
        """Per process: tracebacks, error-level log lines and lines matching ``leak`` (phone numbers, message
        texts) in its log. Only counts: the benchmark never prints a log line that might leak."""
        out: dict[str, dict[str, int]] = {}
        for name, proc in self.procs.items():
            text = proc.output()
            lines = text.splitlines()
            out[name] = {
                "tracebacks": text.count("Traceback (most recent call last)"),
                "error_lines": sum(1 for line in lines if _ERROR_LINE.search(line)),
                "leaking_lines": sum(1 for line in lines if leak is not None and leak.search(line)),
                "exit_code": proc.popen.returncode if not proc.alive else None,
            }
        return out

    async def message_log(self) -> dict[str, Any]:
        """What the processes recorded in the ``messages`` table: inbound wamids, and per outbound row (wamid
        -- None for a send Meta refused --, correlation id, a hash of the body: the text itself is not kept),
        to compare with what was acknowledged and what reached the fake Graph API."""
        sql_in = "SELECT wamid FROM messages WHERE direction = 'in'"
        sql_out = "SELECT wamid, correlation_id, body FROM messages WHERE direction = 'out'"
        if self.kind == "embedded":
            import sqlite3

            path = self.env["DATABASE_URL"].split(":///", 1)[1]
            conn = sqlite3.connect(path)
            try:
                rows_in = [r[0] for r in conn.execute(sql_in)]
                rows_out = [tuple(r) for r in conn.execute(sql_out)]
            finally:
                conn.close()
        else:
            import asyncpg

            conn = await asyncpg.connect(_plain_pg(self.pg_url or ""),
                                         server_settings={"search_path": self.schema or "public"})
            try:
                rows_in = [r[0] for r in await conn.fetch(sql_in)]
                rows_out = [tuple(r) for r in await conn.fetch(sql_out)]
            finally:
                await conn.close()
        digest = [(w, c, hashlib.blake2b((body or "").encode(), digest_size=8).hexdigest())
                  for w, c, body in rows_out]
        return {"in": rows_in, "out": digest}

    # -- the private PostgreSQL schema and Redis prefix ------------------------------------------------------
    async def cleanup(self) -> None:
        if self.schema and self.pg_url:
            await drop_schema(self.pg_url, self.schema)
        if self.redis_url and self.prefix:
            await delete_prefix(self.redis_url, self.prefix)


_ERROR_LINE = re.compile(r'"level":\s*"(error|critical|exception)"')


def _tail(text: str, n: int = 2000) -> str:
    return text[-n:]


_takes_prefix: bool | None = None


def _engine_takes_prefix() -> bool:
    """Whether ``gridworks engine`` still has a ``--prefix`` option (it also reads GRIDWORKS_REDIS_PREFIX)."""
    global _takes_prefix
    if _takes_prefix is None:
        from bot.cli import build_parser

        try:
            _args, extra = build_parser().parse_known_args(["engine", "--prefix", "x:"])
            _takes_prefix = not extra
        except SystemExit:
            _takes_prefix = False
    return _takes_prefix


def base_env(tmp: Path, *, graph_url: str, app_secret: str, extra: dict[str, str]) -> dict[str, str]:
    """The environment every process of a topology shares (nothing inherited that configures GridWorks)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WHATSAPP_", "GRIDWORKS_")) and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({k: os.environ[k] for k in _PASS_THROUGH if k in os.environ})
    env.update({
        "WHATSAPP_APP_SECRET": app_secret, "WHATSAPP_TOKEN": "EAAbench", "WHATSAPP_VERIFY_TOKEN": "bench",
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_GRAPH_URL": graph_url,
        "GRIDWORKS_STATE_DIR": str(tmp / "state"), "GRIDWORKS_CLOCK": CLOCK, "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def embedded(tmp: Path, *, graph_url: str, app_secret: str, extra: dict[str, str]) -> Topology:
    tmp.mkdir(parents=True, exist_ok=True)
    env = base_env(tmp, graph_url=graph_url, app_secret=app_secret, extra=extra)
    env["DATABASE_URL"] = f"sqlite:///{tmp / 'gridworks.db'}"
    return Topology("embedded", tmp, env)


async def cluster(tmp: Path, *, graph_url: str, app_secret: str, extra: dict[str, str], pg_url: str,
                  redis_url: str) -> Topology:
    """An empty cluster topology with its own schema (created now) and Redis prefix; start processes on it."""
    tmp.mkdir(parents=True, exist_ok=True)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    await create_schema(pg_url, schema)
    env = base_env(tmp, graph_url=graph_url, app_secret=app_secret, extra=extra)
    sep = "&" if "?" in pg_url else "?"
    env.update({"DATABASE_URL": f"{pg_url}{sep}options=-csearch_path%3D{schema}", "REDIS_URL": redis_url,
                "GRIDWORKS_REDIS_PREFIX": prefix})
    return Topology("cluster", tmp, env, schema=schema, redis_url=redis_url, prefix=prefix, pg_url=pg_url)


def _plain_pg(url: str) -> str:
    """asyncpg wants ``postgresql://``: drop a SQLAlchemy driver suffix and any query string."""
    url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
    return url.split("?", 1)[0]


async def create_schema(pg_url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_plain_pg(pg_url))
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()


async def drop_schema(pg_url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_plain_pg(pg_url))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def delete_prefix(redis_url: str, prefix: str) -> int:
    """Delete every key under ``prefix`` (SCAN + DEL, never KEYS); returns how many were deleted."""
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.from_url(redis_url)
    deleted = 0
    try:
        batch: list = []
        async for key in client.scan_iter(match=f"{_glob_escape(prefix)}*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += await client.delete(*batch)
                batch.clear()
        if batch:
            deleted += await client.delete(*batch)
    finally:
        await client.aclose()
    return deleted


def _glob_escape(text: str) -> str:
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)
