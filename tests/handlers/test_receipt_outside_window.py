"""A PRO receipt for a fill pushed outside WhatsApp's 24-hour window: no free text and no file may be sent then,
so it is the ``gw_order_receipt`` utility template naming the receipt, and "verify receipt R-…" later returns
the receipt's file (which verifies). Real pipeline, engine and receipt service on SQLite."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from bot.cli.simulate_cmd import open_console
from config.settings import load_settings
from handlers.receipts import HELD_PARAMS, HELD_TEMPLATE

WA = "919800013401"


async def test_a_receipt_outside_the_window_is_a_template_and_its_file_comes_on_request(tmp_path: Path) -> None:
    settings = load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "state"),
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"})
    runtime, channel = await open_console(settings, str(tmp_path / "docs"))
    try:
        saturday = datetime.fromisoformat("2026-11-28T11:00:00+05:30")
        for kind, value in (("text", "hi"), ("button", "onb_lang:en"), ("button", "onb_consent:yes"),
                            ("text", "4826")):
            await channel.turn(WA, **{kind: value}, at=saturday)
        plans = (await channel.turn(WA, text="upgrade"))["replies"][-1]["rows"]
        trial = await channel.turn(WA, button=next(row["id"] for row in plans if "trial" in row["title"].lower()))
        assert "trial is on" in trial["replies"][0]["text"]
        await channel.turn(WA, text="buy 1 INFY at market")
        placed = await channel.turn(WA, text="yes")                  # Saturday: an after-market order
        assert placed["orders"][0]["is_amo"] is True

        await runtime.tick(datetime.fromisoformat("2026-11-30T10:00:00+05:30"))   # 47 h of silence
        pushed = [r for rs in channel.messenger.drain().values() for r in channel.render(rs)]
        assert pushed and all(r["type"] == "template" for r in pushed)             # nothing Meta would refuse
        held = [r for r in pushed if r["name"] == HELD_TEMPLATE]
        assert len(held) == 1 and len(held[0]["params"]) == len(HELD_PARAMS)
        receipt_id = held[0]["params"][0]
        assert receipt_id.startswith("R-") and held[0]["params"][1:] == ["BUY", "INFY"]

        asked = await channel.turn(WA, text=f"verify receipt {receipt_id}",
                                   at=datetime.fromisoformat("2026-11-30T18:00:00+05:30"))
        texts = [r for r in asked["replies"] if r["type"] == "text"]
        docs = [r for r in asked["replies"] if r["type"] == "document"]
        assert f"Receipt {receipt_id} is valid" in texts[0]["text"]
        assert len(docs) == 1 and docs[0]["filename"] == f"{receipt_id}.json"
        again = await channel.turn(WA, text="receipt file", document=(docs[0]["filename"],
                                                                        Path(docs[0]["path"]).read_bytes()))
        assert "is valid" in again["replies"][0]["text"]
        assert json.loads(Path(docs[0]["path"]).read_text())["receipt_id"] == receipt_id
    finally:
        await runtime.close()
