"""Deterministic arm assignment: the same (campaign, user) always lands in the same arm, on any machine.

Why a hash and not a random draw: a resumed or re-planned campaign, the report and the chat handler must all
agree on a user's arm without storing a seed; SHA-256 of ``campaign:user`` mapped to [0, 1) is uniform
enough that arm sizes follow the weights within binomial noise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm: its share of the audience and the template it sends (``None``: the holdout, sent nothing)."""

    name: str
    weight: float
    template: str | None = None

    @property
    def holdout(self) -> bool:
        return self.template is None


DEFAULT_ARMS: tuple[Arm, ...] = (Arm("control", 70), Arm("A", 15, "gw_nudge_a"), Arm("B", 15, "gw_nudge_b"))


def unit(campaign_id: str, user_key: str) -> float:
    """A uniform number in [0, 1) fixed by (campaign, user)."""
    digest = hashlib.sha256(f"{campaign_id}:{user_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def arm_for(campaign_id: str, user_key: str, arms: Sequence[Arm]) -> Arm:
    total = sum(a.weight for a in arms)
    if not arms or total <= 0:
        raise ValueError("a campaign needs arms with positive weights")
    point = unit(campaign_id, user_key) * total
    upto = 0.0
    for arm in arms:
        upto += arm.weight
        if point < upto:
            return arm
    return arms[-1]
