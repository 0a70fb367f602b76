"""The side stream: delivery statuses, marketing-preference changes and rejected webhook items.

Statuses arrive in storms (every reply produces sent, delivered and read), so they never run as tasks of
their own: the webhook appends them to one stream and a writer stores them in batches, off the turn path.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Sequence

import structlog

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cluster.intake import Intake, SideItem
from bot.stores.sql import record_statuses
from bot.whatsapp.parse import PreferenceUpdate, StatusUpdate

log = structlog.get_logger("gridworks.side")


def status_item(s: StatusUpdate) -> SideItem:
    fields = {"wamid": s.wamid, "status": s.status, "at": s.at.isoformat()}
    if s.error_code is not None:
        fields["code"] = str(s.error_code)
    if s.error_title:
        fields["title"] = s.error_title[:200]
    if s.tracker:
        fields["tracker"] = s.tracker
    return SideItem("status", fields)


def preference_item(p: PreferenceUpdate) -> SideItem:
    return SideItem("preference", {"wa_id": p.wa_id or "", "user_id": p.user_id or "", "value": p.value,
                                   "at": p.at.isoformat()})


def template_item(fields: dict[str, str]) -> SideItem:
    return SideItem("template", dict(fields))


def rejected_item(kind: str, reason: str) -> SideItem:
    return SideItem("rejected", {"item": kind, "reason": reason[:80]})


class SideWriter:
    """Stores side items in batches; an item is acknowledged only once stored."""

    def __init__(self, *, intake: Intake, db: AsyncEngine, users: Any, consumer: str, batch: int = 500) -> None:
        self._intake = intake
        self._db = db
        self._users = users
        self._consumer = consumer
        self._batch = batch
        self.rejected: Counter[str] = Counter()
        self.stored = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                items = await self._intake.read_side(self._consumer, count=self._batch, block_ms=250)
                if items:
                    await self.store([item for _, item in items])
                    await self._intake.ack_side([entry_id for entry_id, _ in items])
            except Exception:  # noqa: BLE001 - unacknowledged items are read again
                log.exception("side_write_failed")
                await asyncio.sleep(0.5)

    async def store(self, items: Sequence[SideItem]) -> None:
        statuses = [i.fields for i in items if i.kind == "status"]
        if statuses:
            await record_statuses(self._db, [
                dict(wamid=f["wamid"], status=f["status"], at=datetime.fromisoformat(f["at"]),
                     error_code=int(f["code"]) if f.get("code") else None, error_title=f.get("title"))
                for f in statuses])
            failed = Counter(f["code"] for f in statuses if f.get("code"))
            for code, n in failed.items():
                log.warning("delivery_failed", code=int(code), count=n)
            self.stored += len(statuses)
            tracked = [f for f in statuses if str(f.get("tracker", "")).startswith("c:")]
            if tracked:                          # a campaign send whose answer a crash lost: Meta has it
                from bot.campaigns.store import confirm_tracked

                await confirm_tracked(self._db, [(f["tracker"], f["wamid"], f["status"]) for f in tracked])
        for item in items:
            if item.kind == "preference":
                f = item.fields
                user = await self._users.find(f.get("user_id") or f.get("wa_id") or "")
                if user is not None:
                    await self._users.update(user.key, profile_changes={"marketing_opt_out": f["value"] == "stop"})
            elif item.kind == "rejected":
                self.rejected[item.fields.get("reason", "?")] += 1
            elif item.kind == "template":           # a template's approval status changed (Meta's review)
                from bot.campaigns.store import CampaignStore
                from bot.campaigns.templates_sync import record_status_update

                await record_status_update(CampaignStore(self._db), item.fields, datetime.now(timezone.utc))
