"""Hot reads on the driver (``engine.db.Reads``: SQLite's twin connection, PostgreSQL's asyncpg) answer
exactly what SQLAlchemy's own execution answers for the same statement: the same keys, values and types
(datetimes, None, text outside ASCII), on both databases."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.stores.sql import _BY_ANY, _BY_KEY, _CANDIDATES, SqlUserRepository, create_schema
from engine.api import OrderRequest, OrderType, Side
from engine.clock import IST, FixedClock
from engine.db import Reads, autocommit_reads
from engine.factory import open_engine
from engine.store import _ORDER_BY_CLIENT_ID, _ORDERS_OF
from handlers.messages import Sender
from tests.engine.conftest import CONFIG

NOW = datetime(2026, 11, 23, 4, 30, tzinfo=timezone.utc)


async def _sqlalchemy(db, q, params):
    async with autocommit_reads(db).connect() as conn:
        return [dict(r) for r in (await conn.execute(q.stmt, dict(params))).mappings()]


async def test_driver_reads_answer_what_sqlalchemy_answers(db):
    await create_schema(db)
    users = SqlUserRepository(db)
    asha = await users.get_or_create(Sender(phone="919800000901", name="आशा ✓"), now=NOW, language="hi")
    await users.get_or_create(Sender(user_id="IN.900000000000000009", phone=None), now=NOW)
    clock = FixedClock(datetime(2026, 11, 23, 10, 0, tzinfo=IST))
    engine = await open_engine(db=db, clock=clock, config=CONFIG)
    try:
        await engine.open_account(asha.key, starting_cash_paise=1_000_000)
        await engine.place(OrderRequest(account=asha.key, client_order_id="wamid.R1", symbol="TCS",
                                        side=Side.BUY, quantity=1))
        await engine.place(OrderRequest(account=asha.key, client_order_id="wamid.R2", symbol="INFY",
                                        side=Side.BUY, quantity=1, order_type=OrderType.LIMIT,
                                        price_paise=100))
        account = engine.store._db_account(asha.key)
    finally:
        await engine.close()
    reads = Reads(db)
    cases = [(_CANDIDATES, {"key": asha.key, "bsuid": None, "phone": asha.phone}),
             (_BY_ANY, {"id": "IN.900000000000000009"}), (_BY_KEY, {"key": "nobody"}),
             (_ORDERS_OF, {"account": account, "limit": 500}),
             (_ORDER_BY_CLIENT_ID, {"client_order_id": "wamid.R2"})]
    for q, params in cases:
        got, want = await reads.mappings(q, params), await _sqlalchemy(db, q, params)
        assert got == want, (q.stmt, got, want)
        assert [{k: type(v) for k, v in r.items()} for r in got] == [{k: type(v) for k, v in r.items()}
                                                                    for r in want]
    assert (await reads.mappings(*cases[0]))[0]["name"] == "आशा ✓"
    assert len(await reads.mappings(*cases[3])) == 2 and await reads.mappings(*cases[2]) == []
