"""Charges per executed order: brokerage by tier plus STT, exchange charge, SEBI fee, stamp duty and GST.

Rates are dated data (``config/charges.toml``, ``config/tiers.toml``). Every component is computed exactly
with fractions and rounded half-up to the paisa once (STT to the rupee where the schedule says so), so the
worked example BUY 10 @ ₹1,400 CNC with zero brokerage gives ₹16.61.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Mapping

from config.product import BrokerageConfig, ChargesConfig, Flat, TiersConfig
from config.product import ProductRates as ProductRatesConfig
from engine.api import Charges, Product, Side, Tier


def _frac(value: Decimal) -> Fraction:
    return Fraction(value)


def round_half_up(x: Fraction, unit: int = 1) -> int:
    """Round a non-negative amount of paise to a multiple of ``unit`` paise, halves up."""
    return int((x / unit + Fraction(1, 2)) // 1) * unit


@dataclass(frozen=True, slots=True)
class ProductRates:
    stt_buy: Fraction
    stt_sell: Fraction
    stt_round_rupee: bool
    exchange: Fraction
    sebi: Fraction
    stamp_buy: Fraction

    @classmethod
    def of(cls, r: ProductRatesConfig) -> "ProductRates":
        return cls(_frac(r.stt_buy), _frac(r.stt_sell), r.stt_round_rupee, _frac(r.exchange), _frac(r.sebi),
                   _frac(r.stamp_buy))


@dataclass(frozen=True, slots=True)
class RateRow:
    effective_from: date
    gst: Fraction
    products: Mapping[str, ProductRates]


@dataclass(frozen=True, slots=True)
class Brokerage:
    """One tier's price list: a flat fee, or a percentage clamped to [min, max] (per executed order)."""

    kind: str
    percent: Fraction = Fraction(0)
    min_paise: int = 0
    max_paise: int = 0
    flat_paise: int = 0

    @classmethod
    def of(cls, b: BrokerageConfig) -> "Brokerage":
        if isinstance(b, Flat):
            return cls("flat", flat_paise=b.flat_paise)
        return cls("percent_clamped", _frac(b.percent), b.min_paise, b.max_paise)

    def fee(self, value_paise: int) -> int:
        if value_paise <= 0:
            return 0
        if self.kind == "flat":
            return self.flat_paise
        raw = _round_ratio(value_paise * self.percent.numerator, self.percent.denominator * 100)
        return max(self.min_paise, min(self.max_paise, raw))


ZERO_BROKERAGE = Brokerage("flat")


class ChargeSchedule:
    """Computes :class:`Charges` for an order's executed value from the dated rates and the tier list."""

    def __init__(self, charges: ChargesConfig, tiers: TiersConfig) -> None:
        rows = [RateRow(r.effective_from, _frac(r.gst), {p.value: ProductRates.of(getattr(r, p.value))
                                                         for p in Product}) for r in charges.rates]
        self._rows = sorted(rows, key=lambda r: r.effective_from)
        self._tiers = {t.value: Brokerage.of(getattr(tiers, t.value).brokerage) for t in Tier}
        self._terms: dict[tuple, tuple] = {}

    def brokerage(self, tier: Tier | str) -> Brokerage:
        return self._tiers.get(str(tier).upper(), ZERO_BROKERAGE)

    def rates(self, on: date) -> RateRow:
        current = self._rows[0]
        for row in self._rows:
            if row.effective_from <= on:
                current = row
        return current

    def compute(self, *, product: Product, side: Side, value_paise: int, on: date,
                tier: Tier | str | None = None, brokerage: Brokerage | None = None) -> Charges:
        """Charges for one order whose executed value (so far) is ``value_paise``.

        Exact integer arithmetic on the rates' numerators and denominators (``Fraction`` is too slow for the
        hot path); each component is rounded half-up once. The integers for one (day, product, side, tier) are
        looked up once and cached: the order hot path then does only the arithmetic.
        """
        if value_paise <= 0:
            return Charges()
        key = (on, product, side, tier)
        k = self._terms.get(key)
        if k is None:
            k = self._terms[key] = self._terms_for(product, side, on, tier)
        (stt_n, stt_d, stt_unit, en, ed, sn, sd, gn, gd, stamp_n, stamp_d, broker) = k
        v = value_paise
        brk = (brokerage if brokerage is not None else broker).fee(v)
        stt = _round_ratio(v * stt_n, stt_d, stt_unit)
        stamp = (2 * v * stamp_n + stamp_d) // (2 * stamp_d) if stamp_n else 0
        esd = ed * sd
        gst = (2 * (brk * esd + v * en * sd + v * sn * ed) * gn + esd * gd) // (2 * esd * gd)
        return Charges(brk, stt, (2 * v * en + ed) // (2 * ed), (2 * v * sn + sd) // (2 * sd), stamp, gst)

    def _terms_for(self, product: Product, side: Side, on: date, tier: Tier | str | None) -> tuple:
        if len(self._terms) > 4096:
            self._terms.clear()
        row = self.rates(on)
        r = row.products[product.value]
        stt_rate = r.stt_buy if side is Side.BUY else r.stt_sell
        stamp = r.stamp_buy if side is Side.BUY else Fraction(0)
        return (stt_rate.numerator, stt_rate.denominator, 100 if r.stt_round_rupee else 1,
                r.exchange.numerator, r.exchange.denominator, r.sebi.numerator, r.sebi.denominator,
                row.gst.numerator, row.gst.denominator, stamp.numerator, stamp.denominator,
                self.brokerage(tier or Tier.LITE))


def _round_ratio(num: int, den: int, unit: int = 1) -> int:
    """round_half_up(num / den) to a multiple of ``unit``, for non-negative integers."""
    d = den * unit
    return (2 * num + d) // (2 * d) * unit


def add(a: Charges, b: Charges) -> Charges:
    return Charges(a.brokerage + b.brokerage, a.stt + b.stt, a.exchange + b.exchange, a.sebi + b.sebi,
                   a.stamp + b.stamp, a.gst + b.gst)


def sub(a: Charges, b: Charges) -> Charges:
    return Charges(a.brokerage - b.brokerage, a.stt - b.stt, a.exchange - b.exchange, a.sebi - b.sebi,
                   a.stamp - b.stamp, a.gst - b.gst)
