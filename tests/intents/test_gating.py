"""Confidence gating: ambiguous names ask back, trades need a symbol, unsure results clarify."""

from __future__ import annotations

import pytest

from intents.gating import GatePolicy, decide
from intents.pipeline import IntentPipeline
from intents.types import Entities


@pytest.mark.parametrize("text, candidates", [
    ("buy 10 tata shares", {"TCS", "TATAMOTORS", "TATASTEEL", "TATACONSUM"}),
    ("hdfc 5 kharido", {"HDFCBANK", "HDFCLIFE"}),
    ("sell 3 bajaj", {"BAJFINANCE", "BAJAJFINSV", "BAJAJ-AUTO"}),
    ("adani ke 20 share le lo", {"ADANIENT", "ADANIPORTS"}),
])
def test_ambiguous_names_ask_back(pipeline: IntentPipeline, text: str, candidates: set[str]):
    result = pipeline.classify(text)
    assert result.entities.symbol is None
    assert set(result.entities.symbol_candidates) == candidates
    assert result.clarify


def test_specific_names_are_not_ambiguous(pipeline: IntentPipeline):
    assert pipeline.classify("buy 10 tata steel").entities.symbol == "TATASTEEL"
    assert pipeline.classify("hdfc bank 5 kharido").entities.symbol == "HDFCBANK"


def test_trade_without_symbol_clarifies(pipeline: IntentPipeline):
    result = pipeline.classify("kuch shares kharidne hai")
    assert result.entities.symbol is None and result.clarify
    # the rule itself: even a confident buy without a symbol never starts an order flow
    assert decide(intent="buy", confidence=0.99, runner_up=0.0, entities=Entities(quantity=5), toks=["buy"],
                  veto_objects=frozenset()).clarify


def test_decide_rules():
    sym = Entities(symbol="TCS", quantity=1)
    assert not decide(intent="buy", confidence=0.9, runner_up=0.05, entities=sym, toks=["buy"],
                      veto_objects=frozenset()).clarify
    assert decide(intent="buy", confidence=0.45, runner_up=0.2, entities=sym, toks=["buy"],
                  veto_objects=frozenset()).clarify
    assert decide(intent="portfolio", confidence=0.7, runner_up=0.65, entities=Entities(), toks=["x"],
                  veto_objects=frozenset()).clarify
    vetoed = decide(intent="buy", confidence=0.99, runner_up=0.0, entities=Entities(), toks=["buy", "milk"],
                    veto_objects=frozenset({"milk"}))
    assert vetoed.intent == "out_of_scope"
    assert decide(intent="opt_out", confidence=0.99, runner_up=0.0, entities=Entities(),
                  toks="please stop sending me these things now".split(), veto_objects=frozenset(),
                  policy=GatePolicy()).clarify


def test_alternatives_are_the_next_likeliest_intents(pipeline: IntentPipeline):
    """An unsure message offers the model's next in-scope meanings, never the chosen intent again."""
    result = pipeline.classify("kuch shares kharidne hai")
    names = [k for k, _ in result.alternatives]
    assert names and "out_of_scope" not in names and result.intent not in names
    scores = [s for _, s in result.alternatives]
    assert scores == sorted(scores, reverse=True)


def test_education_topic_from_the_knowledge_base(pipeline: IntentPipeline):
    result = pipeline.classify("stop loss kya hai")
    assert (result.intent, result.entities.topic) == ("education", "stop_loss")
    demat = pipeline.classify("डीमैट अकाउंट क्यों चाहिए")
    assert demat.intent == "education" and demat.entities.topic == "demat"
    # tips requests are education without a lesson id (the handler answers them with its no-tips line)
    tips = pipeline.classify("which stock should i buy today")
    assert tips.entities.topic is None
