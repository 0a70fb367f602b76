"""Exact JSON form of the reply values (:mod:`handlers.replies`) for the turn journal and the send queue.

Why a hand-written codec: a reply crosses processes (committed with the turn, sent later by another
process), so the wire must be plain JSON that ``redis-cli`` can show and that never builds a type it was not
told about. Decoding re-runs each type's checks; they are idempotent (a shortened title stays the same when
shortened again), so ``reply_from_wire(reply_to_wire(r)) == r`` for every valid reply. Document bytes
travel as base64.
"""

from __future__ import annotations

import base64
from typing import Any, Mapping

from handlers.replies import Button, Buttons, Document, ListReply, ListRow, Reply, Template, Text

__all__ = ["reply_from_wire", "reply_to_wire"]


def reply_to_wire(reply: Reply) -> dict[str, Any]:
    """A JSON-ready dict with a ``type`` tag; the inverse of :func:`reply_from_wire`."""
    if isinstance(reply, Text):
        return {"type": "text", "body": reply.body}
    if isinstance(reply, Buttons):
        return {"type": "buttons", "body": reply.body, "header": reply.header, "footer": reply.footer,
                "buttons": [{"id": b.id, "title": b.title} for b in reply.buttons]}
    if isinstance(reply, ListReply):
        return {"type": "list", "body": reply.body, "button": reply.button,
                "section_title": reply.section_title, "header": reply.header, "footer": reply.footer,
                "rows": [{"id": r.id, "title": r.title, "description": r.description} for r in reply.rows]}
    if isinstance(reply, Template):
        return {"type": "template", "name": reply.name, "language": reply.language,
                "params": list(reply.params), "button_payloads": list(reply.button_payloads),
                "text": reply.text, "category": reply.category}
    if isinstance(reply, Document):
        return {"type": "document", "filename": reply.filename, "mime_type": reply.mime_type,
                "caption": reply.caption, "content": base64.b64encode(reply.content).decode("ascii")}
    raise TypeError(f"not a reply: {type(reply).__name__}")


def reply_from_wire(obj: Mapping[str, Any]) -> Reply:
    """Rebuild a reply from :func:`reply_to_wire`'s dict; ``ValueError`` on an unknown or malformed one."""
    try:
        kind = obj["type"]
        if kind == "text":
            return Text(obj["body"])
        if kind == "buttons":
            return Buttons(obj["body"], tuple(Button(b["id"], b["title"]) for b in obj["buttons"]),
                           header=obj.get("header"), footer=obj.get("footer"))
        if kind == "list":
            return ListReply(obj["body"], obj["button"],
                             tuple(ListRow(r["id"], r["title"], r.get("description")) for r in obj["rows"]),
                             section_title=obj.get("section_title"), header=obj.get("header"),
                             footer=obj.get("footer"))
        if kind == "template":
            return Template(name=obj["name"], language=obj["language"], params=tuple(obj.get("params", ())),
                            button_payloads=tuple(obj.get("button_payloads", ())), text=obj.get("text", ""),
                            category=obj.get("category", "UTILITY"))
        if kind == "document":
            return Document(filename=obj["filename"], content=base64.b64decode(obj["content"], validate=True),
                            mime_type=obj.get("mime_type", "application/json"), caption=obj.get("caption"))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed {obj.get('type') if isinstance(obj, Mapping) else '?'} reply") from exc
    raise ValueError(f"unknown reply type {kind!r}")
