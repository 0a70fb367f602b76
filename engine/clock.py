"""Injected time. The core never reads the wall clock directly, so tests and the simulator fast-forward."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")


class Clock(Protocol):
    def now(self) -> datetime:
        """Current aware time (UTC offset attached)."""


class SystemClock:
    """Real time, in IST."""

    def now(self) -> datetime:
        return datetime.now(IST)


class SimulatedClock:
    """Starts at a given instant and then ticks forward with real elapsed time.

    ``set`` jumps to a new instant (the simulator's ``"at"``); time never runs backwards by itself.
    """

    def __init__(self, start: datetime, *, monotonic=time.monotonic) -> None:
        if start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self._monotonic = monotonic
        self._anchor = start
        self._anchor_mono = monotonic()

    def now(self) -> datetime:
        return (self._anchor + timedelta(seconds=self._monotonic() - self._anchor_mono)).astimezone(IST)

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("clock time must be timezone-aware")
        self._anchor = instant
        self._anchor_mono = self._monotonic()


class FixedClock:
    """A clock that only moves when told to: for tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self._now = start

    def now(self) -> datetime:
        return self._now.astimezone(IST)

    def set(self, instant: datetime) -> None:
        self._now = instant

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)


def utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc)
