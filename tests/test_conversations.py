"""Every scripted conversation in tests/conversations/ runs through the real pipeline: intent model, order
engine, ZK receipts and stores, on a fresh SQLite database — the same runner as ``gridworks simulate``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.cli.simulate_cmd import open_console
from bot.script_runner import format_report, run_script
from config.settings import load_settings
from engine.clock import FixedClock

SCRIPTS = sorted((Path(__file__).parent / "conversations").glob("**/*.yml"))


async def _run(script: Path, tmp_path: Path):
    """One script on a fresh SQLite database and state directory, as ``gridworks simulate FILE.yml`` — but on
    a clock that moves only where the script says (``at:``): the simulated market is continuous in time, so
    the same script must see the same prices however slowly a loaded machine runs it."""
    settings = load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "state"),
                              "DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"})
    start = datetime(2026, 11, 23, 10, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    runtime, channel = await open_console(settings, str(tmp_path / "docs"), clock=FixedClock(start))
    try:
        return await run_script(script, channel)
    finally:
        await runtime.close()


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
async def test_conversation_script(script: Path, tmp_path: Path) -> None:
    report = await _run(script, tmp_path)
    assert report.steps > 0, f"{script.name} ran no step"
    assert report.ok, format_report(report)


async def test_a_script_that_taps_a_missing_option_fails_with_a_reason(tmp_path: Path) -> None:
    """A broken script is a failed script with a readable reason, not a traceback that stops the run."""
    script = tmp_path / "broken.yml"
    script.write_text('name: broken\nat: "2026-11-23T10:00:00+05:30"\nsteps:\n  - say: hi\n  - tap: 42\n'
                      '  - send_file: "$last_document"\n', encoding="utf-8")
    report = await _run(script, tmp_path)
    assert not report.ok and report.steps == 1
    assert report.failures == ["step 2: tap 42: the last reply has 10 options"]
