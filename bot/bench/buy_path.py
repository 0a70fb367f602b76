"""Measure the path of one "buy 10 TCS" through the repo, file by file (issue 12's closing note).

Runs the real pipeline in-process on the embedded default (SQLite in a temp dir), through the same
``open_console`` machinery as ``gridworks simulate``. A user is onboarded untraced (day 1), a warm-up user
places the same order untraced (so lazy imports and caches are hot: the steady-state path), then the order
turns of a fresh user are traced with ``sys.setprofile`` / ``threading.setprofile`` on a later trading day
(so the once-a-day PIN prompt appears):

    "buy 10 TCS" → tap "Market price" → PIN → tap Confirm → fill reply ("Done! …")

Each turn is split into phases; only ``handle`` (``Dispatcher.handle``: inbound message → reply objects) is
the counted path. ``tick`` (market advance, a background loop in production: bot/roles.py), ``deferred``
(work after the reply, e.g. ZK receipts) and ``render`` (console stand-in for the WhatsApp send) are traced
and reported separately.

Counted: fresh Python calls (not coroutine resumptions, not module bodies) whose code lives under
the measured source tree, excluding tests/. A call's caller is the nearest repo frame up the stack (library frames in
between are transparent); a task or executor job is linked to the repo file that created or submitted it.
A hop is a call whose caller file differs from the callee file; a call with no repo caller is an entry point. Locale TOML files are data: the
texts rendered (``Catalog.raw``) are mapped to ``locales/<lang>/<file>.toml`` and listed, not counted as hops.

Usage: ``python bot/bench/buy_path.py [--text "buy 10 TCS"] [--variant TEXT] [--root DIR] [--out PATH]
[--json PATH]`` (``--root``: another source tree, e.g. a worktree of an older commit, measured the same way).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import dis
import json
import shutil
import sys
import tempfile
import threading
import weakref
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _root_arg(argv: list[str]) -> str:
    """``--root DIR`` is read before any import, so the measured tree is the one imported."""
    for i, a in enumerate(argv):
        if a == "--root" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--root="):
            return a.split("=", 1)[1]
    return str(Path(__file__).resolve().parents[2])


DEFAULT_ROOT = Path(__file__).resolve().parents[2]
ROOT = Path(_root_arg(sys.argv)).resolve()
EXCLUDE = (ROOT / "tests", ROOT / "gridworks.egg-info")
HERE = Path(__file__).resolve()
PACKAGES = ("bot", "intents", "handlers", "engine", "locales", "config")
PHASES = ("tick", "handle", "deferred", "render")
PIN = "4826"
DAY1 = "2026-11-23T10:00:00+05:30"          # Monday: onboarding (the PIN set today is not asked again today)
DAY2_WARM = "2026-11-25T10:00:00+05:30"     # Wednesday: warm-up order (untraced)
DAY2 = "2026-11-25T10:05:00+05:30"          # Wednesday: traced order — first order of the day asks the PIN

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


_REL: dict[str, str | None] = {}
_FRESH: dict[Any, frozenset[int]] = {}


def _rel(filename: str, cache: dict[str, str | None] = _REL) -> str | None:
    """Repo-relative path of a code file, or None when it is outside the measured code."""
    if filename in cache:
        return cache[filename]
    out = None
    if filename and not filename.startswith("<"):
        p = Path(filename).resolve()
        if p != HERE and p.is_relative_to(ROOT) and not any(p.is_relative_to(e) for e in EXCLUDE):
            out = str(p.relative_to(ROOT))
    cache[filename] = out
    return out


def _fresh_offsets(code, cache: dict[Any, frozenset[int]] = _FRESH) -> frozenset[int]:
    """Offsets of ``RESUME 0`` (function start); a 'call' event elsewhere is a coroutine/generator resuming."""
    got = cache.get(code)
    if got is None:
        got = frozenset(i.offset for i in dis.get_instructions(code) if i.opname == "RESUME" and i.arg == 0)
        cache[code] = got
    return got


def _repo_caller(frame) -> str | None:
    """The file of the nearest repo frame at or above ``frame`` (library frames are transparent)."""
    while frame is not None:
        rel = _rel(frame.f_code.co_filename)
        if rel is not None:
            return rel
        frame = frame.f_back
    return None


@dataclass
class Call:
    turn: int
    phase: str
    file: str
    func: str
    caller: str | None


@dataclass
class Tracer:
    turn: int = 0
    phase: str | None = None                 # None: not recording
    calls: list[Call] = field(default_factory=list)
    texts: list[tuple[int, str, str, str]] = field(default_factory=list)   # (turn, phase, lang, key)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def profile(self, frame, event, arg):
        if event != "call":
            return
        job = getattr(self._local, "job", None)         # (turn, phase) an executor job was submitted in
        turn, phase = job if job is not None and job[1] is not None else (self.turn, self.phase)
        if phase is None:
            return
        code = frame.f_code
        file = _rel(code.co_filename)
        if file is None or code.co_name == "<module>":
            return
        if frame.f_lasti not in _fresh_offsets(code):
            return                               # a coroutine or generator resuming, not a new call
        caller = _repo_caller(frame.f_back)
        if caller is None:                       # a task or an executor job: link it to the repo code that made it
            caller = self.origin()
        if file == "locales/catalog.py" and code.co_name == "raw":
            loc = frame.f_locals
            self.texts.append((turn, phase, str(loc.get("lang")), str(loc.get("key"))))
        with self._lock:
            self.calls.append(Call(turn, phase, file, code.co_qualname, caller))

    _local: threading.local = field(default_factory=threading.local)
    _task_origin: weakref.WeakKeyDictionary = field(default_factory=lambda: weakref.WeakKeyDictionary())

    def origin(self) -> str | None:
        got = getattr(self._local, "origin", None)
        if got is not None:
            return got
        if threading.current_thread() is threading.main_thread():
            try:
                task = asyncio.current_task()
            except RuntimeError:
                return None
            return self._task_origin.get(task) if task is not None else None
        return None

    def _creator(self) -> str | None:
        return _repo_caller(sys._getframe(2)) or self.origin()

    def hook_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember which repo file created each task and submitted each executor job (stdlib hooks only)."""
        tracer = self

        def factory(loop, coro, **kw):
            task = asyncio.Task(coro, loop=loop, **kw)
            origin = tracer._creator()
            if origin is not None:
                tracer._task_origin[task] = origin
            return task

        submit = loop.run_in_executor

        def run_in_executor(executor, func, *args):
            origin, when = tracer._creator(), (tracer.turn, tracer.phase)

            def job():                          # counted in the turn and phase that submitted it
                tracer._local.origin, tracer._local.job = origin, when
                try:
                    return func(*args)
                finally:
                    tracer._local.origin = tracer._local.job = None

            return submit(executor, job)

        loop.set_task_factory(factory)
        loop.run_in_executor = run_in_executor

    def install(self) -> None:
        threading.setprofile(self.profile)   # threads started later (engine writer, to_thread) are traced too
        sys.setprofile(self.profile)

    def remove(self) -> None:
        sys.setprofile(None)
        threading.setprofile(None)


# ---------------------------------------------------------------- running the conversation

@dataclass
class Turn:
    label: str
    text: str | None = None
    button: str | None = None            # an id, or a title resolved against the previous reply
    at: str | None = None


def _resolve(button: str, last: dict[str, Any] | None) -> str:
    from bot.script_runner import resolve_tap

    return resolve_tap(button, last)


async def _turn(channel, tracer: Tracer | None, user: str, turn: Turn, last: dict | None) -> dict[str, Any]:
    """ConsoleChannel.turn, phase by phase (same calls, same order) so each phase is traced on its own."""
    from bot.console import _inbound

    runtime = channel.runtime

    def phase(name: str | None) -> None:
        if tracer is not None:
            tracer.phase = name

    if turn.at:
        runtime.clock.set(datetime.fromisoformat(turn.at))
    phase("tick")
    await runtime.tick()
    phase(None)
    button = _resolve(turn.button, last) if turn.button is not None else None
    msg = _inbound(user, text=turn.text, button=button, name=None, now=runtime.clock.now(), document=None)
    phase("handle")
    result = await runtime.dispatcher.handle(msg)
    phase("deferred")
    extra = []
    for job in result.deferred:
        extra.extend(await job())
    phase("render")
    trace = result.to_trace(sender=user)
    trace["replies"] = channel.render(result.replies + tuple(extra))
    pushed = channel.messenger.drain()
    phase(None)
    if pushed:
        trace["notifications"] = [{"to": k, "replies": channel.render(rs)} for k, rs in pushed.items()]
    return trace


def onboarding(at: str) -> list[Turn]:
    return [Turn("hi", text="hi", at=at), Turn("language", button="onb_lang:en"),
            Turn("consent", button="onb_consent:yes"), Turn("set PIN", text=PIN)]


def order(text: str, at: str) -> list[Turn]:
    turns = [Turn(f'say "{text}"', text=text, at=at)]
    if "market" not in text.casefold() and " at " not in text.casefold():
        turns.append(Turn('tap "Market price"', button="Market price"))   # a bare "buy" asks market or limit
    turns += [Turn("send PIN", text=PIN), Turn('tap "Confirm"', button="Confirm")]
    return turns


async def run(text: str) -> tuple[Tracer, list[tuple[Turn, dict[str, Any]]]]:
    from bot.cli.simulate_cmd import open_console
    from config.settings import load_settings

    tracer = Tracer()
    tracer.install()                      # before the runtime starts its threads; records nothing until a phase
    tracer.hook_loop(asyncio.get_running_loop())
    tmp = Path(tempfile.mkdtemp(prefix="trace_buy."))
    settings = load_settings({"GRIDWORKS_STATE_DIR": str(tmp / "state"), "DATABASE_URL": f"sqlite:///{tmp / 'gw.db'}"})
    runtime, channel = await open_console(settings, str(tmp / "docs"))
    traced: list[tuple[Turn, dict[str, Any]]] = []
    try:
        for user in ("919800007001", "919800007002"):        # warm-up user, traced user: onboard untraced
            last = None
            for t in onboarding(DAY1):
                last = await _turn(channel, None, user, t, last)
            if last.get("awaiting") is not None:
                raise SystemExit(f"onboarding did not finish: {last}")
        last = None
        for t in order(text, DAY2_WARM):                      # warm-up order (untraced)
            last = await _turn(channel, None, "919800007001", t, last)
        last = None
        for i, t in enumerate(order(text, DAY2), start=1):
            tracer.turn = i
            last = await _turn(channel, tracer, "919800007002", t, last)
            traced.append((t, last))
    finally:
        tracer.remove()
        await runtime.close()
        shutil.rmtree(tmp, ignore_errors=True)
    final = traced[-1][1]
    if not any(o.get("status") == "COMPLETE" for o in final.get("orders", [])):
        raise SystemExit(f"the order did not fill: {json.dumps(final, ensure_ascii=False)[:600]}")
    return tracer, traced


# ---------------------------------------------------------------- figures and the report

def docline(rel: str) -> str:
    """First sentence of a module's docstring (what the file is for)."""
    path = ROOT / rel
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError):
        return ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ").replace("``", "`")
    cut = first.find(". ")
    first = first[: cut + 1] if 0 < cut else first
    return first if len(first) <= 110 else first[:110].rsplit(" ", 1)[0].rstrip(",;:(") + " …"


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0] + " …"


def package(rel: str) -> str:
    return rel.split("/")[0] if "/" in rel else "(top level)"


def figures(calls: list[Call]) -> dict[str, Any]:
    files = list(OrderedDict.fromkeys(c.file for c in calls))
    hops = [(c.caller, c.file) for c in calls if c.caller is not None and c.caller != c.file]
    edges = Counter(hops)
    entries = sorted({f"{c.file}:{c.func}" for c in calls if c.caller is None})
    return {"files": len(files), "distinct_edges": len(edges), "cross_file_calls": len(hops),
            "calls": len(calls), "file_list": files, "edges": edges, "entries": entries}


def locale_files(texts, catalog) -> list[str]:
    out: OrderedDict[str, None] = OrderedDict()
    for _, _, lang, key in texts:
        where = lang if catalog.has(lang, key) else "en"
        out[f"locales/{where}/{key.split('.')[0]}.toml"] = None
    return list(out)


def report(tracer: Tracer, traced, text: str, variants=()) -> tuple[str, dict[str, Any]]:
    from locales.catalog import load_catalog

    catalog = load_catalog()
    handle = [c for c in tracer.calls if c.phase == "handle"]
    main = figures(handle)
    everything = figures(tracer.calls)
    per_phase = {p: figures([c for c in tracer.calls if c.phase == p]) for p in PHASES}
    texts = [t for t in tracer.texts if t[1] == "handle"]
    toml = locale_files(texts, catalog)
    L: list[str] = []
    steps = " → ".join(t.label for t, _ in traced)
    L.append(f'# Path of one "{text}" (issue 12)\n')
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    root = "" if ROOT == DEFAULT_ROOT else f" --root {ROOT}"
    L.append(f"Measured {when} with `python bot/bench/buy_path.py{root}` on the "
             f"embedded default (SQLite, temp dir), steady state (users onboarded and one warm-up order placed "
             f"untraced). Traced turns: {steps}. A bare \"buy\" asks market or limit, hence the Market tap.\n")
    L.append("| scope | repo .py files | hops: distinct file→file edges | hops: cross-file calls | calls |")
    L.append("|---|---|---|---|---|")
    L.append(f"| **message → reply** (`Dispatcher.handle`, all {len(traced)} turns) | **{main['files']}** | "
             f"**{main['distinct_edges']}** | {main['cross_file_calls']} | {main['calls']} |")
    for i, (t, _) in enumerate(traced, start=1):
        f = figures([c for c in handle if c.turn == i])
        L.append(f"| turn {i}: {t.label} | {f['files']} | {f['distinct_edges']} | {f['cross_file_calls']} | {f['calls']} |")
    for vtext, vtracer, vtraced in variants:
        f = figures([c for c in vtracer.calls if c.phase == "handle"])
        L.append(f'| variant "{vtext}" ({len(vtraced)} turns, no Market tap), message → reply | '
                 f"{f['files']} | {f['distinct_edges']} | {f['cross_file_calls']} | {f['calls']} |")
    for p in ("tick", "deferred", "render"):
        f = per_phase[p]
        L.append(f"| not counted — {p} | {f['files']} | {f['distinct_edges']} | {f['cross_file_calls']} | {f['calls']} |")
    L.append(f"| everything the console does in these turns | {everything['files']} | {everything['distinct_edges']} | "
             f"{everything['cross_file_calls']} | {everything['calls']} |")
    L.append(f"\n**Against the baseline** (issue 12: \"39 hops through 51 files\", counting method unknown): "
             f"this dynamic count gives **{main['files']} files** and **{main['distinct_edges']} distinct file→file "
             f"edges** ({main['cross_file_calls']} cross-file calls) from the message to the fill reply. Not "
             f"like-for-like: the old layout (78f8e0f) was not measured with this tool (no git operations here); "
             f"`--root <worktree of 78f8e0f>` would measure it the same way.\n")
    L.append("Hop = a call from a function in one repo file to a function in another; library frames in between "
             "are transparent (generated dataclass/pydantic code is not repo code); coroutine resumptions and "
             "module bodies are not calls; tasks and executor jobs are linked to the repo file that created "
             "them. Not counted: tick = market advance (a background loop in production, bot/roles.py); deferred "
             "= work after the reply (ZK proofs run in a process pool, not traced); render = console stand-in for "
             "the WhatsApp send. Entry points without a repo caller: "
             f"{', '.join(e.split(':', 1)[1] + ' (' + e.split(':', 1)[0] + ')' for e in main['entries'])}. "
             f"Locale data: {', '.join(toml)} (texts rendered on the path; catalogs load once at startup).\n")
    L.append("## First visits, turn by turn (files new to the path; ↺ = already seen in an earlier turn)\n")
    seen: set[str] = set()
    for i, (t, tr) in enumerate(traced, start=1):
        order_files = list(OrderedDict.fromkeys(c.file for c in handle if c.turn == i))
        new = [f for f in order_files if f not in seen]
        again = len(order_files) - len(new)
        reply = (tr.get("replies") or [{}])[0].get("text") or ""
        L.append(f"**{i}. {t.label}** → {_short(reply.splitlines()[0], 60) if reply else '(no text)'} — "
                 f"{len(order_files)} files ({len(new)} new, {again} ↺)")
        if not new:
            L.append("- (no new files)")
        for pkg in list(OrderedDict.fromkeys(package(f) for f in new)):
            L.append(f"- {pkg}/: " + " → ".join(f.split("/", 1)[1] for f in new if package(f) == pkg))
        L.append("")
        seen.update(order_files)
    L.append("\n## The files, by package (first-visit order)\n")
    others = sorted({package(f) for f in main["file_list"]} - set(PACKAGES))
    for pkg in PACKAGES + tuple(others):
        files = [f for f in main["file_list"] if package(f) == pkg]
        extra = [f for f in toml if pkg == "locales"]
        if not files and not extra:
            L.append(f"**{pkg}/** (0) — no function in it runs on the path (settings and product config are built at startup)\n")
            continue
        L.append(f"**{pkg}/** ({len(files)}{f' + {len(extra)} TOML' if extra else ''})")
        for f in files:
            L.append(f"- `{f}` — {docline(f)}")
        for f in extra:
            keys = sorted({k for _, _, lang, k in texts if f.endswith(f"/{k.split('.')[0]}.toml")})
            L.append(f"- `{f}` — texts: {', '.join(keys)}")
        L.append("")
    top = main["edges"].most_common(12)
    L.append("## Busiest edges (cross-file calls)\n")
    L.append(", ".join(f"{a} → {b} ×{n}" for (a, b), n in top))
    data = {"text": text, "turns": [t.label for t, _ in traced], "handle": _jsonable(main),
            "phases": {p: _jsonable(f) for p, f in per_phase.items()}, "everything": _jsonable(everything),
            "locale_files": toml}
    return "\n".join(L) + "\n", data


def _jsonable(f: dict[str, Any]) -> dict[str, Any]:
    out = dict(f)
    out["edges"] = [[a, b, n] for (a, b), n in f["edges"].most_common()]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text", default="buy 10 TCS", help='the order message (default "buy 10 TCS")')
    ap.add_argument("--out", default="buy_path.md", help="markdown report (default ./buy_path.md)")
    ap.add_argument("--root", default=str(ROOT), help="the source tree to measure (default this one), e.g. "
                    "a worktree of an older commit; it is put first on sys.path")
    ap.add_argument("--json", default=None, help="also write the raw figures and edges as JSON")
    ap.add_argument("--variant", action="append", default=None,
                    help='another order message to summarise in one row (default "buy 10 TCS at market")')
    args = ap.parse_args()
    import logging

    logging.disable(logging.CRITICAL)
    import config

    if not Path(config.__file__).resolve().is_relative_to(ROOT):
        raise SystemExit(f"imports resolve to {Path(config.__file__).parent.parent}, not {ROOT}")
    tracer, traced = asyncio.run(run(args.text))
    variants = [(v, *asyncio.run(run(v))) for v in (args.variant or ["buy 10 TCS at market"]) if v]
    md, data = report(tracer, traced, args.text, variants)
    Path(args.out).write_text(md, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":                 # the ZK prover pool spawns processes: keep the guard
    sys.exit(main())
