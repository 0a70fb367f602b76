"""Engine settings: ``config/engine.toml`` (:class:`config.product.EngineConfig`) in the engine's units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from fractions import Fraction

from config.product import EngineConfig


@dataclass(frozen=True, slots=True)
class EngineParams:
    starting_cash: int
    protection_pct: Fraction
    mis_cutoff: time
    mis_margin_pct: Fraction
    max_quantity: int
    max_value: int
    group_commit: bool
    group_commit_max: int
    broker_name: str
    sebi_registration: str
    exchange: str
    writer_process: bool = False      # SQLite: commit in a child process (engine.sqlite_writer); the caller's

    @classmethod
    def from_config(cls, c: EngineConfig) -> "EngineParams":
        return cls(starting_cash=c.starting_cash_paise, protection_pct=Fraction(c.market_protection_pct),
                   mis_cutoff=c.mis_cutoff, mis_margin_pct=Fraction(c.mis_margin_pct),
                   max_quantity=c.max_quantity, max_value=c.max_value_paise, group_commit=c.group_commit,
                   group_commit_max=c.group_commit_max, broker_name=c.broker.name,
                   sebi_registration=c.broker.sebi_registration, exchange=c.broker.exchange)
