"""``gridworks receipt show`` and ``gridworks log head|prove|consistency`` against a real SQLite state."""

import asyncio
import json
from pathlib import Path

from bot.cli import main as cli_main
from config.settings import load_settings
from engine.api import Trade
from engine.clock import SystemClock
from engine.db import make_engine
from engine.zk import open_receipts
from tests.zk.test_service import _order


def _issue(state: Path, clock) -> str:
    async def go() -> str:
        settings = load_settings()
        db = make_engine(settings.storage.database_url)
        service = await open_receipts(db=db, secrets=settings.secrets, clock=SystemClock())
        try:
            order = _order(clock)
            await service.log_order(order, pseudonym="p")
            issued = await service.issue_fill(order, Trade("T-1", order.order_id, "acct", order.symbol, order.side, 3,
                                                           order.price_paise, clock.now()), pseudonym="p")
            return issued.receipt_id
        finally:
            await service.close()
            await db.dispose()
    return asyncio.run(go())


def _out(capsys) -> str:
    return capsys.readouterr().out


def test_log_and_show_commands(tmp_path: Path, monkeypatch, capsys, clock):
    monkeypatch.setenv("GRIDWORKS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'gw.db'}")
    assert cli_main(["log", "head"]) == 2                         # no keys yet: a query never mints one
    assert list(tmp_path.glob("*.hex")) == []
    receipt_id = _issue(tmp_path, clock)
    capsys.readouterr()
    assert cli_main(["log", "head"]) == 0
    head = json.loads(_out(capsys))
    assert head["size"] == 2 and len(head["public_key"]) == 64
    assert cli_main(["log", "prove", receipt_id]) == 0
    assert json.loads(_out(capsys))["verified"] is True
    assert cli_main(["log", "consistency", "1"]) == 0
    assert json.loads(_out(capsys))["verified"] is True
    assert cli_main(["log", "consistency", "9"]) == 1
    capsys.readouterr()
    assert cli_main(["receipt", "show", receipt_id]) == 0
    doc = json.loads(_out(capsys))
    assert doc["receipt_id"] == receipt_id
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    keyfile = tmp_path / "pub.hex"
    keyfile.write_text(head["public_key"])
    capsys.readouterr()
    assert cli_main(["receipt", "verify", str(path), "--pubkey", str(keyfile)]) == 0
    other = "02" + "00" * 31
    assert cli_main(["receipt", "verify", str(path), "--pubkey", other]) == 1
    assert "check=key" in _out(capsys)
    assert cli_main(["receipt", "show", "R-missing"]) == 1
