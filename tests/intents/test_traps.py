"""The traps of issue 3: romanized number collisions, buy-by-value, trading words outside trading."""

from __future__ import annotations

import pytest

from intents.pipeline import IntentPipeline
from intents.types import TRADE_INTENTS


def test_bech_do_is_not_two_shares(pipeline: IntentPipeline):
    result = pipeline.classify("infosys bech do")
    assert result.intent == "sell"
    assert result.entities.symbol == "INFY"
    assert result.entities.quantity is None


def test_kar_do_is_not_two(pipeline: IntentPipeline):
    """The scanner itself must not read "do" after a verb as a number (the entity layer would hide it:
    cancel_order carries no quantity)."""
    from intents.text import tokenize

    for text in ("tcs ka order cancel kar do", "reliance bech do"):
        numbers = [sp for sp in pipeline.scanner.scan(tokenize(text)) if sp.kind == "num"]
        assert numbers == [], text
    [two] = [sp for sp in pipeline.scanner.scan(tokenize("do share reliance kharido")) if sp.kind == "num"]
    assert two.value == 2


def test_do_before_share_noun_is_two(pipeline: IntentPipeline):
    result = pipeline.classify("do share reliance kharido")
    assert result.intent == "buy"
    assert result.entities.quantity == 2


def test_buy_by_value(pipeline: IntentPipeline):
    result = pipeline.classify("₹5000 ka TCS le lo")
    assert result.intent == "buy"
    assert result.entities.symbol == "TCS"
    assert result.entities.amount == 5000
    assert result.entities.quantity is None
    assert result.entities.price is None


def test_never_invents_quantity_or_price(pipeline: IntentPipeline):
    result = pipeline.classify("reliance kharido")
    assert result.intent == "buy"
    assert result.entities.quantity is None and result.entities.price is None
    assert result.entities.order_type == "MARKET"


@pytest.mark.parametrize("text", [
    "buy milk", "order a pizza", "cancel my meeting", "stop the music", "share this post on facebook",
    "book an uber to the airport", "add sugar to my shopping list", "sell my old bike", "buy 2 kg tomatoes",
    "yeh post share kar do", "doodh le aao", "movie ticket book karo", "titan ki ghadi kharidni hai",
    "maruti car ki price kya hai", "cancel my swiggy order",
])
def test_out_of_scope_never_starts_an_order(pipeline: IntentPipeline, text: str):
    result = pipeline.classify(text)
    assert not (result.intent in TRADE_INTENTS and not result.clarify), result


def test_bare_stop_is_opt_out_but_stop_sentences_are_not(pipeline: IntentPipeline):
    assert pipeline.classify("STOP").intent == "opt_out"
    assert pipeline.classify("unsubscribe").intent == "opt_out"
    assert pipeline.classify("stop the music").intent != "opt_out"
    assert pipeline.classify("stop loss kya hai").intent == "education"


def test_typos_resolve(pipeline: IntentPipeline):
    assert pipeline.classify("relaince 5 share buy").entities.symbol == "RELIANCE"
    assert pipeline.classify("buy 3 infosyss").entities.symbol == "INFY"
    assert pipeline.classify("sell 10 tata motars").entities.symbol == "TATAMOTORS"


def test_intraday_is_mis_and_stop_loss_orders(pipeline: IntentPipeline):
    result = pipeline.classify("buy 10 sbi intraday at 850")
    assert (result.entities.product, result.entities.price, result.entities.order_type) == ("MIS", 850, "LIMIT")
    sl = pipeline.classify("sell 20 tcs trigger 3050 price 3040")
    assert sl.entities.trigger_price == 3050 and sl.entities.price == 3040 and sl.entities.order_type == "SL"


def test_romanized_bengali_chai_means_want_not_tea(pipeline):
    """'chai' is tea in Hindi but 'want' in romanized Bengali: a Banglish order must not be vetoed."""
    result = pipeline.classify("reliance 10 ta kinte chai")
    assert result.intent == "buy" and result.entities.symbol == "RELIANCE" and result.entities.quantity == 10
