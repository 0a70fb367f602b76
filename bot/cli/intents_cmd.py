"""``gridworks intents classify|eval|train``: the intent pipeline from the command line.

spaCy and the model load inside the command functions, so ``gridworks --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub) -> None:
    parser = sub.add_parser("intents", help="classify messages, evaluate or retrain the intent pipeline")
    cmds = parser.add_subparsers(dest="intents_command", metavar="SUBCOMMAND")
    cmds.required = True

    p = cmds.add_parser("classify", help='classify "TEXT", or JSON lines from stdin with --jsonl')
    p.add_argument("text", nargs="?", help="the message")
    p.add_argument("--lang", help="the user's language code (a hint for language detection)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--jsonl", action="store_true", help='read {"text","lang"?} lines on stdin, write one line each')
    p.set_defaults(func=_classify)

    p = cmds.add_parser("eval", help="evaluate on held-out JSONL rows (default: intents/data/*/test + oos_test)")
    p.add_argument("target", nargs="?", type=Path, help="a .jsonl file or a directory of them")
    p.add_argument("--report", type=Path, help="write an HTML report (with the confusion matrix) into DIR")
    p.add_argument("--json", action="store_true", help="print all figures as one JSON object")
    p.add_argument("--errors", type=int, default=0, help="also list the first N misclassified rows")
    p.set_defaults(func=_eval)

    p = cmds.add_parser("train", help="rebuild the model deterministically into its cache directory")
    p.add_argument("--model-dir", type=Path, help="where to write it (default: the hashed cache directory)")
    p.set_defaults(func=_train)


def _quiet_logs() -> None:
    from bot.logging import configure_logging

    configure_logging("WARNING", stream=sys.__stderr__)  # never stdout: --jsonl output must stay clean


def _load():
    from intents.pipeline import IntentPipeline

    _quiet_logs()
    return IntentPipeline.load()


def _classify(args: argparse.Namespace) -> int:
    if not args.jsonl and args.text is None:
        print("gridworks intents classify: give TEXT or --jsonl", file=sys.stderr)
        return 2
    pipeline = _load()
    if args.jsonl:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
                text = str(row["text"])
            except (ValueError, KeyError, TypeError):
                print(json.dumps({"error": "bad row"}), flush=True)
                continue
            result = pipeline.classify(text, lang_hint=row.get("lang") or args.lang)
            print(json.dumps(result.to_trace(), ensure_ascii=False), flush=True)
        return 0
    result = pipeline.classify(args.text, lang_hint=args.lang)
    if args.json:
        out = result.to_trace() | {"clarify": result.clarify, "source": result.source,
                                   "alternatives": [list(a) for a in result.alternatives]}
        print(json.dumps(out, ensure_ascii=False))
    else:
        flag = " (clarify)" if result.clarify else ""
        print(f"{result.intent}{flag}  confidence={result.confidence:.3f}  lang={result.lang}")
        for key, value in result.entities.to_dict().items():
            print(f"  {key}: {value}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from intents.evaluate import eval_files, evaluate, general_eval_files, load_rows

    pipeline = _load()
    files = eval_files(args.target)
    rows = load_rows(files)
    if not rows:
        print("no evaluation rows found", file=sys.stderr)
        return 2
    figures = evaluate(pipeline, rows)
    general_rows = load_rows(general_eval_files()) if args.target is None else []
    general = evaluate(pipeline, general_rows) if general_rows else None
    if args.report:
        from intents.report import write_report

        path = write_report(figures, args.report)
        print(f"report: {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(figures | ({"general": general} if general else {}), ensure_ascii=False))
        return 0
    if general:
        _print_beside(figures, general)
    print(f"rows {figures['rows']}  accuracy {figures['accuracy']}  entity exact-match {figures['entity_exact_match']}"
          f"  false-trade rate {figures['false_trade_rate']}  (out-of-scope: {figures['oos_false_trades']} of "
          f"{figures['oos_rows']})  language detection {figures['language_detection']}")
    print(f"{'lang':8s} {'rows':>5s} {'accuracy':>9s} {'entities':>9s} {'trades':>7s} {'false':>6s} {'langid':>7s}")
    for lang, s in figures["per_language"].items():
        print(f"{lang:8s} {s['rows']:5d} {_f(s['accuracy']):>9s} {_f(s['entity_exact_match']):>9s} "
              f"{s['trade_rows']:7d} {s['false_trades']:6d} {_f(s['language_detection']):>7s}")
    print(f"{'intent':16s} {'prec':>6s} {'recall':>6s} {'f1':>6s} {'n':>5s}")
    for intent, s in figures["per_intent"].items():
        print(f"{intent:16s} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} {s['support']:5d}")
    for e in figures["errors"][:args.errors]:
        print(f"  {e['source']}: {e['text']!r} gold={e['gold']} pred={e['pred']} conf={e['confidence']}")
    return 0


def _print_beside(old: dict, new: dict) -> None:
    """The written-with-training held-out set beside the independent one (intents/data/GENERAL_TEST.md)."""
    print(f"held-out (test + oos_test): {old['rows']} rows, accuracy {_f(old['accuracy'])}, false trades "
          f"{_f(old['false_trade_rate'])}  |  independent (general_test): {new['rows']} rows, accuracy "
          f"{_f(new['accuracy'])}, price recall {_f(new['price_recall'])}, symbol on recognised price "
          f"{_f(new['price_symbol'])}, greeting recall {_f(new['greeting_recall'])}, out-of-scope → other "
          f"{_f(new['oos_to_other_rate'])}, false trades {_f(new['false_trade_rate'])}")
    print(f"{'lang':8s} {'old acc':>8s} | {'new rows':>8s} {'new acc':>8s} {'price':>6s} {'symbol':>7s} "
          f"{'greet':>6s} {'oos→x':>6s} {'false':>6s}")
    for lang in sorted(set(old["per_language"]) | set(new["per_language"])):
        o, n = old["per_language"].get(lang, {}), new["per_language"].get(lang)
        if n is None:
            print(f"{lang:8s} {_f(o.get('accuracy')):>8s} |")
            continue
        print(f"{lang:8s} {_f(o.get('accuracy')):>8s} | {n['rows']:8d} {_f(n['accuracy']):>8s} "
              f"{_f(n['price_recall']):>6s} {_f(n['price_symbol']):>7s} {_f(n['greeting_recall']):>6s} "
              f"{n['oos_to_other']:6d} {n['false_trades']:6d}")
    for e in new["errors"]:
        print(f"  general miss {e['source']}: {e['text']!r} gold={e['gold']} pred={e['pred']}")
    print()


def _f(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _train(args: argparse.Namespace) -> int:
    from intents import model as M
    from intents.training import train

    _quiet_logs()
    target = args.model_dir or M.default_model_dir(M.data_hash())
    print(f"training the intent model into {target} (asked for by `gridworks intents train`)", file=sys.stderr)
    meta = train(target, progress=True)
    print(f"trained {meta['examples']} examples in {meta['train_seconds']} s → {target}")
    return 0
