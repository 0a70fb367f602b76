"""Typed product configuration: ``config/engine.toml`` and ``config/trading.toml`` parsed once into frozen
pydantic models at start-up.

Strict on purpose: an unknown key (a typo), a value of the wrong type (``group_commit = "false"`` is a string,
not a boolean — it must never become True), a missing required key (``max_quantity``) or a value out of range
stops the process with one line naming the file and the key, instead of a default silently taking over or a
crash deep in a turn. Each component receives only its own section. (``calendar``, ``charges``, ``plans``,
``tiers`` and ``campaigns`` are not modelled here yet: they are still read as mappings by their owners.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class MarketConfig(_Section):
    seed: int
    ref_date: str
    daily_vol: str
    open_gap_vol: str
    intraday_vol: str
    half_spread_bp: str
    depth_levels: int = Field(ge=1, le=20)
    level_value_min_paise: int = Field(gt=0)
    level_value_max_paise: int = Field(gt=0)
    closing_fill_minutes: int = Field(ge=1)

    @field_validator("ref_date")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        date.fromisoformat(value)
        return value

    @field_validator("daily_vol", "open_gap_vol", "intraday_vol", "half_spread_bp")
    @classmethod
    def _decimal(cls, value: str) -> str:
        if Decimal(value) < 0:
            raise ValueError("must not be negative")
        return value


class BrokerConfig(_Section):
    name: str
    sebi_registration: str
    exchange: str


class EngineConfig(_Section):
    starting_cash_paise: int = Field(ge=0)
    market_protection_pct: str
    mis_cutoff: str = Field(pattern=r"^\d{2}:\d{2}$")
    mis_margin_pct: str
    max_quantity: int = Field(gt=0)
    max_value_paise: int = Field(gt=0)
    group_commit: bool
    group_commit_max: int = Field(ge=1)
    market: MarketConfig
    broker: BrokerConfig

    @field_validator("market_protection_pct", "mis_margin_pct")
    @classmethod
    def _pct(cls, value: str) -> str:
        if not 0 <= Decimal(value) <= 100:
            raise ValueError("must be a percentage between 0 and 100")
        return value


class ConfirmationConfig(_Section):
    ttl_seconds: int = Field(ge=10, le=3600)
    dialogue_minutes: int = Field(ge=1, le=24 * 60)


class PinConfig(_Section):
    min_length: int = Field(ge=4)
    max_length: int = Field(le=12)
    max_attempts: int = Field(ge=1)
    lockout_minutes: int = Field(ge=1)
    scrypt_n: int = Field(ge=2 ** 10)
    scrypt_r: int = Field(ge=1)
    scrypt_p: int = Field(ge=1)


class RiskConfig(_Section):
    order_share_pct: int = Field(ge=0, le=100)
    concentration_pct: int = Field(ge=0, le=100)
    orders_per_day_notice: int = Field(ge=1)


class OnboardingConfig(_Section):
    terms_version: str


class OrdersConfig(_Section):
    recent_limit: int = Field(ge=1, le=50)


class ButtonsConfig(_Section):
    menu_minutes: int = Field(ge=1)


class TradingConfig(_Section):
    confirmation: ConfirmationConfig
    pin: PinConfig
    risk: RiskConfig
    onboarding: OnboardingConfig
    orders: OrdersConfig
    buttons: ButtonsConfig


class ProductConfigError(ValueError):
    """A config file holds an unknown key, a wrong type, a bad value, or misses a key (named in the message)."""


#: The files modelled so far, by file stem.
MODELS: dict[str, type[_Section]] = {"engine": EngineConfig, "trading": TradingConfig}


def check_product_config(raw: Mapping[str, Any]) -> dict[str, _Section]:
    """Validate the modelled files of ``load_product_config``'s mapping; the first problem is raised as one
    line: ``engine.toml: group_commit: Input should be a valid boolean``."""
    out: dict[str, _Section] = {}
    for stem, model in MODELS.items():
        if stem not in raw:
            continue                     # a deployment without that file uses its owner's defaults
        try:
            out[stem] = model.model_validate(raw.get(stem) or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "-"
            raise ProductConfigError(f"{stem}.toml: {where}: {err['msg']}") from None
    return out
