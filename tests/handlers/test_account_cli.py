"""``gridworks users …`` and ``gridworks handoff …`` as an operator runs them (real database and engine)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.stores.crypto import DataCipher
from bot.stores.sql import SqlUserRepository
from config.settings import load_settings
from engine.db import make_engine
from handlers.handoff import flag
from handlers.onboarding import consented
from handlers.security import PIN_KEY, check_pin


pytestmark = pytest.mark.usefixtures("fresh_structlog")


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> dict[str, str]:
    values = {"GRIDWORKS_STATE_DIR": str(tmp_path / "state"), "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}",
              "GRIDWORKS_CLOCK": "2026-11-23T10:00:00+05:30"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def _json(out: str) -> dict:
    return json.loads(out[out.index("{"):])


async def _repo(env: dict[str, str]):
    settings = load_settings(env)
    db = make_engine(settings.storage.database_url)
    return db, SqlUserRepository(db, cipher=DataCipher.from_secrets(settings.secrets))


def test_create_provisions_a_ready_account_without_echoing_the_pin(env, capsys) -> None:
    assert main(["users", "create", "919800000701", "--name", "Asha", "--lang", "hi", "--tier", "pro",
                 "--pin", "4826", "--cash", "50000"]) == 0
    out = capsys.readouterr().out
    shown = _json(out)
    assert shown["tier"] == "PRO" and shown["language"] == "hi" and shown["onboarded"] and shown["pin_set"]
    assert shown["cash_paise"] == 50000_00
    assert "4826" not in out and "scrypt" not in out

    async def check() -> None:
        db, repo = await _repo(env)
        try:
            user = await repo.get("919800000701")
            assert user is not None and consented(user.profile)
            assert check_pin(user.profile[PIN_KEY], "4826") and not check_pin(user.profile[PIN_KEY], "1234")
            async with db.connect() as conn:
                raw = (await conn.exec_driver_sql("SELECT profile, name FROM users")).all()
            assert all("scrypt" not in str(row) and "Asha" not in str(row) for row in raw)  # PRO: sealed
        finally:
            await db.dispose()

    asyncio.run(check())
    assert main(["users", "set-tier", "919800000701", "lite"]) == 0
    assert _json(capsys.readouterr().out)["tier"] == "LITE"
    assert main(["users", "show", "919800000701"]) == 0
    assert _json(capsys.readouterr().out)["tier"] == "LITE"


def test_bad_input_is_refused_clearly(env, capsys) -> None:
    assert main(["users", "create", "919800000702", "--pin", "12"]) == 1
    assert "--pin" in capsys.readouterr().err
    for weak in ("1234", "0000", "987654", "0702"):      # a run, one digit repeated, the end of the number
        assert main(["users", "create", "919800000702", "--pin", weak]) == 1
        assert "--pin refused" in capsys.readouterr().err
    assert main(["users", "create", "919800000702", "--lang", "xx"]) == 1
    assert main(["users", "show", "919800000799"]) == 1
    assert "no user" in capsys.readouterr().err


def test_handoff_list_and_release(env, capsys) -> None:
    assert main(["users", "create", "919800000703", "--name", "Ravi"]) == 0
    capsys.readouterr()

    async def flag_it() -> None:
        db, repo = await _repo(env)
        try:
            user = await repo.get("919800000703")
            from datetime import datetime

            await flag(repo, user, now=datetime.fromisoformat("2026-11-23T10:05:00+05:30"))
        finally:
            await db.dispose()

    asyncio.run(flag_it())
    assert main(["handoff", "list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [row["key"] for row in listed] == ["919800000703"]
    assert main(["handoff", "release", "919800000703"]) == 0
    assert main(["handoff", "list"]) == 0
    assert capsys.readouterr().out.count("919800000703") == 1      # only the release line
    assert main(["handoff", "release", "919800000703"]) == 1
