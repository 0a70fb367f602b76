"""The instrument master shipped with the project: symbols, ISINs, bands, reference prices, tick table.

It is data (``engine/data/*.csv``), read once per process. The intent pipeline reads the same master for
symbol recognition, so adding a row here makes a stock both tradable and recognisable.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping

DATA_DIR = Path(__file__).resolve().parent / "data"


def to_paise(text: str) -> int:
    """'1410.50' → 141050, exactly (no float rounding)."""
    return int((Decimal(text.strip()) * 100).to_integral_value())


@dataclass(frozen=True, slots=True)
class TickBand:
    """From ``min_price_paise`` upward the tick is ``tick_paise`` (NSE table, effective from a date)."""

    effective_from: date
    min_price_paise: int
    tick_paise: int


@dataclass(frozen=True, slots=True)
class TickTable:
    bands: tuple[TickBand, ...]

    def tick_for(self, price_paise: int, on: date | None = None) -> int:
        """The tick for a price. NSE sets it monthly from the last close; callers pass the reference price."""
        if on is None:
            return _latest_tick(self, price_paise)
        rows = [b for b in self.bands if b.effective_from <= on] or list(self.bands)
        latest = max(b.effective_from for b in rows)
        tick = rows[0].tick_paise
        for band in sorted((b for b in rows if b.effective_from == latest), key=lambda b: b.min_price_paise):
            if price_paise >= band.min_price_paise:
                tick = band.tick_paise
        return tick


def _latest_tick(table: TickTable, price_paise: int) -> int:
    bands = _LATEST.get(id(table))
    if bands is None:
        latest = max(b.effective_from for b in table.bands)
        bands = _LATEST[id(table)] = tuple(sorted(((b.min_price_paise, b.tick_paise) for b in table.bands
                                                   if b.effective_from == latest), reverse=True))
    for floor, tick in bands:
        if price_paise >= floor:
            return tick
    return bands[-1][1]


_LATEST: dict[int, tuple[tuple[int, int], ...]] = {}


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    name: str
    isin: str
    sector: str
    ref_price_paise: int          # the close on the market's reference date (config engine.market.ref_date)
    band_pct: int                 # price band around the previous close; 0 for indices
    lot_size: int
    is_index: bool
    ticks: TickTable = field(repr=False, compare=False, default=TickTable(()))
    constituents: Mapping[str, float] = field(default_factory=dict, repr=False, compare=False)

    def tick_for(self, price_paise: int) -> int:
        """Tick size in paise for a price level (1 paisa for indices)."""
        if self.is_index or not self.ticks.bands:
            return 1
        return self.ticks.tick_for(price_paise)


@dataclass(frozen=True, slots=True)
class InstrumentMaster:
    by_symbol: Mapping[str, Instrument]

    def get(self, symbol: str) -> Instrument | None:
        found = self.by_symbol.get(symbol)     # the hot path: already canonical
        if found is None and symbol:
            found = self.by_symbol.get(symbol.strip().upper())
        return found

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.by_symbol)

    def all(self) -> tuple[Instrument, ...]:
        return tuple(self.by_symbol.values())

    def tradable(self) -> tuple[Instrument, ...]:
        return tuple(i for i in self.by_symbol.values() if not i.is_index)

    def indices(self) -> tuple[Instrument, ...]:
        return tuple(i for i in self.by_symbol.values() if i.is_index)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self.by_symbol.values())

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and self.get(symbol) is not None


def _read_ticks(path: Path) -> TickTable:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [TickBand(date.fromisoformat(r["effective_from"]), to_paise(r["min_price"]), to_paise(r["tick"]))
                for r in csv.DictReader(fh)]
    return TickTable(tuple(rows))


def _read_constituents(path: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out.setdefault(r["index"], {})[r["symbol"]] = float(r["weight"])
    return out


def read_master(data_dir: Path = DATA_DIR) -> InstrumentMaster:
    ticks = _read_ticks(data_dir / "tick_sizes.csv")
    weights = _read_constituents(data_dir / "index_constituents.csv")
    by_symbol: dict[str, Instrument] = {}
    with (data_dir / "instruments.csv").open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            is_index = r["is_index"].strip() == "1"
            symbol = r["symbol"].strip().upper()
            by_symbol[symbol] = Instrument(
                symbol=symbol, name=r["name"].strip(), isin=r["isin"].strip(), sector=r["sector"].strip(),
                ref_price_paise=to_paise(r["ref_price"]), band_pct=int(r["band_pct"]),
                lot_size=int(r["lot_size"] or 1), is_index=is_index, ticks=ticks,
                constituents=weights.get(symbol, {}) if is_index else {})
    for inst in by_symbol.values():
        missing = [s for s in inst.constituents if s not in by_symbol]
        if missing:
            raise ValueError(f"index {inst.symbol} lists unknown constituents {missing}")
    return InstrumentMaster(by_symbol)


@lru_cache(maxsize=1)
def load_instruments() -> InstrumentMaster:
    """The shipped master (cached per process)."""
    return read_master()
