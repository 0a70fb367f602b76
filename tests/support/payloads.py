"""Builders for webhook payloads shaped like Meta's (2026: BSUID in contacts[].user_id and from_user_id)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from typing import Any

APP_SECRET = "test-app-secret"
PHONE_NUMBER_ID = "109876543210"
_ids = itertools.count(1)


def wamid() -> str:
    return f"wamid.HBgM{next(_ids):010d}"


def sign(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def contact(phone: str | None, *, bsuid: str | None = None, name: str = "Asha") -> dict[str, Any]:
    c: dict[str, Any] = {"profile": {"name": name}, "user_id": bsuid or f"IN.{int(phone or '1') % 10**18:018d}"}
    if phone:
        c["wa_id"] = phone
    return c


def message(phone: str | None, kind: str, content: dict[str, Any], *, bsuid: str | None = None,
            mid: str | None = None, context_id: str | None = None, ts: int = 1795400000) -> dict[str, Any]:
    m: dict[str, Any] = {"id": mid or wamid(), "timestamp": str(ts), "type": kind, kind: content,
                         "from_user_id": bsuid or contact(phone)["user_id"]}
    if phone:
        m["from"] = phone
    if context_id:
        m["context"] = {"from": PHONE_NUMBER_ID, "id": context_id}
    return m


def text(phone: str | None, body: str, **kw: Any) -> dict[str, Any]:
    return message(phone, "text", {"body": body}, **kw)


def button_reply(phone: str, button_id: str, title: str, **kw: Any) -> dict[str, Any]:
    return message(phone, "interactive", {"type": "button_reply", "button_reply": {"id": button_id, "title": title}},
                   context_id="wamid.ours", **kw)


def list_reply(phone: str, row_id: str, title: str, **kw: Any) -> dict[str, Any]:
    return message(phone, "interactive", {"type": "list_reply", "list_reply": {"id": row_id, "title": title}},
                   context_id="wamid.ours", **kw)


def template_button(phone: str, payload: str, label: str, **kw: Any) -> dict[str, Any]:
    return message(phone, "button", {"payload": payload, "text": label}, context_id="wamid.template", **kw)


def image(phone: str, **kw: Any) -> dict[str, Any]:
    return message(phone, "image", {"mime_type": "image/jpeg", "sha256": "abc", "id": "1234567890"}, **kw)


def envelope(*values: dict[str, Any]) -> dict[str, Any]:
    """One POST: each value becomes one change of one entry."""
    return {"object": "whatsapp_business_account", "entry": [
        {"id": "WABA1", "changes": [{"field": "messages", "value": v}]} for v in values]}


def messages_value(msgs: list[dict[str, Any]], contacts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": contacts, "messages": msgs}


def status(wamid_: str, state: str, *, recipient: str = "919800000001", error: tuple[int, str] | None = None,
           ts: int = 1795400100) -> dict[str, Any]:
    s: dict[str, Any] = {"id": wamid_, "status": state, "timestamp": str(ts), "recipient_id": recipient}
    if error:
        s["errors"] = [{"code": error[0], "title": error[1], "message": error[1],
                        "error_data": {"details": error[1]}}]
    return s


def statuses_value(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Statuses carry no contacts block (always so for failed ones)."""
    return {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
            "statuses": items}


def raw(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
