"""Reply values that handlers return. Only a channel turns them into API calls or console output.

Each type enforces WhatsApp's limits at construction, shortening cleanly instead of letting Meta reject
the send: 3 reply buttons with 20-character titles, 10 list rows with 24-character titles, 1,024-character
interactive bodies and 4,096-character text bodies (long texts are split by :func:`split_text`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

TEXT_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
BUTTON_TITLE_MAX = 20
BUTTONS_MAX = 3
LIST_ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
LIST_BUTTON_MAX = 20
SECTION_TITLE_MAX = 24
ID_MAX = 200
FOOTER_MAX = 60


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, ending with an ellipsis when something was cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_text(text: str, limit: int = TEXT_MAX) -> list[str]:
    """Split a long body at paragraph, then line, then word boundaries into chunks of ≤ ``limit``."""
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        if cut <= 0:
            cut = limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    chunks.append(rest)
    return chunks


@dataclass(frozen=True, slots=True)
class Text:
    body: str

    def __post_init__(self) -> None:
        if not self.body.strip():
            raise ValueError("a text reply needs a body")
        if len(self.body) > TEXT_MAX:
            raise ValueError("text body over 4,096 characters: use split_text / texts()")


def texts(body: str) -> list[Text]:
    """One or more :class:`Text` replies for a body of any length."""
    return [Text(chunk) for chunk in split_text(body)]


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    title: str

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > 256:
            raise ValueError("button id must be 1..256 characters")
        object.__setattr__(self, "title", shorten(self.title, BUTTON_TITLE_MAX))


@dataclass(frozen=True, slots=True)
class Buttons:
    """A text with up to three reply buttons."""

    body: str
    buttons: tuple[Button, ...]
    header: str | None = None
    footer: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.buttons) <= BUTTONS_MAX:
            raise ValueError("reply buttons: 1 to 3 buttons")
        titles = [b.title for b in self.buttons]
        if len(set(titles)) != len(titles):
            raise ValueError("reply button titles must be unique")
        object.__setattr__(self, "body", shorten_body(self.body, INTERACTIVE_BODY_MAX))
        if self.footer:
            object.__setattr__(self, "footer", shorten(self.footer, FOOTER_MAX))


@dataclass(frozen=True, slots=True)
class ListRow:
    id: str
    title: str
    description: str | None = None

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > ID_MAX:
            raise ValueError("list row id must be 1..200 characters")
        object.__setattr__(self, "title", shorten(self.title, ROW_TITLE_MAX))
        if self.description:
            object.__setattr__(self, "description", shorten(self.description, ROW_DESCRIPTION_MAX))


@dataclass(frozen=True, slots=True)
class ListReply:
    """A list message: a body, a menu button label and at most ten rows (one section)."""

    body: str
    button: str
    rows: tuple[ListRow, ...]
    section_title: str | None = None
    header: str | None = None
    footer: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.rows) <= LIST_ROWS_MAX:
            raise ValueError("list: 1 to 10 rows")
        if len({r.id for r in self.rows}) != len(self.rows):
            raise ValueError("list row ids must be unique")
        object.__setattr__(self, "button", shorten(self.button, LIST_BUTTON_MAX))
        object.__setattr__(self, "body", shorten_body(self.body, INTERACTIVE_BODY_MAX))
        if self.section_title:
            object.__setattr__(self, "section_title", shorten(self.section_title, SECTION_TITLE_MAX))
        if self.footer:
            object.__setattr__(self, "footer", shorten(self.footer, FOOTER_MAX))


@dataclass(frozen=True, slots=True)
class Template:
    """An approved template (needed outside the 24-hour window). ``text`` is our rendering for logs and
    the console; WhatsApp renders the approved body itself from ``params``."""

    name: str
    language: str
    params: tuple[str, ...] = ()
    button_payloads: tuple[str, ...] = ()
    text: str = ""
    category: str = "UTILITY"


@dataclass(frozen=True, slots=True)
class Document:
    """A file attachment (e.g. a ZK receipt as JSON)."""

    filename: str
    content: bytes
    mime_type: str = "application/json"
    caption: str | None = None


Reply = Union[Text, Buttons, ListReply, Template, Document]


def shorten_body(body: str, limit: int) -> str:
    if len(body) <= limit:
        return body
    return body[: limit - 1].rstrip() + "…"


def reply_to_trace(reply: Reply, *, path: str | None = None) -> dict[str, Any]:
    """The simulator trace shape of one reply (public interface: add fields, never rename)."""
    if isinstance(reply, Text):
        return {"type": "text", "text": reply.body}
    if isinstance(reply, Buttons):
        return {"type": "buttons", "text": reply.body,
                "buttons": [{"id": b.id, "title": b.title} for b in reply.buttons]}
    if isinstance(reply, ListReply):
        return {"type": "list", "text": reply.body, "button": reply.button,
                "rows": [{"id": r.id, "title": r.title, "description": r.description} for r in reply.rows]}
    if isinstance(reply, Template):
        return {"type": "template", "text": reply.text, "name": reply.name, "language": reply.language,
                "params": list(reply.params)}
    if isinstance(reply, Document):
        out: dict[str, Any] = {"type": "document", "text": reply.caption or "", "filename": reply.filename,
                               "mime_type": reply.mime_type}
        if path is not None:
            out["path"] = path
        return out
    raise TypeError(f"not a reply: {reply!r}")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler may return when it has more to say than replies (orders touched this turn)."""

    replies: tuple[Reply, ...] = ()
    orders: tuple[Any, ...] = field(default=())
