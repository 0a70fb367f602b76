"""Typed product configuration: every ``config/*.toml`` parsed once, at start-up, into frozen pydantic models.

Strict on purpose: an unknown key (a typo), a value of the wrong type (``group_commit = "false"`` is a string,
not a boolean — it must never become True), a missing key (``max_quantity``), a value out of range, a missing
file or a stray one stops the process with one line naming the file and the key, instead of a default silently
taking over or a crash deep in a turn. The files are the only source of values: no model field has a default,
and no component repeats one. Each component receives only its own section (``ProductConfig.trading.pin`` for
the PIN policy, ``ProductConfig.calendar`` for the trading calendar, ...).

Money is integer paise; rates and percentages are decimal *strings* in the files (``"0.0000297"``) so that no
float rounding creeps in, and become :class:`~decimal.Decimal` here; times of day are ``"HH:MM"`` (IST).
"""

from __future__ import annotations

import difflib
import tomllib
from datetime import date, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

CONFIG_DIR = Path(__file__).resolve().parent


class ProductConfigError(ValueError):
    """A config file is missing, unknown, not TOML, or holds an unknown key, a wrong type, a bad value or
    misses a key. The message is one line naming the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _decimal_text(value: Any) -> Any:
    """A decimal written as a string ("0.012"); a TOML float would already have lost digits."""
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
    raise ValueError('write the number as a string, e.g. "0.012"')


def _hhmm(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 5 and value[2] == ":":
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError('expected a time of day as "HH:MM"')


def _day(value: Any) -> Any:
    """A TOML date (``2026-01-26``) or an ISO date string."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None
    return value


def _listed(value: Any) -> Any:
    """TOML arrays arrive as lists; the frozen models hold tuples."""
    return tuple(value) if isinstance(value, list) else value


Dec = Annotated[Decimal, BeforeValidator(_decimal_text)]
Rate = Annotated[Decimal, BeforeValidator(_decimal_text), Field(ge=0, lt=1)]       # a fraction of a value
Percent = Annotated[Decimal, BeforeValidator(_decimal_text), Field(ge=0, le=100)]
HHMM = Annotated[time, BeforeValidator(_hhmm)]
Day = Annotated[date, BeforeValidator(_day)]
Paise = Annotated[int, Field(ge=0)]


# -- engine.toml ---------------------------------------------------------------------------------------------
class MarketConfig(_Section):
    """``[market]``: the deterministic simulated market (engine/market.py)."""

    seed: int
    ref_date: Day
    daily_vol: Annotated[Dec, Field(ge=0)]
    open_gap_vol: Annotated[Dec, Field(ge=0)]
    intraday_vol: Annotated[Dec, Field(ge=0)]
    half_spread_bp: Annotated[Dec, Field(ge=0)]
    depth_levels: int = Field(ge=1, le=20)
    level_value_min_paise: int = Field(gt=0)
    level_value_max_paise: int = Field(gt=0)

    @model_validator(mode="after")
    def _sizes(self) -> MarketConfig:
        if self.level_value_min_paise > self.level_value_max_paise:
            raise ValueError("level_value_min_paise must not exceed level_value_max_paise")
        return self


class BrokerConfig(_Section):
    name: str
    sebi_registration: str
    exchange: str


class EngineConfig(_Section):
    starting_cash_paise: Paise
    market_protection_pct: Percent
    mis_cutoff: HHMM
    mis_margin_pct: Percent
    max_quantity: int = Field(gt=0)
    max_value_paise: int = Field(gt=0)
    group_commit: bool
    group_commit_max: int = Field(ge=1)
    market: MarketConfig
    broker: BrokerConfig


# -- trading.toml --------------------------------------------------------------------------------------------
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

    @model_validator(mode="after")
    def _lengths(self) -> PinConfig:
        if self.min_length > self.max_length:
            raise ValueError("min_length must not exceed max_length")
        if self.scrypt_n & (self.scrypt_n - 1):
            raise ValueError("scrypt_n must be a power of two")
        return self


class RiskConfig(_Section):
    order_share_pct: int = Field(ge=0, le=100)
    concentration_pct: int = Field(ge=0, le=100)
    orders_per_day_notice: int = Field(ge=1)


class OnboardingConfig(_Section):
    terms_version: str = Field(min_length=1)


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


# -- calendar.toml -------------------------------------------------------------------------------------------
class Holiday(_Section):
    date: Day
    name: str


class Hours(_Section):
    pre_open_start: HHMM
    pre_open_end: HHMM
    open: HHMM
    close: HHMM

    @model_validator(mode="after")
    def _ordered(self) -> Hours:
        if not self.pre_open_start <= self.pre_open_end <= self.open < self.close:
            raise ValueError("expected pre_open_start <= pre_open_end <= open < close")
        return self


class SpecialSession(Hours):
    date: Day
    name: str


class RegularSessions(Hours):
    weekdays: Annotated[tuple[Annotated[int, Field(ge=0, le=6)], ...], BeforeValidator(_listed),
                        Field(min_length=1)]


class CalendarConfig(_Section):
    holidays: Annotated[tuple[Holiday, ...], BeforeValidator(_listed)]
    special_sessions: Annotated[tuple[SpecialSession, ...], BeforeValidator(_listed)]
    sessions: RegularSessions

    @model_validator(mode="after")
    def _unique(self) -> CalendarConfig:
        for name, rows in (("holidays", self.holidays), ("special_sessions", self.special_sessions)):
            days = [r.date for r in rows]
            if len(days) != len(set(days)):
                raise ValueError(f"{name} lists a date twice")
        return self


# -- charges.toml --------------------------------------------------------------------------------------------
class ProductRates(_Section):
    """Statutory rates of one product (CNC delivery, MIS intraday), as fractions of the traded value."""

    stt_buy: Rate
    stt_sell: Rate
    stt_round_rupee: bool
    exchange: Rate
    sebi: Rate
    stamp_buy: Rate


class RateRow(_Section):
    effective_from: Day
    gst: Rate
    CNC: ProductRates
    MIS: ProductRates


class ChargesConfig(_Section):
    rates: Annotated[tuple[RateRow, ...], BeforeValidator(_listed), Field(min_length=1)]

    @model_validator(mode="after")
    def _dated_once(self) -> ChargesConfig:
        days = [r.effective_from for r in self.rates]
        if len(days) != len(set(days)):
            raise ValueError("two rows share an effective_from")
        return self


# -- tiers.toml ----------------------------------------------------------------------------------------------
class PercentClamped(_Section):
    """A percentage of the order's executed value, clamped to [min_paise, max_paise]."""

    kind: Literal["percent_clamped"]
    percent: Percent
    min_paise: Paise
    max_paise: Paise

    @model_validator(mode="after")
    def _clamp(self) -> PercentClamped:
        if self.min_paise > self.max_paise:
            raise ValueError("min_paise must not exceed max_paise")
        return self

    @property
    def lowest_paise(self) -> int:
        return self.min_paise

    @property
    def highest_paise(self) -> int:
        return self.max_paise


class Flat(_Section):
    kind: Literal["flat"]
    flat_paise: Paise

    @property
    def lowest_paise(self) -> int:
        return self.flat_paise

    @property
    def highest_paise(self) -> int:
        return self.flat_paise


BrokerageConfig = Annotated[Union[PercentClamped, Flat], Field(discriminator="kind")]


class TierConfig(_Section):
    brokerage: BrokerageConfig


class TiersConfig(_Section):
    """GridWorks' own brokerage per executed order, one entry per :class:`engine.api.Tier`."""

    LITE: TierConfig
    PRO: TierConfig


# -- plans.toml ----------------------------------------------------------------------------------------------
class TrialConfig(_Section):
    days: int = Field(ge=1)
    remind_days_before: int = Field(ge=0)


class PlanConfig(_Section):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    price_paise: int = Field(gt=0)
    days: int = Field(ge=1)


class PlansConfig(_Section):
    trial: TrialConfig
    plan: Annotated[tuple[PlanConfig, ...], BeforeValidator(_listed), Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> PlansConfig:
        ids = [p.id for p in self.plan]
        if len(ids) != len(set(ids)):
            raise ValueError("two plans share an id")
        if self.trial.remind_days_before >= self.trial.days:
            raise ValueError("trial.remind_days_before must be shorter than trial.days")
        return self


# -- campaigns.toml ------------------------------------------------------------------------------------------
class CampaignPolicyConfig(_Section):
    """Defaults of every campaign's policy (a campaign file's ``[policy]`` may override each)."""

    cap_days: int = Field(ge=1)
    cap_count: int = Field(ge=0)
    quiet_start: HHMM
    quiet_end: HHMM
    rate: float = Field(gt=0)


class FactsConfig(_Section):
    privacy_words: Annotated[tuple[Annotated[str, Field(min_length=1)], ...], BeforeValidator(_listed)]


class TriggerConfig(_Section):
    enabled: bool
    trades: int = Field(ge=1)
    holdout: float = Field(ge=0, le=100)
    template: str = Field(min_length=1)


class CampaignsConfig(_Section):
    policy: CampaignPolicyConfig
    facts: FactsConfig
    trigger: TriggerConfig


# -- analytics.toml ------------------------------------------------------------------------------------------
class CoachingConfig(_Section):
    """Thresholds of the behavioural nudges (handlers/analytics.py)."""

    window_days: int = Field(ge=1)
    overtrading_orders_per_day: int = Field(ge=1)
    overtrading_orders_per_window: int = Field(ge=1)
    loss_chase_minutes: int = Field(ge=1)
    loss_chase_min_events: int = Field(ge=1)
    averaging_down_streak: int = Field(ge=2)


class AnalyticsConfig(_Section):
    coaching: CoachingConfig


# -- all files -----------------------------------------------------------------------------------------------
class ProductConfig(_Section):
    """Every ``config/*.toml``, one attribute per file (``engine.toml`` → ``.engine``)."""

    analytics: AnalyticsConfig
    calendar: CalendarConfig
    campaigns: CampaignsConfig
    charges: ChargesConfig
    engine: EngineConfig
    plans: PlansConfig
    tiers: TiersConfig
    trading: TradingConfig


FILES: tuple[str, ...] = tuple(ProductConfig.model_fields)


def parse_product_config(raw: dict[str, Any]) -> ProductConfig:
    """Validate the parsed files (keyed by file stem); the first problem is raised as one line, e.g.
    ``engine.toml: group_commit: Input should be a valid boolean``."""
    for stem in raw:
        if stem not in FILES:
            raise ProductConfigError(f"{stem}.toml: not a GridWorks config file (expected "
                                     f"{', '.join(f + '.toml' for f in FILES)})")
    for stem in FILES:
        if stem not in raw:
            raise ProductConfigError(f"{stem}.toml: missing (every file of config/ is required)")
    try:
        return ProductConfig.model_validate(raw)
    except ValidationError as exc:
        raise ProductConfigError(_first_problem(exc.errors())) from None


def _first_problem(errors: list[Any]) -> str:
    """One line for the most telling error: an unknown key first (a typo also makes its intended key
    "missing"; the typo is the news), with the missing key of the same table it probably meant."""
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    err = (unknown or errors)[0]
    stem, *where = [str(p) for p in err["loc"]]
    key = f"{stem}.toml: {'.'.join(where) or '-'}"
    if err["type"] != "extra_forbidden":
        return f"{key}: {err['msg'].removeprefix('Value error, ')}"
    missing = [str(e["loc"][-1]) for e in errors
               if e["type"] == "missing" and tuple(e["loc"][:-1]) == tuple(err["loc"][:-1])]
    close = difflib.get_close_matches(str(err["loc"][-1]), missing, n=1)
    return f"{key}: unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")


def load_product_config(config_dir: Path = CONFIG_DIR) -> ProductConfig:
    """Read and validate every ``*.toml`` of ``config_dir`` (``tiers.toml`` → ``.tiers``)."""
    raw: dict[str, Any] = {}
    for path in sorted(config_dir.glob("*.toml")):
        with path.open("rb") as fh:
            try:
                raw[path.stem] = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ProductConfigError(f"{path.name}: {exc}") from None
    return parse_product_config(raw)


@lru_cache(maxsize=1)
def shipped_product_config() -> ProductConfig:
    """The files shipped in ``config/``, parsed once per process: the default of tools and tests that are not
    handed a :class:`ProductConfig` by a composition root."""
    return load_product_config(CONFIG_DIR)
