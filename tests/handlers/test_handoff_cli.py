"""``gridworks handoff inbox|reply|release`` as an agent works them: the waiting user's messages and waiting
time, the agent's reply delivered through the WhatsApp client (a local Graph API on 127.0.0.1, real pywa), and
the user told when the bot takes over again."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.stores.crypto import DataCipher
from bot.stores.sql import SqlAuditLog, SqlUserRepository
from config.settings import load_settings
from engine.db import make_engine
from handlers.handoff import flag
from handlers.messages import InboundMessage, MessageKind, Sender
from tests.support.graph_api import cli_env

WA = "919800000741"


pytestmark = pytest.mark.usefixtures("fresh_structlog")


@pytest.fixture
def env(tmp_path: Path, monkeypatch, graph) -> dict[str, str]:
    return cli_env(tmp_path, monkeypatch, graph, clock="2026-11-23T10:20:00+05:30")


async def _waiting_user(env: dict[str, str]) -> None:
    settings = load_settings(env)
    db = make_engine(settings.storage.database_url)
    try:
        cipher = DataCipher.from_secrets(settings.secrets)
        repo, audit = SqlUserRepository(db, cipher=cipher), SqlAuditLog(db, cipher=cipher)
        user = await repo.get(WA)
        await flag(repo, user, now=datetime.fromisoformat("2026-11-23T10:05:00+05:30"))
        for i, text in enumerate(("my sell order is stuck", "please call me back")):
            msg = InboundMessage(id=f"wamid.in{i}", sender=Sender(phone=WA), kind=MessageKind.TEXT, text=text,
                                 timestamp=datetime.fromisoformat(f"2026-11-23T10:1{i}:00+05:30"))
            await audit.record_inbound(msg, user_key=user.key, correlation_id=f"c{i}")
    finally:
        await db.dispose()


def test_an_agent_sees_the_inbox_replies_and_releases(env, graph, capsys) -> None:
    assert main(["users", "create", WA, "--name", "Ravi", "--lang", "hi"]) == 0
    asyncio.run(_waiting_user(env))
    capsys.readouterr()

    assert main(["handoff", "inbox", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["key"] for r in rows] == [WA]
    assert rows[0]["waiting_minutes"] >= 15
    assert [m["text"] for m in rows[0]["messages"]] == ["my sell order is stuck", "please call me back"]

    assert main(["handoff", "reply", WA, "Namaste Ravi, your order is safe."]) == 0
    sent = graph.messages
    assert len(sent) == 1 and sent[0]["to"] == WA
    assert sent[0]["text"]["body"] == "👤 GridWorks टीम: Namaste Ravi, your order is safe."

    assert main(["handoff", "release", WA]) == 0
    assert len(graph.messages) == 2 and "बॉट" in graph.messages[1]["text"]["body"]
    capsys.readouterr()
    assert main(["handoff", "reply", WA, "hello?"]) == 1           # released: the bot answers again
    assert "not handed off" in capsys.readouterr().err
