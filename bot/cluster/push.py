"""The Messenger port over the durable outbound queue: replies are queued under idempotent keys.

A turn's replies are keyed by the inbound message id (``{message_id}:{i}``), a tick's pushes by the tick, so
queueing the same replies again after a crash is a no-op and the user hears each reply once.
"""

from __future__ import annotations

import uuid
from typing import Any, Sequence

from bot.cluster.outbound import OutboundItem, OutboundQueue
from bot.cluster.partitions import partition_of
from bot.cluster.streams import StreamAck
from bot.stores.redis_stores import TurnCommit
from handlers.messages import Sender
from engine.api import Tier
from handlers.replies import Reply


def recipient(target: Any) -> tuple[str, str]:
    """(user key, address) of a :class:`~handlers.users.User` or a :class:`Sender`: the phone number when
    known, else the BSUID."""
    if isinstance(target, Sender):
        return target.key, target.phone or target.user_id or target.key
    return target.key, target.phone or target.bsuid or target.key


class OutboundMessenger:
    def __init__(self, queue: OutboundQueue, *, partitions: int) -> None:
        self.queue = queue
        self._partitions = partitions

    async def push(self, user: Any, replies: Sequence[Reply], *, key: str | None = None,
                   correlation_id: str | None = None, partition: int | None = None,
                   ack: StreamAck | None = None, commit: TurnCommit | None = None) -> int:
        """Queue ``replies``; ``ack``, the intake entry they answer, and ``commit``, the turn's staged commit,
        are written in the same atomic step (also when there are no replies)."""
        if not replies and ack is None and commit is None:
            return 0
        user_key, to = recipient(user)
        key = key or f"push:{uuid.uuid4().hex}"
        p = partition_of(user_key, self._partitions) if partition is None else partition
        private = getattr(user, "tier", None) is Tier.PRO
        items = [OutboundItem(key=f"{key}:{i}", user_key=user_key, to=to, reply=reply,
                              correlation_id=correlation_id, partition=p, private=private)
                 for i, reply in enumerate(replies)]
        return await self.queue.enqueue(items, ack=ack, commit=commit)
