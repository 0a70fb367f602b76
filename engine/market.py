"""Market data: the port the engine reads prices through, and the deterministic simulated market behind it.

The simulated market is a pure function of (seed, symbol, time): the close of each trading day is a random
walk from the instrument master's reference close, each session runs a Brownian bridge from a gapped open to
that close (minute resolution, linear between minutes), clamped to the day's circuit band and rounded to the
tick. A market maker quotes a few levels either side of the last price. Index levels are computed from
their constituents. A real feed can replace it by implementing :class:`MarketData`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Mapping, Protocol

from config.product import MarketConfig
from engine import prng
from engine.api import Quote
from engine.calendar import Phase, Session, TradingCalendar
from engine.clock import IST
from engine.instruments import Instrument, InstrumentMaster

Level = tuple[int, int]  # (price_paise, quantity)


@dataclass(frozen=True, slots=True)
class Depth:
    bids: tuple[Level, ...]   # best first
    asks: tuple[Level, ...]


class MarketData(Protocol):
    """What the engine needs from a market feed (all prices in paise, times aware)."""

    calendar: TradingCalendar

    def ltp(self, symbol: str, at: datetime) -> int: ...
    def prev_close(self, symbol: str, day: date) -> int: ...
    def circuits(self, symbol: str, day: date) -> tuple[int, int]: ...
    def open_price(self, symbol: str, day: date) -> int: ...
    def depth(self, symbol: str, at: datetime) -> Depth: ...
    def quote(self, symbol: str, at: datetime) -> Quote | None: ...
    def closes(self, symbol: str, start: date, end: date) -> list[tuple[date, int]]: ...

    def samples(self, symbol: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]: ...


def round_to_tick(price: float | int, tick: int) -> int:
    return max(tick, int(math.floor(price / tick + 0.5)) * tick)


@dataclass(frozen=True, slots=True)
class MarketParams:
    """``config/engine.toml`` ``[market]``. The path has minute resolution by construction, so there is no
    sampling knob: resting orders and :meth:`SimulatedMarket.samples` see every minute."""

    seed: int
    ref_date: date
    daily_vol: float
    open_gap_vol: float
    intraday_vol: float
    half_spread_bp: float
    depth_levels: int
    level_value_min_paise: int
    level_value_max_paise: int

    @classmethod
    def from_config(cls, c: MarketConfig) -> "MarketParams":
        return cls(seed=c.seed, ref_date=c.ref_date, daily_vol=float(c.daily_vol),
                   open_gap_vol=float(c.open_gap_vol), intraday_vol=float(c.intraday_vol),
                   half_spread_bp=float(c.half_spread_bp),
                   depth_levels=c.depth_levels, level_value_min_paise=c.level_value_min_paise,
                   level_value_max_paise=c.level_value_max_paise)


@dataclass(frozen=True, slots=True)
class _DayPath:
    session: Session
    prev_close: int
    lower: int
    upper: int
    tick: int
    points: tuple[int, ...]     # minute prices from the open (index 0) to the close (index -1)
    highs: tuple[int, ...]      # running high/low up to each minute
    lows: tuple[int, ...]


class SimulatedMarket:
    """Deterministic market: the same seed and time always give the same prices."""

    def __init__(self, instruments: InstrumentMaster, calendar: TradingCalendar,
                 params: MarketParams) -> None:
        self.instruments = instruments
        self.calendar = calendar
        self.params = params
        self._closes: dict[str, dict[int, int]] = {}
        self._day_index: dict[date, int] = {}
        self._paths: dict[tuple[str, date], _DayPath] = {}
        self._daily: dict[tuple[str, date], tuple[int, int, int]] = {}      # (prev close, lower, upper)
        self._ticks: dict[tuple[str, date], int] = {}
        self._sizes: dict[tuple[str, int], tuple[float, ...]] = {}          # maker size draws per minute
        self._ltp_cache: dict[tuple[str, datetime], tuple[int, _DayPath | None, int]] = {}
        self._depth_cache: dict[tuple[str, datetime], Depth] = {}

    # -- daily closes -------------------------------------------------------------------------------
    def _index_of(self, day: date) -> int:
        """Trading-day offset of ``day`` (a trading day) from the reference date."""
        cached = self._day_index.get(day)
        if cached is not None:
            return cached
        ref, cal, k, probe = self.params.ref_date, self.calendar, 0, self.params.ref_date
        if day > ref:
            while probe < day:
                probe = cal.next_trading_day(probe)
                k += 1
        elif day < ref:
            while probe > day:
                probe = cal.prev_trading_day(probe)
                k -= 1
        self._day_index[day] = k
        return k

    def _close_k(self, inst: Instrument, k: int) -> int:
        closes = self._closes.setdefault(inst.symbol, {0: inst.ref_price_paise})
        if k in closes:
            return closes[k]
        stream = prng.key(self.params.seed, inst.symbol, "close")
        band = inst.band_pct / 100 if inst.band_pct else 0.2
        step = 1 if k > 0 else -1
        j = max(i for i in closes if (i <= k if step > 0 else False)) if step > 0 else \
            min(i for i in closes if i >= k)
        price = closes[j]
        while j != k:
            j_next = j + step
            z = max(-3.0, min(3.0, prng.normal(stream, j_next if step > 0 else j)))
            r = max(-band * 0.8, min(band * 0.8, z * self.params.daily_vol))
            raw = price * math.exp(r * step)
            price = round_to_tick(raw, inst.tick_for(price))
            closes[j_next] = price
            j = j_next
        return price

    def _last_trading_day(self, day: date) -> date:
        return day if self.calendar.is_trading_day(day) else self.calendar.prev_trading_day(day)

    def _stock_close(self, inst: Instrument, day: date) -> int:
        return self._close_k(inst, self._index_of(self._last_trading_day(day)))

    def _stock_prev_close(self, inst: Instrument, day: date) -> int:
        return self._stock_close(inst, self.calendar.prev_trading_day(day))

    # -- intraday path ------------------------------------------------------------------------------
    def _path(self, inst: Instrument, day: date) -> _DayPath:
        key = (inst.symbol, day)
        found = self._paths.get(key)
        if found is not None:
            return found
        session = self.calendar.session(day)
        assert session is not None, day
        p = self.params
        prev = self._stock_prev_close(inst, day)
        close = self._stock_close(inst, day)
        tick = inst.tick_for(prev)
        lower, upper = self._band(inst, prev)
        stream = prng.key(p.seed, inst.symbol, day.isoformat(), "path")
        gap = max(-3.0, min(3.0, prng.normal(stream, 10_000))) * p.open_gap_vol
        open_ = min(upper, max(lower, round_to_tick(prev * math.exp(gap), tick)))
        n = max(1, session.minutes)
        walk = [0.0]
        for i in range(1, n + 1):
            walk.append(walk[-1] + prng.normal(stream, i))
        sigma = p.intraday_vol / math.sqrt(n)
        lo, lc = math.log(open_), math.log(close)
        points = []
        for i in range(n + 1):
            frac = i / n
            x = lo + (lc - lo) * frac + (walk[i] - walk[n] * frac) * sigma
            points.append(min(upper, max(lower, round_to_tick(math.exp(x), tick))))
        points[0], points[-1] = open_, close
        highs, lows, hi, lw = [], [], points[0], points[0]
        for v in points:
            hi, lw = max(hi, v), min(lw, v)
            highs.append(hi)
            lows.append(lw)
        path = _DayPath(session, prev, lower, upper, tick, tuple(points), tuple(highs), tuple(lows))
        if len(self._paths) > 4096:
            self._paths.clear()
        self._paths[key] = path
        return path

    def _band(self, inst: Instrument, prev: int) -> tuple[int, int]:
        tick = inst.tick_for(prev)
        width = Fraction(prev * inst.band_pct, 100)
        upper = int((prev + width) // tick) * tick
        lower = -int(-(prev - width) // tick) * tick
        return max(tick, lower), upper

    def _stock_ltp(self, inst: Instrument, at: datetime) -> tuple[int, _DayPath | None, int]:
        """(ltp, the day's path if a session exists that day, minute index reached); memoised per instant."""
        key = (inst.symbol, at)
        found = self._ltp_cache.get(key)
        if found is None:
            if len(self._ltp_cache) > 8192:
                self._ltp_cache.clear()
            found = self._ltp_cache[key] = self._compute_ltp(inst, at)
        return found

    def _compute_ltp(self, inst: Instrument, at: datetime) -> tuple[int, _DayPath | None, int]:
        local = at.astimezone(IST)
        session = self.calendar.session(local.date())
        if session is None:
            return self._stock_close(inst, local.date()), None, -1
        path = self._path(inst, local.date())
        if local < session.pre_open_end:
            return path.prev_close, path, -1
        if local < session.open:
            return path.points[0], path, 0
        if local >= session.close:
            return path.points[-1], path, len(path.points) - 1
        secs = (local - session.open).total_seconds()
        i, rem = int(secs // 60), (secs % 60) / 60
        a, b = path.points[i], path.points[min(i + 1, len(path.points) - 1)]
        return min(path.upper, max(path.lower, round_to_tick(a + (b - a) * rem, path.tick))), path, i

    # -- indices ------------------------------------------------------------------------------------
    def _index_value(self, inst: Instrument, prices: Mapping[str, int]) -> int:
        total_w = sum(inst.constituents.values())
        acc = 0.0
        for sym, w in inst.constituents.items():
            acc += w * prices[sym] / self.instruments.by_symbol[sym].ref_price_paise
        return int(round(inst.ref_price_paise * acc / total_w))

    def _members(self, inst: Instrument) -> list[Instrument]:
        return [self.instruments.by_symbol[s] for s in inst.constituents]

    # -- port ---------------------------------------------------------------------------------------
    def _inst(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise KeyError(symbol)
        return inst

    def ltp(self, symbol: str, at: datetime) -> int:
        found = self._ltp_cache.get((symbol, at))    # the hot path: a canonical stock symbol asked before
        if found is not None:
            return found[0]
        inst = self._inst(symbol)
        if inst.is_index:
            return self._index_value(inst, {m.symbol: self._stock_ltp(m, at)[0] for m in self._members(inst)})
        return self._stock_ltp(inst, at)[0]

    def prev_close(self, symbol: str, day: date) -> int:
        inst = self._inst(symbol)
        if inst.is_index:
            return self._index_value(inst, {m.symbol: self._stock_prev_close(m, day) for m in self._members(inst)})
        return self._stock_prev_close(inst, day)

    def _day(self, inst: Instrument, day: date) -> tuple[int, int, int]:
        found = self._daily.get((inst.symbol, day))
        if found is None:
            prev = self._stock_prev_close(inst, day)
            lower, upper = self._band(inst, prev)
            if len(self._daily) > 65536:
                self._daily.clear()
            found = self._daily[(inst.symbol, day)] = (prev, lower, upper)
        return found

    def circuits(self, symbol: str, day: date) -> tuple[int, int]:
        found = self._daily.get((symbol, day))       # the hot path: a canonical symbol's known day
        _, lower, upper = found if found is not None else self._day(self._inst(symbol), day)
        return lower, upper

    def open_price(self, symbol: str, day: date) -> int:
        inst = self._inst(symbol)
        if not self.calendar.is_trading_day(day):
            return self._stock_close(inst, day)
        return self._path(inst, day).points[0]

    def tick(self, symbol: str, day: date) -> int:
        """The tick in force for the day: NSE sets it from the last close (memoised per symbol and day)."""
        found = self._ticks.get((symbol, day))
        if found is None:
            inst = self._inst(symbol)
            if len(self._ticks) > 65536:
                self._ticks.clear()
            found = self._ticks[(symbol, day)] = inst.tick_for(self._day(inst, day)[0])
        return found

    def depth(self, symbol: str, at: datetime) -> Depth:
        found = self._depth_cache.get((symbol, at))
        if found is None:
            if len(self._depth_cache) > 8192:
                self._depth_cache.clear()
            found = self._depth_cache[(symbol, at)] = self._compute_depth(symbol, at)
        return found

    def _compute_depth(self, symbol: str, at: datetime) -> Depth:
        inst = self._inst(symbol)
        if inst.is_index:
            return Depth((), ())
        p = self.params
        ltp, path, _ = self._stock_ltp(inst, at)
        day = at.astimezone(IST).date()
        lower, upper = (path.lower, path.upper) if path else self.circuits(symbol, day)
        tick = path.tick if path else inst.tick_for(ltp)
        half = max(tick, round_to_tick(ltp * p.half_spread_bp / 10_000, tick))
        minute = int(at.timestamp() // 60)
        draws = self._sizes.get((inst.symbol, minute))
        if draws is None:
            stream = prng.key(p.seed, inst.symbol, "depth", minute)
            draws = tuple(prng.uniform(stream, i) for i in range(2 * p.depth_levels))
            if len(self._sizes) > 65536:
                self._sizes.clear()
            self._sizes[(inst.symbol, minute)] = draws
        span = p.level_value_max_paise - p.level_value_min_paise
        bids, asks = [], []
        for j in range(p.depth_levels):
            bid, ask = ltp - half - j * tick, ltp + half + j * tick
            qb = max(1, int((p.level_value_min_paise + span * draws[2 * j]) // max(bid, 1)))
            qa = max(1, int((p.level_value_min_paise + span * draws[2 * j + 1]) // ask))
            if bid >= lower:
                bids.append((bid, qb))
            if ask <= upper:
                asks.append((ask, qa))
        return Depth(tuple(bids), tuple(asks))

    def quote(self, symbol: str, at: datetime) -> Quote | None:
        inst = self.instruments.get(symbol)
        if inst is None:
            return None
        local = at.astimezone(IST)
        day = local.date()
        is_open = self.calendar.phase(local) is Phase.OPEN
        if inst.is_index:
            members = self._members(inst)
            ltp = self._index_value(inst, {m.symbol: self._stock_ltp(m, at)[0] for m in members})
            prev = self.prev_close(inst.symbol, self._last_trading_day(day))   # the last session's change
            o, h, lw = self._index_ohl(inst, members, at, ltp, prev)
            return Quote(symbol=inst.symbol, name=inst.name, ltp_paise=ltp, prev_close_paise=prev, open_paise=o,
                         high_paise=h, low_paise=lw, bid_paise=None, ask_paise=None, upper_circuit_paise=None,
                         lower_circuit_paise=None, at=local, is_index=True, market_open=is_open)
        ltp, path, i = self._stock_ltp(inst, at)
        if path is None:
            last = self._last_trading_day(day)
            path = self._path(inst, last)
            i = len(path.points) - 1
        if i < 0:
            o = h = lw = path.prev_close
        else:
            o, h, lw = path.points[0], max(path.highs[i], ltp), min(path.lows[i], ltp)
        depth = self.depth(symbol, at) if is_open else Depth((), ())
        lower, upper = self.circuits(symbol, day)
        prev = self._stock_prev_close(inst, day) if self.calendar.is_trading_day(day) else path.prev_close
        return Quote(symbol=inst.symbol, name=inst.name, ltp_paise=ltp, prev_close_paise=prev, open_paise=o,
                     high_paise=h, low_paise=lw, bid_paise=depth.bids[0][0] if depth.bids else None,
                     ask_paise=depth.asks[0][0] if depth.asks else None, upper_circuit_paise=upper,
                     lower_circuit_paise=lower, at=local, is_index=False, market_open=is_open,
                     tick_paise=self.tick(symbol, day))

    def _index_ohl(self, inst: Instrument, members: list[Instrument], at: datetime, ltp: int,
                   prev: int) -> tuple[int, int, int]:
        local = at.astimezone(IST)
        day = self._last_trading_day(local.date())
        session = self.calendar.session(day)
        if session is None or (day == local.date() and local < session.pre_open_end):
            return prev, prev, prev
        paths = [self._path(m, day) for m in members]
        end = len(paths[0].points) - 1
        if day == local.date() and local < session.close:
            end = max(0, min(end, int((local - session.open).total_seconds() // 60)))
        levels = [self._index_value(inst, {m.symbol: p.points[i] for m, p in zip(members, paths)})
                  for i in range(0, end + 1)]
        return levels[0], max(max(levels), ltp), min(min(levels), ltp)

    def closes(self, symbol: str, start: date, end: date) -> list[tuple[date, int]]:
        """Daily closes of a stock on the trading days from ``start`` to ``end``: the same walk the intraday
        paths end on, for any of the ~2,400 listings (its history is a function of the seed and the symbol)."""
        inst = self._inst(symbol)
        if inst.is_index:
            raise ValueError(f"{symbol} is an index: its level comes from its constituents")
        out: list[tuple[date, int]] = []
        day = start if self.calendar.is_trading_day(start) else self.calendar.next_trading_day(start)
        while day <= end:
            out.append((day, self._stock_close(inst, day)))
            day = self.calendar.next_trading_day(day)
        return out

    def samples(self, symbol: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
        """Minute prices strictly after ``start`` up to ``end``, session by session."""
        inst = self._inst(symbol)
        out: list[tuple[datetime, int]] = []
        for session in self.calendar.sessions_between(start, end):
            path = self._path(inst, session.day)
            for i, price in enumerate(path.points):
                t = session.open + timedelta(minutes=i)
                if start < t <= end and t < session.close:
                    out.append((t, price))
        return out
