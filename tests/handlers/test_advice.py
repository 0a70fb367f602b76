"""Advice requests in all 12 language variants get the one no-advice answer with lesson pointers, through the
real dispatcher and intent pipeline (the ``runtime`` fixture) — whatever the model guessed for the message."""

from __future__ import annotations

import uuid

import pytest

from handlers.messages import InboundMessage, MessageKind, Sender
from handlers.onboarding import consent_profile
from handlers.reading import asks_advice
from handlers.replies import ListReply
from locales.catalog import LANGUAGES, load_catalog

ASKS = {
    "en": ("is it a good time to invest in HDFC Bank?", "which share gives profit"),
    "hi": ("क्या अभी एचडीएफसी बैंक में निवेश का सही समय है?", "कौन सा शेयर मुनाफ़ा देगा"),
    "hi-Latn": ("kya abhi HDFC Bank mein invest karne ka sahi time hai", "kaunsa share profit dega"),
    "bn": ("এখন কি HDFC Bank-এ বিনিয়োগের ভালো সময়?", "কোন শেয়ার লাভ দেবে"),
    "ta": ("எந்த பங்கு லாபம் தரும்", "HDFC Bank வாங்க வேண்டுமா"),
    "te": ("ఏ షేర్ లాభం ఇస్తుంది", "HDFC Bank కొనాలా"),
    "mr": ("कोणता शेअर नफा देईल", "HDFC Bank घ्यावा का"),
    "gu": ("કયો શેર નફો આપશે", "HDFC Bank ખરીદવો જોઈએ?"),
    "kn": ("ಯಾವ ಷೇರು ಲಾಭ ಕೊಡುತ್ತದೆ", "HDFC Bank ಖರೀದಿಸಬೇಕಾ"),
    "ml": ("ഏത് ഓഹരി ലാഭം തരും", "HDFC Bank വാങ്ങണോ"),
    "pa": ("ਕਿਹੜਾ ਸ਼ੇਅਰ ਮੁਨਾਫ਼ਾ ਦੇਵੇਗਾ", "HDFC Bank ਖਰੀਦਣਾ ਚਾਹੀਦਾ?"),
    "or": ("କେଉଁ ସେୟାର ଲାଭ ଦେବ", "HDFC Bank କିଣିବା ଉଚିତ କି"),
}


async def test_every_language_gets_the_same_no_advice_answer(runtime) -> None:
    catalog = load_catalog()
    assert set(ASKS) == set(LANGUAGES), "one row per language variant"
    now = runtime.clock.now()
    for n, (lang, questions) in enumerate(sorted(ASKS.items())):
        user = await runtime.services.users.get_or_create(Sender(phone=f"9198000130{n:02d}"), now=now)
        await runtime.services.users.update(user.key, language=lang, profile=consent_profile(now))
        for question in questions:
            msg = InboundMessage(id=f"t.{uuid.uuid4().hex}", sender=Sender(phone=f"9198000130{n:02d}"),
                                 timestamp=now, kind=MessageKind.TEXT, text=question)
            result = await runtime.dispatcher.handle(msg)
            assert result.match is not None and result.match.intent == "advice", (lang, question, result.match)
            assert len(result.replies) == 1 and isinstance(result.replies[0], ListReply), (lang, question)
            reply = result.replies[0]
            assert reply.body == catalog.render(lang, "education.no_tips"), (lang, question)
            assert [r.id for r in reply.rows] == ["learn:start_investing", "learn:diversification",
                                                  "learn:pe_ratio", "learn:sebi"]


@pytest.mark.parametrize("text", ["buy 10 TCS", "what is a stop loss", "set a stop loss on my infosys at 1650",
                                  "sell half my infosys", "price of HDFC Bank", "alert me when TCS goes below 3080"])
def test_orders_and_questions_are_not_advice_requests(text: str) -> None:
    assert not asks_advice(load_catalog(), text)
