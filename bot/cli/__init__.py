"""``gridworks`` console script: one argparse tree, each command group in its own module.

Modules register lazily-importing subcommands so that ``gridworks --help`` stays fast (spaCy and py_ecc
are imported only by the commands that need them).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

#: Command-group modules under ``bot.cli``; each exposes ``register(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "chat_cmd",      # gridworks chat
    "simulate_cmd",  # gridworks simulate
    "serve_cmd",     # gridworks serve
    "intents_cmd",   # gridworks intents classify|eval|train
    "engine_cmd",    # gridworks orders|portfolio|market
    "zk_cmd",        # gridworks receipt|log
    "users_cmd",     # gridworks users|handoff
    "bench_cmd",     # gridworks bench intents|engine|zk
    "engine_role_cmd",   # gridworks engine (the cluster's engine authority)
    "campaign_cmd",  # gridworks campaign preview|run|pause|resume|status|report
    "templates_cmd",  # gridworks templates sync|list|show
    "instruments_cmd",   # gridworks instruments show|update
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridworks", description="GridWorks WhatsApp trading bot engine")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"bot.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from bot.logging import configure_logging

    # Commands print their own results; logs (JSON on stderr) only for warnings unless a command
    # (``serve``) configures the level from settings.
    configure_logging("WARNING")
    try:
        result = args.func(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``gridworks log head | head -3``): not an error worth a traceback. Point
        # stdout at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
