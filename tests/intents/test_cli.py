"""``gridworks intents classify|eval`` in-process (the model comes from the session cache)."""

from __future__ import annotations

import io
import json
import sys

from bot.cli import main


def test_classify_json(pipeline, capsys):
    assert main(["intents", "classify", "reliance ke 10 share 2450 pe le lo", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["intent"] == "buy" and out["lang"] == "hi-Latn"
    assert out["entities"] == {"symbol": "RELIANCE", "quantity": 10, "price": 2450, "order_type": "LIMIT"}


def test_classify_jsonl(pipeline, capsys, monkeypatch):
    rows = [{"text": "hello"}, {"text": "TCS ka bhav kya hai", "lang": "hi"}, {"text": "buy 5 wipro"}]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(json.dumps(r) for r in rows) + "\n"))
    assert main(["intents", "classify", "--jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["intent"] for line in lines] == ["greeting", "price_quote", "buy"]
    assert all(set(line) == {"intent", "confidence", "lang", "entities"} for line in lines)
    assert lines[1]["entities"] == {"symbol": "TCS"}


def test_eval_file_and_report(pipeline, capsys, tmp_path):
    data = tmp_path / "mini.jsonl"
    rows = [
        {"text": "sell 10 infosys at 1500", "lang": "en", "intent": "sell",
         "entities": {"symbol": "INFY", "quantity": 10, "price": 1500, "order_type": "LIMIT"}},
        {"text": "order a pizza", "lang": "en", "intent": "out_of_scope", "entities": {}},
        {"text": "hi", "lang": "en", "intent": "greeting", "entities": {}},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert main(["intents", "eval", str(data), "--json", "--report", str(tmp_path / "rep")]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["rows"] == 3 and figures["accuracy"] == 1.0
    assert figures["entity_exact_match"] == 1.0 and figures["oos_false_trades"] == 0
    assert (tmp_path / "rep" / "index.html").exists() and (tmp_path / "rep" / "confusion.png").exists()
