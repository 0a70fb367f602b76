"""The funnel per arm, from recorded facts: the send states, Meta's delivery statuses, taps and conversions.

Stages: targeted → sent → delivered → read → tapped → trial → paid → retained (still PRO 30 days after the
trial or payment), with opted-out and failures by error code beside them. Conversion (trial or paid) is
counted over everyone *targeted* in an arm — the holdout included, whose conversions are organic — so the
uplift compares like with like (intent to treat), whatever was skipped or failed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from campaigns.stats import Uplift, uplift

STAGES = ("targeted", "sent", "delivered", "read", "tapped", "trial", "paid", "retained")
RETAIN_DAYS = 30


@dataclass
class ArmFunnel:
    arm: str
    holdout: bool
    counts: Counter[str] = field(default_factory=Counter)
    failed_by_code: Counter[str] = field(default_factory=Counter)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    uplift: Uplift | None = None

    @property
    def converted(self) -> int:
        return self.counts["converted"]


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def build(rows: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]], *, arms: Iterable[tuple[str, bool]],
          now: datetime, confidence: float = 0.95) -> list[ArmFunnel]:
    """``rows``: one per planned user (arm, state, reason, send_error, status, error_code, tier, opted_out);
    ``events``: taps and conversions (user_key, kind, at)."""
    by_user: dict[str, dict[str, datetime]] = defaultdict(dict)
    for e in events:
        at = _aware(e["at"])
        seen = by_user[e["user_key"]]
        if e["kind"] not in seen or (at and at < seen[e["kind"]]):
            seen[e["kind"]] = at or now
    out = {name: ArmFunnel(name, holdout) for name, holdout in arms}
    for r in rows:
        f = out.setdefault(r["arm"], ArmFunnel(r["arm"], False))
        c = f.counts
        c["targeted"] += 1
        status, state = r.get("status"), r["state"]
        code = r.get("error_code") or r.get("send_error")
        if state == "sent":
            c["sent"] += 1
        elif state == "skipped":
            f.skipped_by_reason[r.get("reason") or "?"] += 1
        elif state == "unknown":
            c["unknown"] += 1
        if status in ("delivered", "read"):
            c["delivered"] += 1
        if status == "read":
            c["read"] += 1
        if state == "failed" or status == "failed":
            c["failed"] += 1
            f.failed_by_code[str(code or "?")] += 1
        seen = by_user.get(r["user_key"], {})
        if any(k.startswith("tap_") for k in seen):
            c["tapped"] += 1
        if "tap_no" in seen:
            c["not_interested"] += 1
        if "trial" in seen:
            c["trial"] += 1
        if "paid" in seen:
            c["paid"] += 1
        started = [at for k, at in seen.items() if k in ("trial", "paid")]
        if started:
            c["converted"] += 1
            if r.get("tier") == "PRO" and now - min(started) >= timedelta(days=RETAIN_DAYS):
                c["retained"] += 1
        if r.get("opted_out") or str(code) == "131050":
            c["opted_out"] += 1
    control = next((f for f in out.values() if f.holdout), None)
    for f in out.values():
        if control is not None and f is not control:
            f.uplift = uplift(f.converted, f.counts["targeted"], control.converted, control.counts["targeted"],
                              confidence=confidence)
    return list(out.values())


def daily(rows: Iterable[Mapping[str, Any]]) -> dict[str, Counter[str]]:
    """Sends and deliveries per IST day (``{"2026-11-23": Counter(sent=…, delivered=…)}``)."""
    from campaigns.policy import IST

    days: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        sent_at = _aware(r.get("at"))
        if r["state"] == "sent" and sent_at is not None:
            days[sent_at.astimezone(IST).date().isoformat()]["sent"] += 1
        status_at = _aware(r.get("status_at"))
        if r.get("status") in ("delivered", "read") and status_at is not None:
            days[status_at.astimezone(IST).date().isoformat()]["delivered"] += 1
    return dict(sorted(days.items()))
