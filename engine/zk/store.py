"""Persistence for receipts: the append-only log (leaves + signed heads), logged orders, documents.

Own ``MetaData``, every table prefixed ``zk_``. The log is append-only: rows are inserted at index
``size`` inside one write transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction-scoped
advisory lock), and the new signed tree head is written in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import (BigInteger, Column, Integer, LargeBinary, MetaData, String, Table, Text, UniqueConstraint,
                        select, text)
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = MetaData()

zk_log = Table(
    "zk_log", metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("ref", String(80), nullable=False),
    Column("leaf", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

zk_heads = Table(
    "zk_heads", metadata,
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("signed", LargeBinary, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

zk_orders = Table(
    "zk_orders", metadata,
    Column("order_id", String(80), primary_key=True),
    Column("leaf_index", Integer, nullable=False),
    Column("side", String(4), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("limit_paise", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("nonce", LargeBinary(16), nullable=False),
)

zk_documents = Table(
    "zk_documents", metadata,
    Column("receipt_id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("trade_id", String(80), nullable=True, unique=True),
    Column("order_id", String(80), nullable=True, index=True),
    Column("seq", Integer, nullable=True),
    Column("leaf_index", Integer, nullable=False),
    Column("price_paise", BigInteger, nullable=True),
    Column("quantity", BigInteger, nullable=True),
    Column("nonce", LargeBinary(16), nullable=True),
    Column("document", Text, nullable=False),
    UniqueConstraint("order_id", "seq", name="zk_documents_order_seq"),
)

_LOCK_KEY = 0x6757_7A6B  # "gWzk"


async def lock_log(conn: AsyncConnection) -> None:
    """Serialise appends across processes (SQLite already holds the write lock via BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


async def leaf_hashes(conn: AsyncConnection, start: int = 0) -> list[bytes]:
    rows = await conn.execute(select(zk_log.c.leaf_hash).where(zk_log.c.idx >= start).order_by(zk_log.c.idx))
    return [bytes(r[0]) for r in rows]
