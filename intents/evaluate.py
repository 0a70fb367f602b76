"""Evaluation on held-out rows ``{"text","lang","intent","entities"}``: the quality bars of issue 3.

Figures: intent accuracy (overall and per language variant), per-intent precision/recall/F1, entity
exact-match of symbol, quantity, price and order_type on buy/sell rows, the confusion matrix, language
detection accuracy, and the false-trade rate — rows that are not trades but came out as buy/sell with
``clarify`` False, i.e. confident enough to start an order flow. Generalization figures (issue 14): price
recall and the symbol found on recognised price questions, greeting recall, and out-of-scope rows that
came out as another intent.

Two held-out sets: ``test.jsonl`` + ``oos_test.jsonl`` (written with the training phrases, same template
family) and ``general_test.jsonl`` (written afterwards and independently of the training phrases: other
registers, voice-typed and SMS spellings, code-mixing, brand names, companies outside the 50 curated ones,
out-of-scope traps; see ``intents/data/GENERAL_TEST.md``). Nothing in either is trained on.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Sequence

from intents.lexicon import DATA_DIR
from intents.types import INTENTS, TRADE_INTENTS

ENTITY_FIELDS = ("symbol", "quantity", "price", "order_type")


def default_eval_files(data_dir: Path = DATA_DIR) -> list[Path]:
    return sorted(data_dir.glob("*/test.jsonl")) + sorted(data_dir.glob("*/oos_test.jsonl"))


def general_eval_files(data_dir: Path = DATA_DIR) -> list[Path]:
    return sorted(data_dir.glob("*/general_test.jsonl"))


def eval_files(target: Path | None) -> list[Path]:
    if target is None:
        return default_eval_files()
    if target.is_dir():
        return sorted(target.rglob("*.jsonl"))
    return [target]


def load_rows(paths: Iterable[Path]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and isinstance(row.get("text"), str) and row.get("intent") in INTENTS:
                    row.setdefault("entities", {})
                    row["_source"] = f"{path.parent.name}/{path.name}:{n}"
                    rows.append(row)
    return rows


def _same(gold: Any, pred: Any) -> bool:
    if isinstance(gold, (int, float)) and isinstance(pred, (int, float)):
        return abs(float(gold) - float(pred)) < 1e-6
    return gold == pred


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": tp + fn}


def evaluate(pipeline: Any, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    results = pipeline.classify_many([r["text"] for r in rows])
    by_lang: dict[str, Counter[str]] = defaultdict(Counter)
    confusion: Counter[tuple[str, str]] = Counter()
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    errors: list[dict[str, Any]] = []
    entity_errors: list[dict[str, Any]] = []
    field_ok: Counter[str] = Counter()
    for row, res in zip(rows, results):
        lang = str(row.get("lang") or "?")
        gold, pred = row["intent"], res.intent
        stats = by_lang[lang]
        stats["rows"] += 1
        if gold == "price_quote":
            stats["price_rows"] += 1
            if pred == "price_quote":
                stats["price_hit"] += 1
                want_sym = (row.get("entities") or {}).get("symbol")
                if want_sym:
                    stats["price_sym_rows"] += 1
                    stats["price_sym_ok"] += res.entities.symbol == want_sym
        if gold == "greeting":
            stats["greeting_rows"] += 1
            stats["greeting_hit"] += pred == "greeting"
        if gold == "out_of_scope" and pred != "out_of_scope":
            stats["oos_other"] += 1
        confusion[(gold, pred)] += 1
        stats["lang_ok"] += res.lang == lang
        if gold == pred:
            stats["correct"] += 1
            tp[gold] += 1
        else:
            fp[pred] += 1
            fn[gold] += 1
            errors.append({"source": row["_source"], "text": row["text"], "gold": gold, "pred": pred,
                           "confidence": round(res.confidence, 3), "clarify": res.clarify})
        if gold not in TRADE_INTENTS:
            stats["non_trade"] += 1
            if pred in TRADE_INTENTS and not res.clarify:
                stats["false_trade"] += 1
                if gold == "out_of_scope":
                    stats["oos_false_trade"] += 1
            if gold == "out_of_scope":
                stats["oos"] += 1
            continue
        stats["trade_rows"] += 1
        got = res.entities.to_dict()
        want = row.get("entities") or {}
        ok = True
        for name in ENTITY_FIELDS:
            same = _same(want.get(name), got.get(name))
            field_ok[name] += same
            ok &= same
        stats["entity_exact"] += ok
        if not ok:
            entity_errors.append({"source": row["_source"], "text": row["text"], "gold": want,
                                  "pred": {k: got.get(k) for k in ENTITY_FIELDS}})
    total = Counter()
    for stats in by_lang.values():
        total.update(stats)
    labels = [i for i in INTENTS if any(k[0] == i or k[1] == i for k in confusion)]
    return {
        "rows": total["rows"],
        "accuracy": _ratio(total["correct"], total["rows"]),
        "entity_exact_match": _ratio(total["entity_exact"], total["trade_rows"]),
        "entity_field_accuracy": {k: _ratio(field_ok[k], total["trade_rows"]) for k in ENTITY_FIELDS},
        "false_trade_rate": _ratio(total["false_trade"], total["non_trade"]),
        "oos_rows": total["oos"],
        "oos_false_trades": total["oos_false_trade"],
        "oos_false_trade_rate": _ratio(total["oos_false_trade"], total["oos"]),
        "language_detection": _ratio(total["lang_ok"], total["rows"]),
        "price_recall": _ratio(total["price_hit"], total["price_rows"]),
        "price_symbol": _ratio(total["price_sym_ok"], total["price_sym_rows"]),
        "greeting_recall": _ratio(total["greeting_hit"], total["greeting_rows"]),
        "oos_to_other_rate": _ratio(total["oos_other"], total["oos"]),
        "per_language": {
            lang: {"rows": s["rows"], "accuracy": _ratio(s["correct"], s["rows"]),
                   "entity_exact_match": _ratio(s["entity_exact"], s["trade_rows"]), "trade_rows": s["trade_rows"],
                   "false_trades": s["false_trade"], "oos_rows": s["oos"],
                   "language_detection": _ratio(s["lang_ok"], s["rows"]),
                   "price_recall": _ratio(s["price_hit"], s["price_rows"]),
                   "price_symbol": _ratio(s["price_sym_ok"], s["price_sym_rows"]),
                   "greeting_recall": _ratio(s["greeting_hit"], s["greeting_rows"]),
                   "oos_to_other": s["oos_other"]}
            for lang, s in sorted(by_lang.items())},
        "per_intent": {i: _prf(tp[i], fp[i], fn[i]) for i in labels},
        "confusion": {"labels": labels, "matrix": [[confusion[(g, p)] for p in labels] for g in labels]},
        "errors": errors,
        "entity_errors": entity_errors,
    }


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None
