"""``gridworks chat [--user WA_ID] [--name NAME]``: talk to the bot in the terminal.

Buttons and list rows are shown as numbered choices; type the number to tap one. ``/at ISO-TIME`` moves the
simulated clock (e.g. to a trading session), ``/quit`` leaves.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("chat", help="chat with the bot in the terminal (console channel)")
    p.add_argument("--user", default="919800000001", help="the WhatsApp id (phone number) you chat as")
    p.add_argument("--name", default=None, help="your WhatsApp profile name")
    p.add_argument("--documents", default=None, help="folder for documents the bot sends")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from bot.cli.common import settings

    return asyncio.run(_repl(settings(), args))


def render(trace: dict) -> tuple[str, list[str]]:
    """Terminal text for one trace, and the ids behind the numbered choices."""
    lines: list[str] = []
    ids: list[str] = []
    for reply in trace["replies"] + [r for n in trace.get("notifications", []) for r in n["replies"]]:
        if reply.get("text"):
            lines.append(reply["text"])
        options = reply.get("buttons") or reply.get("rows") or []
        if options:
            ids = []
            for i, opt in enumerate(options, start=1):
                desc = f" — {opt['description']}" if opt.get("description") else ""
                lines.append(f"  [{i}] {opt['title']}{desc}")
                ids.append(opt["id"])
        if reply.get("type") == "document":
            lines.append(f"  📄 {reply['filename']} → {reply.get('path')}")
    return "\n".join(lines), ids


async def _repl(settings, args: argparse.Namespace) -> int:
    import asyncio
    from datetime import datetime

    from bot.cli.simulate_cmd import open_console

    print("GridWorks chat — type a message; numbers pick a choice; /at ISO-TIME moves the clock; /quit exits.",
          flush=True)
    runtime, channel = await open_console(settings, args.documents)
    ids: list[str] = []
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                break
            line = line.strip()
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            if line.startswith("/at "):
                try:
                    runtime.clock.set(datetime.fromisoformat(line[4:].strip()))  # type: ignore[attr-defined]
                    print(f"clock: {runtime.clock.now().isoformat()}", flush=True)
                except ValueError as exc:
                    print(f"clock: {exc}", flush=True)
                continue
            if line.isdigit() and ids and 1 <= int(line) <= len(ids):
                trace = await channel.turn(args.user, button=ids[int(line) - 1], name=args.name)
            else:
                trace = await channel.turn(args.user, text=line, name=args.name)
            text, new_ids = render(trace)
            ids = new_ids          # a number picks from the last reply only; after one without choices it is text
            print(f"bot> {text}\n", flush=True)
    finally:
        await runtime.close()
    return 0
