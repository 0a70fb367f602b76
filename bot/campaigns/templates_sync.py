"""``gridworks templates sync``: create or update every template of :mod:`bot.whatsapp.templates` through
pywa's public template API (``get_templates`` / ``create_template`` / ``update_template``) and record each
one's approval status; template-status webhooks (``message_template_status_update``) update the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from bot.campaigns.store import CampaignStore
from bot.whatsapp.templates import meta_body, registrations, to_pywa

log = structlog.get_logger("gridworks.templates")


@dataclass(frozen=True, slots=True)
class SyncLine:
    name: str
    locale: str
    action: str          # created | updated | unchanged | error
    status: str


def _body_of(components: Any) -> str | None:
    for comp in components or ():
        kind = getattr(comp, "type", None)
        text = getattr(comp, "text", None)
        if text is not None and str(getattr(kind, "value", kind)).upper() == "BODY":
            return text
    return None


async def sync(client: Any, store: CampaignStore, catalog: Any, *, waba_id: str, now: datetime) -> list[SyncLine]:
    existing: dict[tuple[str, str], Any] = {}
    result = await client.get_templates(waba_id=waba_id)
    for t in result:
        existing[(t.name, str(getattr(t.language, "value", t.language)))] = t
    out: list[SyncLine] = []
    for tpl, locale, lang in registrations(catalog):
        wanted = to_pywa(catalog, tpl, lang)
        have = existing.get((tpl.name, locale))
        try:
            if have is None:
                created = await client.create_template(wanted, waba_id=waba_id)
                status, tid, action = str(created.status.value), str(created.id), "created"
            elif _body_of(have.components) != meta_body(catalog, tpl, lang):
                await client.update_template(have.id, new_components=wanted.components)
                status, tid, action = "PENDING", str(have.id), "updated"       # an edit is reviewed again
            else:
                status, tid, action = str(have.status.value), str(have.id), "unchanged"
        except Exception as exc:  # noqa: BLE001 - one refused template must not stop the others
            log.warning("template_sync_failed", template=tpl.name, locale=locale, error=type(exc).__name__,
                        code=getattr(exc, "code", None))
            out.append(SyncLine(tpl.name, locale, "error", type(exc).__name__))
            continue
        await store.set_template_status(tpl.name, locale, status=status, now=now, category=tpl.category,
                                        template_id=tid)
        out.append(SyncLine(tpl.name, locale, action, status))
    return out


async def record_status_update(store: CampaignStore, fields: dict[str, Any], now: datetime) -> None:
    """A ``message_template_status_update`` webhook value (event, message_template_id/name/language, reason)."""
    await store.set_template_status(str(fields.get("message_template_name") or ""),
                                    str(fields.get("message_template_language") or ""),
                                    status=str(fields.get("event") or "UNKNOWN"), now=now,
                                    template_id=str(fields["message_template_id"])
                                    if fields.get("message_template_id") else None,
                                    reason=str(fields["reason"]) if fields.get("reason") else None)
