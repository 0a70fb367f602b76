"""The user as the conversation layer sees them: identity, tier, language and a few account flags."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping

from engine.api import Tier


@dataclass(frozen=True, slots=True)
class User:
    """A GridWorks user. ``key`` is the BSUID when WhatsApp gave one, else the phone number."""

    key: str
    phone: str | None
    bsuid: str | None
    name: str | None
    tier: Tier
    language: str | None          # chosen reply language; None until the user picks or we detect one
    created_at: datetime
    is_new: bool = False
    profile: Mapping[str, Any] = field(default_factory=dict)   # extensible account flags (consent, pin, …)

    @property
    def account(self) -> str:
        """The order-engine account id."""
        return self.key

    def with_(self, **changes: Any) -> "User":
        return replace(self, **changes)
