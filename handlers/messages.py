"""Inbound values: what a user sent, independent of the channel that carried it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class MessageKind(StrEnum):
    TEXT = "text"
    BUTTON = "button"            # reply-button tap or template quick-reply tap
    LIST = "list"                # list row pick
    DOCUMENT = "document"
    MEDIA = "media"              # image, audio, video, sticker
    LOCATION = "location"
    REACTION = "reaction"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote. WhatsApp gives a business-scoped user id (BSUID) and/or a phone number."""

    user_id: str | None = None
    phone: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if not (self.user_id or self.phone):
            raise ValueError("a sender needs a user id or a phone number")

    @property
    def key(self) -> str:
        """The stable key users are stored under: the BSUID when known, else the phone number."""
        return self.user_id or self.phone  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A received file. ``content`` is filled when the channel could fetch it (console: always)."""

    filename: str | None = None
    mime_type: str | None = None
    media_id: str | None = None
    content: bytes | None = None
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message from a user. ``payload`` is the id of a tapped button or list row."""

    id: str
    sender: Sender
    timestamp: datetime
    kind: MessageKind = MessageKind.TEXT
    text: str | None = None
    payload: str | None = None
    context_id: str | None = None
    attachment: Attachment | None = None

    @property
    def is_tap(self) -> bool:
        return self.payload is not None
