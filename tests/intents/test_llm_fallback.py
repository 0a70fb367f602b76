"""The optional LLM fallback against a local OpenAI-compatible server, with the real ``openai`` client."""

from __future__ import annotations

import json

import pytest

from config.settings import LLMConfig
from intents.gating import GatePolicy
from intents.llm import LLMFallback, parse_answer
from intents.pipeline import IntentPipeline
from tests.intents.fake_openai import FakeOpenAI

UNSURE = "hmm that thing about reliance from yesterday"
ASK_ALWAYS = GatePolicy(llm_below=1.01)  # every result counts as low-confidence: exercises the LLM path


def _with_llm(pipeline: IntentPipeline, llm: LLMFallback, policy: GatePolicy = ASK_ALWAYS) -> IntentPipeline:
    return IntentPipeline(nlp=pipeline.nlp, lexicon=pipeline.lexicon, vocabulary=[], memory={},
                          langid_counts=pipeline.langid.counts, llm=llm, policy=policy)


@pytest.fixture
async def server():
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


def _fallback(server: FakeOpenAI, timeout: float = 2.0) -> LLMFallback:
    return LLMFallback(LLMConfig(api_key="test-key", base_url=server.base_url, model="test-model",
                                 timeout_s=timeout))


async def test_valid_json_answer_is_parsed(server):
    server.replies["kuch bhi"] = {"intent": "portfolio", "confidence": 0.8, "entities": {}}
    answer = await _fallback(server).classify("kuch bhi", lang="hi-Latn", candidates=["funds"])
    assert answer is not None and answer.intent == "portfolio" and answer.confidence == 0.8
    sent = server.requests[-1]
    assert sent["model"] == "test-model" and sent["response_format"] == {"type": "json_object"}


async def test_schema_violations_are_dropped(server):
    server.replies["x"] = {"intent": "buy", "confidence": 7,
                           "entities": {"symbol": "NOTASTOCK", "quantity": -3, "price": "2450", "order_type": "FOO"}}
    answer = await _fallback(server).classify("x", lang="en")
    assert answer is not None
    assert answer.confidence <= 0.95
    assert answer.entities.symbol is None and answer.entities.quantity is None
    assert answer.entities.price is None and answer.entities.order_type is None


async def test_unknown_intent_or_garbage_means_no_answer(server):
    server.replies["a"] = {"intent": "launch_rocket"}
    server.replies["b"] = "this is not json"
    fb = _fallback(server)
    assert await fb.classify("a", lang="en") is None
    assert await fb.classify("b", lang="en") is None
    assert await fb.classify("no reply configured -> HTTP 500", lang="en") is None


async def test_timeout_keeps_the_model_result(server, pipeline: IntentPipeline):
    server.replies[UNSURE] = 1.5
    unsure = _with_llm(pipeline, _fallback(server, timeout=0.3))
    base = unsure.classify(UNSURE)
    result = await unsure.aclassify(UNSURE)
    assert len(server.requests) == 1, "the LLM was asked"
    assert (result.intent, result.source, result.clarify) == (base.intent, base.source, base.clarify)


async def test_low_confidence_message_goes_to_llm_and_through_gating(server, pipeline: IntentPipeline):
    server.replies[UNSURE] = {"intent": "price_quote", "confidence": 0.9, "entities": {"symbol": "RELIANCE"}}
    result = await _with_llm(pipeline, _fallback(server)).aclassify(UNSURE)
    assert result.source == "llm" and result.intent == "price_quote"
    assert result.entities.symbol == "RELIANCE"
    assert len(server.requests) == 1


async def test_llm_trade_without_symbol_still_asks(server, pipeline: IntentPipeline):
    text = "get me some of that thing"
    server.replies[text] = {"intent": "buy", "confidence": 0.95, "entities": {"quantity": 5}}
    result = await _with_llm(pipeline, _fallback(server)).aclassify(text)
    assert result.intent == "buy" and result.source == "llm"
    assert result.clarify and result.entities.symbol is None


async def test_llm_cannot_turn_shopping_into_a_trade(server, pipeline: IntentPipeline):
    text = "buy milk and bread"
    server.replies[text] = {"intent": "buy", "confidence": 0.95, "entities": {"symbol": "RELIANCE", "quantity": 2}}
    result = await _with_llm(pipeline, _fallback(server)).aclassify(text)
    assert not (result.intent in ("buy", "sell") and not result.clarify)
    assert result.entities.symbol is None


async def test_confident_messages_never_call_the_llm(server, pipeline: IntentPipeline):
    result = await _with_llm(pipeline, _fallback(server), GatePolicy()).aclassify("buy 10 reliance")
    assert result.intent == "buy" and not result.clarify
    assert server.requests == []


def test_parse_answer_rejects_non_objects():
    assert parse_answer(json.dumps([1, 2]), instruments=("TCS",)) is None
    assert parse_answer("", instruments=("TCS",)) is None
    ok = parse_answer(json.dumps({"intent": "change_language", "entities": {"language": "ta"}}), instruments=())
    assert ok is not None and ok.entities.language == "ta"


async def test_a_bare_number_never_leaves_for_the_llm(server, pipeline: IntentPipeline):
    """A message of digits only may be the user's trading PIN: it is never sent to an outside service (and it
    holds no intent the LLM could add), however unsure the model is."""
    asking = _with_llm(pipeline, _fallback(server))
    for text in ("4826", "48 26", "٤٨٢٦", "४८२६"):
        await asking.aclassify(text)
    assert server.requests == []
    await asking.aclassify(UNSURE)
    assert len(server.requests) == 1, "other unsure messages still go"
