"""JSON forms of the inbound values that cross a process boundary (intake entries, the status stream).

Attachment bytes never travel: a WhatsApp attachment is a media id the worker fetches, and the console
channel, which has the bytes, does not use the intake.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from handlers.messages import Attachment, InboundMessage, MessageKind, Sender

_DUMP = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def message_to_json(m: InboundMessage) -> str:
    s = m.sender
    obj: dict[str, Any] = {"id": m.id, "u": s.user_id, "p": s.phone, "n": s.name, "ts": m.timestamp.isoformat(),
                           "k": m.kind.value}
    if m.text is not None:
        obj["t"] = m.text
    if m.payload is not None:
        obj["b"] = m.payload
    if m.context_id is not None:
        obj["c"] = m.context_id
    if m.attachment is not None:
        a = m.attachment
        obj["a"] = {"f": a.filename, "m": a.mime_type, "i": a.media_id, "c": a.caption}
    return _DUMP(obj)


def message_from_json(raw: str | bytes) -> InboundMessage:
    obj = json.loads(raw)
    a = obj.get("a")
    return InboundMessage(
        id=obj["id"], sender=Sender(user_id=obj.get("u"), phone=obj.get("p"), name=obj.get("n")),
        timestamp=datetime.fromisoformat(obj["ts"]), kind=MessageKind(obj["k"]), text=obj.get("t"),
        payload=obj.get("b"), context_id=obj.get("c"),
        attachment=None if a is None else Attachment(filename=a.get("f"), mime_type=a.get("m"),
                                                     media_id=a.get("i"), caption=a.get("c")))


def dump(obj: Any) -> str:
    return _DUMP(obj)
