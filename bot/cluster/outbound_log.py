"""Outbound rows of the audit log (``messages``, direction ``out``), written many per transaction.

Why not :meth:`SqlAuditLog.record_outbound`: a sender at Meta's 80–1,000 messages/s cannot afford one
transaction per send, and a final failure must keep Meta's error code. The rows go through the database's
group commit (:func:`bot.stores.sql.message_writer`), with the inbound rows of the turns running meanwhile.
The rows are the same, so :meth:`SqlAuditLog.record_status` finds them by wamid. A row whose wamid is already
logged is skipped: after a crash between the audit write and the acknowledgement the send is recovered and
logged again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.stores.crypto import DataCipher
from bot.stores.sql import message_row, message_writer, seal_body

__all__ = ["OutboundLog", "OutboundRecord", "SqlOutboundLog"]


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    user_key: str
    reply_type: str
    body: str
    wamid: str | None
    correlation_id: str | None
    status: str = "accepted"          # "accepted" (Meta took it) or "failed" (given up)
    error_code: int | None = None
    error_title: str | None = None
    private: bool = False             # a PRO user's reply: the body is stored sealed


class OutboundLog(Protocol):
    async def record_outbound_many(self, rows: Sequence[OutboundRecord]) -> int:
        """Append the rows; returns how many were new."""


class SqlOutboundLog:
    """``cipher`` seals the bodies of PRO users' replies (``private`` records); without one such a record is
    refused rather than stored in clear."""

    def __init__(self, db: AsyncEngine, *, cipher: DataCipher | None = None) -> None:
        self._db = db
        self._cipher = cipher

    async def record_outbound_many(self, rows: Sequence[OutboundRecord]) -> int:
        """Append the rows (in the database's group commit, shared with the inbound audit rows)."""
        if not rows:
            return 0
        now = datetime.now(timezone.utc)
        flags = await message_writer(self._db).submit([self._values(r, now) for r in rows])
        return sum(flags)

    def _values(self, r: OutboundRecord, now: datetime) -> dict[str, Any]:
        body = r.body
        if r.private:
            if self._cipher is None:
                raise ValueError("a PRO user's reply cannot be logged without the data keys")
            body = seal_body(self._cipher, r.user_key, body)
        return message_row(wamid=r.wamid, direction="out", user_key=r.user_key, kind=r.reply_type, body=body,
                           status=r.status, error_code=r.error_code,
                           error_title=r.error_title[:200] if r.error_title else None,
                           correlation_id=r.correlation_id, created_at=now,
                           status_at=now if r.status == "failed" else None)
