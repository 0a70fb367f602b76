"""The inbound audit trail: every instruction is stored before it is acted on, PINs never are."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from bot.cli.simulate_cmd import open_console
from bot.stores.sql import messages
from config.settings import load_settings

AT = datetime.fromisoformat("2026-11-23T10:00:00+05:30")


async def test_orders_link_to_stored_instructions_and_pins_are_withheld(tmp_path: Path):
    settings = load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "s"),
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"})
    runtime, channel = await open_console(settings, str(tmp_path / "docs"))
    user = "919800000031"
    try:
        await channel.turn(user, text="buy 10 TCS at market", at=AT)
        await channel.turn(user, button="onb_lang:en")
        setup = await channel.turn(user, button="onb_consent:yes")
        assert setup["awaiting"] == "pin_setup"
        after_pin = await channel.turn(user, text="4826")
        assert "4826" not in str(after_pin)
        done = await channel.turn(user, text="yes")
        assert done["orders"] and done["orders"][0]["status"] == "COMPLETE"
        async with runtime.db.connect() as conn:
            rows = (await conn.execute(select(messages).where(messages.c.direction == "in")
                                       .order_by(messages.c.id))).all()
        bodies = [r.body for r in rows]
        assert "4826" not in " ".join(b or "" for b in bodies)
        assert "buy 10 TCS at market" in bodies and "yes" in bodies
        order = await runtime.engine.get_order(user, done["orders"][0]["id"])
        assert order.source_message_id in {r.wamid for r in rows}, "the order links to a stored instruction"
    finally:
        await runtime.close()
