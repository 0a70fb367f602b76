"""What a LITE user hears on asking for a PRO feature: one sentence and an upgrade button (used by the tier
step of the chain and by features that are PRO-only in part)."""

from __future__ import annotations

from handlers.replies import Button, Buttons
from locales.catalog import Translator


def pro_only_reply(t: Translator, feature: str | None) -> Buttons:
    key = f"core.feature.{feature}"
    name = t(key) if feature and t.has(key) else t("core.feature.default")
    return Buttons(t("core.pro_only", feature=name), (Button("upgrade", t("core.button.upgrade")),))
