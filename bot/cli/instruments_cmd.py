"""``gridworks instruments show|update``: the instrument master and loading a newer NSE list of equities.

``update FILE`` checks that FILE is NSE's EQUITY_L.csv, stores an unedited copy as
``engine/data/nse/EQUITY_L_<newest listing date>.csv`` beside the older ones (the master and the intent
lexicon read the newest) and prints what changed. The intent model is keyed by a hash of the instrument
files, so the next classifier load retrains with the new names.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def register(sub) -> None:
    parser = sub.add_parser("instruments", help="the instrument master (all NSE listings) and its NSE source file")
    cmds = parser.add_subparsers(dest="instruments_command", metavar="SUBCOMMAND")
    cmds.required = True
    p = cmds.add_parser("show", help="how many instruments, from which NSE file, by series and sector")
    p.add_argument("--data-dir", type=Path, help="the instrument data directory (default: engine/data)")
    p.set_defaults(func=_show)
    p = cmds.add_parser("update", help="load a newer NSE EQUITY_L.csv",
                        epilog="example:\n  gridworks instruments update ~/Downloads/EQUITY_L.csv")
    p.add_argument("file", type=Path, help="NSE's EQUITY_L.csv (nsearchives.nseindia.com/content/equities/)")
    p.add_argument("--data-dir", type=Path, help="the instrument data directory (default: engine/data)")
    p.add_argument("--dry-run", action="store_true", help="check and show the changes, store nothing")
    p.set_defaults(func=_update)


def _data_dir(args: argparse.Namespace) -> Path:
    from engine.instruments import DATA_DIR

    return args.data_dir or DATA_DIR


def _show(args: argparse.Namespace) -> int:
    from collections import Counter

    from engine.instruments import newest_equity_list, read_master

    data_dir = _data_dir(args)
    master = read_master(data_dir)
    source = newest_equity_list(data_dir)
    print(f"{len(master.by_symbol)} instruments ({len(master.tradable())} tradable, {len(master.indices())} indices)"
          f" from {source.name if source else 'instruments.csv only'}, newest listing {master.as_of or '-'}")
    print("series: " + ", ".join(f"{k} {v}" for k, v in Counter(i.series for i in master.tradable()).most_common()))
    print("sectors: " + ", ".join(f"{k} {v}" for k, v in Counter(i.sector for i in master.tradable()).most_common()))
    if master.aliases:
        print("renamed (NSE symbol → ours): " + ", ".join(f"{k} → {v}" for k, v in sorted(master.aliases.items())))
    return 0


def _update(args: argparse.Namespace) -> int:
    from engine.instruments import NSE_DIR_NAME, newest_equity_list, parse_nse_date, read_equity_list

    data_dir = _data_dir(args)
    try:
        rows = read_equity_list(args.file)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"gridworks instruments update: {exc}", file=sys.stderr)
        return 2
    dates = [d for d in (parse_nse_date(r["DATE OF LISTING"]) for r in rows) if d]
    if not dates:
        print("gridworks instruments update: no DATE OF LISTING could be read", file=sys.stderr)
        return 2
    as_of = max(dates)
    current = newest_equity_list(data_dir)
    old = {r["SYMBOL"] for r in read_equity_list(current)} if current else set()
    new = {r["SYMBOL"] for r in rows}
    target = data_dir / NSE_DIR_NAME / f"EQUITY_L_{as_of.isoformat()}.csv"
    if current is not None and target.name < current.name:
        print(f"gridworks instruments update: {args.file} lists up to {as_of}, older than the current "
              f"{current.name}; nothing stored", file=sys.stderr)
        return 1
    added, removed = sorted(new - old), sorted(old - new)
    print(f"{len(rows)} listings, newest {as_of}: {len(added)} added, {len(removed)} gone "
          f"(compared with {current.name if current else 'nothing'})")
    for label, syms in (("added", added), ("gone", removed)):
        if syms:
            print(f"  {label}: {', '.join(syms[:30])}{' …' if len(syms) > 30 else ''}")
    if args.dry_run:
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    if current is None or args.file.resolve() != target.resolve():
        shutil.copyfile(args.file, target)
    print(f"stored {target}; the master and the intent lexicon read it from the next start "
          f"(the intent model retrains once: its key includes this file)")
    return 0
