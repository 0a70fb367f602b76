"""orders: a DAY order the close ended is EXPIRED (it was stored as CANCELLED)

The engine now gives such an order its own status; this moves the orders already ended that way, which the
order's event log tells apart from a user's cancel (``eng_order_events.event = 'expire'``). The schema is
unchanged (``status`` is a plain string). Sealed (PRO) rows hold their status inside the sealed token and
cannot be moved by SQL: those stay CANCELLED.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 07:04:29.141780
"""

from __future__ import annotations

from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE eng_orders SET status = 'EXPIRED' WHERE status = 'CANCELLED' AND sealed IS NULL "
               "AND order_id IN (SELECT order_id FROM eng_order_events WHERE event = 'expire')")


def downgrade() -> None:
    op.execute("UPDATE eng_orders SET status = 'CANCELLED' WHERE status = 'EXPIRED' AND sealed IS NULL")
