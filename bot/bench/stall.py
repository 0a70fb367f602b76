"""The long-message stall: how much 64K-character messages delay everyone else's replies.

``python -m bot.bench.stall [--json] [--users 10] [--interval-ms 200] [--long 1 10] [--modes …]``

An embedded runtime (SQLite in a temporary folder, the real intent pipeline, router and middlewares; replies
are collected, not sent). ``--users`` onboarded users each send "price of TCS" every ``--interval-ms``
(their own turns in order, users concurrently, as the worker runs partitions); a turn's latency counts from
when it was *due*, so a turn that starts late because the loop was blocked is charged for the wait. Once
the traffic is steady, ``N`` other users (``--long``) each send a 64K-character message of random
Devanagari words at the same moment.

Per mode and N: the other users' turn latency (p50 / p99 / max) while the long messages are in flight, the
worst *added* delay (max − the p50 of a quiet run), the event loop's worst lag (a 1 ms heartbeat) and how
long the long messages' own turns took; and the same for a *control* run where the N users send a short
message instead, which separates the cost of N more turns from the cost of their length. Each figure is the
median over ``--repeat`` runs (the machine may be shared). Modes:

- ``before``  — the old behaviour: the whole text classified, on the event loop;
- ``inline``  — the text capped at 1,000 characters, classified on the loop;
- ``thread``  — capped; texts of 200+ characters on one dedicated thread;
- ``process`` — capped; texts of 200+ characters in the pipeline's child process (the default).

This is a measurement, not a test: figures depend on the machine. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

LONG_CHARS = 65536
MODES = ("before", "inline", "thread", "process")
QUIET_S = 1.0          # steady traffic before the long messages arrive
TAIL_S = 0.5           # and after the last of them is answered


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=10, help="other users sending short messages")
    parser.add_argument("--interval-ms", type=float, default=200.0, help="each user's time between messages")
    parser.add_argument("--long", type=int, nargs="+", default=[1, 10], help="simultaneous 64K messages")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is reported)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def long_text(seed: int) -> str:
    """64K characters of random Devanagari 'words' (2–8 letters and signs): unknown tokens everywhere,
    which is what makes the scanner slow."""
    rng = random.Random(seed)
    letters = [chr(c) for c in range(0x0905, 0x0939)] + [chr(c) for c in range(0x093E, 0x094D)]
    words: list[str] = []
    size = 0
    while size < LONG_CHARS:
        word = "".join(rng.choice(letters) for _ in range(rng.randint(2, 8)))
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:LONG_CHARS]


def _pipeline(mode: str):
    from intents.pipeline import IntentPipeline

    if mode == "before":
        return IntentPipeline.load(max_chars=None, offload="inline")
    pipeline = IntentPipeline.load(offload=mode)
    pipeline.tokenizers.warm()
    if mode == "process" and not pipeline.offload.wait_ready(timeout=120):   # type: ignore[union-attr]
        raise RuntimeError("the classifier's child process did not start")
    return pipeline


def _median_figures(runs: list[dict[str, Any]], quiet_p50_ms: float) -> dict[str, Any]:
    """Medians over the runs in which some other user's turn overlapped the messages (a short message can
    be answered before any did); the added delay is never reported below zero."""
    seen = [r for r in runs if r["others"]["n"]] or runs

    def med(get) -> float:
        return round(statistics.median(get(r) for r in seen), 1)

    return {"others": {k: med(lambda r, k=k: r["others"][k]) for k in ("p50_ms", "p99_ms", "max_ms")},
            "added_delay_max_ms": med(lambda r: max(0.0, r["others"]["max_ms"] - quiet_p50_ms)),
            "loop_lag_max_ms": med(lambda r: r["loop_lag_max_ms"]),
            "long_turn": {"max_ms": med(lambda r: r["long_turn"]["max_ms"])}, "runs": len(runs)}


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(values)
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


class _Scenario:
    def __init__(self, dispatcher: Any, others: list[str], attackers: list[str], *, interval_s: float,
                 short: bool = False) -> None:
        self.dispatcher = dispatcher
        self.others = others
        self.attackers = attackers
        self.short = short
        self.interval_s = interval_s
        self.turns: list[tuple[float, float]] = []      # (due, answered), perf_counter seconds
        self.lags: list[tuple[float, float]] = []       # (at, lag)
        self.long_turns: list[float] = []
        self.window: tuple[float, float] = (0.0, 0.0)

    def _message(self, phone: str, text: str):
        from handlers.messages import InboundMessage, Sender

        return InboundMessage(id=f"bench.{uuid.uuid4().hex}", sender=Sender(phone=phone),
                              timestamp=datetime.now(timezone.utc), text=text)

    async def _user(self, phone: str, start: float, stop: asyncio.Event) -> None:
        due = start + random.random() * self.interval_s
        while not stop.is_set():
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.dispatcher.handle(self._message(phone, "price of TCS"))
            self.turns.append((due, time.perf_counter()))
            due += self.interval_s

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.lags.append((before, time.perf_counter() - before - 0.001))

    async def _long(self, message: Any) -> None:
        began = time.perf_counter()
        await self.dispatcher.handle(message)
        self.long_turns.append(time.perf_counter() - began)

    async def run(self, *, attack: bool, quiet_s: float = QUIET_S) -> None:
        stop = asyncio.Event()
        # built before the clock starts: generating 64K of random text is itself tens of milliseconds
        longs = [self._message(p, "price of TCS" if self.short else long_text(i))
                 for i, p in enumerate(self.attackers)] if attack else []
        start = time.perf_counter()
        tasks = [asyncio.create_task(self._user(p, start, stop)) for p in self.others]
        tasks.append(asyncio.create_task(self._heartbeat(stop)))
        await asyncio.sleep(quiet_s)
        began = time.perf_counter()
        if attack:
            await asyncio.gather(*(self._long(m) for m in longs))
        else:
            await asyncio.sleep(quiet_s)
        self.window = (began, time.perf_counter())
        await asyncio.sleep(TAIL_S)
        stop.set()
        await asyncio.gather(*tasks)

    def figures(self) -> dict[str, Any]:
        lo, hi = self.window
        inside = [done - due for due, done in self.turns if done >= lo and due <= hi]
        return {"others": _stats(inside), "loop_lag_max_ms": round(max(
            (lag for at, lag in self.lags if lo <= at <= hi), default=0.0) * 1000, 1),
            "long_turn": _stats(self.long_turns)}


async def _measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from bot.app import build_runtime
    from bot.logging import configure_logging
    from bot.stores.memory import MemorySessionStore
    from config.settings import load_settings
    from engine.clock import IST, FixedClock
    from handlers.dispatcher import Dispatcher
    from handlers.messages import Sender
    from handlers.onboarding import open_account
    from handlers.routes import build_middlewares, build_router

    configure_logging("ERROR")
    settings = load_settings({"GRIDWORKS_STATE_DIR": str(workdir / "state"),
                              "DATABASE_URL": f"sqlite:///{workdir / 'gw.db'}"})
    clock = FixedClock(datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    runtime = await build_runtime(settings, clock=clock, with_receipts=False)
    most = max(args.long)
    try:
        phones = [f"9198{i:08d}" for i in range(args.users + most)]
        for phone in phones:
            user = await runtime.users.get_or_create(Sender(phone=phone), now=clock.now(), language="en")
            await open_account(runtime.services, user.key, clock.now())
        others, attackers = phones[:args.users], phones[args.users:]
        out: dict[str, Any] = {"users": args.users, "interval_ms": args.interval_ms, "long_chars": LONG_CHARS,
                               "modes": {}}
        for mode in args.modes:
            print(f"stall: loading the pipeline for {mode}", file=sys.stderr)
            pipeline = _pipeline(mode)
            services = replace(runtime.services, intents=pipeline)
            dispatcher = Dispatcher(router=build_router(), services=services,
                                    sessions=MemorySessionStore(), audit=runtime.audit,
                                    extra_middlewares=build_middlewares())
            for phone in phones:
                await dispatcher.handle(_Scenario(dispatcher, [], [], interval_s=1)._message(phone, "hi"))
            quiet = _Scenario(dispatcher, others, [], interval_s=args.interval_ms / 1000)
            await quiet.run(attack=False)
            base = quiet.figures()["others"]
            per_mode: dict[str, Any] = {"quiet": base}
            for n in args.long:
                for label, short in ((f"long_{n}", False), (f"control_{n}", True)):
                    what = "a short message" if short else f"{LONG_CHARS} characters"
                    print(f"stall: {mode}, {n} × {what}", file=sys.stderr)
                    runs = []
                    for _ in range(max(1, args.repeat)):
                        scenario = _Scenario(dispatcher, others, attackers[:n], short=short,
                                             interval_s=args.interval_ms / 1000)
                        await scenario.run(attack=True)
                        runs.append(scenario.figures())
                    per_mode[label] = _median_figures(runs, base["p50_ms"])
            out["modes"][mode] = per_mode
            pipeline.close()
        return out
    finally:
        await runtime.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gw-stall-") as tmp:
        return asyncio.run(_measure(args, Path(tmp)))


def _table(figures: dict[str, Any]) -> str:
    lines = [f"{'mode':8} {'messages':>12} {'others p50':>10} {'p99':>8} {'max':>8} {'added':>8} "
             f"{'loop lag':>9} {'their turn':>10}   (ms, medians; quiet p50 per mode in brackets)"]
    for mode, per in figures["modes"].items():
        for key, f in per.items():
            if key == "quiet":
                continue
            o = f["others"]
            kind, n = key.split("_")
            what = f"{n} × {'64K' if kind == 'long' else 'short'}"
            lines.append(f"{mode:8} {what:>12} {o['p50_ms']:>10} {o['p99_ms']:>8} {o['max_ms']:>8} "
                         f"{f['added_delay_max_ms']:>8} {f['loop_lag_max_ms']:>9} "
                         f"{f['long_turn']['max_ms']:>10}   [{per['quiet']['p50_ms']}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench.stall", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    figures = run(args)
    print(json.dumps(figures, indent=2) if args.json else _table(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
