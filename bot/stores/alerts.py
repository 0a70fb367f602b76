"""SQL store for price alerts (own table ``alerts``, created idempotently on first use).

Alerts are one-shot: :meth:`SqlAlertStore.mark_triggered` flips ``triggered_at`` with a conditional
update, so two workers ticking at once can never push the same alert twice. Money is integer paise.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, insert,
                        select, update)
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.db import create_tables
from handlers.alerts import Alert

metadata = MetaData()

alerts = Table(
    "alerts", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("user_key", String(64), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("direction", String(5), nullable=False),          # "above" | "below"
    Column("target_paise", BigInteger, nullable=False),
    Column("reference_paise", BigInteger),                    # the price when the alert was set
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("triggered_at", DateTime(timezone=True)),
    Column("triggered_paise", BigInteger),
    Column("deleted", Boolean, nullable=False, default=False),
    Index("ix_alerts_active", "triggered_at", "deleted"),
    Index("ix_alerts_user", "user_key"),
)


def _alert(row: Any) -> Alert:
    return Alert(id=int(row.id), user_key=row.user_key, symbol=row.symbol, direction=row.direction,
                 target_paise=int(row.target_paise), reference_paise=row.reference_paise,
                 created_at=row.created_at, triggered_at=row.triggered_at)


class SqlAlertStore:
    """Implements the ``AlertStore`` port of :mod:`handlers.alerts` on SQLite or PostgreSQL."""

    def __init__(self, db: AsyncEngine) -> None:
        self._db = db
        self._ready = False
        self._lock = asyncio.Lock()

    async def create_schema(self) -> None:
        """Create the table and indexes if missing (safe to call any number of times)."""
        async with self._lock:
            if not self._ready:
                async with self._db.begin() as conn:
                    await create_tables(conn, metadata)
                self._ready = True

    async def add(self, *, user_key: str, symbol: str, direction: str, target_paise: int,
                  reference_paise: int | None, now: datetime) -> Alert:
        await self.create_schema()
        async with self._db.begin() as conn:
            result = await conn.execute(insert(alerts).values(
                user_key=user_key, symbol=symbol, direction=direction, target_paise=int(target_paise),
                reference_paise=reference_paise, created_at=now, deleted=False).returning(alerts))
            return _alert(result.one())

    async def for_user(self, user_key: str) -> Sequence[Alert]:
        """The user's active alerts, oldest first."""
        await self.create_schema()
        async with self._db.connect() as conn:
            rows = await conn.execute(select(alerts).where(
                alerts.c.user_key == user_key, alerts.c.triggered_at.is_(None), alerts.c.deleted.is_(False)
            ).order_by(alerts.c.id))
            return [_alert(r) for r in rows]

    async def delete(self, *, user_key: str, alert_id: int) -> Alert | None:
        """Delete one of *this user's* active alerts; None when it is not theirs or already gone."""
        await self.create_schema()
        async with self._db.begin() as conn:
            row = (await conn.execute(select(alerts).where(
                alerts.c.id == alert_id, alerts.c.user_key == user_key, alerts.c.triggered_at.is_(None),
                alerts.c.deleted.is_(False)))).first()
            if row is None:
                return None
            await conn.execute(update(alerts).where(alerts.c.id == alert_id).values(deleted=True))
            return _alert(row)

    async def active(self) -> Sequence[Alert]:
        """Every active alert (the tick hook checks them against quotes)."""
        await self.create_schema()
        async with self._db.connect() as conn:
            rows = await conn.execute(select(alerts).where(
                alerts.c.triggered_at.is_(None), alerts.c.deleted.is_(False)).order_by(alerts.c.id))
            return [_alert(r) for r in rows]

    async def mark_triggered(self, alert_id: int, *, now: datetime, price_paise: int) -> bool:
        """Claim the alert for sending: True exactly once per alert."""
        await self.create_schema()
        async with self._db.begin() as conn:
            result = await conn.execute(update(alerts).where(
                alerts.c.id == alert_id, alerts.c.triggered_at.is_(None), alerts.c.deleted.is_(False)
            ).values(triggered_at=now, triggered_paise=int(price_paise)))
            return result.rowcount == 1
