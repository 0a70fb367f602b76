"""``gridworks simulate [FILE] --jsonl`` (turn-by-turn traces) and ``gridworks simulate FILE.yml`` (scripts)."""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("simulate", help="drive conversations without WhatsApp (JSON lines or YAML scripts)")
    p.add_argument("files", nargs="*", help="JSON-lines turns (default stdin) or .yml conversation scripts")
    p.add_argument("--jsonl", action="store_true", help="read JSON-lines turns, write one trace line per turn")
    p.add_argument("--documents", default=None, help="folder for documents the bot sends (default: state dir)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from bot.cli.common import settings as load

    settings = load()
    for name in args.files:                  # before the model loads: a typo fails at once
        if not Path(name).is_file():
            raise FileNotFoundError(errno.ENOENT, "No such file", name)
    scripts = [f for f in args.files if f.endswith((".yml", ".yaml"))]
    if scripts and not args.jsonl:
        return asyncio.run(_scripts(settings, scripts, args.documents))
    return asyncio.run(_jsonl(settings, args.files, args.documents))


async def open_console(settings, documents: str | None, *, clock=None):
    from pathlib import Path

    from bot.app import build_runtime
    from bot.console import ConsoleChannel, ConsoleMessenger

    messenger = ConsoleMessenger()
    runtime = await build_runtime(settings, simulated_clock=True, clock=clock, messenger=lambda _audit: messenger)
    folder = Path(documents) if documents else settings.secrets.state_dir / "documents"
    return runtime, ConsoleChannel(runtime, documents_dir=folder)


async def _jsonl(settings, files: list[str], documents: str | None) -> int:
    import json
    from datetime import datetime

    runtime, channel = await open_console(settings, documents)
    failures = 0
    try:
        streams = [open(f, encoding="utf-8") for f in files] if files else [sys.stdin]
        for stream in streams:
            for lineno, line in enumerate(stream, start=1):
                line = line.strip()
                if not line:
                    continue
                try:
                    turn = json.loads(line)
                    sender = str(turn["from"])
                    at = datetime.fromisoformat(turn["at"]) if turn.get("at") else None
                    if at is not None and at.tzinfo is None:
                        raise ValueError("'at' needs a UTC offset, e.g. 2026-11-23T10:00:00+05:30")
                    if "text" not in turn and "button" not in turn:
                        raise ValueError("a turn needs 'text' or 'button'")
                except (ValueError, KeyError, TypeError) as exc:
                    failures += 1
                    print(json.dumps({"error": f"line {lineno}: {exc}"}, ensure_ascii=False), flush=True)
                    continue
                trace = await channel.turn(sender, text=turn.get("text"), button=turn.get("button"),
                                           name=turn.get("name"), at=at)
                print(json.dumps(trace, ensure_ascii=False), flush=True)
    finally:
        await runtime.close()
    return 1 if failures else 0


async def _scripts(settings, files: list[str], documents: str | None) -> int:
    from pathlib import Path

    from bot.script_runner import format_report, run_script

    runtime, channel = await open_console(settings, documents)
    ok = True
    try:
        for name in files:
            report = await run_script(Path(name), channel)
            print(format_report(report), flush=True)
            ok = ok and report.ok
    finally:
        await runtime.close()
    return 0 if ok else 1
