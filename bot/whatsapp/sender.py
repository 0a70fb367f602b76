"""Turn reply values into WhatsApp Cloud API sends through pywa_async, and log each send.

Meta's errors arrive as pywa's typed exceptions; we log them by code and carry on with the next reply, so
one failed send never loses the rest of a turn. Outside the 24-hour window (131047) a text cannot be sent;
callers that need to reach the user then send a :class:`Template`.

:func:`send_reply` (one Graph call) and :func:`retry_class` / :func:`backoff_delay` are shared with the
cluster's durable send queue (:mod:`bot.cluster.outbound`), which owns its own retry loop.
"""

from __future__ import annotations

import asyncio
import functools
import random
from typing import Awaitable, Callable, Sequence

import httpx
import structlog
from pywa_async import WhatsApp
from pywa_async import types as wa_types
from pywa_async.errors import WhatsAppError

from bot import metrics
from engine.api import Tier
from handlers.ports import AuditLog
from handlers.replies import Buttons, Document, ListReply, Reply, Template, Text
from handlers.users import User

log = structlog.get_logger("gridworks.whatsapp")

#: Meta's transient and throughput errors: retried with jittered backoff (others are final).
RETRYABLE = frozenset({4, 80007, 130429, 131000, 131016, 131057})
#: Pair rate limit: too many messages to one user too fast. Retried later, for that user's message only.
PAIR_RATE_LIMIT = 131056
TRANSIENT = "transient"
PAIR = "pair"


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
            await self._audit.record_outbound(user_key=user.key, reply_type=reply_type(reply),
                                              body=reply_body(reply), wamid=wamid,
                                              correlation_id=correlation_id, private=user.tier is Tier.PRO)
        return sent

    async def _send_with_retry(self, to: str, reply: Reply, *, attempts: int = 3) -> str:
        for attempt in range(attempts):
            try:
                return await self._send_one(to, reply)
            except (WhatsAppError, httpx.TransportError) as exc:
                # Inside a turn a pair-rate-limited send is not worth a six-second wait: transient only.
                if retry_class(exc) != TRANSIENT or attempt == attempts - 1:
                    raise
                await asyncio.sleep(backoff_delay(self.backoff_s, attempt))
        raise AssertionError("unreachable")

    async def mark_read(self, message_id: str) -> None:
        try:
            await self._wa.mark_message_as_read(message_id)
        except WhatsAppError as exc:
            log.info("mark_read_failed", code=exc.code)

    async def _send_one(self, to: str, reply: Reply) -> str:
        return await send_reply(self._wa, to, reply)


def retry_class(exc: BaseException) -> str | None:
    """How a failed send may be retried: :data:`TRANSIENT`, :data:`PAIR` (131056: this user got too much
    too fast, wait longer) or None (final: 131047 outside the 24-hour window, 131026 undeliverable, …)."""
    if isinstance(exc, WhatsAppError):
        if exc.code == PAIR_RATE_LIMIT:
            return PAIR
        if exc.code in RETRYABLE or (exc.status_code or 0) >= 500:
            return TRANSIENT
        return None
    if isinstance(exc, httpx.TransportError):     # connection refused, timeouts, a dropped connection
        return TRANSIENT
    return None


def backoff_delay(base_s: float, attempt: int, *, cap_s: float = 60.0) -> float:
    """Exponential backoff with jitter (×0.5–1.5) so many senders do not retry in lockstep."""
    return min(cap_s, base_s * (2 ** attempt)) * (0.5 + random.random())


def reply_sender(client: WhatsApp) -> Callable[[str, Reply], Awaitable[str]]:
    """The single-send function (one Graph call, no retry) for callers that own their retry loop."""
    return metrics.counted_send(functools.partial(send_reply, client))


async def send_reply(client: WhatsApp, to: str, reply: Reply, *, tracker: str | None = None) -> str:
    """One Graph API send of ``reply`` to ``to`` (phone or BSUID); returns the wamid, raises on error.
    ``tracker`` (templates): Meta echoes it in the message's status webhooks (``biz_opaque_callback_data``)."""
    if isinstance(reply, Text):
        return (await client.send_message(to=to, text=reply.body)).id
    if isinstance(reply, Buttons):
        buttons = [wa_types.Button(title=b.title, callback_data=b.id) for b in reply.buttons]
        return (await client.send_message(to=to, text=reply.body, header=reply.header,
                                          footer=reply.footer, buttons=buttons)).id
    if isinstance(reply, ListReply):
        rows = [wa_types.SectionRow(title=r.title, callback_data=r.id, description=r.description)
                for r in reply.rows]
        section = wa_types.Section(title=reply.section_title or reply.button, rows=rows)
        menu = wa_types.SectionList(button_title=reply.button, sections=[section])
        return (await client.send_message(to=to, text=reply.body, header=reply.header,
                                          footer=reply.footer, buttons=menu)).id
    if isinstance(reply, Document):
        return (await client.send_document(to=to, document=reply.content, filename=reply.filename,
                                           caption=reply.caption, mime_type=reply.mime_type)).id
    if isinstance(reply, Template):
        return await _send_template(client, to, reply, tracker=tracker)
    raise TypeError(f"cannot send {reply!r}")


async def _send_template(client: WhatsApp, to: str, reply: Template, *, tracker: str | None = None) -> str:
    """Through pywa's public ``send_template``; our language variant is mapped to Meta's template locale
    (``hi-Latn`` and ``or`` fall back to ``en``, see :mod:`bot.whatsapp.templates`)."""
    from pywa_async.types.templates import BodyText, QuickReplyButton, TemplateLanguage

    from bot.whatsapp.templates import meta_locale

    params: list = []
    if reply.params:
        params.append(BodyText.params(*reply.params))
    params.extend(QuickReplyButton.params(callback_data=payload, index=index)
                  for index, payload in enumerate(reply.button_payloads))
    sent = await client.send_template(to=to, name=reply.name, language=TemplateLanguage(meta_locale(reply.language)),
                                      params=params, tracker=tracker)
    return sent.id


def reply_type(reply: Reply) -> str:
    """The audit log's ``kind`` of an outbound reply (``text``, ``buttons``, ``listreply``, …)."""
    return type(reply).__name__.lower()


def reply_body(reply: Reply) -> str:
    """What the audit log keeps of an outbound reply (the text, or the template name / file name)."""
    if isinstance(reply, (Text,)):
        return reply.body
    if isinstance(reply, (Buttons, ListReply)):
        return reply.body
    if isinstance(reply, Template):
        return reply.text or reply.name
    return reply.filename

