"""The pure campaign rules: segments evaluated by SQLite and PostgreSQL, hash arms, quiet hours, caps, uplift."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import insert

from bot.campaigns.store import CampaignStore
from bot.stores.sql import messages, users
from campaigns.assign import DEFAULT_ARMS, Arm, arm_for
from campaigns.definition import CampaignError, parse
from campaigns.policy import Policy, SendFacts, Skip, skip_reason
from campaigns.stats import uplift
from engine.clock import IST
from engine.tables import holdings, trades
from tests.campaigns.test_campaign_e2e import complete

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


def _campaign(segment, **kw):
    return parse({"id": "t1", "segment": segment, **kw})


async def _users(db):
    store = CampaignStore(db, privacy_words=("privacy", "encrypt"))
    await store.create_schema()
    people = {
        # key: (tier, language, trades this month, holdings cost paise, profile, inbound text, days since)
        "u1": ("LITE", "en", 12, 0, "{}", "is my data private? privacy matters", 1),
        "u2": ("LITE", "hi", 3, 15_000_000, "{}", "hello", 40),
        "u3": ("LITE", "ta", 11, 12_000_000, '{"trial_used": true}', None, None),
        "u4": ("LITE", "hi-Latn", 15, 20_000_000, '{"marketing_opt_out": true}', None, None),
        "u5": ("PRO", "en", 20, 50_000_000, "v1.sealed", "encrypt everything", 2),
        "u6": ("LITE", "or", 0, 0, "{}", None, None),
    }
    async with db.begin() as conn:
        for key, (tier, lang, n, cost, profile, text, days) in people.items():
            await conn.execute(insert(users).values(key=key, phone=None, tier=tier, language=lang, profile=profile,
                                                    created_at=NOW, updated_at=NOW))
            rows = [dict(trade_id=f"{key}-{i}", seq=i, order_id=f"{key}-{i}", account=key, symbol="TCS", side="BUY",
                         quantity=1, price=1, product="CNC", trade_day=date(2026, 11, 1 + i % 20)) for i in range(n)]
            rows.append(dict(trade_id=f"{key}-old", seq=99, order_id=f"{key}-old", account=key, symbol="TCS",
                             side="BUY", quantity=1, price=1, product="CNC", trade_day=date(2026, 10, 30)))
            await conn.execute(insert(trades), complete(trades, rows))
            if cost:
                await conn.execute(insert(holdings), complete(holdings, [dict(account=key, symbol="TCS", quantity=5,
                                                                              cost=cost, lots="[]")]))
            if text:
                await conn.execute(insert(messages).values(wamid=f"in.{key}", direction="in", user_key=key, kind="text",
                                                           body=text, created_at=NOW - timedelta(days=days)))
    return store


async def test_segment_rules_are_evaluated_by_the_database(db):
    store = await _users(db)

    async def keys(segment):
        return sorted(k for k, _ in await store.audience(_campaign(segment), NOW))

    assert await keys({"tier": "LITE"}) == ["u1", "u2", "u3", "u4", "u6"]
    assert await keys({"trades_this_month": {"min": 11}}) == ["u1", "u3", "u4", "u5"]   # October's trade excluded
    assert await keys({"portfolio_value": {"min_rupees": 100000}}) == ["u2", "u3", "u4", "u5"]
    assert await keys({"trial_used": False}) == ["u1", "u2", "u4", "u5", "u6"]   # a sealed profile reads "not set"
    assert await keys({"opted_out": True}) == ["u4"]
    assert await keys({"privacy_interest": True}) == ["u1", "u5"]
    assert await keys({"language": ["hi", "hi-Latn"]}) == ["u2", "u4"]
    assert await keys({"last_active_days": {"max": 7}}) == ["u1", "u5"]
    assert await keys({"not": {"last_active_days": {"max": 7}}}) == ["u2", "u3", "u4", "u6"]
    assert await keys({"any": [{"language": "or"}, {"tier": "PRO"}]}) == ["u5", "u6"]
    assert await keys({"trigger": "spec"}) == ["u1", "u3", "u4", "u5"]
    assert await keys({"all": [{"tier": "LITE"}, {"trial_used": False}, {"opted_out": False},
                               {"trigger": "spec"}]}) == ["u1"]
    assert await store.count_audience(_campaign({"tier": "LITE"}), NOW) == 5


def test_unreadable_campaign_files_are_refused_with_the_reason():
    with pytest.raises(CampaignError, match="unknown fact 'tiers'"):
        _campaign({"tiers": "LITE"})
    with pytest.raises(CampaignError, match="id"):
        parse({"id": "Bad Id!", "segment": {"tier": "LITE"}})
    with pytest.raises(CampaignError, match="arms"):
        _campaign({"tier": "LITE"}, arms=[{"name": "A"}])
    with pytest.raises(CampaignError, match="min"):
        _campaign({"trades_this_month": {"least": 3}})


def test_arms_are_deterministic_and_follow_the_weights():
    users_ = [f"9198{i:08d}" for i in range(20000)]
    first = [arm_for("c1", u, DEFAULT_ARMS).name for u in users_]
    assert first == [arm_for("c1", u, DEFAULT_ARMS).name for u in users_]
    sizes = Counter(first)
    for arm in DEFAULT_ARMS:
        share = arm.weight / 100
        assert abs(sizes[arm.name] - 20000 * share) <= 4 * (20000 * share * (1 - share)) ** 0.5
    other = Counter(a == b for a, b in zip(first, (arm_for("c2", u, DEFAULT_ARMS).name for u in users_)))
    assert other[False] > 5000            # another campaign draws its arms independently
    assert {arm_for("c", u, (Arm("only", 1, "t"),)).name for u in users_[:50]} == {"only"}


def test_quiet_hours_are_in_ist_and_cross_midnight():
    pol = Policy()
    at = lambda h, m=0: datetime(2026, 11, 23, h, m, tzinfo=IST)   # noqa: E731
    assert not pol.quiet(at(20, 59)) and pol.quiet(at(21)) and pol.quiet(at(3)) and pol.quiet(at(8, 59))
    assert not pol.quiet(at(9)) and not pol.quiet(at(14))
    assert pol.quiet(datetime(2026, 11, 23, 16, 0, tzinfo=IST).astimezone(IST) + timedelta(hours=6))
    assert pol.quiet_ends(at(22)) == datetime(2026, 11, 24, 9, 0, tzinfo=IST)
    assert pol.quiet_ends(at(7)) == at(9) and pol.quiet_ends(at(12)) == at(12)
    custom = Policy.from_mapping({"quiet_start": "13:00", "quiet_end": "14:00"})
    assert custom.quiet(at(13, 30)) and not custom.quiet(at(22)) and custom.quiet_start == time(13, 0)


def test_send_time_checks():
    pol = Policy(cap_count=1)
    ok = SendFacts(tier="LITE", opted_out=False, recent_marketing=0)
    assert skip_reason(ok, pol) is None
    assert skip_reason(SendFacts(tier="LITE", opted_out=True, recent_marketing=0), pol) == Skip.OPTED_OUT
    assert skip_reason(SendFacts(tier="LITE", opted_out=False, recent_marketing=1), pol) == Skip.CAPPED
    assert skip_reason(SendFacts(tier="PRO", opted_out=False, recent_marketing=0), pol) == Skip.NOT_LITE
    assert skip_reason(SendFacts(tier="LITE", opted_out=False, recent_marketing=0, suppressed=True),
                       pol) == Skip.SUPPRESSED


def test_uplift_matches_the_two_proportion_test_by_hand():
    up = uplift(60, 1000, 40, 1000)
    assert up.diff == pytest.approx(0.02)
    # pooled p = 0.05, se0 = sqrt(0.05*0.95*2/1000) = 0.009747 -> z = 2.052, two-sided p = 0.0402
    assert up.z == pytest.approx(2.0519, abs=1e-3) and up.p_value == pytest.approx(0.0402, abs=1e-3)
    se = (0.06 * 0.94 / 1000 + 0.04 * 0.96 / 1000) ** 0.5
    assert up.low == pytest.approx(0.02 - 1.95996 * se, abs=1e-5) and up.significant
    assert not uplift(41, 1000, 40, 1000).significant
