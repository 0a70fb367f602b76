"""The trading calendar: which days trade, when each session opens and closes, and T+1 settlement.

Trading days are a dated table (``config/calendar.toml``: weekdays minus holidays plus special sessions such as
the Diwali Muhurat hour), never "Monday to Friday" in code. Every time is IST.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from config.product import CalendarConfig, Hours
from engine.clock import IST


class Phase(StrEnum):
    CLOSED = "closed"
    PRE_OPEN = "pre_open"            # call-auction order entry
    PRE_OPEN_MATCH = "pre_open_match"  # entry closed, auction matching, waiting for the open
    OPEN = "open"                    # continuous matching


@dataclass(frozen=True, slots=True)
class Session:
    day: date
    pre_open_start: datetime
    pre_open_end: datetime
    open: datetime
    close: datetime
    name: str = ""

    def phase(self, at: datetime) -> Phase:
        if self.pre_open_start <= at < self.pre_open_end:
            return Phase.PRE_OPEN
        if self.pre_open_end <= at < self.open:
            return Phase.PRE_OPEN_MATCH
        if self.open <= at < self.close:
            return Phase.OPEN
        return Phase.CLOSED

    @property
    def minutes(self) -> int:
        return int((self.close - self.open).total_seconds() // 60)


@dataclass(frozen=True, slots=True)
class _Hours:
    pre_open_start: time
    pre_open_end: time
    open: time
    close: time
    name: str = ""

    @classmethod
    def of(cls, hours: Hours, name: str = "") -> "_Hours":
        return cls(hours.pre_open_start, hours.pre_open_end, hours.open, hours.close, name)


class TradingCalendar:
    """Built from ``config/calendar.toml`` (:class:`config.product.CalendarConfig`)."""

    def __init__(self, config: CalendarConfig) -> None:
        self._regular = _Hours.of(config.sessions)
        self._weekdays = frozenset(config.sessions.weekdays)
        self._holidays = {h.date: h.name for h in config.holidays}
        self._special = {s.date: _Hours.of(s, s.name) for s in config.special_sessions}
        self._sessions: dict[date, Session | None] = {}

    def holiday_name(self, day: date) -> str | None:
        return self._holidays.get(day)

    def is_regular_day(self, day: date) -> bool:
        return day.weekday() in self._weekdays and day not in self._holidays

    def is_trading_day(self, day: date) -> bool:
        return day in self._special or self.is_regular_day(day)

    def session(self, day: date) -> Session | None:
        try:
            return self._sessions[day]
        except KeyError:
            found = self._sessions[day] = self._build_session(day)
            return found

    def _build_session(self, day: date) -> Session | None:
        hours = self._special.get(day)
        if hours is None:
            if not self.is_regular_day(day):
                return None
            hours = self._regular

        def at(t: time) -> datetime:
            return datetime.combine(day, t, IST)

        return Session(day, at(hours.pre_open_start), at(hours.pre_open_end), at(hours.open), at(hours.close),
                       hours.name)

    def session_at(self, at: datetime) -> Session | None:
        return self.session(at.astimezone(IST).date())

    def phase(self, at: datetime) -> Phase:
        session = self.session_at(at)
        return Phase.CLOSED if session is None else session.phase(at.astimezone(IST))

    def is_open(self, at: datetime) -> bool:
        return self.phase(at) is Phase.OPEN

    def next_trading_day(self, day: date, *, regular_only: bool = False) -> date:
        probe = day + timedelta(days=1)
        for _ in range(3660):
            if (self.is_regular_day(probe) if regular_only else self.is_trading_day(probe)):
                return probe
            probe += timedelta(days=1)
        raise ValueError(f"no trading day after {day}")

    def prev_trading_day(self, day: date) -> date:
        probe = day - timedelta(days=1)
        for _ in range(3660):
            if self.is_trading_day(probe):
                return probe
            probe -= timedelta(days=1)
        raise ValueError(f"no trading day before {day}")

    def next_session(self, at: datetime) -> Session:
        """The first session whose pre-open has not started yet at ``at`` (where an AMO goes)."""
        local = at.astimezone(IST)
        session = self.session(local.date())
        if session is not None and local < session.pre_open_start:
            return session
        day = self.next_trading_day(local.date())
        found = self.session(day)
        assert found is not None
        return found

    def current_or_next_session(self, at: datetime) -> Session:
        """The session running at ``at``, or else the next one."""
        local = at.astimezone(IST)
        session = self.session(local.date())
        if session is not None and local < session.close:
            return session
        return self.next_session(local)

    def trade_date(self, at: datetime) -> date:
        return at.astimezone(IST).date()

    def settlement_date(self, trade_day: date) -> date:
        """T+1: the next regular (settlement) day after the trade day."""
        return self.next_trading_day(trade_day, regular_only=True)

    def sessions_between(self, start: datetime, end: datetime) -> list[Session]:
        """Sessions whose day lies in [start.date(), end.date()] (IST), in order."""
        day, last = start.astimezone(IST).date(), end.astimezone(IST).date()
        out = []
        while day <= last:
            s = self.session(day)
            if s is not None:
                out.append(s)
            day += timedelta(days=1)
        return out
