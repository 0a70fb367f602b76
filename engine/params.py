"""Engine settings from ``config/engine.toml`` (``settings.product["engine"]``), with shipped defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from fractions import Fraction
from typing import Any, Mapping


@dataclass(frozen=True, slots=True)
class EngineParams:
    starting_cash: int = 10_000_000
    protection_pct: Fraction = Fraction(3)
    mis_cutoff: time = time(15, 20)
    mis_margin_pct: Fraction = Fraction(100)
    max_quantity: int = 100_000
    max_value: int = 10_000_000_000
    group_commit: bool = False
    group_commit_max: int = 512
    writer_process: bool = False      # SQLite: commit in a child process (engine.sqlite_writer)
    broker_name: str = "GridWorks Securities (simulated)"
    sebi_registration: str = "SIMULATED"
    exchange: str = "NSE"

    @classmethod
    def from_config(cls, t: Mapping[str, Any]) -> "EngineParams":
        cutoff = str(t.get("mis_cutoff", "15:20"))
        hh, mm = cutoff.split(":")
        broker = t.get("broker") or {}
        return cls(starting_cash=int(t.get("starting_cash_paise", cls.starting_cash)),
                   protection_pct=Fraction(str(t.get("market_protection_pct", "3"))),
                   mis_cutoff=time(int(hh), int(mm)),
                   mis_margin_pct=Fraction(str(t.get("mis_margin_pct", "100"))),
                   max_quantity=int(t.get("max_quantity", cls.max_quantity)),
                   max_value=int(t.get("max_value_paise", cls.max_value)),
                   group_commit=bool(t.get("group_commit", False)),
                   group_commit_max=int(t.get("group_commit_max", cls.group_commit_max)),
                   writer_process=bool(t.get("writer_process", False)),
                   broker_name=str(broker.get("name", cls.broker_name)),
                   sebi_registration=str(broker.get("sebi_registration", cls.sebi_registration)),
                   exchange=str(broker.get("exchange", cls.exchange)))
