"""``gridworks bench e2e``: the messages/s GridWorks sustains end to end, against a baseline in the same run.

Separate processes: the server (``gridworks serve`` on SQLite; with ``--cluster`` ``serve --web-only``,
``--workers`` × ``gridworks worker`` and ``gridworks engine`` on PostgreSQL + Redis, or with ``--workers 0``
one ``gridworks serve`` taking every role), the baseline
(:mod:`bot.bench.baseline`: verify, answer 200, one reply per message), and the load generator
(:mod:`bot.bench.loadgen`, ``--load-procs`` processes). The fake Graph API (:mod:`bot.bench.graph_sink`)
runs in this process, which only orchestrates while a level runs.

Per target: onboard ``--users`` users through the webhook (GridWorks only; the baseline answers anything),
then step the offered rate up (``--rate``), ``--seconds`` per level, price / portfolio / order-status turns
open-loop. Replies are matched to turns per user in order afterwards (reply counts per turn from a
calibration user). A level is *sustained* when ≥ 95 % is answered within window + ``--grace``, reply
p99 ≤ 2 s, no failed delivery and no error reply; stepping stops after the first level not sustained
(``--all-levels`` goes on). Printed: sustained msgs/s, ack and reply p50/p99, CPU ms per message per process
(``/proc``), RSS idle and after the run, and the GridWorks/baseline throughput ratio as the headline, beside
the ratio of their CPU per message (:func:`cpu_ratio`). When the load generator fell behind its schedule, the
level says so: it measured the generator, not the server.

``--storm N``: instead of the levels, N onboarded users buy → PIN at once, then all tap Confirm at once (the
PIN is asked on the next trading day, so the servers are restarted on it); orders/s and Confirm → fill reply p50/p99, against
the baseline answering the same three messages. The round trips per turn (:mod:`bot.bench.turn_costs`) are
printed too, unless ``--no-costs``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.bench import cluster as C

STORM = (("buy", "text", "buy 1 TCS at market"), ("pin", "text", C.PIN))
LOADGEN_LATE_MS = 250.0        # a generator this late (p99) or short of 95 % of its messages did not keep up


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=C._floats, default=[25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0],
                        help="offered msgs/s per level, comma-separated (default 25,50,100,200,400,800,1000)")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per level (default 6)")
    parser.add_argument("--grace", type=float, default=3.0,
                        help="seconds after a level in which its replies still count (default 3)")
    parser.add_argument("--users", type=int, default=200, help="distinct onboarded users (default 200)")
    parser.add_argument("--all-levels", action="store_true", help="go on after a level is not sustained")
    parser.add_argument("--cluster", action="store_true", help="GridWorks as the PostgreSQL + Redis cluster")
    parser.add_argument("--workers", type=int, default=1,
                        help="cluster workers (default 1; 0: one `gridworks serve` takes every role)")
    parser.add_argument("--load-procs", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--connections", type=int, default=64,
                        help="kept-alive connections per load generator process (default 64)")
    parser.add_argument("--storm", type=int, default=0, metavar="N",
                        help="confirm storm instead of levels: N users buy → PIN → Confirm at once")
    parser.add_argument("--no-baseline", action="store_true", help="measure GridWorks only")
    parser.add_argument("--baseline-only", action="store_true",
                        help="measure the baseline only (e.g. to see what the load generator can offer)")
    parser.add_argument("--no-costs", action="store_true", help="do not count round trips per turn")
    C.add_service_arguments(parser)
    parser.add_argument("--log-level", default="WARNING", help="GRIDWORKS_LOG_LEVEL (default WARNING)")


async def _redis_commands(topo: Any) -> dict[str, int] | None:
    """Calls per command the cluster's Redis has served so far (``INFO commandstats``): the server's own
    count, so a level's difference is every role's commands, pipelined or not. None when not a cluster."""
    if topo.kind != "cluster" or not topo.redis_url:
        return None
    from redis.asyncio import Redis

    client = Redis.from_url(topo.redis_url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return {k.removeprefix("cmdstat_").upper(): int(v["calls"]) for k, v in stats.items()}


def _say(line: str) -> None:
    print(f"bench e2e: {line}", file=sys.stderr, flush=True)


# -- one level, load from other processes --------------------------------------------------------------------
async def run_level(target: dict[str, Any], sink: Any, rate: float,
                    args: argparse.Namespace) -> dict[str, Any]:
    """Offer ``rate`` msgs/s for ``args.seconds`` from the load generator process(es); match, measure."""
    from bot.bench.topology import cpu_delta

    topo, users, counts = target["topo"], target["users"], target["counts"]
    sink.reset()
    sink.on_reply = None
    procs = max(1, args.load_procs)
    start_at = time.time() + 2.0                  # the generators import and build their bodies first
    jobs = []
    for k in range(procs):
        spec = {"url": f"http://127.0.0.1:{target['port']}/webhook", "secret": C.APP_SECRET,
                "users": users[k::procs], "steps": [list(s) for s in C.MEASURED], "rate": rate / procs,
                "seconds": args.seconds, "start_at": start_at, "connections": args.connections,
                "mid_prefix": f"wamid.HBgM{uuid.uuid4().hex[:8]}{k}", "ts_base": target["ts_base"]}
        path = topo.tmp / f"load-{rate:g}-{k}.json"
        path.write_text(json.dumps(spec))
        jobs.append(asyncio.create_task(_loadgen(path)))
    await asyncio.sleep(max(0.0, start_at - time.time()))
    redis0 = await _redis_commands(topo)
    cpu0, here0 = topo.cpu(), time.process_time()
    results = await asyncio.gather(*jobs)
    t_end = max(r["t_end"] for r in results)
    turns = _turns(results, counts)
    expected = sum(t.expected for t in turns if t.status == 200)
    while time.monotonic() < t_end + args.grace and sink.sends < expected:
        await asyncio.sleep(0.05)
    cpu1, here1 = topo.cpu(), time.process_time()
    redis1 = await _redis_commands(topo)
    stray = _match(turns, sink)
    fig = C.summarize(turns, rate=rate, seconds=args.seconds, t_end=t_end, reads=sink.reads)
    per_msg = 1000 / max(1, fig["answered"])
    fig["cpu_ms_per_msg"] = {k: round(v * per_msg, 2) for k, v in cpu_delta(cpu0, cpu1).items()}
    fig["cpu_ms_per_msg"]["loadgen"] = round(sum(r["cpu_s"] for r in results) * per_msg, 2)
    fig["cpu_ms_per_msg"]["fake_graph"] = round((here1 - here0) * per_msg, 2)
    if redis0 is not None and redis1 is not None:
        calls = {k: (v - redis0.get(k, 0)) * per_msg / 1000 for k, v in redis1.items()}
        fig["redis_cmds_per_msg"] = {k: round(v, 2) for k, v in sorted(calls.items(), key=lambda kv: -kv[1])
                                     if v >= 0.01}
    fig["stray_replies"] = stray
    sent_in_window = sum(1 for t in turns if t.sent <= t_end)
    fig["loadgen_late_p99_ms"] = max(r["late_p99_ms"] for r in results)
    fig["loadgen_kept_up"] = (sent_in_window >= 0.95 * rate * args.seconds
                              and fig["loadgen_late_p99_ms"] <= LOADGEN_LATE_MS)
    fig["sustained"] = (fig["sustained"] and fig["failed_deliveries"] == 0 and fig["error_replies"] == 0
                        and fig["loadgen_kept_up"])
    return fig


async def _loadgen(spec_path: Path) -> dict[str, Any]:
    out = spec_path.with_suffix(".out.json")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.bench.loadgen", str(spec_path),
                                                str(out), stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode(errors='replace')[-500:]}")
    result = json.loads(out.read_text())
    result["users"] = json.loads(spec_path.read_text())["users"]
    return result


def _turns(results: list[dict[str, Any]], counts: dict[str, int]) -> list[C.Turn]:
    turns = []
    for r in results:
        for u, s, mid, sent, acked, status in r["rows"]:
            kind = C.MEASURED[s][0]
            turns.append(C.Turn(user=r["users"][u], kind=kind, expected=counts[kind], mid=mid, sent=sent,
                                acked=acked, status=status))
    return turns


def _match(turns: list[C.Turn], sink: Any) -> int:
    """Give each reply at the fake Graph API to its turn (per user, in order, as :class:`Matcher` does live);
    the number of replies no turn was waiting for."""
    matcher = C.Matcher()
    events: list[tuple[float, int, Any, Any]] = []
    for t in turns:
        if t.status == 200:
            events.append((t.sent, 0, t, None))
    for phone, arrivals in sink.replies.items():
        for a in arrivals:
            events.append((a.mono, 1, phone, a))
    events.sort(key=lambda e: (e[0], e[1]))
    for _at, kind, subject, arrival in events:
        if kind == 0:
            if subject.user not in matcher.users:
                matcher.add_user(subject.user, idle=False)
            matcher.expect(subject)
        else:
            matcher.on_reply(subject, arrival)
    return matcher.stray


# -- a target: GridWorks or the baseline --------------------------------------------------------------------
async def bench_target(name: str, topo: Any, sink: Any, phones: list[str], args: argparse.Namespace,
                       *, baseline: bool) -> dict[str, Any]:
    import aiohttp

    from bot.bench.topology import CLOCK, rss_bytes

    out: dict[str, Any] = {"target": name, "levels": [], "problems": []}
    t0 = time.monotonic()
    web = topo.start_baseline() if baseline else await C.start_processes(topo, args.workers)
    if baseline:
        await topo.wait_for("baseline")
    out["start_s"] = round(time.monotonic() - t0, 1)
    clock_start = datetime.fromisoformat(CLOCK).timestamp()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256),
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        matcher = C.Matcher()
        sink.reset()
        sink.on_reply = matcher.on_reply
        load = C.Load(session, web.port, matcher, clock_start=clock_start)
        calib, users = phones[0], phones[1:]
        matcher.add_user(calib, idle=False)
        out["rss_idle_mb"] = _rss_mb(topo, rss_bytes)
        counts = {step[0]: 1 for step in C.ONBOARDING + C.MEASURED}
        for phone in users:
            matcher.add_user(phone, idle=False)
        if not baseline:
            counts, problems = await C.calibrate(load, sink, calib)
            out["problems"] += problems
            _say(f"[{name}] onboarding {len(users)} users")
            out["onboarding"] = await C.onboard(load, users, counts)
            if out["onboarding"]["failed"]:
                out["problems"].append(f"{out['onboarding']['failed']} users did not finish onboarding")
        out["replies_per_turn"] = counts
        target = {"topo": topo, "port": web.port, "users": users, "counts": counts,
                  "ts_base": clock_start + time.monotonic() - load.t0}
        if args.storm:
            out["storm"] = await storm(name, topo, sink, load, users[:args.storm + 1], args,
                                       baseline=baseline)
        else:
            for rate in args.rate:
                fig = await run_level(target, sink, rate, args)
                out["levels"].append(fig)
                held = "sustained" if fig["sustained"] else "NOT sustained"
                behind = "" if fig["loadgen_kept_up"] else " (the load generator fell behind)"
                _say(f"[{name}] {rate:g}/s offered: served {fig['served_per_s']}/s, answered "
                     f"{fig['answered_pct']}%, reply p99 {fig['reply_p99_ms']} ms, {held}{behind}")
                if C.exited(topo, rate, out["problems"]) or not (fig["sustained"] or args.all_levels):
                    break
        out["rss_after_mb"] = _rss_mb(topo, rss_bytes)
    held = [lv for lv in out["levels"] if lv["sustained"]]
    out["sustained_per_s"] = max((lv["served_per_s"] for lv in held), default=0.0)
    out["every_level_held"] = bool(out["levels"]) and len(held) == len(out["levels"]) == len(args.rate)
    return out


def _rss_mb(topo: Any, rss_bytes: Any) -> dict[str, float]:
    live = {name: p for name, p in topo.procs.items() if p.alive}
    rss = rss_bytes([p.pid for p in live.values()])
    return {name: round(rss[p.pid] / 2**20, 1) for name, p in live.items()}


# -- the confirm storm ---------------------------------------------------------------------------------------
async def storm(name: str, topo: Any, sink: Any, load: Any, users: list[str], args: argparse.Namespace,
                *, baseline: bool) -> dict[str, Any]:
    """Every user at once: buy → PIN → Confirm (the card's first button), each step after the previous
    one's replies. GridWorks asks the PIN once per trading day, so its processes restart on the next day."""
    from bot.bench.topology import CLOCK

    calib = users[0]
    if not baseline:
        _say(f"[{name}] restarting on the next trading day (the PIN is asked again)")
        topo.stop_all()
        for proc in list(topo.procs.values()):          # keep the first day's logs apart, for problems()
            proc.name = f"{proc.name}-day1"
            proc.log = proc.log.rename(proc.log.with_name(f"{proc.name}.log"))
            topo.procs[proc.name] = topo.procs.pop(proc.name.removesuffix("-day1"))
        topo.env["GRIDWORKS_CLOCK"] = (datetime.fromisoformat(CLOCK) + timedelta(days=1)).isoformat()
        web = await C.start_processes(topo, args.workers)
        load.url = f"http://127.0.0.1:{web.port}/webhook"
    steps = (*STORM, ("confirm", "button", ""))
    counts = {}
    for step in steps:
        step = _confirm_step(sink, calib) if step[0] == "confirm" and not baseline else step
        counts[step[0]], error = await C.count_replies(load, sink, calib, step)
        if error:
            return {"error": f"calibration: {step[0]} got an error reply"}
    runners = users[1:]
    for phone in runners:
        load.matcher.users[phone].pending.clear()
    t0 = time.monotonic()
    # Every user has their card (buy → PIN: the PIN checks, scrypt, are the CPU-heavy part), then all of them
    # tap Confirm at once: the confirm storm proper.
    carded = await asyncio.gather(*(_buy(load, sink, phone, counts, baseline=baseline, steps=STORM)
                                    for phone in runners))
    done = await asyncio.gather(*(_buy(load, sink, phone, counts, baseline=baseline, steps=(None,))
                                  for phone, d in zip(runners, carded) if d.get("card") is not None))
    done = [{**c, **d} for c, d in zip([c for c in carded if c.get("card") is not None], done)]
    filled = [d for d in done if d.get("fill") is not None]
    last = max((d["fill_at"] for d in filled), default=t0)
    pin_card = [d["card"] for d in done if d.get("card") is not None]
    fills = [d["fill"] for d in filled]
    first_confirm = min((d["confirm_at"] for d in filled), default=last)
    return {"users": len(runners), "orders": len(filled), "replies_per_step": counts,
            "orders_per_s": round(len(filled) / (last - t0), 1) if filled and last > t0 else 0.0,
            # the confirmations alone: from the first Confirm tapped (all at once, every card shown) to the
            # last fill reply; the whole flow's rate is bound by the PIN checks (scrypt, ~57 ms of CPU each)
            "confirm_orders_per_s": round(len(filled) / (last - first_confirm), 1) if last > first_confirm else 0.0,
            "confirm_fill_p50_ms": C.ms(C.pct(fills, 0.5)), "confirm_fill_p99_ms": C.ms(C.pct(fills, 0.99)),
            "pin_card_p50_ms": C.ms(C.pct(pin_card, 0.5)), "pin_card_p99_ms": C.ms(C.pct(pin_card, 0.99)),
            "failed": len(runners) - len(filled)}


def _confirm_step(sink: Any, phone: str) -> tuple[str, str, str]:
    card = next((a for a in reversed(sink.replies.get(phone, ())) if a.buttons), None)
    return ("confirm", "button", card.buttons[0] if card else "confirm")


async def _buy(load: Any, sink: Any, phone: str, counts: dict[str, int], *, baseline: bool,
               steps: tuple = (*STORM, None)) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for step in steps:
        if step is None:
            step = ("confirm", "button", "confirm") if baseline else _confirm_step(sink, phone)
        turn = await load.closed_loop(phone, step, counts[step[0]], 120)
        if turn.status != 200 or turn.first_reply is None or turn.error:
            return out
        if step[0] == "pin":
            out["card"] = turn.first_reply - turn.sent
        if step[0] == "confirm":
            out["fill"], out["fill_at"], out["confirm_at"] = turn.first_reply - turn.sent, turn.first_reply, turn.sent
    return out


# -- the whole run -------------------------------------------------------------------------------------------
async def _main(args: argparse.Namespace) -> dict[str, Any]:
    from bot.bench import topology as T
    from bot.bench.graph_sink import GraphSink
    from intents.pipeline import IntentPipeline
    from bot.bench.turn_costs import error_prefixes

    figures: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
                               "users": args.users, "seconds_per_level": args.seconds, "grace_s": args.grace,
                               "revision": C._revision(), "targets": []}
    _say("loading the intent model once (the processes then only read it)")
    await asyncio.to_thread(IntentPipeline.load)
    sink = await GraphSink(error_prefixes=error_prefixes()).start()
    base = 9195_0000_0000 + (uuid.uuid4().int % 9000) * 10_000
    n_users = max(args.users, args.storm + 1)
    phones = [str(base + i) for i in range(n_users + 1)]
    extra = {"GRIDWORKS_SEND_RATE": "100000", "GRIDWORKS_LOG_LEVEL": args.log_level.upper(),
             "GRIDWORKS_TICK_SECONDS": "15"}
    tmp_root = Path(tempfile.mkdtemp(prefix="gw-e2e-"))
    kinds = [("baseline", True)] if not args.no_baseline else []
    if not args.baseline_only:
        kinds.append(("gridworks-cluster" if args.cluster else "gridworks-embedded", False))
    try:
        for name, baseline in kinds:
            tmp = tmp_root / name
            if baseline or not args.cluster:
                topo = T.embedded(tmp, graph_url=sink.url, app_secret=C.APP_SECRET, extra=extra)
                topo.kind = "baseline" if baseline else "embedded"
            else:
                topo = await T.cluster(tmp, graph_url=sink.url, app_secret=C.APP_SECRET, extra=extra,
                                       pg_url=args.pg_url, redis_url=args.redis_url)
            _say(f"[{name}] starting")
            result: dict[str, Any] = {"target": name}
            try:
                result = await bench_target(name, topo, sink, phones, args, baseline=baseline)
            except Exception as exc:  # noqa: BLE001 - one target failing must not hide the other's figures
                result["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                _say(f"[{name}] failed: {result['error']}")
            finally:
                result["exit_codes"] = topo.stop_all()
                result["log_problems"] = {k: v for k, v in topo.problems().items()
                                          if v["tracebacks"] or v["error_lines"]}
                await topo.cleanup()
            figures["targets"].append(result)
    finally:
        await sink.stop()
        shutil.rmtree(tmp_root, ignore_errors=True)
    if not args.no_costs:
        from bot.bench import turn_costs

        _say("counting round trips per turn (in-process pipeline)")
        with tempfile.TemporaryDirectory() as tmp:
            figures["turn_costs"] = {"embedded": await turn_costs.embedded_costs(Path(tmp) / "e")}
            if args.cluster:
                figures["turn_costs"]["cluster"] = await turn_costs.cluster_costs(
                    Path(tmp) / "c", pg_url=args.pg_url, redis_url=args.redis_url)
    figures["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    by = {t["target"].split("-")[0]: t for t in figures["targets"]}
    gw, base_fig = by.get("gridworks"), by.get("baseline")
    if gw and base_fig and base_fig.get("sustained_per_s"):
        figures["ratio"] = round(gw.get("sustained_per_s", 0.0) / base_fig["sustained_per_s"], 3)
        # the baseline's limit was not found: it held every level, or the generator fell behind first
        base_levels = base_fig.get("levels") or [{}]
        figures["ratio_is_upper_bound"] = bool(base_fig.get("every_level_held")
                                               or not base_levels[-1].get("loadgen_kept_up", True))
    if gw and base_fig:
        figures.update(cpu_ratio(base_fig, gw))
    gw_storm, base_storm = (gw or {}).get("storm") or {}, (base_fig or {}).get("storm") or {}
    if base_storm.get("orders_per_s"):
        figures["storm_ratio"] = round(gw_storm.get("orders_per_s", 0.0) / base_storm["orders_per_s"], 3)
    return figures


#: Processes in a level's CPU figures that are neither the server under test nor part of it
NOT_THE_SERVER = frozenset({"loadgen", "fake_graph", "redis", "postgres"})


def cpu_ratio(baseline: dict[str, Any], gridworks: dict[str, Any]) -> dict[str, Any]:
    """The baseline's CPU per message over GridWorks' own (its processes, not Redis' or PostgreSQL's), at the
    highest offered rate both sustained. Both are measured in the same run on the same machine, and, unlike the
    throughput ratio, it does not stop at what the load generator can offer. It is as noisy as the CPU figures
    it divides (0.19 and 0.27 in two runs of one day on a 2-core VM): compare runs, not single figures.
    Empty when no level was held by both."""
    def own(level: dict[str, Any]) -> float:
        return sum(v for k, v in level["cpu_ms_per_msg"].items() if k not in NOT_THE_SERVER)

    held = {lv["offered_per_s"]: lv for lv in baseline.get("levels", []) if lv.get("sustained")}
    common = [lv for lv in gridworks.get("levels", []) if lv.get("sustained") and lv["offered_per_s"] in held]
    if not common:
        return {}
    gw = max(common, key=lambda lv: lv["offered_per_s"])
    base, mine = own(held[gw["offered_per_s"]]), own(gw)
    if base <= 0 or mine <= 0:
        return {}
    return {"cpu_ratio": round(base / mine, 3), "cpu_ratio_at_per_s": gw["offered_per_s"],
            "cpu_ms_per_msg_own": {"baseline": round(base, 2), "gridworks": round(mine, 2)}}


def run(args: argparse.Namespace) -> dict[str, Any]:
    figures = asyncio.run(_main(args))
    if getattr(args, "json", False):
        return figures
    print(table(figures))
    return {k: figures.get(k) for k in ("ratio", "cpu_ratio", "storm_ratio") if k in figures}


# -- presentation --------------------------------------------------------------------------------------------
def table(figures: dict[str, Any]) -> str:
    f = C._f
    head = (f"{'target':<19} {'offered/s':>9} {'served/s':>8} {'answ%':>6} {'ack p50/p99 ms':>15} "
            f"{'reply p50/p99 ms':>17} {'sust':>4}  CPU ms/msg per process")
    lines = [f"gridworks bench e2e — {figures['users']} users, {figures['seconds_per_level']:g}s per level, "
             f"{figures['cpus']} CPUs (load {figures['load_average_1m']} → "
             f"{figures.get('load_average_1m_end')}), "
             f"source {figures.get('revision') or '?'}", head, "-" * len(head)]
    for t in figures["targets"]:
        for lv in t.get("levels", []):
            cpu = ", ".join(f"{k} {v:g}" for k, v in lv["cpu_ms_per_msg"].items())
            note = "" if lv["loadgen_kept_up"] else f"  LOAD GENERATOR FELL BEHIND (late p99 " \
                                                    f"{lv['loadgen_late_p99_ms']:g} ms)"
            lines.append(f"{t['target']:<19} {lv['offered_per_s']:>9g} {lv['served_per_s']:>8.1f} "
                         f"{lv['answered_pct']:>6.1f} {_pair(lv, 'ack'):>15} {_pair(lv, 'reply'):>17} "
                         f"{'yes' if lv['sustained'] else 'no':>4}  {cpu}{note}")
            if lv.get("redis_cmds_per_msg"):
                calls = lv["redis_cmds_per_msg"]
                lines.append(f"{'':<19} {'':>9} Redis commands per message {sum(calls.values()):.1f}: "
                             + ", ".join(f"{k} {v:g}" for k, v in list(calls.items())[:8]))
        if t.get("error"):
            lines.append(f"{t['target']:<19} failed: {t['error']}")
    lines.append("")
    for t in figures["targets"]:
        problems = "; ".join(t.get("problems", [])) + (f" log problems: {t['log_problems']}"
                                                       if t.get("log_problems") else "")
        rate = "" if t.get("storm") else (f"sustained {f(t.get('sustained_per_s'))} msgs/s"
                                          f"{' (every level held)' if t.get('every_level_held') else ''}; ")
        lines.append(f"{t['target']:<19} {rate}RSS MB idle {t.get('rss_idle_mb')} after "
                     f"{t.get('rss_after_mb')}{'; ' + problems if problems.strip() else ''}")
        s = t.get("storm")
        if s:
            lines.append(f"{t['target']:<19} storm: {s.get('orders', 0)}/{s.get('users', 0)} orders, "
                         f"{f(s.get('orders_per_s'))} orders/s (confirmations alone "
                         f"{f(s.get('confirm_orders_per_s'))}/s), Confirm → fill p50/p99 "
                         f"{_pair(s, 'confirm_fill')} ms, PIN → card p50/p99 {_pair(s, 'pin_card')} ms"
                         f"{' ' + s['error'] if s.get('error') else ''}")
    if "ratio" in figures:
        bound = (" (at most: the baseline's limit was not reached — it held every level, or the load "
                 "generator fell behind first)" if figures.get("ratio_is_upper_bound") else "")
        lines.append(f"HEADLINE GridWorks/baseline sustained throughput ratio: {figures['ratio']:g}{bound}")
    if "cpu_ratio" in figures:
        own = figures["cpu_ms_per_msg_own"]
        lines.append(f"HEADLINE baseline/GridWorks CPU per message ratio: {figures['cpu_ratio']:g} (at "
                     f"{figures['cpu_ratio_at_per_s']:g} msgs/s, both held: {own['baseline']:g} against "
                     f"{own['gridworks']:g} ms, servers' own processes)")
    if "storm_ratio" in figures:
        lines.append(f"HEADLINE GridWorks/baseline confirm-storm orders/s ratio: {figures['storm_ratio']:g}")
    if figures.get("turn_costs"):
        from bot.bench.turn_costs import table as costs_table

        for name, rows in figures["turn_costs"].items():
            lines += ["", costs_table(f"round trips ({name})", rows)]
    return "\n".join(lines)


def _pair(figures: dict[str, Any], name: str) -> str:
    return f"{C._f(figures.get(f'{name}_p50_ms'))} / {C._f(figures.get(f'{name}_p99_ms'))}"
