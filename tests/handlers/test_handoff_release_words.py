"""The release message tells the user what to say to reach a person again ("talk to a person"); in every
language those very words must reach a person (the real intent model, through the whole pipeline)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from bot.cli.simulate_cmd import open_console
from config.settings import load_settings
from locales.catalog import LANGUAGES, load_catalog

_QUOTED = re.compile(r'["“]([^"”]+)["”]')


async def test_the_words_the_release_message_suggests_hand_the_user_to_a_person(tmp_path: Path) -> None:
    settings = load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "state"),
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"})
    runtime, channel = await open_console(settings, str(tmp_path / "docs"))
    catalog = load_catalog()
    missed = {}
    try:
        for i, lang in enumerate(LANGUAGES):
            words = _QUOTED.search(catalog.raw(lang, "handoff.released"))
            assert words, f"{lang}: handoff.released quotes no words to say"
            user = f"9198000135{i:02d}"
            for kind, value in (("text", "hi"), ("button", f"onb_lang:{lang}"), ("button", "onb_consent:yes"),
                                ("text", "4826")):
                await channel.turn(user, **{kind: value}, at=datetime.fromisoformat("2026-11-23T10:00:00+05:30"))
            trace = await channel.turn(user, text=words.group(1))
            if trace["intent"] != "human_handoff":
                missed[lang] = (words.group(1), trace["intent"])
    finally:
        await runtime.close()
    assert missed == {}
