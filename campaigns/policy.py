"""When a marketing message may go to a user: quiet hours (IST), a frequency cap across campaigns, opt-out.

Pure decisions over facts the caller loads at send time; the runner asks :func:`skip_reason` for every user
of a batch just before the batch is handed to the send queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from config.product import CampaignPolicyConfig

IST = ZoneInfo("Asia/Kolkata")


class Skip(StrEnum):
    OPTED_OUT = "opted_out"          # STOP, Meta's user_preferences "stop", or 131050
    CAPPED = "capped"                # another marketing template inside the cap window
    SUPPRESSED = "suppressed"        # "Not interested" to this campaign
    NOT_LITE = "not_lite"            # became PRO since planning: nothing to nudge
    NO_ADDRESS = "no_address"


@dataclass(frozen=True, slots=True)
class Policy:
    """Configured in ``config/campaigns.toml`` ``[policy]``; a campaign file may override any field."""

    cap_days: int = 7                  # at most ``cap_count`` marketing templates per user per ``cap_days``
    cap_count: int = 1
    quiet_start: time = time(21, 0)    # IST; no marketing from quiet_start to quiet_end
    quiet_end: time = time(9, 0)
    rate: float = 20.0                 # campaign sends per second (below the number's total rate)

    @classmethod
    def from_config(cls, c: CampaignPolicyConfig) -> "Policy":
        """``config/campaigns.toml`` ``[policy]``: the base a campaign file's ``[policy]`` overrides."""
        return cls(cap_days=c.cap_days, cap_count=c.cap_count, quiet_start=c.quiet_start,
                   quiet_end=c.quiet_end, rate=c.rate)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, base: "Policy | None" = None) -> "Policy":
        base = base or cls()
        raw = raw or {}

        def hhmm(key: str, default: time) -> time:
            value = raw.get(key)
            return time.fromisoformat(str(value)) if value is not None else default

        return cls(cap_days=int(raw.get("cap_days", base.cap_days)),
                   cap_count=int(raw.get("cap_count", base.cap_count)),
                   quiet_start=hhmm("quiet_start", base.quiet_start), quiet_end=hhmm("quiet_end", base.quiet_end),
                   rate=float(raw.get("rate", base.rate)))

    def quiet(self, now: datetime) -> bool:
        """True inside quiet hours (IST). A window crossing midnight (21:00–09:00) is handled."""
        local = now.astimezone(IST).time()
        if self.quiet_start == self.quiet_end:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end

    def quiet_ends(self, now: datetime) -> datetime:
        """The first moment at or after ``now`` outside quiet hours."""
        if not self.quiet(now):
            return now
        local = now.astimezone(IST)
        end = local.replace(hour=self.quiet_end.hour, minute=self.quiet_end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end

    def cap_since(self, now: datetime) -> datetime:
        return now - timedelta(days=self.cap_days)


@dataclass(frozen=True, slots=True)
class SendFacts:
    """What the runner knows about one user at send time."""

    tier: str
    opted_out: bool
    recent_marketing: int          # marketing templates sent to them since ``Policy.cap_since``
    suppressed: bool = False
    address: str | None = "x"


def skip_reason(facts: SendFacts, policy: Policy) -> Skip | None:
    if facts.address is None:
        return Skip.NO_ADDRESS
    if facts.opted_out:
        return Skip.OPTED_OUT
    if facts.suppressed:
        return Skip.SUPPRESSED
    if facts.tier != "LITE":
        return Skip.NOT_LITE
    if facts.recent_marketing >= policy.cap_count:
        return Skip.CAPPED
    return None
