"""``gridworks`` console script: one argparse tree, each command group in its own module.

Modules register lazily-importing subcommands so that ``gridworks --help`` stays fast (spaCy and py_ecc
are imported only by the commands that need them). A command reports a failure by raising: :func:`main` prints
one line to stderr and exits 2 (``--debug``, or ``GRIDWORKS_DEBUG=1``, shows the traceback instead).
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
    "users_cmd",     # gridworks users
    "handoff_cmd",   # gridworks handoff list|inbox|reply|release
    "bench_cmd",     # gridworks bench intents|engine|zk
    "engine_role_cmd",   # gridworks engine (the cluster's engine authority)
    "db_cmd",        # gridworks db upgrade|current|check|stamp|revision
    "campaign_cmd",  # gridworks campaign preview|run|pause|resume|status|report
    "templates_cmd",  # gridworks templates sync|list|show
    "instruments_cmd",   # gridworks instruments show|update
)


EXAMPLES = """examples:
  gridworks chat                                  talk to the bot in the terminal
  gridworks serve --insecure-dev                  local webhook server with development keys
  gridworks users create 919800000001 --cash 100000 --pin 4826
  gridworks portfolio --user 919800000001
  gridworks db upgrade                            bring the database schema to the current version
  gridworks --debug orders list --user 919800000001   (a failure shows its traceback)

Configuration comes from the environment (DATABASE_URL, REDIS_URL, WHATSAPP_*, GRIDWORKS_*); see README.
Exit codes: 0 done, 1 a negative answer (not found, invalid receipt), 2 an error (one line on stderr)."""


def build_parser() -> argparse.ArgumentParser:
    from bot.cli.common import HelpFormatter, parsers

    parser = argparse.ArgumentParser(prog="gridworks", description="GridWorks WhatsApp trading bot engine",
                                     epilog=EXAMPLES, formatter_class=HelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of a failure (also GRIDWORKS_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"bot.cli.{name}")
        except ModuleNotFoundError as exc:   # a group listed before its module landed is no command yet
            if exc.name != f"bot.cli.{name}":
                raise
            continue
        module.register(sub)
    for each in parsers(parser):
        each.formatter_class = HelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("GRIDWORKS_DEBUG", "") not in ("", "0")
    try:
        from bot.logging import configure_logging

        # Commands print their own results; logs (JSON on stderr) at GRIDWORKS_LOG_LEVEL, or warnings only,
        # until a long-running command configures them from its settings.
        configure_logging(None)
        result = args.func(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except BrokenPipeError:
        # The reader went away (``gridworks log head | head -3``): not an error worth a traceback. Point
        # stdout at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # noqa: BLE001 - the one place a failure is shown
        if debug:
            raise
        from bot.cli.common import error_line

        line, code = error_line(exc)
        print(f"gridworks {args.command}: {line}", file=sys.stderr, flush=True)
        return code
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
