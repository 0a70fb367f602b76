"""The knowledge base: at least 30 topics, complete in the languages we write, found by keywords; tips refused;
and the account areas' locale files agree on keys and placeholders across en, hi and ta."""

from __future__ import annotations

import pytest

from handlers.education import TOPICS, asks_for_tips, match_topic
from locales.catalog import load_catalog, placeholders

AREAS = ("upgrade", "alerts", "education", "language", "handoff", "optout", "analytics")
WRITTEN = ("en", "hi", "ta")


pytestmark = pytest.mark.usefixtures("fresh_structlog")


def test_at_least_30_topics_each_complete() -> None:
    catalog = load_catalog()
    assert len(TOPICS) >= 30 and len(set(TOPICS)) == len(TOPICS)
    for lang in WRITTEN:
        for topic in TOPICS:
            for part in ("title", "body", "kw"):
                assert catalog.has(lang, f"education.topic.{topic}.{part}"), (lang, topic, part)
            assert len(catalog.raw(lang, f"education.topic.{topic}.title")) <= 24


@pytest.mark.parametrize("question, topic", [
    ("what is a stop loss", "stop_loss"), ("stop loss kya hai", "stop_loss"), ("what is T+1", "t1"),
    ("CNC vs MIS", "cnc_mis"), ("what is nifty", "nifty"), ("what is a share", "share"), ("what is SIP", "sip"),
    ("what are dividends", "dividend"), ("how are brokerage charges calculated", "charges"),
    ("what is an upper circuit", "circuit"), ("what is a demat account", "demat"), ("what is AMO", "amo"),
    ("mutual fund vs stock", "mf_vs_stock"), ("what is the sensex", "sensex"), ("what is diversification", "diversification"),
    ("शेयर क्या होता है", "share"), ("डीमैट खाता क्या है", "demat"), ("स्टॉप लॉस क्या है", "stop_loss"),
    ("பங்கு என்றால் என்ன", "share"), ("ஸ்டாப் லாஸ் என்றால் என்ன", "stop_loss"), ("டீமேட் கணக்கு என்றால் என்ன", "demat"),
])
def test_questions_find_their_topic(question: str, topic: str) -> None:
    assert match_topic(load_catalog(), question) == topic


@pytest.mark.parametrize("question", [
    "which stock should I buy", "give me a tip", "suggest a good stock for tomorrow", "which IPO should I buy",
    "कौन सा शेयर खरीदूं", "konsa share lu", "எந்தப் பங்கு வாங்கலாம்",
])
def test_tip_requests_are_recognised(question: str) -> None:
    assert asks_for_tips(load_catalog(), question)


@pytest.mark.parametrize("question", ["what is a stop loss", "explain multiple orders", "what is SIP"])
def test_ordinary_questions_are_not_tip_requests(question: str) -> None:
    assert not asks_for_tips(load_catalog(), question)


@pytest.mark.parametrize("area", AREAS)
def test_account_locales_agree_across_written_languages(area: str) -> None:
    catalog = load_catalog()
    keys = {lang: {k for k in catalog.texts[lang] if k.startswith(f"{area}.")} for lang in WRITTEN}
    assert keys["en"], area
    for lang in WRITTEN[1:]:
        assert keys[lang] == keys["en"], (area, lang, keys[lang] ^ keys["en"])
        for key in keys["en"]:
            assert placeholders(catalog.raw(lang, key)) == placeholders(catalog.raw("en", key)), (lang, key)


class _Completions:
    """Stands in for the OpenAI client (a third-party service), recording what it was asked."""

    def __init__(self, answer: str | None, fail: bool = False) -> None:
        self.answer, self.fail, self.calls = answer, fail, []

    async def create(self, **kwargs):
        from types import SimpleNamespace

        self.calls.append(kwargs)
        if self.fail:
            raise TimeoutError("upstream down")
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=self.answer))])


def _ctx(text: str, completions: _Completions | None, clock):
    from types import SimpleNamespace

    from engine.api import Tier
    from handlers.context import Services, TurnContext
    from handlers.messages import InboundMessage, Sender
    from handlers.session import Session
    from handlers.users import User
    from intents.types import IntentResult

    catalog = load_catalog()
    llm = None if completions is None else SimpleNamespace(
        client=SimpleNamespace(chat=SimpleNamespace(completions=completions)), model="m", timeout_s=1.0)
    services = Services(catalog=catalog, clock=clock, users=None, intents=SimpleNamespace(llm=llm),  # type: ignore[arg-type]
                        engine=None)  # type: ignore[arg-type]
    now = clock.now()
    user = User(key="u", phone="u", bsuid=None, name=None, tier=Tier.LITE, language="en", created_at=now)
    return TurnContext(message=InboundMessage(id="m", sender=Sender(phone="u"), timestamp=now, text=text),
                       user=user, lang="en", tier=Tier.LITE, session=Session(),
                       match=IntentResult(intent="education", confidence=0.9, lang="en"), now=now,
                       t=catalog.translator("en"), services=services, correlation_id="c")


async def test_optional_llm_answers_other_questions_with_a_not_advice_note(clock) -> None:
    from handlers.education import explain
    from handlers.replies import ListReply, Text

    completions = _Completions("A REIT is a trust that owns property and pays out rent.")
    replies = await explain(_ctx("what is a REIT", completions, clock))
    assert isinstance(replies[0], Text) and "REIT is a trust" in replies[0].body
    assert "not investment advice" in replies[0].body
    assert "never recommend" in completions.calls[0]["messages"][0]["content"]
    # Known topics and tip requests never reach the LLM.
    await explain(_ctx("what is a stop loss", completions, clock))
    tip = await explain(_ctx("which stock should I buy", completions, clock))
    assert len(completions.calls) == 1 and "don't give tips" in tip.body
    # Without an LLM, or when it fails, the user gets the topic list instead.
    for ctx in (_ctx("what is a REIT", None, clock), _ctx("what is a REIT", _Completions(None, fail=True), clock)):
        reply = await explain(ctx)
        assert isinstance(reply, ListReply) and len(reply.rows) == 10
