"""Order words the trading dialogue relies on (issue 12, point 2): a stop-loss's limit price is never read as its
trigger, a price to cross is a stop when the order would chase it and a limit otherwise, and a trade that only
lacks its stock is asked back as a trade ("buy 5" never offers "My funds")."""

from __future__ import annotations

import pytest

from intents.pipeline import IntentPipeline

STOP_WITH_LIMIT = [
    ("sell 5 infosys with stop loss 1400 limit 1390", 5),
    ("set a stop loss on my infosys at 1400 with limit 1390", None),
    ("5 इंफोसिस बेचो, 1400 पर स्टॉप लॉस, लिमिट 1390", 5),
    ("5 infosys becho, 1400 pe stop loss, limit 1390", 5),
    ("5 இன்போசிஸ் விற்க, ஸ்டாப் லாஸ் 1400, லிமிட் 1390", 5),
    ("5 ఇన్ఫోసిస్ అమ్ము, 1400 స్టాప్ లాస్, లిమిట్ 1390", 5),
]


@pytest.mark.parametrize("text,qty", STOP_WITH_LIMIT)
def test_a_stop_loss_limit_is_the_price_and_the_other_number_the_trigger(pipeline: IntentPipeline, text, qty):
    e = pipeline.classify(text).entities
    assert (e.symbol, e.quantity, e.trigger_price, e.price, e.order_type) == ("INFY", qty, 1400, 1390, "SL")


def test_a_price_before_the_trigger_word_is_the_limit(pipeline: IntentPipeline):
    e = pipeline.classify("buy 10 TCS at 3000 sl 2900").entities
    assert (e.price, e.trigger_price, e.order_type) == (3000, 2900, "SL")


BUY_ABOVE = ["buy 5 TCS if it goes above 3200", "buy 5 TCS when it crosses 3200", "TCS 3200 के ऊपर जाए तो 5 खरीदो",
             "TCS 3200 se upar jaye to 5 kharido", "TCS 3200 மேலே போனால் 5 வாங்கு", "TCS 3200 పైకి వెళ్తే 5 కొను"]


@pytest.mark.parametrize("text", BUY_ABOVE)
def test_buying_when_the_price_rises_past_a_level_is_a_buy_stop(pipeline: IntentPipeline, text):
    r = pipeline.classify(text)
    e = r.entities
    assert r.intent == "buy"
    assert (e.symbol, e.quantity, e.trigger_price, e.price, e.order_type) == ("TCS", 5, 3200, None, "SL-M")


@pytest.mark.parametrize("text,trigger,price", [("sell infosys if it falls below 1400", 1400, None),
                                                ("buy tcs below 3000", None, 3000)])
def test_the_side_decides_whether_a_level_is_a_stop_or_a_limit(pipeline: IntentPipeline, text, trigger, price):
    e = pipeline.classify(text).entities
    assert (e.trigger_price, e.price) == (trigger, price)


@pytest.mark.parametrize("text", ["buy 5", "5 खरीदो", "5 కొను", "buy", "i want to buy 10 shares"])
def test_a_trade_without_a_stock_is_asked_back_only_as_a_trade(pipeline: IntentPipeline, text):
    r = pipeline.classify(text)
    assert r.clarify
    offered = [r.intent] + [name for name, _ in r.alternatives]
    assert "buy" in offered and set(offered) <= {"buy", "out_of_scope"}
