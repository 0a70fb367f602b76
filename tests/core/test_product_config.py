"""Product configuration fails at start-up naming the file and the key: a string where a boolean belongs, a
missing cap, a typo'd key, a value out of range, a missing or stray file — never a silent default or a crash
in a later turn. Every file of ``config/`` is modelled, and the shipped ones parse."""

from __future__ import annotations

import shutil
from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest

from config.product import FILES, Flat, PercentClamped, ProductConfig, load_product_config
from config.settings import CONFIG_DIR, SettingsError, load_settings


def _config(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the shipped ``config/`` with ``old`` replaced by ``new`` once in ``file``."""
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (target / file).read_text(encoding="utf-8")
    assert old in text, (file, old)
    (target / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def _start_up_error(tmp_path: Path, config_dir: Path) -> str:
    with pytest.raises(SettingsError) as err:
        load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "state")}, config_dir=config_dir)
    message = str(err.value)
    assert "\n" not in message, message                         # one line
    return message


def test_every_shipped_file_is_modelled_and_parses_typed() -> None:
    shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
    assert shipped == sorted(FILES)
    c = load_settings({}).product
    assert isinstance(c, ProductConfig)
    assert c.engine.group_commit is False and c.engine.max_quantity == 100000
    assert c.engine.mis_cutoff == time(15, 20) and c.engine.market.ref_date == date(2026, 11, 20)
    assert c.engine.market.daily_vol == Decimal("0.012")
    assert c.trading.confirmation.ttl_seconds == 120 and c.trading.pin.max_attempts == 5
    assert c.calendar.sessions.open == time(9, 15) and c.calendar.sessions.weekdays == (0, 1, 2, 3, 4)
    assert date(2026, 10, 2) in {h.date for h in c.calendar.holidays}
    first = c.charges.rates[0]
    assert first.CNC.stt_buy == Decimal("0.001") and first.MIS.stt_round_rupee is True
    assert isinstance(c.tiers.LITE.brokerage, PercentClamped) and isinstance(c.tiers.PRO.brokerage, Flat)
    assert (c.tiers.LITE.brokerage.lowest_paise, c.tiers.PRO.brokerage.highest_paise) == (200, 2000)
    assert [p.id for p in c.plans.plan] == ["pro99", "pro499", "pro999"] and c.plans.trial.days == 30
    assert c.campaigns.policy.quiet_start == time(21, 0) and c.campaigns.trigger.trades == 11
    assert "privacy" in c.campaigns.facts.privacy_words
    assert c.analytics.coaching.averaging_down_streak == 3


def test_the_model_is_frozen() -> None:
    c = load_product_config()
    with pytest.raises(ValueError):
        c.trading.confirmation.ttl_seconds = 5                  # type: ignore[misc]


#: For each file: an unknown key, a wrong type and a missing required key, each named in the one-line error.
CASES = [
    # engine.toml
    ("engine.toml", "max_quantity = 100000", "max_quantity = 100000\nmax_qty = 5",
     "engine.toml: max_qty: unknown key"),
    ("engine.toml", "group_commit = false", 'group_commit = "false"',
     "engine.toml: group_commit: Input should be a valid boolean"),
    ("engine.toml", "max_quantity = 100000", "", "engine.toml: max_quantity: Field required"),
    ("engine.toml", "depth_levels = 5", "depth_levels = 0",
     "engine.toml: market.depth_levels: Input should be greater"),
    ("engine.toml", 'daily_vol = "0.012"', "daily_vol = 0.012",
     "engine.toml: market.daily_vol: write the number as a string"),
    ("engine.toml", 'mis_cutoff = "15:20"', 'mis_cutoff = "3:20 pm"',
     "engine.toml: mis_cutoff: expected a time"),
    ("engine.toml", "seed = 20261123\n", "seed = 20261123\nclosing_fill_minutes = 1\n",
     "engine.toml: market.closing_fill_minutes: unknown key"),
    # trading.toml
    ("trading.toml", "recent_limit = 8", "recent_limt = 8",
     "trading.toml: orders.recent_limt: unknown key (did you mean 'recent_limit'?)"),
    ("trading.toml", "ttl_seconds = 120", 'ttl_seconds = "120"',
     "trading.toml: confirmation.ttl_seconds: Input should be a valid integer"),
    ("trading.toml", 'terms_version = "2026-11"', "",
     "trading.toml: onboarding.terms_version: Field required"),
    ("trading.toml", "ttl_seconds = 120", "ttl_seconds = 1",
     "trading.toml: confirmation.ttl_seconds: Input should be"),
    ("trading.toml", "min_length = 4", "min_length = 8",
     "trading.toml: pin: min_length must not exceed max_length"),
    # calendar.toml
    ("calendar.toml", "weekdays = [0, 1, 2, 3, 4]", 'weekdays = [0, 1, 2, 3, 4]\nclosing_start = "15:40"',
     "calendar.toml: sessions.closing_start: unknown key"),
    ("calendar.toml", "weekdays = [0, 1, 2, 3, 4]", 'weekdays = "weekdays"',
     "calendar.toml: sessions.weekdays: Input should be a valid tuple"),
    ("calendar.toml", 'open = "09:15"    ', "#", "calendar.toml: sessions.open: Field required"),
    ("calendar.toml", '{ date = 2026-01-26, name = "Republic Day" }',
     '{ date = 2026-01-26, nam = "Republic Day" }',
     "calendar.toml: holidays.0.nam: unknown key"),
    ("calendar.toml", "{ date = 2026-03-03,", '{ date = "March 3",',
     "calendar.toml: holidays.1.date: 'March 3' is not an ISO date"),
    ("calendar.toml", 'open = "09:15"    ', 'open = "16:15"    ',
     "calendar.toml: sessions: expected pre_open_start"),
    # charges.toml
    ("charges.toml", 'gst = "0.18"', 'gst = "0.18"\ncess = "0.01"',
     "charges.toml: rates.0.cess: unknown key"),
    ("charges.toml", 'stt_buy = "0.001"', "stt_buy = 0.001",
     "charges.toml: rates.0.CNC.stt_buy: write the number as a string"),
    ("charges.toml", 'stamp_buy = "0.00015"', "", "charges.toml: rates.0.CNC.stamp_buy: Field required"),
    ("charges.toml", 'stt_sell = "0.001"', 'stt_sell = "one"',
     "charges.toml: rates.0.CNC.stt_sell: 'one' is not a decimal"),
    # tiers.toml
    ("tiers.toml", "flat_paise = 2000", "flat_paise = 2000\nmonthly_paise = 9900",
     "tiers.toml: PRO.brokerage.flat.monthly_paise: unknown key"),
    ("tiers.toml", "min_paise = 200", 'min_paise = "200"',
     "tiers.toml: LITE.brokerage.percent_clamped.min_paise: Input should be a valid integer"),
    ("tiers.toml", "flat_paise = 2000", "", "tiers.toml: PRO.brokerage.flat.flat_paise: Field required"),
    ("tiers.toml", '\nkind = "flat"', '\nkind = "free"', "tiers.toml: PRO.brokerage: Input tag 'free'"),
    # plans.toml
    ("plans.toml", "remind_days_before = 3", "remind_days_before = 3\nremind_hour = 9",
     "plans.toml: trial.remind_hour: unknown key"),
    ("plans.toml", "price_paise = 9900", "price_paise = 99.0",
     "plans.toml: plan.0.price_paise: Input should be a valid integer"),
    ("plans.toml", 'id = "pro499"', "", "plans.toml: plan.1.id: Field required"),
    ("plans.toml", 'id = "pro499"', 'id = "pro99"', "plans.toml: -: two plans share an id"),
    # campaigns.toml
    ("campaigns.toml", "cap_count = 1", "cap_count = 1\ncap_weeks = 1",
     "campaigns.toml: policy.cap_weeks: unknown key"),
    ("campaigns.toml", "enabled = true", 'enabled = "yes"',
     "campaigns.toml: trigger.enabled: Input should be a valid boolean"),
    ("campaigns.toml", 'template = "gw_nudge_a"', "", "campaigns.toml: trigger.template: Field required"),
    ("campaigns.toml", "holdout = 20", "holdout = 120",
     "campaigns.toml: trigger.holdout: Input should be less than or equal to 100"),
    ("campaigns.toml", 'quiet_end = "09:00"', 'quiet_end = "9am"',
     "campaigns.toml: policy.quiet_end: expected a time"),
    # analytics.toml
    ("analytics.toml", "window_days = 7", "window_days = 7\nwindow_weeks = 1",
     "analytics.toml: coaching.window_weeks: unknown key"),
    ("analytics.toml", "loss_chase_minutes = 60", 'loss_chase_minutes = "60"',
     "analytics.toml: coaching.loss_chase_minutes: Input should be a valid integer"),
    ("analytics.toml", "averaging_down_streak = 3", "",
     "analytics.toml: coaching.averaging_down_streak: Field required"),
]


@pytest.mark.parametrize(("file", "old", "new", "message"), CASES)
def test_a_bad_file_stops_the_start_up_naming_the_key(tmp_path: Path, file: str, old: str, new: str,
                                                         message: str) -> None:
    got = _start_up_error(tmp_path, _config(tmp_path, file, old, new))
    assert got.startswith(message), got


def test_every_file_has_an_unknown_key_a_wrong_type_and_a_missing_key_case() -> None:
    kinds: dict[str, set[str]] = {f"{stem}.toml": set() for stem in FILES}
    for file, _old, _new, message in CASES:
        if "unknown key" in message:
            kinds[file].add("unknown")
        elif "Field required" in message:
            kinds[file].add("missing")
        elif "valid" in message or "as a string" in message:
            kinds[file].add("type")
    assert {f: k for f, k in kinds.items() if k != {"unknown", "missing", "type"}} == {}


def test_a_missing_or_stray_file_stops_the_start_up(tmp_path: Path) -> None:
    missing = _config(tmp_path, "plans.toml", "[trial]", "[trial]")
    (missing / "plans.toml").unlink()
    assert _start_up_error(tmp_path, missing).startswith("plans.toml: missing")
    shutil.copy(CONFIG_DIR / "plans.toml", missing / "plans.toml")
    (missing / "analytic.toml").write_text("[coaching]\n", encoding="utf-8")
    assert _start_up_error(tmp_path, missing).startswith("analytic.toml: not a GridWorks config file")


def test_a_file_that_is_not_toml_stops_the_start_up_naming_it(tmp_path: Path) -> None:
    broken = _config(tmp_path, "trading.toml", "ttl_seconds = 120", "ttl_seconds = ")
    assert _start_up_error(tmp_path, broken).startswith("trading.toml: ")


def test_each_component_is_built_from_its_own_typed_section(tmp_path: Path) -> None:
    """Values changed in the files reach the components (nothing falls back to a default in code)."""
    from campaigns.policy import Policy
    from engine.api import Tier
    from engine.calendar import TradingCalendar
    from engine.charges import ChargeSchedule
    from engine.market import MarketParams
    from engine.params import EngineParams
    from handlers.analytics import CoachingRules
    from handlers.security import PinPolicy
    from handlers.upgrade import PlanBook, order_pricing

    edits = {"trading.toml": [("max_attempts = 5", "max_attempts = 3")],
             "engine.toml": [("max_quantity = 100000", "max_quantity = 500"),
                             ("depth_levels = 5", "depth_levels = 3")],
             "calendar.toml": [('{ date = 2026-12-25, name = "Christmas" },', "")],
             "tiers.toml": [("flat_paise = 2000", "flat_paise = 1500")],
             "plans.toml": [("days = 30\nremind", "days = 14\nremind")],
             "campaigns.toml": [('quiet_start = "21:00"', 'quiet_start = "20:30"')],
             "analytics.toml": [("window_days = 7", "window_days = 10")]}
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for file, pairs in edits.items():
        text = (target / file).read_text(encoding="utf-8")
        for old, new in pairs:
            assert old in text, (file, old)
            text = text.replace(old, new, 1)
        (target / file).write_text(text, encoding="utf-8")
    c = load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "state")}, config_dir=target).product

    assert PinPolicy.from_config(c.trading.pin).max_attempts == 3
    assert EngineParams.from_config(c.engine).max_quantity == 500
    assert MarketParams.from_config(c.engine.market).depth_levels == 3
    assert TradingCalendar(c.calendar).is_trading_day(date(2026, 12, 25))   # a Friday, no longer a holiday
    assert not TradingCalendar(c.calendar).is_trading_day(date(2026, 10, 2))
    assert ChargeSchedule(c.charges, c.tiers).brokerage(Tier.PRO).fee(1_000_000) == 1500
    assert order_pricing(c.tiers) == {"lite_min": "₹2", "lite_max": "₹10", "pro_fee": "₹15"}
    assert PlanBook.from_config(c.plans).trial_days == 14
    assert Policy.from_config(c.campaigns.policy).quiet_start == time(20, 30)
    assert CoachingRules.from_config(c.analytics.coaching).window_days == 10


def test_no_handler_reads_a_raw_config_mapping() -> None:
    """Handlers read ``services.product.<file>.<section>`` (typed); a mapping lookup with a default in code
    (the old ``setting(ctx, "confirmation", "ttl_seconds", 120)``) would bypass the start-up check."""
    root = CONFIG_DIR.parent
    offenders = []
    for pkg in ("handlers", "engine", "bot", "campaigns"):
        for path in (root / pkg).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for needle in ("services.config", "setting(ctx", "setting(services", "load_product_config()[",
                           'product.get(', 'product["'):
                if needle in text:
                    offenders.append(f"{path.relative_to(root)}: {needle}")
    assert offenders == []
