"""The "buy 10 TCS" path tool (issue 12's closing note) measures the real pipeline: it runs as a script, and
its report names the files an order really passes through, with figures that add up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_buy_path_report_names_the_order_dialogue_and_the_engine(tmp_path: Path) -> None:
    out, raw = tmp_path / "path.md", tmp_path / "path.json"
    done = subprocess.run([sys.executable, str(ROOT / "bot/bench/buy_path.py"), "--out", str(out), "--json", str(raw),
                           "--variant", ""], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = out.read_text(encoding="utf-8")
    for file in ("handlers/trading/dialogue.py", "handlers/trading/confirm.py", "engine/core.py",
                 "handlers/notifications.py", "intents/pipeline.py"):
        assert f"`{file}`" in report, file
    assert "✅ Done! BUY 10 TCS" in report
    data = json.loads(raw.read_text(encoding="utf-8"))
    handle = data["handle"]
    assert handle["files"] >= 40 and handle["distinct_edges"] >= handle["files"] - 1
    assert handle["cross_file_calls"] >= handle["distinct_edges"]
