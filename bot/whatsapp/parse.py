"""Split a webhook POST into typed inbound values — for any JSON object, without ever raising.

One POST may carry many entries × changes × messages/statuses; pywa dispatches only the first, so we split
the batch into single-message updates and let pywa's typed parsers read each one. Statuses are read from
the raw body by our own code because pywa drops ``failed`` statuses, which carry no ``contacts`` block.

Each item is parsed on its own: every level is type-checked, a malformed item becomes a ``RejectedItem``
(kind, its id when sane, a short fixed reason) and never blocks its neighbours. What makes a message
acceptable is decided here, from the raw item: a sane string id, a sender from the message itself
(``from_user_id`` and/or ``from``, never guessed from another contact), a string ``type``, and the content
that type needs (a text body, a tapped button's id…). pywa's typed parse then reads the item; if pywa
cannot (it is stricter about fields we do not use: metadata, a context on list replies…), the values we
already checked are used and the fallback is logged. Fields we only pass along are dropped when they have
the wrong type (a garbage timestamp reads as "now", as before).

Rejections and fallbacks are logged without personal data (kind and reason only), at most one line per
reason per ``LOG_WINDOW_S`` seconds; the line carries how many were suppressed since the previous one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import structlog
from pywa_async import types as wa_types

from handlers.messages import Attachment, InboundMessage, MessageKind, Sender

log = structlog.get_logger("gridworks.webhook")

MAX_ID_LEN = 256          # wamids are ~60 characters; a longer "id" is not one
MAX_USER_LEN = 128        # phone numbers (≤ 15 digits) and BSUIDs (~25 characters)
MAX_NAME_LEN = 256
MAX_STATUS_LEN = 32
MAX_ERROR_TITLE_LEN = 512
_TS_MIN, _TS_MAX = 946_684_800, 7_258_118_400          # 2000-01-01 .. 2200-01-01 (unix seconds)
_PYWA_MESSAGE_TYPES = frozenset({"text", "document", "image", "audio", "video", "sticker", "location",
                                 "reaction", "unsupported"})
_MEDIA_TYPES = ("image", "audio", "video", "sticker")

RejectedKind = Literal["message", "status", "preference", "entry"]


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    wamid: str
    status: str
    at: datetime
    recipient: str | None
    error_code: int | None = None
    error_title: str | None = None
    tracker: str | None = None        # biz_opaque_callback_data we sent with the message (campaign sends)


@dataclass(frozen=True, slots=True)
class PreferenceUpdate:
    """A user stopped or resumed marketing messages from WhatsApp's own settings."""

    wa_id: str | None
    user_id: str | None
    value: str          # "stop" | "resume"
    at: datetime


@dataclass(frozen=True, slots=True)
class RejectedItem:
    """An item of the batch that could not be read. ``item_id`` is the item's own id (a wamid) when it is a
    string of sane length, else None; ``reason`` is a short fixed phrase or an exception type name — never
    message text or a phone number. ``kind="entry"`` is a container (entry, change, value, or a
    messages/statuses/preferences list) that is not what it must be; everything inside it is lost."""

    kind: RejectedKind
    item_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    messages: tuple[InboundMessage, ...]
    statuses: tuple[StatusUpdate, ...]
    preferences: tuple[PreferenceUpdate, ...]
    rejected: tuple[RejectedItem, ...] = ()
    #: ``message_template_status_update`` values (event, message_template_id/name/language, reason), as strings
    template_statuses: tuple[dict[str, str], ...] = ()


# ---------------------------------------------------------------------------------------------- logging

LOG_WINDOW_S = 10.0


class RateLimitedLog:
    """At most one warning per (event, kind, reason) per ``window`` seconds. A line that follows suppressed
    ones says how many (``suppressed=n``); ``suppressed_total`` counts every suppressed line."""

    MAX_KEYS = 1024

    def __init__(self, window: float = LOG_WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self.suppressed_total = 0
        self._seen: dict[tuple[str, str, str], list] = {}   # key -> [last emitted at, suppressed since]

    def warning(self, event: str, *, kind: str, reason: str) -> None:
        now = self.clock()
        key = (event, kind, reason)
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.window:
            seen[1] += 1
            self.suppressed_total += 1
            return
        suppressed = seen[1] if seen is not None else 0
        if seen is None and len(self._seen) >= self.MAX_KEYS:
            self._seen.clear()
        self._seen[key] = [now, 0]
        try:
            log.warning(event, kind=kind, reason=reason, suppressed=suppressed)
        except Exception:  # noqa: BLE001 - a broken log sink must not make parsing fail
            pass


rejection_log = RateLimitedLog()


# ---------------------------------------------------------------------------------------------- parsing

class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Batch:
    __slots__ = ("messages", "prefs", "rejected", "statuses", "templates")

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.statuses: list[StatusUpdate] = []
        self.prefs: list[PreferenceUpdate] = []
        self.rejected: list[RejectedItem] = []
        self.templates: list[dict[str, str]] = []

    def reject(self, kind: RejectedKind, item_id: str | None, reason: str) -> None:
        self.rejected.append(RejectedItem(kind, item_id, reason))
        rejection_log.warning("webhook_item_rejected", kind=kind, reason=reason)

    def frozen(self) -> ParsedBatch:
        return ParsedBatch(tuple(self.messages), tuple(self.statuses), tuple(self.prefs), tuple(self.rejected),
                           tuple(self.templates))


def parse_batch(body: Any, client: Any) -> ParsedBatch:
    """Every message, status and preference update in ``body``; every malformed item in ``rejected``.

    Total: for any JSON value it returns, never raises."""
    batch = _Batch()
    try:
        _walk(body, client, batch)
    except Exception as exc:  # noqa: BLE001 - unreachable by construction; the request must not fail
        batch.reject("entry", None, type(exc).__name__)
    return batch.frozen()


def _walk(body: Any, client: Any, batch: _Batch) -> None:
    if not isinstance(body, dict):
        batch.reject("entry", None, "body is not an object")
        return
    entries = body.get("entry")
    if entries is None:
        return
    if not isinstance(entries, list):
        batch.reject("entry", None, "entry is not a list")
        return
    for entry in entries:
        if not isinstance(entry, dict):
            batch.reject("entry", None, "entry item is not an object")
            continue
        changes = entry.get("changes")
        if changes is None:
            continue
        if not isinstance(changes, list):
            batch.reject("entry", None, "changes is not a list")
            continue
        for change in changes:
            try:
                _change(entry, change, client, batch)
            except Exception as exc:  # noqa: BLE001 - one bad change must not lose the other changes
                batch.reject("entry", None, type(exc).__name__)


def _change(entry: dict, change: Any, client: Any, batch: _Batch) -> None:
    if not isinstance(change, dict):
        batch.reject("entry", None, "change is not an object")
        return
    value = change.get("value")
    if value is None:
        return
    if not isinstance(value, dict):
        batch.reject("entry", None, "value is not an object")
        return
    if change.get("field") == "message_template_status_update":
        batch.templates.append({k: str(value[k])[:200] for k in ("event", "message_template_id",
                                                                 "message_template_name", "message_template_language",
                                                                 "reason") if isinstance(value.get(k), (str, int))})
        return
    if change.get("field") == "user_preferences":
        for raw in _items(value, "user_preferences", batch):
            _guarded(batch, "preference", raw, lambda r: batch.prefs.append(_parse_preference(r)))
        return
    contacts = value.get("contacts")
    contacts = [c for c in contacts if isinstance(c, dict)] if isinstance(contacts, list) else []
    for raw in _items(value, "messages", batch):
        _guarded(batch, "message", raw,
                 lambda r: batch.messages.append(_parse_message(entry, value, r, contacts, client)))
    for raw in _items(value, "statuses", batch):
        _guarded(batch, "status", raw, lambda r: batch.statuses.append(_parse_status(r)))


def _items(value: dict, key: str, batch: _Batch) -> list:
    items = value.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        batch.reject("entry", None, f"{key} is not a list")
        return []
    return items


def _guarded(batch: _Batch, kind: RejectedKind, raw: Any, parse: Callable[[dict], None]) -> None:
    item_id = _ident(raw.get("id"), MAX_ID_LEN) if isinstance(raw, dict) and kind != "preference" else None
    try:
        if not isinstance(raw, dict):
            raise _Reject("not an object")
        parse(raw)
    except _Reject as rej:
        batch.reject(kind, item_id, rej.reason)
    except Exception as exc:  # noqa: BLE001 - one bad item must not lose the rest of the batch
        batch.reject(kind, item_id, type(exc).__name__)


def _ident(v: Any, limit: int) -> str | None:
    """``v`` when it is a non-empty string of at most ``limit`` characters."""
    return v if isinstance(v, str) and 0 < len(v) <= limit else None


def _opt_str(v: Any, limit: int | None = None) -> str | None:
    return v if isinstance(v, str) and (limit is None or len(v) <= limit) else None


def _ts_seconds(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        v = raw
    elif isinstance(raw, str) and 0 < len(raw) <= 12 and raw.isascii() and raw.isdigit():
        v = int(raw)
    else:
        return None
    return v if _TS_MIN <= v <= _TS_MAX else None


def _ts(raw: Any) -> datetime:
    """A unix-seconds timestamp (int or digit string, Meta sends strings); anything else reads as now."""
    seconds = _ts_seconds(raw)
    if seconds is None:
        return datetime.now(timezone.utc)
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _user_field(raw: dict, key: str) -> str | None:
    """A sender/recipient identifier: absent (missing, null, "") is None; present must be a sane string."""
    v = raw.get(key)
    if v is None or v == "":
        return None
    if _ident(v, MAX_USER_LEN) is None:
        raise _Reject(f"bad {key}")
    return v


def _contact_for(user_id: str | None, phone: str | None, contacts: list[dict]) -> dict:
    """The contact that names this sender: one identifier agrees and none disagrees. Never another
    user's contact (the old fallback to ``contacts[0]`` could attribute a message to the wrong person)."""
    for c in contacts:
        cu, cw = _ident(c.get("user_id"), MAX_USER_LEN), _ident(c.get("wa_id"), MAX_USER_LEN)
        if (user_id and cu and cu != user_id) or (phone and cw and cw != phone):
            continue
        if (user_id and cu == user_id) or (phone and cw == phone):
            return c
    return {}


def _single_update(entry: dict, value: dict, raw: dict, contact: dict, ts: datetime) -> dict:
    metadata = value.get("metadata")
    message = {**raw, "timestamp": str(int(ts.timestamp()))}
    return {"object": "whatsapp_business_account", "entry": [{"id": _opt_str(entry.get("id")), "changes": [{
        "field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": metadata if isinstance(metadata, dict) else {},
                  "contacts": [contact], "messages": [message]}}]}]}


def _content(raw: dict, key: str) -> dict:
    content = raw.get(key)
    if not isinstance(content, dict):
        raise _Reject(f"bad {key} content")
    return content


def _parse_message(entry: dict, value: dict, raw: dict, contacts: list[dict], client: Any) -> InboundMessage:
    mid = _ident(raw.get("id"), MAX_ID_LEN)
    if mid is None:
        raise _Reject("bad id")
    user_id, phone = _user_field(raw, "from_user_id"), _user_field(raw, "from")
    if not (user_id or phone):
        raise _Reject("no sender")
    mtype = raw.get("type")
    if not isinstance(mtype, str):
        raise _Reject("bad type")
    context = raw.get("context")
    base: dict[str, Any] = {
        "id": mid, "timestamp": _ts(raw.get("timestamp")),
        "context_id": _ident(context.get("id"), MAX_ID_LEN) if isinstance(context, dict) else None}

    # What the message says, read from the raw item and checked: this decides acceptance.
    kind, text, payload, attachment = MessageKind.UNSUPPORTED, None, None, None
    if mtype == "text":
        kind, text = MessageKind.TEXT, _content(raw, "text").get("body")
        if not isinstance(text, str):
            raise _Reject("bad text body")
    elif mtype == "button":
        button = _content(raw, "button")
        kind, payload, text = MessageKind.BUTTON, button.get("payload"), _opt_str(button.get("text"))
    elif mtype == "interactive":
        interactive = _content(raw, "interactive")
        itype = interactive.get("type")
        if itype in ("button_reply", "list_reply"):
            reply = _content(interactive, itype)
            kind = MessageKind.BUTTON if itype == "button_reply" else MessageKind.LIST
            payload, text = reply.get("id"), _opt_str(reply.get("title"))
    elif mtype == "document" or mtype in _MEDIA_TYPES:
        media = _content(raw, mtype)
        caption = _opt_str(media.get("caption"))
        kind, text = (MessageKind.DOCUMENT if mtype == "document" else MessageKind.MEDIA), caption
        attachment = Attachment(filename=_opt_str(media.get("filename")) if mtype == "document" else None,
                                mime_type=_opt_str(media.get("mime_type")), media_id=_opt_str(media.get("id")),
                                caption=caption)
    elif mtype == "location":
        kind = MessageKind.LOCATION
    elif mtype == "reaction":
        kind = MessageKind.REACTION
    if kind in (MessageKind.BUTTON, MessageKind.LIST) and not isinstance(payload, str):
        raise _Reject("bad button id")

    contact = _contact_for(user_id, phone, contacts)
    contact_uid = _ident(contact.get("user_id"), MAX_USER_LEN)
    user_id = user_id or contact_uid
    phone = phone or _ident(contact.get("wa_id"), MAX_USER_LEN)
    profile = contact.get("profile")
    name = _opt_str(profile.get("name"), MAX_NAME_LEN) if isinstance(profile, dict) else None

    # pywa's typed parse (it needs the contact's BSUID); its values are used when they are well-typed.
    if contact_uid:
        typed = _typed(client, _single_update(entry, value, raw, contact, base["timestamp"]), mtype, kind)
        if typed is not None:
            name = _opt_str(typed.from_user.name, MAX_NAME_LEN) or name
            if kind is MessageKind.TEXT and isinstance(typed.text, str):
                text = typed.text
            elif kind in (MessageKind.BUTTON, MessageKind.LIST):
                payload = typed.data if isinstance(typed.data, str) else payload
                text = _opt_str(typed.title) or text
    sender = Sender(user_id=user_id, phone=phone, name=name)
    return InboundMessage(kind=kind, text=text, payload=payload, attachment=attachment, sender=sender, **base)


def _typed(client: Any, update: dict, mtype: str, kind: MessageKind) -> Any:
    try:
        if kind is MessageKind.BUTTON:
            return wa_types.CallbackButton.from_update(client, update)
        if kind is MessageKind.LIST:
            return wa_types.CallbackSelection.from_update(client, update)
        if mtype in _PYWA_MESSAGE_TYPES:
            return wa_types.Message.from_update(client, update)
    except Exception as exc:  # noqa: BLE001 - pywa is stricter than we need; our checked values stand
        rejection_log.warning("webhook_typed_parse_fallback", kind="message", reason=type(exc).__name__)
    return None


def _parse_status(raw: dict) -> StatusUpdate:
    wamid = _ident(raw.get("id"), MAX_ID_LEN)
    if wamid is None:
        raise _Reject("bad id")
    status = _ident(raw.get("status"), MAX_STATUS_LEN)
    if status is None:
        raise _Reject("bad status")
    recipient = _ident(raw.get("recipient_id"), MAX_USER_LEN) or _ident(raw.get("recipient_user_id"),
                                                                          MAX_USER_LEN)
    errors = raw.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return StatusUpdate(wamid=wamid, status=status, at=_ts(raw.get("timestamp")), recipient=recipient,
                        error_code=_error_code(first.get("code")),
                        error_title=_opt_str(first.get("title"), MAX_ERROR_TITLE_LEN),
                        tracker=_opt_str(raw.get("biz_opaque_callback_data"), 512))


def _error_code(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str) and 0 < len(raw) <= 10 and raw.isascii() and raw.isdigit():
        raw = int(raw)
    return raw if isinstance(raw, int) and 0 <= raw < 2**31 else None


def _parse_preference(raw: dict) -> PreferenceUpdate:
    wa_id, user_id = _user_field(raw, "wa_id"), _user_field(raw, "user_id")
    if not (wa_id or user_id):
        raise _Reject("no user")
    value = raw.get("value")
    if value not in ("stop", "resume"):
        raise _Reject("bad value")
    return PreferenceUpdate(wa_id=wa_id, user_id=user_id, value=value, at=_ts(raw.get("timestamp")))
