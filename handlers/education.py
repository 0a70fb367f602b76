"""Beginner education: a localized knowledge base of market topics, and a firm "no tips" line.

Lessons, titles and the words that find them live in ``locales/<lang>/education.toml`` (``topic.<id>.*``),
so each language brings its own vocabulary. A question is matched by the intent pipeline's ``topic``
entity when it gives one, else by the longest keyword found in any language's list (people mix scripts).
Requests for tips ("which stock should I buy") are checked *first* and always get the same answer: the bot
explains, it never recommends — only SEBI-registered advisers may. When the operator configured an LLM,
other finance-education questions may be answered by it, always with a "not investment advice" note.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import structlog

from handlers.context import TurnContext
from handlers.replies import ListReply, ListRow, Text, texts
from handlers.router import UNHANDLED, Router
from locales.catalog import Catalog

log = structlog.get_logger("gridworks.education")
router = Router("education")

#: Topic ids, in the order the topic list shows them (most basic first).
TOPICS: tuple[str, ...] = (
    "share", "stock_market", "start_investing", "demat", "market_limit", "stop_loss", "cnc_mis", "charges",
    "t1", "sip", "mf_vs_stock", "index", "nifty", "sensex", "ipo", "dividend", "amo", "pnl",
    "diversification", "circuit", "intraday", "trigger_price", "ltp", "market_cap", "pe_ratio", "bull_bear",
    "volatility", "capital_gains", "bonus_split", "sebi", "kyc", "averaging",
)
PAGE_SIZE = 9
LLM_SYSTEM_PROMPT = (
    "You are a patient teacher of stock-market basics for first-time Indian investors on WhatsApp. Answer the "
    "question in at most 120 words, in the language and script of the question, in plain words. Explain "
    "concepts only: never recommend, rate or predict any specific stock, fund or trade, and never say what to "
    "buy or sell. If asked for a tip, say that only SEBI-registered advisers may give advice."
)


def _pattern(keyword: str) -> re.Pattern[str]:
    kw = re.escape(keyword.strip().casefold())
    if keyword.isascii():
        return re.compile(rf"(?<![a-z0-9]){kw}(?:s|es)?(?![a-z0-9])")
    return re.compile(kw)


_CACHE: dict[tuple[str, int], tuple[Catalog, Any]] = {}


def _cached(kind: str, catalog: Catalog, build):
    """Compile keyword patterns once per catalog (catalogs are immutable, and unhashable)."""
    hit = _CACHE.get((kind, id(catalog)))
    if hit is None or hit[0] is not catalog:
        hit = _CACHE[(kind, id(catalog))] = (catalog, build(catalog))
    return hit[1]


def _index(catalog: Catalog) -> tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]:
    return _cached("topics", catalog, _build_index)


def _build_index(catalog: Catalog) -> tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]:
    """Per topic, the keyword patterns of every language, longest first."""
    out = []
    for topic in TOPICS:
        words: set[str] = set()
        for table in catalog.texts.values():
            words.update(w for w in table.get(f"education.topic.{topic}.kw", "").split("|") if w.strip())
        out.append((topic, tuple(_pattern(w) for w in sorted(words, key=len, reverse=True))))
    return tuple(out)


def _tip_patterns(catalog: Catalog) -> tuple[re.Pattern[str], ...]:
    return _cached("tips", catalog, _build_tips)


def _build_tips(catalog: Catalog) -> tuple[re.Pattern[str], ...]:
    words = {w for table in catalog.texts.values() for w in table.get("education.tips_kw", "").split("|") if w.strip()}
    return tuple(_pattern(w) for w in words)


def asks_for_tips(catalog: Catalog, text: str) -> bool:
    folded = text.casefold()
    return any(p.search(folded) for p in _tip_patterns(catalog))


def match_topic(catalog: Catalog, text: str) -> str | None:
    """The topic whose longest matching keyword is longest (the most specific wins)."""
    folded = " ".join(text.casefold().split())
    best, best_len = None, 0
    for topic, patterns in _index(catalog):
        for pattern in patterns:
            found = pattern.search(folded)
            if found:
                if len(found.group(0)) > best_len:
                    best, best_len = topic, len(found.group(0))
                break  # patterns are longest first
    return best


def lesson(ctx: TurnContext, topic: str) -> list[Text]:
    t = ctx.t
    return texts(f"📘 {t(f'education.topic.{topic}.title')}\n\n{t(f'education.topic.{topic}.body')}\n\n"
                 f"{t('education.footer')}")


def topic_list(ctx: TurnContext, page: int = 1, *, intro_key: str = "education.intro") -> ListReply:
    pages = max(1, -(-len(TOPICS) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    chunk = TOPICS[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    rows = [ListRow(id=f"learn:{topic}", title=ctx.t(f"education.topic.{topic}.title")) for topic in chunk]
    if page < pages:
        rows.append(ListRow(id=f"learn:page:{page + 1}", title=ctx.t("education.more")))
    else:
        rows.append(ListRow(id="learn:page:1", title=ctx.t("education.back")))
    return ListReply(body=ctx.t(intro_key), button=ctx.t("education.button"), rows=tuple(rows),
                     section_title=ctx.t("education.section"))


async def _llm_answer(ctx: TurnContext) -> str | None:
    """Ask the operator's LLM (if any) to explain; None when not configured or on any failure."""
    llm = getattr(ctx.services.intents, "llm", None)
    client = getattr(llm, "client", None)
    if client is None or not ctx.text:
        return None
    try:
        response = await asyncio.wait_for(client.chat.completions.create(
            model=getattr(llm, "model", "gpt-4o-mini"), temperature=0.2, max_tokens=300,
            messages=[{"role": "system", "content": LLM_SYSTEM_PROMPT}, {"role": "user", "content": ctx.text}]),
            timeout=float(getattr(llm, "timeout_s", 3.0)) * 2)
        answer = (response.choices[0].message.content or "").strip()
    except Exception as exc:  # noqa: BLE001 - the LLM is optional; any failure falls back to the topic list
        log.warning("education.llm_failed", error=type(exc).__name__)
        return None
    return answer or None


@router.on_intent("education")
async def explain(ctx: TurnContext):
    catalog = ctx.services.catalog
    if asks_for_tips(catalog, ctx.text):
        return Text(ctx.t("education.no_tips"))
    topic: Any = ctx.match.entities.topic
    if topic not in TOPICS:
        topic = match_topic(catalog, ctx.text)
    if topic is not None:
        return lesson(ctx, topic)
    answer = await _llm_answer(ctx)
    if answer is not None:
        return texts(f"{answer}\n\n{ctx.t('education.llm_note')}")
    return topic_list(ctx, intro_key="education.unknown" if ctx.text else "education.intro")


@router.on_intent("out_of_scope", "clarify")
async def tips_safety_net(ctx: TurnContext):
    """A request for tips the classifier did not read as ``education`` still gets the no-tips answer; and
    when gating was unsure but the likeliest meaning is education and a lesson matches, answering it is
    harmless (nothing changes), so it is answered instead of asking "did you mean"."""
    if ctx.message.payload is not None or not ctx.text:
        return UNHANDLED
    if asks_for_tips(ctx.services.catalog, ctx.text):
        return Text(ctx.t("education.no_tips"))
    topic = match_topic(ctx.services.catalog, ctx.text) if ctx.match.intent == "education" else None
    return lesson(ctx, topic) if topic is not None else UNHANDLED


@router.on_payload("learn")
async def learn_tap(ctx: TurnContext):
    args = ctx.payload_args
    if len(args) == 2 and args[0] == "page" and args[1].isdigit():
        return topic_list(ctx, int(args[1]))
    if args and args[0] in TOPICS:
        return lesson(ctx, args[0])
    return topic_list(ctx)
