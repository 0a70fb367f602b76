"""Conversation state for one user: what the bot waits for, and the slots gathered so far.

State is explicit (``awaiting`` names the slot, ``expires_at`` bounds it), so an old half-finished dialogue
can never be resumed by accident. Stored as JSON behind the SessionStore port.

Two entries outlive the dialogue: ``data["bound"]``, what the buttons the bot showed this user mean
(``handlers/bound.py``), and ``data["pin_guard"]``, today's count of PIN checks (``handlers/trading/pin_guard.py``). Each binding carries its own expiry, so clearing the dialogue keeps them: a button
tapped later still gets a truthful answer ("already used", "expired") instead of a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: ``data`` keys that survive :meth:`Session.clear` (they expire on their own).
KEPT_ON_CLEAR = ("bound", "pin_guard")


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
        """Forget the dialogue (what is awaited and its slots); bound buttons keep their own expiry."""
        kept = {k: self.data[k] for k in KEPT_ON_CLEAR if self.data.get(k)}
        self.awaiting = None
        self.expires_at = None
        self.data.clear()
        self.data.update(kept)

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
