"""Turn reply values into WhatsApp Cloud API sends through pywa_async, and log each send.

Meta's errors arrive as pywa's typed exceptions; we log them by code and carry on with the next reply, so
one failed send never loses the rest of a turn. Outside the 24-hour window (131047) a text cannot be sent;
callers that need to reach the user then send a :class:`Template`.
"""

from __future__ import annotations

import asyncio
import random
from typing import Sequence

import structlog
from pywa_async import WhatsApp
from pywa_async import types as wa_types
from pywa_async.errors import WhatsAppError

from handlers.ports import AuditLog
from handlers.replies import Buttons, Document, ListReply, Reply, Template, Text
from handlers.users import User

log = structlog.get_logger("gridworks.whatsapp")

#: Meta's transient and throughput errors: retried with jittered backoff (others are final).
RETRYABLE = frozenset({4, 80007, 130429, 131000, 131016, 131057})


def address(user: User) -> str:
    """Phone number when known ("to"), else the BSUID ("recipient") — pywa picks the field by format."""
    target = user.phone or user.bsuid or user.key
    return target


class WhatsAppMessenger:
    def __init__(self, client: WhatsApp, *, audit: AuditLog, backoff_s: float = 0.25) -> None:
        self._wa = client
        self._audit = audit
        self.backoff_s = backoff_s

    async def push(self, user: User, replies: Sequence[Reply], *, correlation_id: str | None = None) -> list[str]:
        """Send ``replies`` in order; returns the wamids Meta accepted."""
        sent: list[str] = []
        for reply in replies:
            wamid = None
            try:
                wamid = await self._send_with_retry(address(user), reply)
                sent.append(wamid)
            except WhatsAppError as exc:
                log.warning("send_failed", code=exc.code, error=type(exc).__name__,
                            correlation_id=correlation_id)
            await self._audit.record_outbound(user_key=user.key, reply_type=type(reply).__name__.lower(),
                                              body=_body(reply), wamid=wamid, correlation_id=correlation_id)
        return sent

    async def _send_with_retry(self, to: str, reply: Reply, *, attempts: int = 3) -> str:
        for attempt in range(attempts):
            try:
                return await self._send_one(to, reply)
            except WhatsAppError as exc:
                if exc.code not in RETRYABLE or attempt == attempts - 1:
                    raise
                await asyncio.sleep(self.backoff_s * (2 ** attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    async def mark_read(self, message_id: str) -> None:
        try:
            await self._wa.mark_message_as_read(message_id)
        except WhatsAppError as exc:
            log.info("mark_read_failed", code=exc.code)

    async def _send_one(self, to: str, reply: Reply) -> str:
        if isinstance(reply, Text):
            return (await self._wa.send_message(to=to, text=reply.body)).id
        if isinstance(reply, Buttons):
            buttons = [wa_types.Button(title=b.title, callback_data=b.id) for b in reply.buttons]
            return (await self._wa.send_message(to=to, text=reply.body, header=reply.header,
                                                footer=reply.footer, buttons=buttons)).id
        if isinstance(reply, ListReply):
            rows = [wa_types.SectionRow(title=r.title, callback_data=r.id, description=r.description)
                    for r in reply.rows]
            section = wa_types.Section(title=reply.section_title or reply.button, rows=rows)
            menu = wa_types.SectionList(button_title=reply.button, sections=[section])
            return (await self._wa.send_message(to=to, text=reply.body, header=reply.header,
                                                footer=reply.footer, buttons=menu)).id
        if isinstance(reply, Document):
            return (await self._wa.send_document(to=to, document=reply.content, filename=reply.filename,
                                                 caption=reply.caption, mime_type=reply.mime_type)).id
        if isinstance(reply, Template):
            return await self._send_template(to, reply)
        raise TypeError(f"cannot send {reply!r}")

    async def _send_template(self, to: str, reply: Template) -> str:
        components: list[dict] = []
        if reply.params:
            components.append({"type": "body", "parameters": [{"type": "text", "text": p} for p in reply.params]})
        for index, payload in enumerate(reply.button_payloads):
            components.append({"type": "button", "sub_type": "quick_reply", "index": str(index),
                               "parameters": [{"type": "payload", "payload": payload}]})
        body = {"name": reply.name, "language": {"code": reply.language}, "components": components}
        bsuid = to.count(".") == 1 and not to.isdigit()
        response = await self._wa.api.send_message(
            sender=str(self._wa.phone_id), to=None if bsuid else to, recipient=to if bsuid else None,
            recipient_type="individual", typ="template", msg=body)
        return response["messages"][0]["id"]


def _body(reply: Reply) -> str:
    if isinstance(reply, (Text,)):
        return reply.body
    if isinstance(reply, (Buttons, ListReply)):
        return reply.body
    if isinstance(reply, Template):
        return reply.text or reply.name
    return reply.filename
