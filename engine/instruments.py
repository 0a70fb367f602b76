"""The instrument master shipped with the project: symbols, ISINs, bands, reference prices, tick table.

It is data (``engine/data/``), read once per process: the hand-curated ``instruments.csv`` (50 stocks and two
indices with reference prices the scripted conversations rely on) merged with NSE's full list of equities
(the newest ``nse/EQUITY_L_<date>.csv``, see ``nse/SOURCES.md``). Every NSE listing is tradable in the
simulated market; sectors come from the Nifty 500 industries, bands from ``price_bands.csv``. The intent
pipeline reads the same files for symbol recognition, so a new NSE file makes a stock both tradable and
recognisable.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping

DATA_DIR = Path(__file__).resolve().parent / "data"
NSE_DIR_NAME = "nse"
#: NSE's header for EQUITY_L.csv, stripped (NSE pads some names with a leading space).
EQUITY_L_COLUMNS = ("SYMBOL", "NAME OF COMPANY", "SERIES", "DATE OF LISTING", "PAID UP VALUE", "MARKET LOT",
                    "ISIN NUMBER", "FACE VALUE")


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
    series: str = "EQ"            # NSE series: EQ (rolling), BE (trade for trade), BZ (non-compliant)
    industry: str = ""            # NSE Indices' industry (Nifty 500 members), else empty
    listed_on: date | None = None

    def tick_for(self, price_paise: int) -> int:
        """Tick size in paise for a price level (1 paisa for indices)."""
        if self.is_index or not self.ticks.bands:
            return 1
        return self.ticks.tick_for(price_paise)


@dataclass(frozen=True, slots=True)
class InstrumentMaster:
    by_symbol: Mapping[str, Instrument]
    aliases: Mapping[str, str] = field(default_factory=dict)   # NSE's newer symbol → our curated symbol
    as_of: date | None = None                                  # newest listing date in the NSE file

    def get(self, symbol: str) -> Instrument | None:
        found = self.by_symbol.get(symbol)     # the hot path: already canonical
        if found is None and symbol:
            canonical = symbol.strip().upper()
            found = self.by_symbol.get(canonical) or self.by_symbol.get(self.aliases.get(canonical, ""))
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


def newest_equity_list(data_dir: Path = DATA_DIR) -> Path | None:
    """The newest ``nse/EQUITY_L_<YYYY-MM-DD>.csv`` (dated by its newest listing)."""
    files = sorted((data_dir / NSE_DIR_NAME).glob("EQUITY_L_*.csv"))
    return files[-1] if files else None


def _newest(data_dir: Path, prefix: str) -> Path | None:
    files = sorted((data_dir / NSE_DIR_NAME).glob(f"{prefix}_*.csv"))
    return files[-1] if files else None


_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                                        "DEC"), 1)}


def parse_nse_date(text: str) -> date | None:
    """NSE's ``14-AUG-2026`` (a small parser: strptime costs a tenth of a second over 2,400 rows)."""
    try:
        d, m, y = text.strip().upper().split("-")
        return date(int(y), _MONTHS[m], int(d))
    except (ValueError, KeyError):
        return None


def read_equity_list(path: Path) -> list[dict[str, str]]:
    """NSE's EQUITY_L.csv rows, keys stripped; raises ValueError naming what is wrong with the file."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = tuple(h.strip().upper() for h in next(reader, []))
        if header[:len(EQUITY_L_COLUMNS)] != EQUITY_L_COLUMNS:
            raise ValueError(f"{path.name}: not NSE's EQUITY_L.csv (header {', '.join(header[:8]) or 'empty'})")
        rows = []
        for n, raw in enumerate(reader, 2):
            if not any(c.strip() for c in raw):
                continue
            if len(raw) < len(EQUITY_L_COLUMNS):
                raise ValueError(f"{path.name}:{n}: {len(raw)} columns, expected {len(EQUITY_L_COLUMNS)}")
            row = {k: v.strip() for k, v in zip(EQUITY_L_COLUMNS, raw)}
            if not row["SYMBOL"] or not row["NAME OF COMPANY"]:
                raise ValueError(f"{path.name}:{n}: empty symbol or name")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path.name}: no rows")
    return rows


def _read_industries(data_dir: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for prefix in ("ind_nifty500list", "ind_nifty50list"):
        path = _newest(data_dir, prefix)
        if path is None:
            continue
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for r in csv.DictReader(fh):
                out.setdefault(r["Symbol"].strip().upper(), r["Industry"].strip())
    return out


def _read_simple(path: Path, key: str, value: str) -> dict[str, str]:
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {r[key].strip(): r[value].strip() for r in csv.DictReader(fh)}


def simulated_ref_price(symbol: str, series: str, ticks: TickTable) -> int:
    """A stable reference close for a listing we have no curated price for: log-uniform from ₹20 to ₹4,000
    (₹5 to ₹400 for BE/BZ, mostly small companies), on the tick grid. Not a real price: the market is simulated."""
    u = int.from_bytes(hashlib.blake2b(f"ref:{symbol}".encode(), digest_size=8).digest(), "big") / 2.0 ** 64
    lo, hi = (500, 40_000) if series in ("BE", "BZ") else (2_000, 400_000)
    paise = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)
    tick = _latest_tick(ticks, int(paise)) if ticks.bands else 1
    return max(tick, int(paise // tick) * tick)


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
    aliases, as_of = _merge_nse(by_symbol, data_dir, ticks)
    for inst in by_symbol.values():
        missing = [s for s in inst.constituents if s not in by_symbol]
        if missing:
            raise ValueError(f"index {inst.symbol} lists unknown constituents {missing}")
    return InstrumentMaster(by_symbol, aliases, as_of)


def _merge_nse(by_symbol: dict[str, Instrument], data_dir: Path, ticks: TickTable) -> tuple[dict[str, str], date | None]:
    """Add every NSE listing not curated; curated rows keep their data but gain series, industry and listing date."""
    path = newest_equity_list(data_dir)
    if path is None:
        return {}, None
    industries = _read_industries(data_dir)
    sectors = _read_simple(data_dir / "sectors.csv", "industry", "sector")
    bands = {k: int(v) for k, v in _read_simple(data_dir / "price_bands.csv", "category", "band_pct").items()}
    curated_isin = {i.isin: i.symbol for i in by_symbol.values() if i.isin}
    aliases: dict[str, str] = {}
    newest: date | None = None
    from dataclasses import replace

    for r in read_equity_list(path):
        symbol, series = r["SYMBOL"].upper(), r["SERIES"].upper()
        listed = parse_nse_date(r["DATE OF LISTING"])
        newest = max(newest, listed) if newest and listed else (newest or listed)
        industry = industries.get(symbol, "")
        known = by_symbol.get(symbol)
        if known is not None:
            by_symbol[symbol] = replace(known, series=series, industry=industry, listed_on=listed)
            continue
        owner = curated_isin.get(r["ISIN NUMBER"])
        if owner is not None:
            aliases[symbol] = owner          # a renamed listing we still know by its curated symbol
            continue
        category = "NIFTY500" if industry and series == "EQ" else series
        by_symbol[symbol] = Instrument(
            symbol=symbol, name=r["NAME OF COMPANY"], isin=r["ISIN NUMBER"],
            sector=sectors.get(industry, "Other"), ref_price_paise=simulated_ref_price(symbol, series, ticks),
            band_pct=bands.get(category, bands.get("EQ", 20)), lot_size=int(r["MARKET LOT"] or 1) or 1,
            is_index=False, ticks=ticks, series=series, industry=industry, listed_on=listed)
    return aliases, newest


@lru_cache(maxsize=1)
def load_instruments() -> InstrumentMaster:
    """The shipped master (cached per process)."""
    return read_master()
