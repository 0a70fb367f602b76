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
    Column("sealed", Text, nullable=True),        # PRO at rest: side, symbol, limit, quantity, nonce
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
    Column("sealed", Text, nullable=True),        # PRO at rest: price, quantity, nonce, document
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


# ---- sealing at rest (PRO): opening values, fill values, documents and leaves --------------------------
# Receipts are PRO-only, so with data keys every row is sealed: zk_orders keeps order id and leaf index in
# clear, zk_documents its ids, kind and positions; the leaf (it names the symbol) is stored as a token. The
# log stays verifiable from ``leaf_hash`` and the signed heads alone.

_ORDER_SEALED = ("side", "symbol", "limit_paise", "quantity", "nonce")
_DOC_SEALED = ("price_paise", "quantity", "nonce", "document")
_ORDER_NEUTRAL = {"side": "", "symbol": "", "limit_paise": 0, "quantity": 0, "nonce": b""}
_DOC_NEUTRAL = {"price_paise": None, "quantity": None, "nonce": None, "document": ""}


def _pack(row: dict, names: tuple[str, ...]) -> str:
    import json

    return json.dumps({k: (row[k].hex() if isinstance(row[k], (bytes, bytearray, memoryview)) and row[k] is not None
                           else row[k]) for k in names if k in row}, separators=(",", ":"))


def _unpack(text_: str, binary: tuple[str, ...]) -> dict:
    import json

    data = json.loads(text_)
    for k in binary:
        if data.get(k) is not None:
            data[k] = bytes.fromhex(data[k])
    return data


def seal_order(keyring, row: dict) -> dict:
    if keyring is None:
        return row
    out = {**row, **_ORDER_NEUTRAL}
    out["sealed"] = keyring.encrypt_text(_pack(row, _ORDER_SEALED), aad=f"zk_orders:{row['order_id']}")
    return out


def open_order(keyring, row) -> dict:
    out = dict(row)
    token = out.pop("sealed", None)
    if token is not None:
        out.update(_unpack(keyring.decrypt_text(token, aad=f"zk_orders:{out['order_id']}"), ("nonce",)))
    return out


def seal_document(keyring, row: dict) -> dict:
    if keyring is None:
        return row
    out = {**row, **_DOC_NEUTRAL}
    out["sealed"] = keyring.encrypt_text(_pack(row, _DOC_SEALED), aad=f"zk_documents:{row['receipt_id']}")
    return out


def open_document(keyring, row) -> dict:
    out = dict(row)
    token = out.pop("sealed", None)
    if token is not None:
        out.update(_unpack(keyring.decrypt_text(token, aad=f"zk_documents:{out['receipt_id']}"), ("nonce",)))
    return out


_LEAF_PREFIX = b"gw1:"


def seal_leaf(keyring, idx: int, leaf: bytes) -> bytes:
    if keyring is None:
        return leaf
    import base64

    return keyring.encrypt_text(base64.b64encode(leaf).decode("ascii"), aad=f"zk_log:{idx}").encode("ascii")


def open_leaf(keyring, idx: int, stored: bytes) -> bytes:
    stored = bytes(stored)
    if not stored.startswith(_LEAF_PREFIX):
        return stored
    import base64

    return base64.b64decode(keyring.decrypt_text(stored.decode("ascii"), aad=f"zk_log:{idx}"))


def add_sealed_columns(sync_conn) -> None:
    """Older databases: add ``sealed`` to zk_orders and zk_documents (run inside ``run_sync``)."""
    from sqlalchemy import inspect

    inspector = inspect(sync_conn)
    for name in ("zk_orders", "zk_documents"):
        if name in inspector.get_table_names() and "sealed" not in {c["name"] for c in inspector.get_columns(name)}:
            sync_conn.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN sealed TEXT")


async def reseal(conn: AsyncConnection, keyring) -> int:
    """Rotation of the zk rows (documents, openings, leaves) onto the current data key; compare-and-swap."""
    from sqlalchemy import update

    changed = 0
    for table, key in ((zk_orders, "order_id"), (zk_documents, "receipt_id")):
        rows = (await conn.execute(select(table.c[key], table.c.sealed).where(table.c.sealed.is_not(None)))).all()
        for k, token in rows:
            if keyring.is_current(token):
                continue
            where = f"{table.name}:{k}"
            new = keyring.encrypt_text(keyring.decrypt_text(token, aad=where), aad=where)
            changed += (await conn.execute(update(table).where(table.c[key] == k, table.c.sealed == token)
                                           .values(sealed=new))).rowcount
    for idx, stored in (await conn.execute(select(zk_log.c.idx, zk_log.c.leaf))).all():
        if not bytes(stored).startswith(_LEAF_PREFIX):
            continue
        token = bytes(stored).decode("ascii")
        if keyring.is_current(token):
            continue
        new = keyring.encrypt_text(keyring.decrypt_text(token, aad=f"zk_log:{idx}"), aad=f"zk_log:{idx}")
        changed += (await conn.execute(update(zk_log).where(zk_log.c.idx == idx, zk_log.c.leaf == stored)
                                       .values(leaf=new.encode("ascii")))).rowcount
    return changed
