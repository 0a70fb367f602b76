"""Verify a ZK trade receipt: "verify receipt R-…" (looked up in the receipt store) or a receipt JSON sent
as a document. Anyone may verify a receipt (that is the point of a public proof), so no tier is required;
issuing receipts is the PRO part and happens in the order flow and in notifications."""

from __future__ import annotations

import re
from typing import Any

import structlog

from handlers.context import TurnContext
from handlers.messages import MessageKind
from handlers.replies import Text
from handlers.portfolio import contract_note, mentions_contract_note
from handlers.router import UNHANDLED, Router
from handlers.security import trading_day

router = Router("receipts")
log = structlog.get_logger("gridworks.receipts")
_RECEIPT_ID = re.compile(r"\bR-[A-Za-z0-9_-]{4,}\b", re.IGNORECASE)
MAX_DOCUMENT_BYTES = 256 * 1024


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
    return await verify_reply(ctx, doc, receipt_id=receipt_id)


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
    if receipt_id is None and mentions_contract_note(ctx.text):
        return await contract_note(ctx, trading_day(ctx.now))   # "contract note" is sometimes read as this intent
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
