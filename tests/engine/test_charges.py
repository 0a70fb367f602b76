from datetime import date
from decimal import Decimal

from engine.api import Product, Side, Tier
from engine.charges import ZERO_BROKERAGE, Brokerage, ChargeSchedule
from tests.engine.conftest import CONFIG

SCHEDULE = ChargeSchedule(CONFIG.charges, CONFIG.tiers)
DAY = date(2026, 11, 23)


def test_worked_example_from_the_shared_doc_is_16_61():
    c = SCHEDULE.compute(product=Product.CNC, side=Side.BUY, value_paise=10 * 140_000, on=DAY,
                         brokerage=ZERO_BROKERAGE)
    assert (c.stt, c.exchange, c.sebi, c.stamp, c.gst) == (1400, 42, 1, 210, 8)
    assert c.total == 1661


def test_lite_brokerage_is_clamped_between_2_and_10_rupees():
    small = SCHEDULE.compute(product=Product.CNC, side=Side.BUY, value_paise=50_000, on=DAY, tier=Tier.LITE)
    mid = SCHEDULE.compute(product=Product.CNC, side=Side.BUY, value_paise=500_000, on=DAY, tier=Tier.LITE)
    big = SCHEDULE.compute(product=Product.CNC, side=Side.BUY, value_paise=50_000_000, on=DAY, tier=Tier.LITE)
    assert small.brokerage == 200
    assert mid.brokerage == 500          # 0.1% of ₹5,000
    assert big.brokerage == 1000


def test_pro_brokerage_is_flat_20_rupees_and_gst_applies_to_it():
    c = SCHEDULE.compute(product=Product.CNC, side=Side.BUY, value_paise=1_400_000, on=DAY, tier=Tier.PRO)
    assert c.brokerage == 2000
    assert c.gst == 368                  # 18% of (20 + 0.4158 + 0.014) = 3.6774


def test_intraday_sell_pays_stt_and_buy_pays_stamp_only():
    sell = SCHEDULE.compute(product=Product.MIS, side=Side.SELL, value_paise=10_000_000, on=DAY,
                            brokerage=ZERO_BROKERAGE)
    buy = SCHEDULE.compute(product=Product.MIS, side=Side.BUY, value_paise=10_000_000, on=DAY,
                           brokerage=ZERO_BROKERAGE)
    assert sell.stt == 2500 and sell.stamp == 0          # 0.025% of ₹1,00,000
    assert buy.stt == 0 and buy.stamp == 300             # 0.003%


def test_rates_are_dated_rows():
    row = CONFIG.charges.rates[-1]
    doubled = row.CNC.model_copy(update={"stt_buy": Decimal("0.002"), "stt_sell": Decimal("0.002")})
    later = CONFIG.charges.model_copy(update={"rates": (*CONFIG.charges.rates, row.model_copy(
        update={"effective_from": date(2027, 4, 1), "CNC": doubled}))})
    s = ChargeSchedule(later, CONFIG.tiers)
    before = s.compute(product=Product.CNC, side=Side.BUY, value_paise=1_400_000, on=date(2027, 3, 31),
                       brokerage=ZERO_BROKERAGE)
    after = s.compute(product=Product.CNC, side=Side.BUY, value_paise=1_400_000, on=date(2027, 4, 1),
                      brokerage=ZERO_BROKERAGE)
    assert (before.stt, after.stt) == (1400, 2800)


def test_brokerage_parses_from_tiers_config():
    assert SCHEDULE.brokerage(Tier.PRO) == Brokerage("flat", flat_paise=2000)
    assert SCHEDULE.brokerage("lite").fee(0) == 0
