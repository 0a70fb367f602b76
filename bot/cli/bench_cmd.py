"""``gridworks bench intents|engine|zk|cluster|e2e [--json]``: each area's benchmark prints its figures.

Benchmarks live beside the code they measure (``intents/bench.py``, ``engine/bench.py``,
``engine/zk/bench.py``; the running system as processes in ``bot/bench/cluster.py``, and against a
baseline server with round trips per turn in ``bot/bench/e2e.py``), each exposing
``add_arguments(parser)`` and ``run(args) -> dict``.
"""

from __future__ import annotations

import argparse
import importlib
import json

TARGETS = {"intents": "intents.bench", "engine": "engine.bench", "zk": "engine.zk.bench",
           "cluster": "bot.bench.cluster", "e2e": "bot.bench.e2e", "campaign": "bot.campaigns.bench"}


def register(sub) -> None:
    """Each target's own arguments are read only when that target runs: building them would import every
    benchmark (spaCy, SQLAlchemy, …) for any ``gridworks`` command, a second of every start."""
    parser = sub.add_parser("bench", help="run a benchmark and print its figures")
    targets = parser.add_subparsers(dest="target", metavar="TARGET")
    targets.required = True
    for name, module in TARGETS.items():
        p = targets.add_parser(name, help=f"benchmark {name} (gridworks bench {name} --help for its options)",
                               add_help=False, prefix_chars="+")   # every "-" argument is its own
        p.add_argument("options", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        p.set_defaults(func=_runner(name, module))


def target_parser(name: str, module: str) -> tuple[argparse.ArgumentParser, object]:
    """The full parser of one target (its module's ``add_arguments``) and the module."""
    from bot.cli.common import HelpFormatter

    mod = importlib.import_module(module)
    parser = argparse.ArgumentParser(prog=f"gridworks bench {name}", formatter_class=HelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add = getattr(mod, "add_arguments", None)
    if add:
        add(parser)
    return parser, mod


def _runner(name: str, module: str):
    def run(args: argparse.Namespace) -> int:
        parser, mod = target_parser(name, module)
        options = parser.parse_args(args.options)
        figures = mod.run(options)
        if options.json:
            print(json.dumps(figures, ensure_ascii=False))
        else:
            for key, value in figures.items():
                print(f"{key:40s} {value}")
        return 0

    return run
