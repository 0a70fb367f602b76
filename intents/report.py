"""HTML report of an evaluation, with the confusion matrix drawn as a PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any


def confusion_png(figures: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = figures["confusion"]["labels"]
    matrix = np.array(figures["confusion"]["matrix"], dtype=float)
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.55 * len(labels), 1 + 0.5 * len(labels)), dpi=110)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title("Intent confusion matrix")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(figures: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    confusion_png(figures, out_dir / "confusion.png")
    summary = [[k, figures[k]] for k in ("rows", "accuracy", "entity_exact_match", "false_trade_rate", "oos_rows",
                                          "oos_false_trades", "language_detection")]
    langs = [[lang, s["rows"], s["accuracy"], s["entity_exact_match"], s["trade_rows"], s["false_trades"],
              s["oos_rows"], s["language_detection"]] for lang, s in figures["per_language"].items()]
    intents = [[i, s["precision"], s["recall"], s["f1"], s["support"]] for i, s in figures["per_intent"].items()]
    errors = [[e["source"], e["text"], e["gold"], e["pred"], e["confidence"], e["clarify"]]
              for e in figures["errors"][:300]]
    ent = [[e["source"], e["text"], e["gold"], e["pred"]] for e in figures["entity_errors"][:300]]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>GridWorks intent evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}</style></head><body>
<h1>Intent evaluation</h1>{_table(["figure", "value"], summary)}
<h2>Per language</h2>{_table(["lang", "rows", "accuracy", "entity exact", "trade rows", "false trades", "oos rows",
                                "lang detection"], langs)}
<h2>Per intent</h2>{_table(["intent", "precision", "recall", "f1", "support"], intents)}
<h2>Confusion matrix</h2><img src="confusion.png" alt="confusion matrix">
<h2>Intent errors</h2>{_table(["row", "text", "gold", "predicted", "confidence", "clarify"], errors)}
<h2>Entity errors (buy/sell rows)</h2>{_table(["row", "text", "gold", "predicted"], ent)}
</body></html>"""
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
