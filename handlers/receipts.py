"""ZK trade receipts: the one place PRO receipts are issued, and their verification.

Issuing reads the engine's events only (:class:`engine.api.EngineEvent`): an accepted order is committed to
the public log, and every trade of a fill event gets one receipt. The user's own command hands over its
events (:func:`command_receipts`, proofs deferred past the turn's reply), the clock's events come through
``handlers.notifications.on_tick``; each trade is in exactly one event, so it is receipted once.

Verifying: "verify receipt R-…" (looked up in the receipt store) or a receipt JSON sent as a document. Anyone
may verify a receipt (that is the point of a public proof), so no tier is required."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog

from engine.api import EngineEvent, EventKind, OrderResult
from handlers.context import Services, TurnContext
from handlers.messages import MessageKind
from handlers.replies import Document, Reply, Text
from handlers import portfolio        # a module: the trading package imports this one while it loads
from handlers.router import UNHANDLED, Router
from handlers.security import trading_day
from handlers.service_window import in_service_window, push_reply
from handlers.trading.common import pseudonym
from handlers.trading.execute import side_word
from handlers.users import User

router = Router("receipts")
log = structlog.get_logger("gridworks.receipts")
_RECEIPT_ID = re.compile(r"\bR-[A-Za-z0-9_-]{4,}\b", re.IGNORECASE)
MAX_DOCUMENT_BYTES = 256 * 1024
#: The approved utility template for a receipt issued outside the 24-hour window, and its ``{{1}}…`` order.
HELD_TEMPLATE = "gw_order_receipt"
HELD_PARAMS: tuple[str, ...] = ("receipt_id", "side", "symbol")


# -- issuing (PRO) ----------------------------------------------------------------------------------------
async def log_accepted(services: Services, user: User, events: Sequence[EngineEvent]) -> None:
    """Commit each newly accepted order's limit and quantity to the public log before any fill is receipted."""
    receipts = services.receipts
    if receipts is None:
        return
    for event in events:
        if event.kind is not EventKind.ACCEPTED:
            continue
        try:
            await receipts.log_order(event.order, pseudonym=await pseudonym(services, user))
        except Exception as exc:  # noqa: BLE001 - a receipt problem must never hide the order outcome
            log.warning("receipt_log_failed", order_id=event.order.order_id, error=type(exc).__name__)


async def issue_receipts(services: Services, user: User, lang: str, events: Sequence[EngineEvent],
                         *, now: datetime | None = None) -> list[Reply]:
    """One receipt per trade of the fill events: a short text, the public JSON document and the private
    opening (the user's proof of their own values) as a separate file. Pushed at ``now`` outside WhatsApp's
    24-hour window, where no text or file may be sent, a receipt is the ``gw_order_receipt`` template instead:
    the receipt is issued and stored, and "verify receipt R-…" returns its file."""
    receipts = services.receipts
    fills = [e for e in events if e.is_fill and e.trades]
    if receipts is None or not fills:
        return []
    t = services.catalog.translator(lang)
    out: list[Reply] = []
    alias = await pseudonym(services, user)
    for event in fills:
        order = event.order
        for trade in event.trades:
            try:
                issued = await receipts.issue_fill(order, trade, pseudonym=alias)
            except Exception as exc:  # noqa: BLE001 - the fill stands; tell the user the receipt is late
                log.warning("receipt_issue_failed", order_id=order.order_id, error=type(exc).__name__)
                issued = None
            if issued is None or not getattr(issued, "ok", False):
                log.warning("receipt_refused", order_id=order.order_id, code=getattr(issued, "code", None))
                out.append(Text(t("receipts.issue_failed", order_id=order.order_id)))
                continue
            if now is not None and not in_service_window(user, now):
                values = dict(receipt_id=issued.receipt_id, side=side_word(t, order.side), symbol=order.symbol)
                out.append(push_reply(user, now, text=t("receipts.held", **values), template=HELD_TEMPLATE,
                                      lang=lang, params=tuple(values[p] for p in HELD_PARAMS)))
                continue
            out.append(Text(t("receipts.issued", receipt_id=issued.receipt_id, symbol=order.symbol,
                              side=side_word(t, order.side))))
            out.append(Document(filename=issued.filename, content=_json(issued.document),
                                caption=t("receipts.document_caption", receipt_id=issued.receipt_id)))
            if getattr(issued, "opening", None):
                stem = issued.filename.rsplit(".", 1)[0]
                out.append(Document(filename=f"{stem}-opening.json", content=_json(issued.opening),
                                    caption=t("receipts.opening_caption", receipt_id=issued.receipt_id)))
    return out


async def command_receipts(ctx: TurnContext, result: OrderResult) -> None:
    """A PRO user's own command (the caller knows the tier): its accepted order is logged now, its fills'
    receipts follow the turn's replies (``ctx.defer``: proofs take a moment). A duplicate carries no events."""
    await log_accepted(ctx.services, ctx.user, result.events)
    if any(e.is_fill and e.trades for e in result.events):
        services, user, lang, events = ctx.services, ctx.user, ctx.lang, result.events

        async def job() -> Sequence[Reply]:
            return await issue_receipts(services, user, lang, events)

        ctx.defer(job)


def _json(value: Any) -> bytes:
    """Receipt documents as the receipts service produced them (the public receipt verifies on its own; the
    opening is the user's private proof of their own values and goes in a separate file)."""
    return json.dumps(value, ensure_ascii=False, indent=1, default=str).encode()


# -- verifying (anyone) ------------------------------------------------------------------------------------
def receipt_id_in(text: str) -> str | None:
    found = _RECEIPT_ID.search(text or "")
    return found.group(0) if found else None


async def verify_reply(ctx: TurnContext, doc: Any, *, receipt_id: str | None = None) -> Text:
    receipts = ctx.services.receipts
    if receipts is None:
        return Text(ctx.t("receipts.unavailable"))
    try:
        result = await receipts.verify_document(doc)
    except Exception as exc:  # noqa: BLE001 - a malformed upload is an answer, not a crash
        log.info("receipt_verify_error", error=type(exc).__name__)
        return Text(ctx.t("receipts.invalid_file"))
    rid = receipt_id or getattr(result, "receipt_id", None) or (
        doc.get("receipt_id") if isinstance(doc, dict) else None) or "-"
    if getattr(result, "ok", False):
        return Text(ctx.t("receipts.valid", receipt_id=rid))
    return Text(ctx.t("receipts.invalid", receipt_id=rid, check=str(getattr(result, "failed_check", None) or "-")))


async def _verify_id(ctx: TurnContext, receipt_id: str):
    receipts = ctx.services.receipts
    if receipts is None:
        return Text(ctx.t("receipts.unavailable"))
    found = await receipts.find(receipt_id)
    if found is None:
        return Text(ctx.t("receipts.not_found", receipt_id=receipt_id))
    doc = getattr(found, "document", found)
    answer = await verify_reply(ctx, doc, receipt_id=receipt_id)
    if not isinstance(doc, dict):
        return answer
    # the file too: a receipt issued outside the 24-hour window reached the user as a template, without it
    return [answer, Document(filename=f"{receipt_id}.json", content=_json(doc),
                             caption=ctx.t("receipts.document_caption", receipt_id=receipt_id))]


async def _verify_attachment(ctx: TurnContext):
    attachment = ctx.message.attachment
    content = attachment.content if attachment else None
    if not content or len(content) > MAX_DOCUMENT_BYTES:
        return Text(ctx.t("receipts.invalid_file"))
    # The verifier parses untrusted bytes itself, with size and nesting limits, before any JSON decoding.
    return await verify_reply(ctx, bytes(content))


@router.on_intent("verify_receipt")
async def verify_receipt(ctx: TurnContext):
    if ctx.message.kind == MessageKind.DOCUMENT:
        return await _verify_attachment(ctx)
    receipt_id = getattr(ctx.match.entities, "receipt", None) or receipt_id_in(ctx.text)
    if receipt_id is None and portfolio.mentions_contract_note(ctx.text):
        return await portfolio.contract_note(ctx, trading_day(ctx.now))   # "contract note" is sometimes read as this intent
    if receipt_id is None:
        return Text(ctx.t("receipts.which"))
    return await _verify_id(ctx, receipt_id)


@router.fallback()
async def document_upload(ctx: TurnContext):
    """A JSON document sent without a recognisable caption: treat it as a receipt to verify."""
    if ctx.message.kind == MessageKind.DOCUMENT and ctx.message.attachment is not None:
        return await _verify_attachment(ctx)
    receipt_id = receipt_id_in(ctx.text)
    if receipt_id is not None and ctx.message.payload is None:
        return await _verify_id(ctx, receipt_id)
    return UNHANDLED
