"""The console channel: the same dispatcher as WhatsApp, with replies as trace dicts or terminal text.

Documents are written to a folder (the trace carries their ``path``) and pushes made outside a turn
(receipts when ready, fills of resting orders, alerts) are collected and reported with the next trace.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from bot.app import Runtime
from handlers.messages import InboundMessage, MessageKind, Sender
from handlers.replies import Document, Reply, reply_to_trace
from handlers.users import User

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ConsoleMessenger:
    """Collects pushed replies per user until the channel reports them."""

    def __init__(self) -> None:
        self.outbox: defaultdict[str, list[Reply]] = defaultdict(list)

    async def push(self, user: User, replies: Sequence[Reply], **_: Any) -> list[str]:
        self.outbox[user.key].extend(replies)
        return []

    def drain(self) -> dict[str, list[Reply]]:
        out = dict(self.outbox)
        self.outbox.clear()
        return out


class ConsoleChannel:
    def __init__(self, runtime: Runtime, *, documents_dir: Path) -> None:
        self.runtime = runtime
        self.documents_dir = documents_dir
        self.messenger = runtime.services.messenger
        assert isinstance(self.messenger, ConsoleMessenger), "build the runtime with a ConsoleMessenger"

    def _document_path(self, doc: Document) -> str:
        self.documents_dir.mkdir(parents=True, exist_ok=True)
        path = self.documents_dir / _SAFE.sub("_", doc.filename)
        path.write_bytes(doc.content)
        return str(path.resolve())

    def render(self, replies: Sequence[Reply]) -> list[dict[str, Any]]:
        return [reply_to_trace(r, path=self._document_path(r) if isinstance(r, Document) else None)
                for r in replies]

    async def turn(self, sender: str, *, text: str | None = None, button: str | None = None,
                   name: str | None = None, at: datetime | None = None,
                   document: tuple[str, bytes] | None = None) -> dict[str, Any]:
        """Run one inbound turn and return its trace line (deferred work awaited and included)."""
        clock = self.runtime.clock
        if at is not None and hasattr(clock, "set"):
            clock.set(at)
        await self.runtime.tick()
        now = clock.now()
        msg = _inbound(sender, text=text, button=button, name=name, now=now, document=document)
        result = await self.runtime.dispatcher.handle(msg)
        extra: list[Reply] = []
        for job in result.deferred:
            extra.extend(await job())
        trace = result.to_trace(sender=sender)
        replies = result.replies + tuple(extra)
        trace["replies"] = self.render(replies)
        pushed = self.messenger.drain()
        if pushed:
            trace["notifications"] = [{"to": key, "replies": self.render(rs)} for key, rs in pushed.items()]
        return trace


def _inbound(sender: str, *, text: str | None, button: str | None, name: str | None, now: datetime,
             document: tuple[str, bytes] | None) -> InboundMessage:
    from handlers.messages import Attachment

    ident = Sender(user_id=sender if "." in sender and not sender.isdigit() else None,
                   phone=sender if sender.lstrip("+").isdigit() else None, name=name)
    mid = f"console.{uuid.uuid4().hex}"
    if button is not None:
        return InboundMessage(id=mid, sender=ident, timestamp=now, kind=MessageKind.BUTTON, payload=button)
    if document is not None:
        filename, content = document
        return InboundMessage(id=mid, sender=ident, timestamp=now, kind=MessageKind.DOCUMENT, text=text,
                              attachment=Attachment(filename=filename, content=content,
                                                    mime_type="application/json"))
    return InboundMessage(id=mid, sender=ident, timestamp=now, kind=MessageKind.TEXT, text=text or "")
