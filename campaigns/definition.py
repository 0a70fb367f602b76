"""A campaign as a file (TOML or YAML): who (segment), what (a template per arm), how (schedule, caps, rate).

Example (``campaigns/examples/pro_trial.toml``)::

    id = "pro-trial-nov"
    name = "Free PRO trial for active LITE traders"
    segment = {all = [{tier = "LITE"}, {trial_used = false}, {opted_out = false}, {trigger = "spec"}]}
    arms = [{name = "control", weight = 70},
            {name = "A", weight = 15, template = "gw_nudge_a"},
            {name = "B", weight = 15, template = "gw_nudge_b"}]
    start = "2026-11-23T10:00:00+05:30"     # optional: not before this time
    [policy]                                 # optional: overrides config/campaigns.toml [policy]
    rate = 20
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import yaml

from campaigns.assign import DEFAULT_ARMS, Arm
from campaigns.policy import Policy
from campaigns.segment import SegmentError, validate

_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,23}")


class CampaignError(ValueError):
    """A campaign file that cannot be run; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    name: str
    segment: Mapping[str, Any]
    arms: tuple[Arm, ...] = DEFAULT_ARMS
    policy: Policy = field(default_factory=Policy)
    start: datetime | None = None
    attribution_days: int = 30          # a trial or payment this long after the send counts for the campaign
    source: Mapping[str, Any] = field(default_factory=dict)

    @property
    def correlation(self) -> str:
        """The audit log's correlation id of this campaign's sends (at most 32 characters)."""
        return f"c:{self.id}"

    def arm(self, name: str) -> Arm | None:
        return next((a for a in self.arms if a.name == name), None)


def parse(raw: Mapping[str, Any], *, base_policy: Policy | None = None) -> Campaign:
    cid = str(raw.get("id") or "")
    if not _ID.fullmatch(cid):
        raise CampaignError(f"id {cid!r}: 1–24 characters of a-z, 0-9 and '-', starting with a letter or digit")
    segment = raw.get("segment")
    if not isinstance(segment, Mapping):
        raise CampaignError("segment = {…} is required (see campaigns/segment.py for the rules)")
    try:
        validate(segment)
    except SegmentError as exc:
        raise CampaignError(f"segment: {exc}") from exc
    arms = DEFAULT_ARMS
    if raw.get("arms") is not None:
        try:
            arms = tuple(Arm(name=str(a["name"]), weight=float(a["weight"]),
                             template=str(a["template"]) if a.get("template") else None) for a in raw["arms"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CampaignError(f"arms: each needs name and weight (and template unless a holdout): {exc}") from exc
        if len({a.name for a in arms}) != len(arms) or any(a.weight < 0 for a in arms) or \
                sum(a.weight for a in arms) <= 0:
            raise CampaignError("arms: names must be unique and weights non-negative with a positive sum")
    start = raw.get("start")
    if start is not None and not isinstance(start, datetime):
        try:
            start = datetime.fromisoformat(str(start))
        except ValueError as exc:
            raise CampaignError(f"start {start!r} is not an ISO-8601 time") from exc
    if start is not None and start.tzinfo is None:
        raise CampaignError("start needs a UTC offset, e.g. 2026-11-23T10:00:00+05:30")
    return Campaign(id=cid, name=str(raw.get("name") or cid), segment=segment, arms=arms,
                    policy=Policy.from_mapping(raw.get("policy"), base_policy), start=start,
                    attribution_days=int(raw.get("attribution_days", 30)), source=dict(raw))


def load(path: str | Path, *, base_policy: Policy | None = None) -> Campaign:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CampaignError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text) if path.suffix in (".yml", ".yaml") else tomllib.loads(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise CampaignError(f"{path.name}: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise CampaignError(f"{path.name}: expected a table of settings")
    return parse(raw, base_policy=base_policy)
