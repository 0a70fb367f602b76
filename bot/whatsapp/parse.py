"""Split a webhook POST into typed inbound values.

One POST may carry many entries × changes × messages/statuses; pywa dispatches only the first, so we split
the batch into single-message updates and let pywa's typed parsers read each one. Statuses are read from
the raw body by our own code because pywa drops ``failed`` statuses, which carry no ``contacts`` block.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

import structlog
from pywa_async import types as wa_types

from handlers.messages import Attachment, InboundMessage, MessageKind, Sender

log = structlog.get_logger("gridworks.webhook")


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    wamid: str
    status: str
    at: datetime
    recipient: str | None
    error_code: int | None = None
    error_title: str | None = None


@dataclass(frozen=True, slots=True)
class PreferenceUpdate:
    """A user stopped or resumed marketing messages from WhatsApp's own settings."""

    wa_id: str | None
    user_id: str | None
    value: str          # "stop" | "resume"
    at: datetime


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    messages: tuple[InboundMessage, ...]
    statuses: tuple[StatusUpdate, ...]
    preferences: tuple[PreferenceUpdate, ...]


def _ts(raw: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(raw), tz=timezone.utc)
    except (TypeError, ValueError):
        return datetime.now(timezone.utc)


def _changes(body: dict) -> Iterator[tuple[dict, dict]]:
    for entry in body.get("entry") or ():
        for change in entry.get("changes") or ():
            yield entry, change


def parse_batch(body: dict, client: Any) -> ParsedBatch:
    """Every message, status and preference update in ``body``; malformed items are logged and skipped."""
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    prefs: list[PreferenceUpdate] = []
    for entry, change in _changes(body):
        value = change.get("value") or {}
        field = change.get("field")
        if field == "user_preferences":
            for p in value.get("user_preferences") or ():
                prefs.append(PreferenceUpdate(wa_id=p.get("wa_id"), user_id=p.get("user_id"),
                                              value=str(p.get("value", "")), at=_ts(p.get("timestamp"))))
            continue
        contacts = value.get("contacts") or []
        for raw in value.get("messages") or ():
            try:
                messages.append(_parse_message(entry, value, raw, contacts, client))
            except Exception as exc:  # noqa: BLE001 - one bad item must not lose the rest of the batch
                log.warning("message_unparsed", error=type(exc).__name__, message_id=raw.get("id"))
        for raw in value.get("statuses") or ():
            try:
                statuses.append(_parse_status(raw))
            except Exception as exc:  # noqa: BLE001
                log.warning("status_unparsed", error=type(exc).__name__, message_id=raw.get("id"))
    return ParsedBatch(tuple(messages), tuple(statuses), tuple(prefs))


def _contact_for(raw: dict, contacts: list[dict]) -> dict:
    for c in contacts:
        if (raw.get("from_user_id") and c.get("user_id") == raw.get("from_user_id")) or (
                raw.get("from") and c.get("wa_id") == raw.get("from")):
            return c
    return contacts[0] if contacts else {}


def _single_update(entry: dict, value: dict, raw: dict, contact: dict) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"id": entry.get("id"), "changes": [{
        "field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": value.get("metadata") or {},
                  "contacts": [contact] if contact else [], "messages": [raw]}}]}]}


def _parse_message(entry: dict, value: dict, raw: dict, contacts: list[dict], client: Any) -> InboundMessage:
    contact = _contact_for(raw, contacts)
    mtype = raw.get("type")
    interactive = (raw.get("interactive") or {}).get("type")
    update = _single_update(entry, value, raw, contact)
    typed = None
    if contact.get("user_id"):
        if mtype == "button" or interactive == "button_reply":
            typed = wa_types.CallbackButton.from_update(client, update)
        elif interactive == "list_reply":
            typed = wa_types.CallbackSelection.from_update(client, update)
        elif mtype in ("text", "document", "image", "audio", "video", "sticker", "location", "reaction",
                       "unsupported"):
            typed = wa_types.Message.from_update(client, update)
    sender = Sender(
        user_id=(typed.from_user.bsuid if typed else None) or raw.get("from_user_id") or contact.get("user_id"),
        phone=(typed.from_user.wa_id if typed else None) or raw.get("from") or contact.get("wa_id"),
        name=(typed.from_user.name if typed else None) or (contact.get("profile") or {}).get("name"),
    )
    base = dict(id=raw["id"], sender=sender, timestamp=_ts(raw.get("timestamp")),
                context_id=(raw.get("context") or {}).get("id"))
    if mtype == "text":
        text = typed.text if typed is not None else raw["text"]["body"]
        return InboundMessage(kind=MessageKind.TEXT, text=text, **base)
    if mtype == "button" or interactive == "button_reply":
        data = typed.data if typed is not None else (
            raw["button"]["payload"] if mtype == "button" else raw["interactive"]["button_reply"]["id"])
        title = typed.title if typed is not None else None
        return InboundMessage(kind=MessageKind.BUTTON, payload=str(data), text=title, **base)
    if interactive == "list_reply":
        data = typed.data if typed is not None else raw["interactive"]["list_reply"]["id"]
        title = typed.title if typed is not None else None
        return InboundMessage(kind=MessageKind.LIST, payload=str(data), text=title, **base)
    if mtype == "document":
        doc = raw.get("document") or {}
        return InboundMessage(kind=MessageKind.DOCUMENT, text=doc.get("caption"), attachment=Attachment(
            filename=doc.get("filename"), mime_type=doc.get("mime_type"), media_id=doc.get("id"),
            caption=doc.get("caption")), **base)
    if mtype in ("image", "audio", "video", "sticker"):
        media = raw.get(mtype) or {}
        return InboundMessage(kind=MessageKind.MEDIA, text=media.get("caption"), attachment=Attachment(
            mime_type=media.get("mime_type"), media_id=media.get("id"), caption=media.get("caption")), **base)
    if mtype == "location":
        return InboundMessage(kind=MessageKind.LOCATION, **base)
    if mtype == "reaction":
        return InboundMessage(kind=MessageKind.REACTION, **base)
    return InboundMessage(kind=MessageKind.UNSUPPORTED, **base)


def _parse_status(raw: dict) -> StatusUpdate:
    errors = raw.get("errors") or []
    first = errors[0] if errors else {}
    code = first.get("code")
    return StatusUpdate(wamid=raw["id"], status=str(raw["status"]), at=_ts(raw.get("timestamp")),
                        recipient=raw.get("recipient_id") or raw.get("recipient_user_id"),
                        error_code=int(code) if code is not None else None, error_title=first.get("title"))
