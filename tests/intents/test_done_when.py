"""Issue 3's "done when": the same limit order in Hinglish, Tamil, Bengali and Gujarati script."""

from __future__ import annotations

import pytest

from intents.pipeline import IntentPipeline

ORDER = {"symbol": "RELIANCE", "quantity": 10, "price": 2450, "order_type": "LIMIT"}


def test_hinglish_example(pipeline: IntentPipeline):
    result = pipeline.classify("reliance ke 10 share 2450 pe le lo")
    assert result.intent == "buy"
    assert result.lang == "hi-Latn"
    assert result.entities.to_dict() == ORDER
    assert not result.clarify


@pytest.mark.parametrize("text, lang", [
    ("ரிலையன்ஸ் 10 பங்குகள் 2450 ரூபாய்க்கு வாங்கு", "ta"),
    ("ரிலையன்ஸ் ௧௦ ஷேர் ௨௪௫௦ விலையில் வாங்கு", "ta"),
    ("রিলায়েন্সের ১০টা শেয়ার ২৪৫০ টাকায় কিনুন", "bn"),
    ("রিলায়েন্স ১০টা শেয়ার ২,৪৫০ দামে কিনে দাও", "bn"),
    ("રિલાયન્સના ૧૦ શેર ૨૪૫૦ના ભાવે ખરીદો", "gu"),
    ("રિલાયન્સ 10 શેર 2450 પર ખરીદો", "gu"),
])
def test_same_order_in_native_scripts(pipeline: IntentPipeline, text: str, lang: str):
    result = pipeline.classify(text)
    assert (result.intent, result.lang) == ("buy", lang)
    assert result.entities.to_dict() == ORDER


def test_trace_shape(pipeline: IntentPipeline):
    trace = pipeline.classify("sell 5 infosys at market").to_trace()
    assert set(trace) == {"intent", "confidence", "lang", "entities"}
    assert trace["intent"] == "sell"
    assert trace["entities"] == {"symbol": "INFY", "quantity": 5, "order_type": "MARKET"}
