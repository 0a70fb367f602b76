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
    parser = sub.add_parser("bench", help="run a benchmark and print its figures")
    targets = parser.add_subparsers(dest="target", metavar="TARGET")
    targets.required = True
    for name, module in TARGETS.items():
        p = targets.add_parser(name, help=f"benchmark {name}")
        p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        p.set_defaults(func=_runner(module))
        _add_module_arguments(module, p)


def _add_module_arguments(module: str, parser: argparse.ArgumentParser) -> None:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError:
        return
    add = getattr(mod, "add_arguments", None)
    if add:
        add(parser)


def _runner(module: str):
    def run(args: argparse.Namespace) -> int:
        figures = importlib.import_module(module).run(args)
        if args.json:
            print(json.dumps(figures, ensure_ascii=False))
        else:
            for key, value in figures.items():
                print(f"{key:40s} {value}")
        return 0

    return run
