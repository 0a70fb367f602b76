"""The campaign tables (their own MetaData, created with :func:`engine.db.create_tables`).

``campaign_sends`` is the plan and the durable send state of every (campaign, user): the arm, the nonce the
nudge's buttons carry, and where the send is (``planned`` → ``queued`` → ``sending`` → ``sent``/``failed``, or
``skipped`` with a reason, ``holdout`` for the control arm, ``unknown`` when a crash left a Graph call
unanswered — never sent again). ``campaign_events`` records taps and conversions for the funnel.
"""

from __future__ import annotations

from sqlalchemy import (BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text)

metadata = MetaData()

campaigns = Table(
    "campaigns", metadata,
    Column("id", String(24), primary_key=True),
    Column("name", Text, nullable=False),
    Column("definition", Text, nullable=False),          # the campaign file as JSON
    Column("state", String(12), nullable=False),         # planned | running | paused | done
    Column("audience", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

sends = Table(
    "campaign_sends", metadata,
    Column("campaign", String(24), primary_key=True),
    Column("user_key", String(64), primary_key=True),
    Column("arm", String(16), nullable=False),
    Column("state", String(10), nullable=False),
    Column("reason", String(24)),                         # skip reason
    Column("nonce", String(16), nullable=False, unique=True),
    Column("wamid", String(200)),
    Column("error_code", Integer),
    Column("language", String(8)),
    Column("planned_at", DateTime(timezone=True), nullable=False),
    Column("at", DateTime(timezone=True)),                # when the state last changed (a send: when it went)
    Index("ix_campaign_sends_cap", "user_key", "at"),
    Index("ix_campaign_sends_state", "campaign", "state"),
)

events = Table(
    "campaign_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("campaign", String(24), nullable=False, index=True),
    Column("user_key", String(64), nullable=False, index=True),
    Column("arm", String(16), nullable=False),
    Column("kind", String(16), nullable=False),           # tap_trial | tap_more | tap_no | trial | paid
    Column("at", DateTime(timezone=True), nullable=False),
)

templates = Table(
    "wa_templates", metadata,
    Column("name", String(64), primary_key=True),
    Column("locale", String(8), primary_key=True),
    Column("category", String(16), nullable=False),
    Column("template_id", String(64)),
    Column("status", String(24), nullable=False),         # PENDING | APPROVED | REJECTED | PAUSED | …
    Column("reason", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


async def create_schema(db) -> None:
    from engine.db import create_tables
    from engine.tables import metadata as engine_metadata
    from bot.stores.sql import metadata as store_metadata

    async with db.begin() as conn:
        await create_tables(conn, store_metadata)       # facts join users, messages and the engine's tables
        await create_tables(conn, engine_metadata)
        await create_tables(conn, metadata)
