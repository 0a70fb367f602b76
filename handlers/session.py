"""Conversation state for one user: what the bot waits for, and the slots gathered so far.

State is explicit (``awaiting`` names the slot, ``expires_at`` bounds it), so an old half-finished dialogue
can never be resumed by accident. Stored as JSON behind the SessionStore port.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class Session:
    awaiting: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None

    def expect(self, awaiting: str, *, until: datetime | None = None, **data: Any) -> None:
        """Wait for ``awaiting`` next (e.g. ``"quantity"``), keeping ``data`` for the dialogue."""
        self.awaiting = awaiting
        self.expires_at = until
        self.data.update(data)

    def clear(self) -> None:
        self.awaiting = None
        self.expires_at = None
        self.data.clear()

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def to_json(self) -> str:
        return json.dumps({
            "awaiting": self.awaiting,
            "data": self.data,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes | None) -> "Session":
        if not raw:
            return cls()
        obj = json.loads(raw)
        exp = obj.get("expires_at")
        return cls(awaiting=obj.get("awaiting"), data=dict(obj.get("data") or {}),
                   expires_at=datetime.fromisoformat(exp) if exp else None)
