"""The engine's tables (its own MetaData, names prefixed ``eng_``) and the triggers that keep the audit tables
append-only. Orders carry a unique ``client_order_id``: the database itself refuses a second order for one
instruction.

Every table that holds an account's data has a ``sealed`` column: NULL on a clear (LITE) row; on a PRO row the
AES-GCM token of everything :mod:`engine.sealed` keeps out of the clear columns. ``eng_account_ids`` maps a
private account's opaque id to its real id (sealed).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (BigInteger, Boolean, Column, Date, DateTime, Index, Integer, MetaData, String, Table,
                        Text, UniqueConstraint)

metadata = MetaData()
_ID = BigInteger().with_variant(Integer, "sqlite")
Money = BigInteger


def _ts(name: str, **kw: Any) -> Column:
    return Column(name, DateTime(timezone=True), **kw)


accounts = Table(
    "eng_accounts", metadata,
    Column("account", String(64), primary_key=True),
    Column("tier", String(8), nullable=False),
    _ts("created_at", nullable=False),
    Column("charges_paid", Money, nullable=False),
    Column("realized", Money, nullable=False),
    Column("sealed", Text),
)

account_ids = Table(
    "eng_account_ids", metadata,
    Column("id", String(64), primary_key=True),        # the opaque id a private account's rows carry
    Column("sealed", Text, nullable=False),            # {"account": real id}, sealed
)

orders = Table(
    "eng_orders", metadata,
    Column("order_id", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("client_order_id", String(200), nullable=False),
    Column("account", String(64), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("order_type", String(8), nullable=False),
    Column("product", String(4), nullable=False),
    Column("validity", String(4), nullable=False),
    Column("tier", String(8), nullable=False),
    Column("price", Money), Column("trigger_price", Money),
    _ts("placed_at", nullable=False), _ts("updated_at", nullable=False),
    Column("status", String(20), nullable=False),
    Column("stage", String(10), nullable=False),
    Column("filled", BigInteger, nullable=False), Column("filled_value", Money, nullable=False),
    Column("protection", Money), Column("is_amo", Boolean, nullable=False), _ts("release_at"),
    Column("blocked", Money, nullable=False), Column("reserved", BigInteger, nullable=False),
    Column("ch_brokerage", Money, nullable=False), Column("ch_stt", Money, nullable=False),
    Column("ch_exchange", Money, nullable=False), Column("ch_sebi", Money, nullable=False),
    Column("ch_stamp", Money, nullable=False), Column("ch_gst", Money, nullable=False),
    Column("reject_code", String(40)), Column("reject_params", Text),
    Column("source_message_id", String(200)), Column("tag", String(64)),
    Column("sealed", Text),
    UniqueConstraint("client_order_id", name="uq_eng_orders_client_order_id"),
    Index("ix_eng_orders_account_seq", "account", "seq"),
    Index("ix_eng_orders_stage", "stage"),
)

order_events = Table(
    "eng_order_events", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("order_id", String(32), nullable=False, index=True),
    Column("event", String(24), nullable=False),
    Column("status", String(20), nullable=False),
    Column("filled", BigInteger, nullable=False),
    _ts("at", nullable=False),
    Column("detail", Text, nullable=False),
    Column("sealed", Text),
)

trades = Table(
    "eng_trades", metadata,
    Column("trade_id", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("order_id", String(32), nullable=False, index=True),
    Column("account", String(64), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("price", Money, nullable=False),
    _ts("at", nullable=False),
    Column("product", String(4), nullable=False),
    Column("trade_day", Date, nullable=False),
    Column("ch_brokerage", Money, nullable=False), Column("ch_stt", Money, nullable=False),
    Column("ch_exchange", Money, nullable=False), Column("ch_sebi", Money, nullable=False),
    Column("ch_stamp", Money, nullable=False), Column("ch_gst", Money, nullable=False),
    Column("sealed", Text),
    Index("ix_eng_trades_account_day", "account", "trade_day"),
)

postings = Table(
    "eng_postings", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("entry_id", BigInteger, nullable=False, index=True),
    Column("account_key", String(80), nullable=False, index=True),
    Column("amount", Money, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ref", String(64), nullable=False),
    _ts("at", nullable=False),
    Column("sealed", Text),
)

holdings = Table(
    "eng_holdings", metadata,
    Column("account", String(64), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("cost", Money, nullable=False),
    Column("realized", Money, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("lots", Text, nullable=False),
    Column("sealed", Text),
)

positions = Table(
    "eng_positions", metadata,
    Column("account", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("buy_qty", BigInteger, nullable=False), Column("buy_value", Money, nullable=False),
    Column("sell_qty", BigInteger, nullable=False), Column("sell_value", Money, nullable=False),
    Column("sealed", Text),
)

state = Table(
    "eng_state", metadata,
    Column("key", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)


APPEND_ONLY = ("eng_order_events", "eng_trades", "eng_postings")
_APPEND_KEYS = {"eng_order_events": "id", "eng_trades": "trade_id", "eng_postings": "id"}
#: Tables that gained the ``sealed`` column after they were first shipped (added to older databases).
SEALED_TABLES = ("eng_accounts", "eng_orders", "eng_order_events", "eng_trades", "eng_postings", "eng_holdings",
                 "eng_positions")


def append_only_ddl(dialect: str) -> list[str]:
    """Triggers that keep the audit tables append-only: DELETE is refused; UPDATE is refused unless it leaves
    the row sealed with its key and time unchanged -- the one change allowed is sealing a row (an account
    turning PRO) or re-sealing it under a new data key (rotation). A clear row can never be edited."""
    out = []
    if dialect == "sqlite":
        for t in APPEND_ONLY:
            key = _APPEND_KEYS[t]
            out.append(f"DROP TRIGGER IF EXISTS {t}_no_update")
            out.append(f"CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} "
                       f"WHEN NEW.sealed IS NULL OR NEW.{key} IS NOT OLD.{key} OR NEW.at IS NOT OLD.at "
                       f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END")
            out.append(f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} "
                       f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END")
    elif dialect == "postgresql":
        out.append("CREATE OR REPLACE FUNCTION eng_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN IF TG_OP = 'UPDATE' AND NEW.sealed IS NOT NULL AND NEW.at = OLD.at "
                   "AND to_jsonb(NEW) -> TG_ARGV[0] = to_jsonb(OLD) -> TG_ARGV[0] THEN RETURN NEW; END IF; "
                   "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$")
        for t in APPEND_ONLY:   # CREATE OR REPLACE TRIGGER: PostgreSQL 14+
            out.append(f"CREATE OR REPLACE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                       f"FOR EACH ROW EXECUTE FUNCTION eng_append_only('{_APPEND_KEYS[t]}')")
    return out


def add_sealed_columns_ddl(dialect: str, existing: dict[str, set[str]]) -> list[str]:
    """``ALTER TABLE … ADD COLUMN sealed`` for tables created before the column existed (``existing``: the
    column names per table as the database has them)."""
    return [f"ALTER TABLE {t} ADD COLUMN sealed TEXT" for t in SEALED_TABLES
            if t in existing and "sealed" not in existing[t]]
