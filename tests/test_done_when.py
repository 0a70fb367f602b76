"""The issues' "Done when" checks, run exactly as a person runs them: the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def gridworks(args: list[str], *, stdin: str = "", state: Path, extra_env: dict | None = None,
              timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "GRIDWORKS_CLOCK")}
    env.update(GRIDWORKS_STATE_DIR=str(state), DATABASE_URL=f"sqlite:///{state / 'gw.db'}")
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, env=env, capture_output=True,
                          text=True, timeout=timeout)


def traces(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def all_text(trace: dict) -> str:
    return "\n".join(r.get("text") or "" for r in trace["replies"])


def test_foundation_greeting_then_quote(tmp_path: Path):
    stdin = ('{"from":"919800000001","text":"hi"}\n'
             '{"from":"919800000001","text":"price of TCS"}\n')
    first, second = traces(gridworks(["simulate", "--jsonl"], stdin=stdin, state=tmp_path,
                                     extra_env={"GRIDWORKS_CLOCK": "2026-11-23T10:00:00+05:30"}))
    assert first["intent"] == "greeting" and first["replies"]
    assert second["intent"] == "price_quote" and second["entities"]["symbol"] == "TCS"
    quote = all_text(second)
    assert "TCS" in quote and "₹" in quote, quote


def turns(*items: dict) -> str:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def test_engine_buy_fills_and_portfolio_shows_holding_cash_and_charges(tmp_path: Path):
    user = "919800000002"
    stdin = turns({"from": user, "text": "buy 10 TCS at market", "at": "2026-11-23T10:00:00+05:30"},
                  {"from": user, "button": "onb_lang:en"}, {"from": user, "button": "onb_consent:yes"},
                  {"from": user, "text": "4826"}, {"from": user, "text": "yes"})
    lines = traces(gridworks(["simulate", "--jsonl"], stdin=stdin, state=tmp_path))
    order = lines[-1]["orders"][0]
    assert order["symbol"] == "TCS" and order["status"] == "COMPLETE" and order["filled_quantity"] == 10
    assert 3000 < order["average_price"] < 3300
    portfolio = gridworks(["portfolio", "--user", user], state=tmp_path)
    assert portfolio.returncode == 0, portfolio.stderr
    assert "TCS" in portfolio.stdout and "10" in portfolio.stdout
    assert "charges" in portfolio.stdout.lower() and "₹" in portfolio.stdout


def test_pro_receipt_verifies_standalone_and_any_flipped_byte_is_rejected(tmp_path: Path):
    user = "919800000044"
    created = gridworks(["users", "create", user, "--name", "Meera", "--lang", "en", "--tier", "pro",
                         "--pin", "4826", "--cash", "200000"], state=tmp_path)
    assert created.returncode == 0, created.stderr + created.stdout
    stdin = turns({"from": user, "text": "buy 5 TCS at market", "at": "2026-11-23T10:00:00+05:30"},
                  {"from": user, "text": "4826"}, {"from": user, "text": "yes"})
    lines = traces(gridworks(["simulate", "--jsonl", "--documents", str(tmp_path / "docs")], stdin=stdin,
                             state=tmp_path))
    docs = [r for line in lines for r in line["replies"] if r["type"] == "document"]
    receipt = next(d for d in docs if d["filename"].startswith("R-") and "opening" not in d["filename"])
    path = Path(receipt["path"])
    ok = gridworks(["receipt", "verify", str(path)], state=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("OK"), ok.stdout + ok.stderr
    document = json.loads(path.read_text())
    canonical = document.get("receipt") or document.get("canonical") or document.get("bytes")
    assert canonical, f"the receipt document carries its canonical bytes: {sorted(document)}"
    raw = path.read_bytes()
    flipped_checks = set()
    for position in range(0, len(raw), max(1, len(raw) // 24)):
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        bad = tmp_path / "tampered.json"
        bad.write_bytes(bytes(tampered))
        result = gridworks(["receipt", "verify", str(bad)], state=tmp_path)
        assert result.returncode == 1, f"byte {position} flipped was accepted: {result.stdout}"
        assert "check=" in result.stdout, result.stdout
        flipped_checks.add(result.stdout.split("check=")[1].split()[0])
    assert flipped_checks, "each rejection names the failing check"


def test_hindi_journey_in_one_chat_session(tmp_path: Path):
    """Onboard, set a PIN, ask a price, buy with confirmation, see the portfolio, set an alert — typed into
    `gridworks chat` exactly as a person would (numbers pick buttons and list rows)."""
    typed = "\n".join([
        "/at 2026-11-23T10:00:00+05:30", "नमस्ते", "2", "हाँ", "482611", "TCS का भाव क्या है",
        "10 TCS खरीदो", "1", "1", "मेरा पोर्टफोलियो दिखाओ", "TCS 3500 के पार जाए तो बताना", "/quit"]) + "\n"
    done = gridworks(["chat", "--user", "919800000077", "--name", "Asha"], stdin=typed, state=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for expected in ("GridWorks में आपका स्वागत है", "ट्रेडिंग PIN सेट हो गया", "खरीद ऑर्डर की पुष्टि करें",
                     "हो गया!", "TCS · 10 शेयर", "₹3,500.00"):
        assert expected in out, f"{expected!r} missing from the chat transcript:\n{out[-3000:]}"
    assert "482611" not in out, "the PIN is never echoed"


def test_in_chat_a_number_after_a_reply_without_choices_is_text_not_an_old_button(tmp_path: Path):
    """Issue 12: after the consent card (I agree / No thanks) and replies without buttons, "2" answering "How many
    shares?" is a quantity — it used to tap the consent card's "No thanks"."""
    typed = "\n".join(["/at 2026-11-23T10:00:00+05:30", "hello", "1", "yes", "482611", "buy TCS", "2",
                       "/quit"]) + "\n"
    done = gridworks(["chat", "--user", "919800000078"], stdin=typed, state=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "How many shares of TCS" in done.stdout
    assert "BUY 2 TCS: at the market price, or at a price you choose?" in done.stdout, done.stdout[-2000:]
