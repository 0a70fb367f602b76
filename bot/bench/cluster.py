"""``gridworks bench cluster``: signed webhooks at real processes, replies at a fake Graph API on 127.0.0.1.

For each topology — the embedded default (``gridworks serve``, SQLite) and the cluster (one ``serve
--web-only``, 1 or 2 ``gridworks worker``, one ``gridworks engine``; PostgreSQL + Redis) — the benchmark:

1. starts the processes (:mod:`bot.bench.topology`) and waits for their readiness lines;
2. calibrates: one user runs the onboarding journey and each measured turn alone, and the replies per turn
   are counted (they are the product's, not assumed);
3. onboards ``--users`` users through the webhook (hello → language list reply → consent button → PIN);
4. warms up, then for each ``--rate`` sends price / portfolio / order-status turns **open-loop** at that rate
   for ``--seconds``, each as a signed single-message webhook, to the user idle longest.

Every POST's round trip is the *ack* latency; the first reply of a turn at the fake Graph API is its *reply*
latency (replies are matched to turns per user in order, with the reply counts from calibration; the bot's
error replies end a turn early). Per level: offered and served msgs/s (turns answered within the window per
second of window), answered % (within the window + ``--grace``), ack and reply p50/p99, backlog growth (the
least-squares slope of sent − answered over the window, per second) and CPU ms per answered message per
process (``/proc``; the benchmark's own load generator and fake Graph API run in this process and do not
count). A level is *sustained* when ≥ 95 % is answered within window + grace and reply p99 ≤ 2 s.

Finally, failover: on the last cluster a standby engine is started, the active one is SIGKILLed, and the
times until the standby says "active" and until a turn that needs the engine ("show my portfolio") gets its
proper answer again are measured.

Without ``--json`` a table is printed and a flat summary returned; with it the full figures are returned.
Progress goes to stderr, one line per phase; it never names a user or a message text.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

APP_SECRET = "bench-app-secret"
PIN = "4826"
ONBOARDING = (("hello", "text", "hello"), ("lang", "list", "onb_lang:en"),
              ("consent", "button", "onb_consent:yes"), ("pin", "text", PIN))
MEASURED = (("price", "text", "price of TCS"), ("portfolio", "text", "show my portfolio"),
            ("status", "text", "order status"))
SUSTAINED_ANSWERED = 0.95
SUSTAINED_P99_S = 2.0


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=_floats, default=[20.0, 40.0, 80.0],
                        help="offered messages/s, one level each, comma-separated (default 20,40,80)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per level (default 15)")
    parser.add_argument("--users", type=int, default=200,
                        help="distinct users, onboarded first (default 200)")
    parser.add_argument("--workers", type=_ints, default=[1, 2],
                        help="cluster runs, by worker count, comma-separated; empty for none (default 1,2)")
    parser.add_argument("--skip-embedded", action="store_true", help="do not measure the embedded default")
    parser.add_argument("--skip-failover", action="store_true", help="do not measure the engine failover")
    add_service_arguments(parser)
    parser.add_argument("--grace", type=float, default=5.0,
                        help="seconds after a level's window in which its replies still count (default 5)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of unmeasured load at the lowest rate before the levels (default 3)")
    parser.add_argument("--send-rate", type=float, default=1000.0,
                        help="GRIDWORKS_SEND_RATE for the processes (default 1000: Graph is not the limit)")
    parser.add_argument("--partitions", type=int, default=16, help="GRIDWORKS_PARTITIONS (default 16)")
    parser.add_argument("--lease-seconds", type=float, default=5.0,
                        help="GRIDWORKS_LEASE_SECONDS: the failover waits for it (default 5, the product's)")
    parser.add_argument("--tick-seconds", type=float, default=15.0,
                        help="GRIDWORKS_TICK_SECONDS (default 15)")
    parser.add_argument("--log-level", default="INFO",
                        help="GRIDWORKS_LOG_LEVEL of the processes (default INFO)")
    parser.add_argument("--statuses", type=int, default=0, metavar="N",
                        help="after the levels, repeat the lowest level while N delivery statuses arrive (in "
                             "webhooks of 100) and report the reply p99 against the same level without them")
    parser.add_argument("--keep-logs", default=None, metavar="DIR",
                        help="copy the processes' logs here (they never hold phone numbers or message texts)")


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL for the cluster (a private schema is created and dropped)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14",
                        help="Redis for the cluster (a unique key prefix is used and deleted)")


# -- webhook bodies ------------------------------------------------------------------------------------------
def sign(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def webhook_body(phone: str, mid: str, kind: str, value: str, *, ts: int) -> bytes:
    """One signed-able single-message delivery shaped like Meta's (text, list reply or button reply)."""
    bsuid = f"IN.{int(phone) % 10**18:018d}"
    msg: dict[str, Any] = {"id": mid, "timestamp": str(ts), "from": phone, "from_user_id": bsuid}
    if kind == "text":
        msg.update(type="text", text={"body": value})
    else:
        reply = "list_reply" if kind == "list" else "button_reply"
        msg.update(type="interactive", context={"from": "109876543210", "id": "wamid.ours"},
                   interactive={"type": reply, reply: {"id": value, "title": value.split(":")[-1]}})
    change = {"messaging_product": "whatsapp",
              "metadata": {"display_phone_number": "15550001111", "phone_number_id": "109876543210"},
              "contacts": [{"profile": {"name": "Bench"}, "wa_id": phone, "user_id": bsuid}],
              "messages": [msg]}
    body = {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": change}]}]}
    return json.dumps(body, separators=(",", ":")).encode()


def statuses_body(start: int, n: int) -> bytes:
    """A delivery carrying ``n`` statuses (sent, delivered, read) for messages we never sent: what a storm
    costs the intake and the status writer, without touching anyone's turns."""
    items = [{"id": f"wamid.storm{start + i:09d}", "status": ("sent", "delivered", "read")[i % 3],
              "timestamp": "1795400000", "recipient_id": "919800000000"} for i in range(n)]
    change = {"messaging_product": "whatsapp",
              "metadata": {"display_phone_number": "15550001111", "phone_number_id": "109876543210"},
              "statuses": items}
    body = {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": change}]}]}
    return json.dumps(body, separators=(",", ":")).encode()


async def status_storm(load: "Load", total: int, seconds: float, *, per_body: int = 100) -> int:
    """Post ``total`` statuses spread evenly over ``seconds``; returns how many deliveries got a 200."""
    bodies = max(1, total // per_body)
    start, ok = time.monotonic(), 0
    for i in range(bodies):
        delay = start + i * seconds / bodies - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        raw = statuses_body(i * per_body, per_body)
        try:
            async with load.session.post(load.url, data=raw, headers={
                    "Content-Type": "application/json", "X-Hub-Signature-256": sign(raw)}) as resp:
                await resp.read()
                ok += resp.status == 200
        except Exception:  # noqa: BLE001 - counted as not acknowledged
            pass
    return ok


# -- turns and their replies ---------------------------------------------------------------------------------
@dataclass(eq=False)
class Turn:
    user: str
    kind: str
    expected: int
    mid: str
    level: str = ""
    sent: float = 0.0                # monotonic, just before the POST
    acked: float | None = None       # monotonic, when the POST's answer was read
    status: int | None = None
    first_reply: float | None = None
    replies: int = 0
    error: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class User:
    phone: str
    pending: deque = field(default_factory=deque)
    last_sent: float = 0.0
    trail: list = field(default_factory=list)    # ">kind" per turn sent, "<type" per reply: for diagnosis


class Matcher:
    """Assign replies at the fake Graph API to turns: per user, in order, ``expected`` replies per turn (an
    error reply ends its turn). Users whose turns are all answered wait in ``idle``, longest-idle first."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.idle: deque[str] = deque()
        self.stray = 0          # replies to a user with nothing pending
        self.pushes = 0         # templates (pushes outside a turn): not replies to a turn
        self.errors = 0
        self.busy_picks = 0     # sends that found no idle user (open loop: sent anyway, queued behind)

    def add_user(self, phone: str, *, idle: bool = True) -> None:
        self.users[phone] = User(phone)
        if idle:
            self.idle.append(phone)

    def anomalies(self, limit: int = 5) -> list[list[str]]:
        """The turn/reply trails (no phone numbers, no texts) of users with a stray reply or a turn still
        waiting with only some of its replies: what to look at when the matching went off."""
        odd = [u for u in self.users.values()
               if "!stray" in u.trail or any(t.replies for t in u.pending)]
        return [u.trail[-24:] for u in odd[:limit]]

    def take_user(self) -> str:
        """The user idle longest; when none is idle, the one who was sent to longest ago."""
        while self.idle:
            phone = self.idle.popleft()
            if not self.users[phone].pending:
                return phone
        self.busy_picks += 1
        return min(self.users.values(), key=lambda u: u.last_sent).phone

    def expect(self, turn: Turn) -> None:
        """Register ``turn`` as its user's latest pending turn (before sending: a reply may beat the ack)."""
        user = self.users[turn.user]
        user.pending.append(turn)
        user.last_sent = time.monotonic()
        user.trail.append(f">{turn.kind}")

    def withdraw(self, turn: Turn) -> None:
        """A delivery that was not acknowledged: its reply will never come."""
        user = self.users[turn.user]
        if turn in user.pending and turn.replies == 0:
            user.pending.remove(turn)
            turn.done.set()
            if not user.pending:
                self.idle.append(user.phone)

    def on_reply(self, phone: str, arrival: Any) -> None:
        if arrival.kind == "template":
            self.pushes += 1
            return
        user = self.users.get(phone)
        if user is not None:
            tag = f"/{arrival.tag}" if arrival.tag else ""
            user.trail.append(f"<{'error' if arrival.error else arrival.kind}{tag}")
        if user is None or not user.pending:
            self.stray += 1
            if user is not None:
                user.trail.append("!stray")
            return
        turn = user.pending[0]
        if turn.first_reply is None:
            turn.first_reply = arrival.mono
        turn.replies += 1
        if arrival.error:
            turn.error = True
            self.errors += 1
        if arrival.error or turn.replies >= turn.expected:
            user.pending.popleft()
            turn.done.set()
            if not user.pending:
                self.idle.append(phone)


# -- figures -------------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)      # nearest rank: the smallest value with at least q of them at or below it
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y) samples (0 for fewer than two)."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    my = sum(y for _, y in samples) / n
    den = sum((t - mt) ** 2 for t, _ in samples)
    return 0.0 if den == 0 else sum((t - mt) * (y - my) for t, y in samples) / den


def leak_pattern(phones: list[str]) -> "re.Pattern[str]":
    """What must never appear in a process's log: the users' phone numbers (also inside their BSUIDs), the
    texts they wrote, the PIN (as a number of its own)."""
    texts = [s[2] for s in ONBOARDING + MEASURED if s[1] == "text" and s[2] != PIN]
    alternatives = [re.escape(p) for p in phones] + [re.escape(t) for t in texts] + [rf"(?<!\d){PIN}(?!\d)"]
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _say(line: str) -> None:
    print(f"bench cluster: {line}", file=sys.stderr, flush=True)


# -- the load generator --------------------------------------------------------------------------------------
class Load:
    """Sends turns to one topology's web process and keeps every turn for the figures."""

    def __init__(self, session: Any, port: int, matcher: Matcher, *, clock_start: float) -> None:
        self.session = session
        self.url = f"http://127.0.0.1:{port}/webhook"
        self.matcher = matcher
        self.run_id = uuid.uuid4().hex[:6]
        self.ids = itertools.count(1)
        self.clock_start = clock_start       # epoch seconds of the simulated clock's start
        self.t0 = time.monotonic()
        self.tasks: set[asyncio.Task] = set()
        self.sent: list[Turn] = []           # every turn posted, for the message-log comparison

    def turn(self, phone: str, step: tuple[str, str, str], expected: int, level: str = "") -> Turn:
        mid = f"wamid.HBgM{self.run_id}{next(self.ids):010d}"
        return Turn(user=phone, kind=step[0], expected=expected, mid=mid, level=level)

    async def send(self, turn: Turn, step: tuple[str, str, str]) -> Turn:
        raw = webhook_body(turn.user, turn.mid, step[1], step[2],
                           ts=int(self.clock_start + time.monotonic() - self.t0))
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw)}
        turn.sent = time.monotonic()
        self.sent.append(turn)
        try:
            async with self.session.post(self.url, data=raw, headers=headers) as resp:
                await resp.read()
                turn.status = resp.status
        except Exception:  # noqa: BLE001 - a refused or dropped connection is a failed delivery, counted
            turn.status = -1
        turn.acked = time.monotonic()
        if turn.status != 200:
            self.matcher.withdraw(turn)
        return turn

    def fire(self, turn: Turn, step: tuple[str, str, str]) -> None:
        self.matcher.expect(turn)
        task = asyncio.create_task(self.send(turn, step))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def closed_loop(self, phone: str, step: tuple[str, str, str], expected: int,
                          timeout: float) -> Turn:
        turn = self.turn(phone, step, expected)
        self.matcher.expect(turn)
        await self.send(turn, step)
        if turn.status == 200:
            try:
                await asyncio.wait_for(turn.done.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return turn


async def calibrate(load: Load, sink: Any, phone: str, *, first_timeout: float = 180.0,
                    quiet: float = 0.6) -> tuple[dict[str, int], list[str]]:
    """Reply counts per step, from one user running each step alone (first reply, then ``quiet`` seconds)."""
    counts: dict[str, int] = {}
    problems: list[str] = []
    matcher = load.matcher
    for step in ONBOARDING + MEASURED:
        counts[step[0]], error = await count_replies(load, sink, phone, step, first_timeout=first_timeout,
                                                     quiet=quiet)
        if error:
            problems.append(f"calibration step {step[0]!r} got an error reply")
    matcher.idle.append(phone)
    return counts, problems


async def count_replies(load: Load, sink: Any, phone: str, step: tuple[str, str, str], *,
                        first_timeout: float = 180.0, quiet: float = 0.6) -> tuple[int, bool]:
    """Send ``step`` alone and count its replies: the first, then all until ``quiet`` seconds pass without
    one. Also whether one of them was an error reply."""
    matcher = load.matcher
    before = sink.count(phone)
    errors_before = matcher.errors
    # expected=10**6: the turn stays pending until we stop waiting; replies are counted at the sink
    turn = load.turn(phone, step, 10**6)
    matcher.expect(turn)
    await load.send(turn, step)
    if turn.status != 200:
        raise RuntimeError(f"calibration: the webhook answered {turn.status} to the {step[0]!r} step")
    deadline = time.monotonic() + first_timeout
    while sink.count(phone) == before:
        if time.monotonic() > deadline:
            raise RuntimeError(f"calibration: no reply to the {step[0]!r} step within {first_timeout:g}s")
        await asyncio.sleep(0.01)
    seen, last = sink.count(phone), time.monotonic()
    while time.monotonic() - last < quiet:
        await asyncio.sleep(0.02)
        if sink.count(phone) != seen:
            seen, last = sink.count(phone), time.monotonic()
    user = matcher.users[phone]
    if turn in user.pending:
        user.pending.remove(turn)
    turn.done.set()
    return seen - before, matcher.errors != errors_before


async def onboard(load: Load, phones: list[str], counts: dict[str, int], *, concurrency: int = 24,
                  timeout: float = 120.0) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    failed: list[int] = []
    t0 = time.monotonic()

    async def one(phone: str) -> None:
        async with gate:
            for step in ONBOARDING:
                turn = await load.closed_loop(phone, step, counts[step[0]], timeout)
                if turn.status != 200 or turn.first_reply is None or turn.error:
                    failed.append(1)
                    return

    await asyncio.gather(*(one(phone) for phone in phones))
    return {"users": len(phones), "failed": len(failed), "seconds": round(time.monotonic() - t0, 1)}


async def offered_load(load: Load, rate: float, seconds: float, counts: dict[str, int], level: str,
                       turns: list[Turn] | None = None) -> list[Turn]:
    """Open loop: turn ``i`` is sent at ``start + i / rate`` whatever happened to the earlier ones (appended
    to ``turns`` as they are sent)."""
    turns = [] if turns is None else turns
    n = max(1, int(round(rate * seconds)))
    start = time.monotonic()
    for i in range(n):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        step = MEASURED[i % len(MEASURED)]
        turn = load.turn(load.matcher.take_user(), step, counts[step[0]], level)
        turns.append(turn)
        load.fire(turn, step)
    remaining = start + seconds - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)
    return turns


async def measure_level(load: Load, topo: Any, sink: Any, rate: float, seconds: float, grace: float,
                        counts: dict[str, int], level: str) -> dict[str, Any]:
    from bot.bench.topology import cpu_delta, machine_cpu

    cpu0, bench_cpu0, machine0 = topo.cpu(), time.process_time(), machine_cpu()
    t_start = time.monotonic()
    samples: list[tuple[float, float]] = []
    turns: list[Turn] = []
    busy0 = load.matcher.busy_picks

    async def sampler() -> None:
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            sent = sum(1 for t in turns if t.acked is not None and t.status == 200)
            answered = sum(1 for t in turns if t.first_reply is not None)
            samples.append((now - t_start, sent - answered))

    sampling = asyncio.create_task(sampler())
    try:
        await offered_load(load, rate, seconds, counts, level, turns)
    finally:
        sampling.cancel()
    t_end = time.monotonic()
    # within window + grace: every turn acknowledged and answered, or the grace is over
    while time.monotonic() < t_end + grace:
        if all(t.acked is not None for t in turns) and all(t.first_reply is not None or t.status != 200
                                                              for t in turns):
            break
        await asyncio.sleep(0.05)
    t_drained = time.monotonic()
    cpu1, bench_cpu1, machine1 = topo.cpu(), time.process_time(), machine_cpu()
    figures = summarize(turns, rate=rate, seconds=seconds, t_end=t_end, reads=sink.reads)
    per_msg = 1000 / max(1, figures["answered"])
    cpu_s = cpu_delta(cpu0, cpu1)
    cpu_ms = {name: round(v * per_msg, 2) for name, v in cpu_s.items()}
    bench_s = bench_cpu1 - bench_cpu0
    busy_s, wall_cpu_s = machine1[0] - machine0[0], machine1[1] - machine0[1]
    # what the machine spent besides the measured processes and this one: Redis, anything else running
    other_s = max(0.0, busy_s - sum(cpu_s.values()) - bench_s)
    figures.update({
        "backlog_growth_per_s": round(slope(samples), 2),
        "backlog_at_window_end": samples[-1][1] if samples else 0,
        "busy_user_sends": load.matcher.busy_picks - busy0,
        "cpu_ms_per_msg": cpu_ms, "cpu_ms_per_msg_total": round(sum(cpu_ms.values()), 2),
        "bench_process_cpu_ms_per_msg": round(bench_s * per_msg, 2),
        "other_cpu_ms_per_msg": round(other_s * per_msg, 2),
        "machine_busy_pct": round(100 * busy_s / wall_cpu_s, 1) if wall_cpu_s > 0 else None,
        "measured_s": round(t_drained - t_start, 2),
    })
    return figures


def summarize(turns: list[Turn], *, rate: float, seconds: float, t_end: float,
              reads: dict[str, float]) -> dict[str, Any]:
    """One level's delivery and latency figures from its turns (``t_end``: the window's end, monotonic;
    ``reads``: message id -> time of its read receipt at the fake Graph API)."""
    ok = [t for t in turns if t.status == 200]
    answered = [t for t in ok if t.first_reply is not None]
    in_window = [t for t in answered if t.first_reply <= t_end]
    acks = [t.acked - t.sent for t in turns if t.acked is not None and t.status == 200]
    replies = [t.first_reply - t.sent for t in answered]
    pickups = [reads[t.mid] - t.sent for t in ok if t.mid in reads]
    answered_pct = 100.0 * len(answered) / len(ok) if ok else 0.0
    p99 = pct(replies, 0.99)
    return {
        "offered_per_s": rate, "seconds": seconds, "sent": len(turns), "acknowledged": len(ok),
        "failed_deliveries": len(turns) - len(ok), "answered": len(answered),
        "answered_in_window": len(in_window), "answered_pct": round(answered_pct, 1),
        "served_per_s": round(len(in_window) / seconds, 2),
        "ack_p50_ms": ms(pct(acks, 0.5)), "ack_p99_ms": ms(pct(acks, 0.99)),
        "reply_p50_ms": ms(pct(replies, 0.5)), "reply_p99_ms": ms(p99),
        "pickup_p50_ms": ms(pct(pickups, 0.5)), "pickup_p99_ms": ms(pct(pickups, 0.99)),
        "error_replies": sum(1 for t in answered if t.error),
        "sustained": bool(ok) and answered_pct >= 100 * SUSTAINED_ANSWERED and p99 is not None
        and p99 <= SUSTAINED_P99_S,
    }


def exited(topo: Any, rate: float, problems: list[str]) -> bool:
    """Whether a process died during the ``rate`` level (then said in ``problems``)."""
    dead = [p.name for p in topo.procs.values() if not p.alive]
    if dead:
        problems.append(f"process(es) exited during the {rate:g}/s level: {dead}")
    return bool(dead)


async def drain(matcher: Matcher, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(not u.pending for u in matcher.users.values()):
            return True
        await asyncio.sleep(0.1)
    return False


# -- one topology --------------------------------------------------------------------------------------------
async def bench_topology(name: str, topo: Any, sink: Any, args: argparse.Namespace, phones: list[str],
                         *, workers: int, failover: bool, context: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    from bot.bench import topology as T

    out: dict[str, Any] = {"topology": name, "levels": [], "problems": []}
    matcher = Matcher()
    context["matcher"] = matcher
    sink.on_reply = matcher.on_reply
    sink.reset()
    clock_start = datetime.fromisoformat(T.CLOCK).timestamp()
    calib_phone, users = phones[0], phones[1:]
    t0 = time.monotonic()
    web = await start_processes(topo, workers)
    out["start_s"] = round(time.monotonic() - t0, 1)
    _say(f"[{name}] processes ready in {out['start_s']}s ({', '.join(topo.procs)})")
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        load = context["load"] = Load(session, web.port, matcher, clock_start=clock_start)
        matcher.add_user(calib_phone, idle=False)
        counts, problems = await calibrate(load, sink, calib_phone)
        out["replies_per_turn"] = counts
        out["problems"] += problems
        _say(f"[{name}] calibrated replies per turn: {counts}")
        for phone in users:
            matcher.add_user(phone, idle=False)
        _say(f"[{name}] onboarding {len(users)} users through the webhook")
        out["onboarding"] = await onboard(load, users, counts)     # each user turns idle when done
        _say(f"[{name}] onboarded in {out['onboarding']['seconds']}s ({out['onboarding']['failed']} failed)")
        if out["onboarding"]["failed"]:
            out["problems"].append(f"{out['onboarding']['failed']} users did not finish onboarding")
        if args.warmup > 0:
            await offered_load(load, min(args.rate), args.warmup, counts, "warmup")
            await drain(matcher, 30)
        for rate in args.rate:
            _say(f"[{name}] level {rate:g}/s for {args.seconds:g}s")
            fig = await measure_level(load, topo, sink, rate, args.seconds, args.grace, counts, f"{rate:g}")
            out["levels"].append(fig)
            _say(f"[{name}] level {rate:g}/s: served {fig['served_per_s']}/s, answered "
                 f"{fig['answered_pct']}%, reply p99 {fig['reply_p99_ms']} ms, backlog "
                 f"{fig['backlog_growth_per_s']}/s")
            if exited(topo, rate, out["problems"]):
                break
            if not await drain(matcher, 60):
                waiting = [t for u in matcher.users.values() for t in u.pending]
                partial = sum(1 for t in waiting if t.replies)
                out["problems"].append(f"the {rate:g}/s level did not drain within 60 s ({len(waiting)} "
                                       f"turns still waiting, {partial} of them with some of their replies); "
                                       "higher levels skipped")
                break
        if args.statuses and out["levels"]:
            rate = min(args.rate)
            _say(f"[{name}] level {rate:g}/s again with {args.statuses} statuses arriving")
            storm = asyncio.create_task(status_storm(load, args.statuses, args.seconds))
            fig = await measure_level(load, topo, sink, rate, args.seconds, args.grace, counts,
                                      f"{rate:g}+statuses")
            acked = await storm
            quiet = next(lv for lv in out["levels"] if lv["offered_per_s"] == rate)
            p99, quiet_p99 = fig["reply_p99_ms"], quiet["reply_p99_ms"]
            out["status_storm"] = {"statuses": args.statuses, "deliveries_acked": acked, "rate": rate,
                                   "reply_p99_ms": p99, "quiet_reply_p99_ms": quiet_p99,
                                   "ratio": round(p99 / quiet_p99, 2) if p99 and quiet_p99 else None}
            _say(f"[{name}] with statuses: reply p99 {fig['reply_p99_ms']} ms "
                 f"(without: {quiet['reply_p99_ms']} ms)")
            await drain(matcher, 60)
        if failover:
            out["failover"] = await measure_failover(load, topo, matcher, counts, args)
        await asyncio.gather(*list(load.tasks), return_exceptions=True)
    out["stray_replies"] = matcher.stray
    out["pushes"] = matcher.pushes
    out["sustained_per_s"] = max((lv["served_per_s"] for lv in out["levels"] if lv["sustained"]), default=0.0)
    return out


async def start_processes(topo: Any, workers: int) -> Any:
    """Start a topology's processes and wait until each is ready; the process that takes the webhooks."""
    if topo.kind == "embedded":
        web = topo.start_embedded("serve")
        await topo.wait_for("serve")
        return web
    if workers == 0:                 # one process takes every role: web, worker and the engine
        web = topo.start_serve("serve")
        await topo.wait_for("serve", "gridworks engine: active")
        await topo.wait_for("serve")
        return web
    topo.start_engine("engine")
    await topo.wait_for("engine", "gridworks engine: active")
    # one at a time: each readiness line then times one process's start (and, before 409c630, processes
    # starting together on a fresh schema raced in CREATE TABLE)
    for i in range(workers):
        topo.start_worker(f"worker{i + 1}")
        await topo.wait_for(f"worker{i + 1}")
    web = topo.start_web("web")
    await topo.wait_for("web")
    return web


async def measure_failover(load: Load, topo: Any, matcher: Matcher, counts: dict[str, int],
                           args: argparse.Namespace) -> dict[str, Any]:
    """SIGKILL the active engine with a standby running; time until the standby is active and until a turn
    needing the engine ("show my portfolio", proper answer, not the busy reply) is answered again."""
    step = MEASURED[1]
    topo.start_engine("standby")
    await topo.wait_for("standby", "gridworks engine: standby")
    phone = matcher.take_user()
    baseline = await load.closed_loop(phone, step, counts[step[0]], 30)
    if baseline.first_reply is None or baseline.error:
        return {"error": "no proper portfolio answer before the kill"}
    _say("[failover] standby waiting; SIGKILL the active engine")
    since = len(topo.procs["standby"].output())
    killed = time.monotonic()
    topo.signal("engine", signal.SIGKILL)
    probes: list[Turn] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            turn = load.turn(matcher.take_user(), step, counts[step[0]], "failover")
            probes.append(turn)
            load.fire(turn, step)
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except asyncio.TimeoutError:
                pass

    probing = asyncio.create_task(probe())
    active_at: float | None = None
    first_ok: float | None = None
    try:
        active_at = await topo.wait_for("standby", "gridworks engine: active", timeout=60, since=since)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and first_ok is None:
            oks = [t.first_reply for t in probes if t.first_reply is not None and not t.error]
            first_ok = min(oks) if oks else None
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await probing
    await drain(matcher, args.grace + 15)
    answered = [t for t in probes if t.first_reply is not None]
    out = {
        "lease_seconds": args.lease_seconds,
        "standby_active_s": round(active_at - killed, 2) if active_at else None,
        "engine_turn_answered_s": round(first_ok - killed, 2) if first_ok else None,
        "probes": len(probes), "probe_busy_replies": sum(1 for t in answered if t.error),
        "probes_unanswered": len(probes) - len(answered),
    }
    _say(f"[failover] standby active after {out['standby_active_s']}s, engine turn answered after "
         f"{out['engine_turn_answered_s']}s")
    return out


# -- the whole run -------------------------------------------------------------------------------------------
async def _main(args: argparse.Namespace) -> dict[str, Any]:
    from bot.bench import topology as T
    from bot.bench.graph_sink import GraphSink
    from locales.catalog import load_catalog

    catalog = load_catalog()
    error_prefixes = [catalog.raw("en", key).split("{", 1)[0] for key in ("core.busy", "core.error")]
    figures: dict[str, Any] = {
        "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2), "users": args.users,
        "seconds_per_level": args.seconds, "grace_s": args.grace, "send_rate": args.send_rate,
        "partitions": args.partitions, "tick_seconds": args.tick_seconds, "log_level": args.log_level,
        "revision": _revision(), "topologies": [],
    }
    _say("loading the intent model once (the processes then only read it)")
    from intents.pipeline import IntentPipeline

    await asyncio.to_thread(IntentPipeline.load)
    sink = await GraphSink(error_prefixes=error_prefixes).start()
    base = 9197_0000_0000 + (uuid.uuid4().int % 9000) * 10_000
    phones = [str(base + i) for i in range(args.users + 1)]
    extra = {"GRIDWORKS_PARTITIONS": str(args.partitions),
             "GRIDWORKS_LEASE_SECONDS": f"{args.lease_seconds:g}",
             "GRIDWORKS_SEND_RATE": f"{args.send_rate:g}",
             "GRIDWORKS_TICK_SECONDS": f"{args.tick_seconds:g}",
             "GRIDWORKS_LOG_LEVEL": args.log_level.upper()}
    plan: list[tuple[str, int | None]] = [] if args.skip_embedded else [("embedded", None)]
    plan += [(f"cluster-{n}-worker{'s' if n != 1 else ''}", n) for n in args.workers]
    leak = leak_pattern(phones)
    tmp_root = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    try:
        for index, (name, workers) in enumerate(plan):
            tmp = tmp_root / name
            if workers is None:
                topo = T.embedded(tmp, graph_url=sink.url, app_secret=APP_SECRET, extra=extra)
            else:
                topo = await T.cluster(tmp, graph_url=sink.url, app_secret=APP_SECRET, extra=extra,
                                       pg_url=args.pg_url, redis_url=args.redis_url)
            last_cluster = workers is not None and all(w is None for _, w in plan[index + 1:])
            _say(f"[{name}] starting")
            result: dict[str, Any] = {"topology": name}
            context: dict[str, Any] = {}
            private = {"schema": topo.schema, "redis_prefix": topo.prefix} if topo.schema else {}
            try:
                result = await bench_topology(name, topo, sink, args, phones, workers=workers or 0,
                                              failover=last_cluster and not args.skip_failover,
                                              context=context)
            except Exception as exc:  # noqa: BLE001 - one topology failing must not hide the others' figures
                result["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                _say(f"[{name}] failed: {result['error']}")
            finally:
                codes = topo.stop_all()
                result["exit_codes"] = codes
                if "load" in context:
                    try:
                        result["integrity"] = integrity(await topo.message_log(), context["load"], sink,
                                                        context["matcher"])
                    except Exception as exc:  # noqa: BLE001 - reported, the figures stand
                        result["integrity"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
                result["log_problems"] = {k: v for k, v in topo.problems(leak).items()
                                          if v["tracebacks"] or v["error_lines"] or v["leaking_lines"]}
                if args.keep_logs:
                    dest = Path(args.keep_logs) / name
                    dest.mkdir(parents=True, exist_ok=True)
                    for proc in topo.procs.values():
                        if proc.log.exists():
                            shutil.copy(proc.log, dest / proc.log.name)
                await topo.cleanup()
                result.update(private)
                _say(f"[{name}] stopped (exit codes {codes}); log problems: "
                     f"{result['log_problems'] or 'none'}")
            figures["topologies"].append(result)
    finally:
        await sink.stop()
        shutil.rmtree(tmp_root, ignore_errors=True)
    figures["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    return figures


def integrity(log: dict[str, list], load: Load, sink: Any, matcher: Matcher) -> dict[str, Any]:
    """Acknowledged messages against the inbound rows; sends at the fake Graph API against outbound rows."""
    acked = {t.mid for t in load.sent if t.status == 200}
    inbound = [w for w in log["in"] if w]
    outbound = [w for w, _c, _h in log["out"] if w]
    same_reply = Counter((c, h) for _w, c, h in log["out"])
    return {
        "acknowledged": len(acked), "lost_inbound": len(acked - set(inbound)),
        "duplicate_inbound_rows": len(inbound) - len(set(inbound)),
        "graph_sends": len(sink.issued), "outbound_rows": len(log["out"]),
        "sends_not_logged": len(set(sink.issued) - set(outbound)),
        "logged_sends_unknown_to_graph": len(set(outbound) - set(sink.issued)),
        "outbound_rows_without_wamid": len(log["out"]) - len(outbound),
        # one turn's reply with the same body sent more than once (the cluster test: "a reply was sent twice")
        "replies_sent_twice": sum(n - 1 for n in same_reply.values() if n > 1),
        "stray_replies": matcher.stray, "pushes": matcher.pushes,
        "anomalous_user_trails": matcher.anomalies(),
    }


def integrity_problems(figures: dict[str, Any]) -> list[str]:
    bad = {k: figures.get(k) for k in ("lost_inbound", "duplicate_inbound_rows", "sends_not_logged",
                                      "replies_sent_twice", "logged_sends_unknown_to_graph", "stray_replies",
                                      "error")}
    return [f"{k} {v}" for k, v in bad.items() if v]


def _revision() -> str | None:
    """The source tree measured: the git commit, ``+dirty`` when files differ from it (best effort)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}{'+dirty' if dirty else ''}" if head else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures = asyncio.run(_main(args))
    if getattr(args, "json", False):
        return figures
    print(table(figures))
    return summary(figures)


# -- presentation --------------------------------------------------------------------------------------------
def _f(value: Any, fmt: str = "{:g}") -> str:
    return "—" if value is None else fmt.format(value)


def table(figures: dict[str, Any]) -> str:
    head = (f"{'topology':<18} {'offered/s':>9} {'served/s':>8} {'answ%':>6} {'ack p50/p99 ms':>15} "
            f"{'reply p50/p99 ms':>17} {'backlog/s':>9} {'sust':>4}  CPU ms/msg: per process | bench | other "
            f"| box busy")
    f = figures
    lines = [f"gridworks bench cluster — {f['users']} users, {f['seconds_per_level']:g}s per level, grace "
             f"{f['grace_s']:g}s, {f['cpus']} CPUs (load {f['load_average_1m']} → "
             f"{f.get('load_average_1m_end', '?')}), send rate {f['send_rate']:g}/s, "
             f"log level {f['log_level']}, source {f.get('revision') or '?'}", head, "-" * len(head)]
    for topo in figures["topologies"]:
        if topo.get("error") and not topo.get("levels"):
            lines.append(f"{topo['topology']:<18} failed: {topo['error']}")
            continue
        for lv in topo.get("levels", []):
            cpu = ", ".join(f"{k} {v:g}" for k, v in lv["cpu_ms_per_msg"].items())
            if "other_cpu_ms_per_msg" in lv:
                cpu += (f" | {lv['bench_process_cpu_ms_per_msg']:g} | {lv['other_cpu_ms_per_msg']:g} "
                        f"| {_f(lv['machine_busy_pct'])}%")
            lines.append(
                f"{topo['topology']:<18} {lv['offered_per_s']:>9g} {lv['served_per_s']:>8.1f} "
                f"{lv['answered_pct']:>6.1f} {_f(lv['ack_p50_ms']) + ' / ' + _f(lv['ack_p99_ms']):>15} "
                f"{_f(lv['reply_p50_ms']) + ' / ' + _f(lv['reply_p99_ms']):>17} "
                f"{lv['backlog_growth_per_s']:>9.2f} {'yes' if lv['sustained'] else 'no':>4}  {cpu}")
        if topo.get("error"):
            lines.append(f"{'':<18} stopped early: {topo['error']}")
    lines.append("postgres: the PostgreSQL backends serving the cluster's connections; bench: this process "
                 "(load generator + fake Graph API); other: the rest of the machine (Redis, anything else "
                 "running); box busy: all CPUs")
    lines.append("")
    for topo in figures["topologies"]:
        extra = ""
        if topo.get("problems"):
            extra += f"; problems: {'; '.join(topo['problems'])}"
        if topo.get("log_problems"):
            extra += f"; log problems: {topo['log_problems']}"
        if integrity_problems(topo.get("integrity", {})):
            extra += f"; message log: {', '.join(integrity_problems(topo['integrity']))}"
        held = [lv["offered_per_s"] for lv in topo.get("levels", []) if lv["sustained"]]
        failed = [lv["offered_per_s"] for lv in topo.get("levels", []) if not lv["sustained"]]
        bound = (f" (served at the highest level held, {max(held):g}/s" if held else " (no level held")
        bound += f"; first level not held: {min(failed):g}/s)" if failed else "; every level held)"
        integrity_ok = "integrity" in topo and not integrity_problems(topo["integrity"])
        extra += "; message log consistent" if integrity_ok else ""
        rate = _f(topo.get("sustained_per_s"))
        lines.append(f"sustained {topo['topology']:<18} {rate} msgs/s{bound}{extra}")
    for topo in figures["topologies"]:
        fo = topo.get("failover")
        if fo:
            lines.append(f"failover ({topo['topology']}, lease {fo.get('lease_seconds', 0):g}s): standby "
                         f"active after {_f(fo.get('standby_active_s'))}s, engine turn answered after "
                         f"{_f(fo.get('engine_turn_answered_s'))}s ({fo.get('probes', 0)} probes, "
                         f"{fo.get('probe_busy_replies', 0)} busy replies, {fo.get('probes_unanswered', 0)} "
                         f"unanswered){' ' + fo['error'] if fo.get('error') else ''}")
    return "\n".join(lines)


def summary(figures: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for topo in figures["topologies"]:
        out[f"{topo['topology']}_sustained_msgs_per_s"] = topo.get("sustained_per_s")
        if topo.get("failover"):
            out["failover_standby_active_s"] = topo["failover"].get("standby_active_s")
            out["failover_engine_turn_answered_s"] = topo["failover"].get("engine_turn_answered_s")
    return out
