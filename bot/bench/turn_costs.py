"""Round trips per turn: SQL statements, Redis commands and Graph API calls one webhook message costs.

The whole pipeline runs in this process — the aiohttp webhook app, the roles (intake, turn worker, sender,
side writer; in a cluster also the engine role) and the pywa client — against a fake Graph API on 127.0.0.1
(:class:`~bot.bench.graph_sink.GraphSink`). Counting happens at the edges, never inside our code:

* SQL: SQLAlchemy's ``before_cursor_execute`` / ``commit`` / ``rollback`` events on the ``Engine`` class,
  so every engine of the process (async ones through their sync core, and the sync SQLite one) is counted,
  plus the order engine's raw SQLite writes (one ``executemany`` per table of a batch, in its writer
  thread or its writer child), the prepared reads run on the SQLite driver (:class:`engine.db.Reads`), the
  message writer's per-row driver inserts, and the statements run straight on asyncpg
  (:func:`engine.db.driver_fetch`: PostgreSQL's hot reads and array inserts); the cluster engine role's
  periodic lease check is counted apart;
* Redis: redis-py's client — a command is one round trip, a pipeline is one round trip carrying N commands;
  a blocking stream read that came back empty is the roles' loops idling and counted apart (idle polls);
* Graph API: every POST the fake Graph server receives (replies, read receipts, uploads).

A turn is one signed single-message webhook POST, then :meth:`Roles.settle` (intake, worker and send queue
idle). A warm-up user runs the same journey first, so one-time work (compiling, caches) is not counted.
``gridworks bench e2e --costs`` prints the table; ``tests/bench/test_turn_costs.py`` asserts upper bounds.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

APP_SECRET = "turn-costs-secret"
PIN = "4826"
#: (row name, kind, value); the buy happens on the next trading day, so the PIN is asked again
DAY_ONE = (("first_turn", "text", "hello"), ("language", "list", "onb_lang:en"),
           ("consent", "button", "onb_consent:yes"), ("pin_setup", "text", PIN),
           ("price", "text", "price of TCS"), ("price_repeat", "text", "price of TCS"),
           ("portfolio", "text", "show my portfolio"), ("order_status", "text", "order status"))
DAY_TWO = (("buy", "text", "buy 1 TCS at market"), ("pin", "text", PIN), ("confirm", "button", None))
#: the rows the issue asks about, and the buy → PIN → confirm flow as one
REPORTED = ("first_turn", "price_repeat", "portfolio", "order_status", "buy", "pin", "confirm")


@dataclass
class Tally:
    """What the process sent to its database, Redis and the Graph API since it was made."""

    sql: Counter = field(default_factory=Counter)          # by verb: SELECT, INSERT, …, BEGIN, COMMIT
    redis_round_trips: int = 0
    redis_commands: Counter = field(default_factory=Counter)
    redis_idle_polls: int = 0                              # blocking stream reads that came back empty
    sql_background: int = 0                                # the engine role's periodic lease checks
    graph_calls: int = 0
    sink: Any = None                                       # the fake Graph API whose calls count

    def snapshot(self) -> "Tally":
        calls = self.sink.calls if self.sink is not None else self.graph_calls
        return Tally(Counter(self.sql), self.redis_round_trips, Counter(self.redis_commands),
                     self.redis_idle_polls, self.sql_background, calls)

    def minus(self, before: "Tally") -> dict[str, Any]:
        sql = self.sql - before.sql
        commands = self.redis_commands - before.redis_commands
        return {"sql": sum(sql.values()), "sql_by_verb": dict(sorted(sql.items())),
                "redis_round_trips": self.redis_round_trips - before.redis_round_trips,
                "redis_commands": sum(commands.values()), "redis_by_command": dict(sorted(commands.items())),
                "redis_idle_polls": self.redis_idle_polls - before.redis_idle_polls,
                "sql_background": self.sql_background - before.sql_background,
                "graph_calls": self.graph_calls - before.graph_calls}


#: set while the harness itself asks Redis (queue depths while settling): those commands are not the turn's
_HARNESS = contextvars.ContextVar("turn_costs_harness", default=False)


_LEASE_CHECK = "SELECT epoch FROM eng_lease"
_POLLS = {"XREADGROUP", "XREAD", "XAUTOCLAIM", "BLPOP", "BRPOP", "BZPOPMIN"}


def _empty(result: Any) -> bool:
    """Whether a stream read brought nothing (XAUTOCLAIM answers ``[cursor, entries, deleted]``)."""
    if not result:
        return True
    if isinstance(result, (list, tuple)) and len(result) >= 2 and isinstance(result[1], (list, tuple)):
        if not isinstance(result[0], (list, tuple)):        # XAUTOCLAIM, not an XREAD stream list
            return not result[1]
    if isinstance(result, dict):
        return all(not v for v in result.values())
    return False


def _verb(statement: str) -> str:
    words = statement.lstrip(" (\n").split(None, 2)
    if not words:
        return "?"
    verb = words[0].upper()
    return "BEGIN" if verb == "BEGIN" else verb


@contextmanager
def counting(sink: Any) -> Iterator[Tally]:
    """Count every SQL statement and Redis command of this process (and the sink's Graph calls) while open."""
    from asyncpg import Connection as AsyncpgConnection
    from redis.asyncio.client import Pipeline, Redis
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from engine.db import Reads, SqliteRowInsert
    from engine.sqlite_writer import WriterProcess
    from engine.store import EngineStore

    tally, lock = Tally(sink=sink), threading.Lock()

    def on_sql(conn, _cursor, statement, *_args):
        with lock:
            began = conn.info.pop("costs_began", False)
            if statement.startswith(_LEASE_CHECK) and "FOR SHARE" not in statement:
                # the engine role's periodic lease check: its transaction is not any turn's
                tally.sql["BEGIN"] -= began
                tally.sql_background += 1
                conn.info["costs_background"] = True
                return
            tally.sql[_verb(statement)] += 1

    def on_begin(conn):                 # SQLite's BEGIN IMMEDIATE is a statement of its own, counted above
        if conn.dialect.name != "sqlite":
            with lock:
                tally.sql["BEGIN"] += 1
                conn.info["costs_began"] = True

    def on_end(verb: str):
        def end(conn):
            with lock:
                conn.info.pop("costs_began", None)
                if not conn.info.pop("costs_background", False):
                    tally.sql[verb] += 1
        return end

    on_commit, on_rollback = on_end("COMMIT"), on_end("ROLLBACK")

    originals = {"execute_command": Redis.execute_command, "execute": Pipeline.execute,
                 "immediate": Pipeline.immediate_execute_command, "writer": WriterProcess.commit,
                 "write_sync": EngineStore._write_sync, "driver_read": Reads._driver,
                 "pg_fetch": AsyncpgConnection.fetch,
                 "row_insert": SqliteRowInsert.run}

    def driver_read(self, sql, args):   # a prepared read straight on the SQLite driver (engine.db.Reads)
        with lock:
            tally.sql["SELECT"] += 1
        return originals["driver_read"](self, sql, args)

    async def pg_fetch(self, sql, *args, **kw):   # one statement straight on asyncpg (engine.db.driver_fetch)
        with lock:
            tally.sql[_verb(sql)] += 1
        return await originals["pg_fetch"](self, sql, *args, **kw)

    def row_insert(self, cursor, rows):  # the SQLite message writer's per-row driver inserts
        with lock:
            tally.sql["INSERT"] += len(rows)
        return originals["row_insert"](self, cursor, rows)

    def write_sync(self, batch):        # the order engine on SQLite: raw cursor.executemany per table
        if self._proc is None:          # (BEGIN/COMMIT come through SQLAlchemy's events; the child's, below)
            with lock:
                for stmt, _rows in self._statements(batch):
                    tally.sql[_verb(str(stmt))] += 1
        return originals["write_sync"](self, batch)

    def writer_commit(self, job):       # the engine's SQLite writer child: raw sqlite3, one transaction
        with lock:
            tally.sql["BEGIN"] += 1
            tally.sql["COMMIT"] += 1
            for sql, _rows in job:
                tally.sql[_verb(sql)] += 1
        return originals["writer"](self, job)

    def one(args: tuple, result: Any) -> Any:
        name = str(args[0]).upper() if args else "?"
        if _HARNESS.get():
            return result
        if name in _POLLS and _empty(result):
            tally.redis_idle_polls += 1     # a blocking read that timed out: the loops' idling, not a turn's
        else:
            tally.redis_round_trips += 1
            tally.redis_commands[name] += 1
        return result

    async def execute_command(self, *args, **options):
        return one(args, await originals["execute_command"](self, *args, **options))

    async def immediate(self, *args, **options):
        return one(args, await originals["immediate"](self, *args, **options))

    async def execute(self, *args, **options):
        if self.command_stack and not _HARNESS.get():
            tally.redis_round_trips += 1
            for cmd_args, _opts in self.command_stack:
                tally.redis_commands[str(cmd_args[0]).upper()] += 1
        return await originals["execute"](self, *args, **options)

    listeners = (("before_cursor_execute", on_sql), ("begin", on_begin), ("commit", on_commit),
                 ("rollback", on_rollback))
    for name, fn in listeners:
        event.listen(Engine, name, fn)
    Redis.execute_command, Pipeline.execute = execute_command, execute
    Pipeline.immediate_execute_command = immediate
    WriterProcess.commit, EngineStore._write_sync = writer_commit, write_sync
    Reads._driver, AsyncpgConnection.fetch, SqliteRowInsert.run = driver_read, pg_fetch, row_insert
    try:
        yield tally
    finally:
        for name, fn in listeners:
            event.remove(Engine, name, fn)
        Redis.execute_command, Pipeline.execute = originals["execute_command"], originals["execute"]
        Pipeline.immediate_execute_command = originals["immediate"]
        WriterProcess.commit, EngineStore._write_sync = originals["writer"], originals["write_sync"]
        Reads._driver, AsyncpgConnection.fetch = originals["driver_read"], originals["pg_fetch"]
        SqliteRowInsert.run = originals["row_insert"]


# -- driving the pipeline ------------------------------------------------------------------------------------
def settings_env(tmp: Path, graph_url: str, *, database_url: str | None = None, redis_url: str | None = None,
                 prefix: str | None = None) -> dict[str, str]:
    """An in-process deployment's environment: embedded SQLite by default, a cluster with ``redis_url``."""
    from bot.bench.topology import CLOCK, PHONE_NUMBER_ID

    env = {"WHATSAPP_APP_SECRET": APP_SECRET, "WHATSAPP_TOKEN": "EAAcosts", "WHATSAPP_VERIFY_TOKEN": "costs",
           "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID, "WHATSAPP_GRAPH_URL": graph_url,
           "GRIDWORKS_STATE_DIR": str(tmp / "state"), "GRIDWORKS_CLOCK": CLOCK,
           "GRIDWORKS_TICK_SECONDS": "3600", "DATABASE_URL": database_url or f"sqlite:///{tmp / 'gw.db'}"}
    if redis_url:     # long leases: no renewal lands in a turn's counts (a run is a few seconds)
        env.update({"REDIS_URL": redis_url, "GRIDWORKS_LEASE_SECONDS": "300",
                    "GRIDWORKS_REDIS_PREFIX": prefix or f"costs:{uuid.uuid4().hex[:8]}:"})
    return env


class Pipeline:
    """The webhook app and its roles in this process, on a free port; ``await turn(...)`` runs one message."""

    def __init__(self, env: dict[str, str], sink: Any, clock: Any) -> None:
        self.env, self.sink, self.clock = env, sink, clock
        self.roles: Any = None
        self.tally: Tally | None = None
        self.errors = 0                  # error replies (busy / apology) to the last turn
        self._runner: Any = None
        self._http: Any = None
        self._ids = iter(range(1, 10**9))
        self.run_id = uuid.uuid4().hex[:6]

    async def __aenter__(self) -> "Pipeline":
        import aiohttp
        from aiohttp import web

        from bot.roles import build_roles
        from bot.webhook import create_web_app
        from bot.whatsapp.client import build_client
        from config.settings import load_settings

        settings = load_settings(self.env)
        client = build_client(settings.whatsapp)
        self.roles = await build_roles(settings, client=client, clock=self.clock)
        app = create_web_app(settings=settings, client=client, intake=self.roles.intake,
                             db=self.roles.db, roles=self.roles)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/webhook"
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()          # stops the roles and closes the runtime with the app

    async def turn(self, phone: str, kind: str, value: str | None) -> int:
        """POST one message, wait until everything it caused is done; the number of replies it got."""
        from bot.bench.cluster import sign, webhook_body

        if value is None:           # tap the first button of the latest card (a server-bound id)
            value = next(a.buttons[0] for a in reversed(self.sink.replies[phone]) if a.buttons)
        before = self.sink.count(phone)
        errors_before = sum(a.error for a in self.sink.replies.get(phone, ()))
        mid = f"wamid.HBgM{self.run_id}{next(self._ids):010d}"
        raw = webhook_body(phone, mid, kind, value, ts=int(self.clock.now().timestamp()))
        async with self._http.post(self.url, data=raw, headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": sign(raw, APP_SECRET)}) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"the webhook answered {resp.status}")
        token = _HARNESS.set(True)
        try:
            await self.roles.settle(timeout=60)
        finally:
            _HARNESS.reset(token)
        await self._quiet()
        self.errors = sum(a.error for a in self.sink.replies.get(phone, ())) - errors_before
        return self.sink.count(phone) - before


    async def _quiet(self, polls: int = 4, every: float = 0.05) -> None:
        """Wait until no Graph call and no SQL statement happened for ``polls`` × ``every`` seconds: the read
        receipt and the side writer may finish just after the queues are empty."""
        seen, still = None, 0
        while still < polls:
            await asyncio.sleep(every)
            now = (self.sink.calls, sum(self.tally.sql.values()) if self.tally is not None else 0)
            still = still + 1 if now == seen else 0
            seen = now


async def measure(env_for: Any, *, tmp: Path) -> dict[str, dict[str, Any]]:
    """Counts per turn of a fresh user (after a warm-up user ran the same journey): one row per step of
    :data:`DAY_ONE` and :data:`DAY_TWO` and ``buy_pin_confirm``, their sum. ``env_for(graph_url)`` gives the
    deployment's environment (see :func:`settings_env`)."""
    from bot.bench.graph_sink import GraphSink
    from bot.bench.topology import CLOCK
    from engine.clock import FixedClock

    sink = await GraphSink(error_prefixes=error_prefixes()).start()
    clock = FixedClock(datetime.fromisoformat(CLOCK))
    rows: dict[str, dict[str, Any]] = {}
    base = 9196_0000_0000 + (uuid.uuid4().int % 9000) * 10_000
    warm, measured = str(base + 1), str(base + 2)
    try:
        async with Pipeline(env_for(sink.url), sink, clock) as pipe:
            with counting(sink) as tally:
                pipe.tally = tally
                for day, steps in ((0, DAY_ONE), (1, DAY_TWO)):
                    clock.set(datetime.fromisoformat(CLOCK) + timedelta(days=day))
                    for phone in (warm, measured):
                        for name, kind, value in steps:
                            before = tally.snapshot()
                            replies = await pipe.turn(phone, kind, value)
                            if phone == measured:
                                rows[name] = {**tally.snapshot().minus(before), "replies": replies,
                                              "error_replies": pipe.errors}
    finally:
        await sink.stop()
    flow = [rows[k] for k in ("buy", "pin", "confirm")]
    keys = ("sql", "redis_round_trips", "redis_commands", "graph_calls", "replies", "error_replies")
    rows["buy_pin_confirm"] = {k: sum(r[k] for r in flow) for k in keys}
    return rows


async def embedded_costs(tmp: Path) -> dict[str, dict[str, Any]]:
    return await measure(lambda url: settings_env(tmp, url), tmp=tmp)


async def cluster_costs(tmp: Path, *, pg_url: str, redis_url: str) -> dict[str, dict[str, Any]]:
    """The same journey on PostgreSQL (a private schema, dropped afterwards) + Redis (a private prefix)."""
    from bot.bench.topology import create_schema, delete_prefix, drop_schema

    schema, prefix = f"costs_{uuid.uuid4().hex[:10]}", f"costs:{uuid.uuid4().hex[:8]}:"
    await create_schema(pg_url, schema)
    sep = "&" if "?" in pg_url else "?"
    db_url = f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    try:
        return await measure(lambda url: settings_env(tmp, url, database_url=db_url, redis_url=redis_url,
                                                      prefix=prefix), tmp=tmp)
    finally:
        await drop_schema(pg_url, schema)
        await delete_prefix(redis_url, prefix)


def error_prefixes() -> list[str]:
    """How the bot's error replies (busy, apology) begin, in English: the fake Graph API flags them."""
    from locales.catalog import load_catalog

    catalog = load_catalog()
    return [catalog.raw("en", key).split("{", 1)[0] for key in ("core.busy", "core.error")]


def table(title: str, rows: dict[str, dict[str, Any]]) -> str:
    head = f"{title:<18} {'SQL':>4} {'Redis trips/cmds':>16} {'Graph':>5} {'replies':>7}  SQL by verb"
    lines = [head, "-" * len(head)]
    for name in (*REPORTED, "buy_pin_confirm"):
        r = rows.get(name)
        if r is None:
            continue
        verbs = ", ".join(f"{k} {v}" for k, v in r.get("sql_by_verb", {}).items())
        redis = f"{r['redis_round_trips']} / {r['redis_commands']}"
        bad = f"  ERROR REPLIES: {r['error_replies']}" if r.get("error_replies") else ""
        lines.append(f"{name:<18} {r['sql']:>4} {redis:>16} {r['graph_calls']:>5} {r['replies']:>7}  "
                     f"{verbs}{bad}")
    return "\n".join(lines)
