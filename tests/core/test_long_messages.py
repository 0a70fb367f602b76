"""A very long message is read up to the classifier's limit, answered, and the user is told, in their
language, that only the beginning was read. The audit log keeps the whole message."""

from __future__ import annotations

import random
from dataclasses import replace

from sqlalchemy import select

from bot.stores.memory import MemorySessionStore
from bot.stores.sql import messages as messages_table
from handlers.dispatcher import Dispatcher
from handlers.messages import InboundMessage, Sender
from handlers.onboarding import open_account
from handlers.routes import build_middlewares, build_router
from handlers.turn import TurnStatus
from intents.clip import MAX_CHARS
from locales.catalog import LANGUAGES


class RecordingClassifier:
    """The real pipeline, noting every text it is asked to read."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.texts: list[str] = []

    @property
    def max_chars(self):
        return self.inner.max_chars

    async def aclassify(self, text: str, *, lang_hint: str | None = None):
        self.texts.append(text)
        return await self.inner.aclassify(text, lang_hint=lang_hint)


def dispatcher_for(runtime, classifier) -> Dispatcher:
    return Dispatcher(router=build_router(), services=replace(runtime.services, intents=classifier),
                      sessions=MemorySessionStore(), audit=runtime.audit, extra_middlewares=build_middlewares())


async def customer(runtime, phone: str, lang: str):
    user = await runtime.users.get_or_create(Sender(phone=phone), now=runtime.clock.now(), language=lang)
    await open_account(runtime.services, user.key, runtime.clock.now())
    return user


def message(mid: str, phone: str, text: str) -> InboundMessage:
    from datetime import datetime, timezone

    return InboundMessage(id=mid, sender=Sender(phone=phone), timestamp=datetime.now(timezone.utc), text=text)


def devanagari_flood(chars: int = 65536) -> str:
    rng = random.Random(5)
    letters = [chr(c) for c in range(0x0905, 0x0939)] + [chr(c) for c in range(0x093E, 0x094D)]
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 8))) for _ in range(chars // 3)]
    return ("टीसीएस का भाव बताओ " + " ".join(words))[:chars]


async def test_the_classifier_reads_at_most_the_cap_and_the_user_is_told(runtime):
    classifier = RecordingClassifier(runtime.services.intents)
    d = dispatcher_for(runtime, classifier)
    await customer(runtime, "919800000701", "hi")
    flood = devanagari_flood()
    result = await d.handle(message("long1", "919800000701", flood))
    assert result.status is TurnStatus.HANDLED
    assert classifier.texts and max(len(t) for t in classifier.texts) <= MAX_CHARS
    note = runtime.services.catalog.render("hi", "core.too_long", limit="1,000")
    assert result.replies[0].body == note and "1,000" in note
    assert len(result.replies) >= 2, "the message is still answered, after the note"
    async with runtime.db.connect() as conn:
        body = (await conn.execute(select(messages_table.c.body).where(messages_table.c.wamid == "long1"))).scalar()
    assert body == flood, "the audit log keeps the whole message"


async def test_a_message_within_the_cap_is_read_whole_with_no_note(runtime):
    classifier = RecordingClassifier(runtime.services.intents)
    d = dispatcher_for(runtime, classifier)
    await customer(runtime, "919800000702", "en")
    text = "price of TCS " + "please " * 50
    result = await d.handle(message("short1", "919800000702", text))
    assert classifier.texts == [text]
    notes = {runtime.services.catalog.render(lang, "core.too_long", limit="1,000") for lang in LANGUAGES}
    assert not any(r.body in notes for r in result.replies if hasattr(r, "body"))


async def test_the_note_is_in_each_users_language(runtime):
    d = dispatcher_for(runtime, RecordingClassifier(runtime.services.intents))
    texts = set()
    for i, lang in enumerate(LANGUAGES):
        phone = f"91980000072{i:02d}"
        await customer(runtime, phone, lang)
        result = await d.handle(message(f"lang{i}", phone, "portfolio " * 150))
        expected = runtime.services.catalog.render(lang, "core.too_long", limit="1,000")
        assert result.replies[0].body == expected, lang
        texts.add(expected)
    assert len(texts) == len(LANGUAGES), "twelve different translations"
