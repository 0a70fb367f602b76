"""The full NSE universe in the instrument master and the simulated market (issue 14)."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

from bot.cli import main
from engine.clock import IST
from engine.instruments import DATA_DIR, read_master


def test_every_nse_listing_is_an_instrument_and_the_curated_fifty_keep_their_prices() -> None:
    master = read_master()
    assert len(master.tradable()) == 2406 and master.as_of == date(2026, 8, 14)
    assert master.get("RELIANCE").ref_price_paise == 141050          # curated, as the conversations expect
    eternal, mrf = master.get("ETERNAL"), master.get("MRF")
    assert eternal.sector == "Consumer" and eternal.industry == "Consumer Services" and eternal.band_pct == 10
    assert mrf.sector == "Automobile" and mrf.lot_size == 1
    be = next(i for i in master.tradable() if i.series == "BE")
    bz = next(i for i in master.tradable() if i.series == "BZ")
    assert (be.band_pct, bz.band_pct) == (5, 2)
    assert master.get("TMPV").symbol == "TATAMOTORS"                  # NSE's newer symbol for a curated one
    curated = (DATA_DIR / "instruments.csv").read_text(encoding="utf-8")
    generated = [i for i in master.tradable() if f"\n{i.symbol}," not in curated]
    assert len(generated) > 2300
    assert all(i.ref_price_paise % i.tick_for(i.ref_price_paise) == 0 for i in generated)


def test_the_simulated_market_prices_any_listing_deterministically() -> None:
    from engine.factory import build_market

    master = read_master()
    at = datetime(2026, 11, 23, 11, 30, tzinfo=IST)
    one, two = build_market(), build_market()
    for symbol in ("ETERNAL", "MRF", "TATAPOWER", "SHANTI-RE"):
        quote = one.quote(symbol, at)
        assert quote is not None and quote.ltp_paise == two.ltp(symbol, at)
        assert quote.lower_circuit_paise <= quote.ltp_paise <= quote.upper_circuit_paise
    assert one.ltp("RELIANCE", at) == two.ltp("RELIANCE", at)
    history = one.closes("MRF", date(2026, 10, 1), date(2026, 11, 20))
    assert len(history) > 30 and history == two.closes("MRF", date(2026, 10, 1), date(2026, 11, 20))
    assert history[-1] == (date(2026, 11, 20), master.get("MRF").ref_price_paise)   # the reference close
    assert len({price for _, price in history}) > 10


def test_instruments_update_stores_a_newer_nse_file_and_refuses_a_wrong_one(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    newer = tmp_path / "EQUITY_L.csv"
    lines = (DATA_DIR / "nse" / "EQUITY_L_2026-08-14.csv").read_text(encoding="utf-8").splitlines()
    lines.append("NEWCO,New Company Limited,EQ,02-SEP-2026,10,1,INE000Z01019,10")
    newer.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["instruments", "update", str(newer), "--data-dir", str(data)]) == 0
    assert "1 added" in capsys.readouterr().out
    master = read_master(data)
    assert master.as_of == date(2026, 9, 2) and master.get("NEWCO").name == "New Company Limited"
    wrong = tmp_path / "nifty.csv"
    wrong.write_text("Company Name,Industry,Symbol,Series,ISIN Code\n", encoding="utf-8")
    assert main(["instruments", "update", str(wrong), "--data-dir", str(data)]) == 2
    assert "not NSE's EQUITY_L.csv" in capsys.readouterr().err
