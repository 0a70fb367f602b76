"""A human handoff worked end to end, as an operator does it: a user asks the bot for a person and writes while
they wait (real pipeline, SQLite); ``gridworks handoff inbox`` shows them with their words and waiting time;
``gridworks handoff reply`` and ``release`` deliver through the WhatsApp channel (a local Graph API on
127.0.0.1, real pywa); after the release the bot answers the same user again."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.simulate_cmd import open_console
from config.settings import load_settings
from tests.support.graph_api import cli_env

WA = "919800013301"


pytestmark = pytest.mark.usefixtures("fresh_structlog")


@pytest.fixture
def env(tmp_path: Path, monkeypatch, graph) -> dict[str, str]:
    return cli_env(tmp_path, monkeypatch, graph, clock="2026-11-23T10:40:00+05:30")


def _turns(env: dict[str, str], tmp_path: Path, steps: list[tuple[str, str, str]]) -> list[dict]:
    """The user's side through the bot's own pipeline on the shared database: (at, kind, value) per turn."""
    async def run() -> list[dict]:
        runtime, channel = await open_console(load_settings(env), str(tmp_path / "docs"))
        try:
            out = []
            for at, kind, value in steps:
                when = datetime.fromisoformat(at)
                out.append(await channel.turn(WA, **{kind: value}, at=when))
            return out
        finally:
            await runtime.close()
    return asyncio.run(run())


def test_an_agent_works_a_handoff_the_bot_took(env, graph, tmp_path, capsys) -> None:
    traces = _turns(env, tmp_path, [
        ("2026-11-23T10:00:00+05:30", "text", "hi"),
        ("2026-11-23T10:00:10+05:30", "button", "onb_lang:en"),
        ("2026-11-23T10:00:20+05:30", "button", "onb_consent:yes"),
        ("2026-11-23T10:00:30+05:30", "text", "4826"),
        ("2026-11-23T10:05:00+05:30", "text", "talk to a human"),
        ("2026-11-23T10:10:00+05:30", "text", "my sell order of infosys is stuck"),
    ])
    told = " ".join(r.get("text") or "" for r in traces[4]["replies"])
    assert traces[4]["intent"] == "human_handoff" and "9:00–18:00 IST" in told      # when to expect an answer:
    assert "Our team is at work now" in told                                         # Monday 10:05, within hours
    assert traces[5]["status"] == "silenced" and traces[5]["replies"] == []
    capsys.readouterr()

    assert main(["handoff", "inbox", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["key"] for r in rows] == [WA]
    # 10:05 → 10:40 (the simulated clock also runs on with real time, so a second may take off a minute)
    assert rows[0]["language"] == "en" and rows[0]["waiting_minutes"] in (34, 35)
    assert "my sell order of infosys is stuck" in [m["text"] for m in rows[0]["messages"]]
    assert "4826" not in json.dumps(rows)                                          # the PIN is never shown

    assert main(["handoff", "inbox"]) == 0                                         # the human-readable form
    text = capsys.readouterr().out
    assert f"{WA} (" in text and re.search(r"waiting 3[45] min", text) and "my sell order of infosys is stuck" in text

    assert main(["handoff", "reply", WA, "Hello, I'm Meera from GridWorks. Your order is safe."]) == 0
    assert [m["to"] for m in graph.messages] == [WA]
    assert graph.messages[0]["text"]["body"] == "👤 GridWorks team: Hello, I'm Meera from GridWorks. Your order is safe."

    assert main(["handoff", "release", WA]) == 0
    assert len(graph.messages) == 2 and "handed you back to the bot" in graph.messages[1]["text"]["body"]
    capsys.readouterr()

    after = _turns(env, tmp_path, [("2026-11-23T10:45:00+05:30", "text", "price of TCS")])[0]
    assert after["status"] == "handled" and after["intent"] == "price_quote"
    assert any("TCS" in (r.get("text") or "") for r in after["replies"])
    assert main(["handoff", "inbox", "--json"]) == 0 and capsys.readouterr().out.strip() == ""


def test_an_empty_agent_reply_is_refused_and_nothing_is_sent(env, graph, tmp_path, capsys) -> None:
    _turns(env, tmp_path, [
        ("2026-11-23T10:00:00+05:30", "text", "hi"),
        ("2026-11-23T10:00:10+05:30", "button", "onb_lang:en"),
        ("2026-11-23T10:00:20+05:30", "button", "onb_consent:yes"),
        ("2026-11-23T10:00:30+05:30", "text", "4826"),
        ("2026-11-23T10:05:00+05:30", "text", "talk to a human"),
    ])
    capsys.readouterr()
    assert main(["handoff", "reply", WA, "   "]) == 1
    assert "empty" in capsys.readouterr().err and graph.messages == []
