"""Uplift of a nudge arm over the holdout: difference of two proportions with a confidence interval.

Why these tests: arms are independent samples and conversions are yes/no, so the two-proportion z-test
(pooled standard error) gives the p-value and the unpooled (Wald) standard error the interval of the
difference; both are what an analyst would recompute by hand from the report's counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _z_for(confidence: float) -> float:
    """The two-sided critical value (1.96 for 95 %), by bisection on the normal CDF."""
    target = 1 - (1 - confidence) / 2
    lo, hi = 0.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _phi(mid) < target else (lo, mid)
    return (lo + hi) / 2


@dataclass(frozen=True, slots=True)
class Uplift:
    rate_arm: float
    rate_control: float
    diff: float          # rate_arm - rate_control (absolute, 0.012 = +1.2 points)
    low: float
    high: float
    z: float
    p_value: float
    confidence: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def uplift(conv_arm: int, n_arm: int, conv_control: int, n_control: int, *, confidence: float = 0.95) -> Uplift:
    if n_arm <= 0 or n_control <= 0:
        return Uplift(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, confidence)
    p1, p0 = conv_arm / n_arm, conv_control / n_control
    diff = p1 - p0
    se = math.sqrt(p1 * (1 - p1) / n_arm + p0 * (1 - p0) / n_control)
    pooled = (conv_arm + conv_control) / (n_arm + n_control)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_arm + 1 / n_control))
    z = diff / se0 if se0 > 0 else 0.0
    p = 2 * (1 - _phi(abs(z)))
    crit = _z_for(confidence)
    return Uplift(p1, p0, diff, diff - crit * se, diff + crit * se, z, p, confidence)
