"""Engine texts in every language, the contract-note rendering, the operator CLI and the benchmark."""

import argparse
import json
from datetime import date

from engine.api import Side
from handlers.portfolio import render_contract_note
from engine.rejections import CODES
from locales.catalog import LANGUAGES, load_catalog, placeholders
from tests.engine.conftest import req


def test_every_rejection_code_has_a_text_with_its_placeholders_in_every_language():
    catalog = load_catalog()
    for lang in LANGUAGES:
        for code, params in CODES.items():
            key = f"engine.reject.{code}"
            assert catalog.has(lang, key), (lang, key)
            assert placeholders(catalog.raw(lang, key)) == set(params), (lang, key)
        assert catalog.has(lang, "engine.note.simulated")


async def test_contract_note_renders_in_hindi_with_simulated_label(engine):
    r = await engine.place(req("TCS", Side.BUY, 2, account="919800000005"))
    note = await engine.contract_note("919800000005", date(2026, 11, 23))
    text = render_contract_note(note, load_catalog().translator("hi"))     # the chat rendering (handlers)
    assert "सिम्युलेटेड" in text and "TCS" in text and "INE467B01029" in text
    assert r.trades[0].trade_id in text


def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("GRIDWORKS_CLOCK", "2026-11-23T10:00:00+05:30")


def test_cli_market_quote(monkeypatch, tmp_path, capsys):
    from bot.cli import main

    _env(monkeypatch, tmp_path)
    assert main(["market", "quote", "TCS", "--json"]) == 0
    q = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert q["symbol"] == "TCS" and q["market_open"] and q["bid_paise"] < q["ask_paise"]
    assert main(["market", "quote", "NIFTY", "50"]) == 0
    assert "NIFTY 50" in capsys.readouterr().out
    assert main(["market", "quote", "NOPE"]) == 1


async def test_cli_orders_and_portfolio_read_the_engine_database(monkeypatch, tmp_path, capsys):
    import asyncio

    from bot.cli import main
    from config.settings import load_settings
    from engine.clock import FixedClock
    from engine.db import make_engine
    from engine.factory import open_engine

    _env(monkeypatch, tmp_path)
    settings = load_settings()
    db = make_engine(settings.storage.database_url)
    e = await open_engine(db=db, clock=FixedClock(settings.clock_start), config=settings.product)
    placed = await e.place(req("INFY", Side.BUY, 4, account="919800000002"))
    await e.close()
    await db.dispose()

    def cli(*argv):
        assert main(list(argv)) == 0
        return capsys.readouterr().out

    out = await asyncio.to_thread(cli, "orders", "list", "--user", "919800000002")
    assert placed.order.order_id in out and "COMPLETE" in out
    data = json.loads((await asyncio.to_thread(cli, "portfolio", "--user", "919800000002", "--json"))
                      .strip().splitlines()[-1])
    assert data["holdings"][0]["symbol"] == "INFY" and data["holdings"][0]["t1_quantity"] == 4
    assert data["funds"]["charges_paid_paise"] == placed.order.charges.total
    text = await asyncio.to_thread(cli, "portfolio", "--user", "919800000002")
    assert "INFY" in text and "charges paid" in text


def test_bench_quick_reports_figures(tmp_path):
    from engine import bench

    args = argparse.Namespace(quick=True, orders=5000, durable=40, concurrency=16, db=str(tmp_path / "b"))
    figures = bench.run(args)
    assert figures["matching_orders_per_s"] > 0 and figures["matching_fills"] > 0
    for key in ("single", "group"):
        assert figures[f"durable_{key}_orders_per_s"] > 0
        assert figures[f"durable_{key}_p99_ms"] >= figures[f"durable_{key}_p50_ms"] > 0
        assert figures[f"durable_{key}_rows"]["eng_orders"] == (40 if key == "single" else 400)
    for key in ("group_proc", "batch", "batch_proc"):    # per-order place and place_many, writer thread/process
        assert figures[f"durable_{key}_orders_per_s"] > 0
        assert figures[f"durable_{key}_rows"]["eng_orders"] == 400
        assert figures[f"durable_{key}_loop_cpu_us_per_order"] <= figures[f"durable_{key}_cpu_us_per_order"]
    assert figures["durable_batch_proc_writer_process_cpu_us_per_order"] > 0
    assert figures["durable_group_commit_best_orders_per_s"] == max(
        figures[f"durable_{k}_orders_per_s"] for k in ("group", "group_proc", "batch", "batch_proc"))


def test_cli_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """``gridworks market quote TCS | head -1``: the reader leaves early; no traceback on stderr."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, GRIDWORKS_STATE_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'gw.db'}",
               GRIDWORKS_CLOCK="2026-11-23T10:00:00+05:30")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "market", "quote", "TCS"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()                      # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
