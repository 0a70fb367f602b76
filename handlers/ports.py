"""Ports: what the pure core needs from the outside world. Implementations live in ``bot/stores``
(memory for the embedded default, Redis and SQL for real deployments)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Protocol, Sequence

from engine.api import Tier
from handlers.messages import InboundMessage, Sender
from handlers.replies import Reply
from handlers.users import User
from intents.types import IntentResult


class Superseded(Exception):
    """The turn may not commit: its worker no longer owns the user's partition (it was paused past its lease
    and another worker took over). Nothing of the turn's dialogue state or replies is kept."""


class SessionStore(Protocol):
    """Dialogue state per user, plus the turn journal that makes a retried turn safe.

    ``commit_turn`` saves the state and records the message's turn as done *in one atomic step*, with the
    replies it produced: a worker that crashed after the commit finds the turn done on retry and resends the
    recorded replies (the outbound queue drops keys it has seen) instead of running the turn again on a
    state it already moved."""

    async def load_turn(self, user_key: str, message_id: str) -> tuple[str | None, Sequence[Reply] | None]:
        """The user's state, and the recorded replies when ``message_id``'s turn already committed."""

    async def commit_turn(self, user_key: str, message_id: str, *, state: str | None, ttl_s: int,
                          replies: Sequence[Reply], fence: tuple[str, str] | None = None) -> None:
        """Save ``state`` (delete it when None) and mark the turn done, atomically — only while ``fence``
        (a key and the value it must still hold) holds, else raise :class:`Superseded`."""

    async def load(self, user_key: str) -> str | None: ...
    async def save(self, user_key: str, raw: str, *, ttl_s: int) -> None: ...
    async def delete(self, user_key: str) -> None: ...


class UserRepository(Protocol):
    async def get_or_create(self, sender: Sender, *, now: datetime, language: str | None = None) -> User: ...
    async def get(self, key: str) -> User | None: ...
    async def find(self, identifier: str) -> User | None:
        """By key, phone number or BSUID."""
    async def update(self, key: str, *, profile_changes: Mapping[str, Any] | None = None,
                     **fields: Any) -> User: ...
    async def set_tier(self, key: str, tier: Tier) -> User: ...
    async def all_keys(self, *, tier: Tier | None = None) -> Sequence[str]: ...


class AuditLog(Protocol):
    async def record_inbound(self, message: InboundMessage, *, user_key: str, correlation_id: str,
                             private: bool = False) -> bool:
        """Persist the raw inbound message (sealed when ``private``: a PRO user's); False when its id was
        already stored (a redelivery)."""
    async def record_outbound(self, *, user_key: str, reply_type: str, body: str, wamid: str | None,
                              correlation_id: str | None, private: bool = False) -> None: ...
    async def record_status(self, *, wamid: str, status: str, at: datetime, error_code: int | None,
                            error_title: str | None) -> bool: ...


class IntentClassifier(Protocol):
    async def aclassify(self, text: str, *, lang_hint: str | None = None) -> IntentResult: ...


class Messenger(Protocol):
    """Pushes replies outside a turn (receipts when ready, alerts, reminders). ``key`` names the push so a
    durable messenger sends it once however often it is handed over (None: a fresh push)."""

    async def push(self, user: User, replies: Sequence[Reply], *, key: str | None = None) -> Any: ...
