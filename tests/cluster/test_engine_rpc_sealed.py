"""The cluster's engine role with data keys: a PRO order sent by a worker over Redis (RemoteEngine) is stored
sealed in PostgreSQL, and the next engine (a standby taking over) rebuilds the same portfolio from it."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select

from bot.cluster.engine_rpc import EngineServer, RemoteEngine
from bot.stores.crypto import DataCipher
from engine.api import OrderRequest, OrderType, Side, Tier
from engine.clock import IST, FixedClock
from engine.factory import open_engine
from engine.tables import metadata

ACC = "919811223344"
CONFIG: dict = {}
MON_10 = datetime(2026, 11, 23, 10, 0, tzinfo=IST)


async def _serve(db, client, prefix, keyring):
    engine = await open_engine(db=db, clock=FixedClock(MON_10), config=CONFIG, keyring=keyring)
    server = EngineServer(engine, client, prefix=prefix, block_ms=200)
    server.start()
    return engine, server


async def test_pro_orders_through_the_engine_role_are_sealed_and_survive_a_takeover(pg_db, redis_prefixed):
    client, prefix = redis_prefixed
    keyring = DataCipher.from_hex([secrets.token_hex(32)])
    engine, server = await _serve(pg_db, client, prefix, keyring)
    remote = RemoteEngine(client, prefix=prefix, timeout_s=10.0, block_ms=200)
    try:
        await remote.open_account(ACC, starting_cash_paise=17_654_321)
        quote = await remote.quote("INFY")
        low = quote.ltp_paise * 97 // 100 // quote.tick_paise * quote.tick_paise
        filled = await remote.place(OrderRequest(account=ACC, client_order_id="wamid.s1", symbol="TCS",
                                                 side=Side.BUY, quantity=19, tier=Tier.PRO))
        resting = await remote.place(OrderRequest(account=ACC, client_order_id="wamid.s2", symbol="INFY",
                                                  side=Side.BUY, quantity=31, tier=Tier.PRO,
                                                  order_type=OrderType.LIMIT, price_paise=low))
        assert filled.accepted and filled.trades and resting.accepted
        before = (await remote.funds(ACC), await remote.holdings(ACC), await remote.orders(ACC))
    finally:
        await server.stop()
        await engine.close()

    cells = []
    async with pg_db.connect() as conn:
        for table in metadata.sorted_tables:
            for r in await conn.execute(select(table)):
                cells += [str(v) for k, v in r._mapping.items() if k != "sealed"]
    stored = " ".join(cells)
    for needle in ("TCS", "INFY", ACC, "17654321", str(low)):
        assert needle not in stored, needle

    standby, server = await _serve(pg_db, client, prefix, keyring)        # the next engine takes over
    try:
        assert (await remote.funds(ACC), await remote.holdings(ACC), await remote.orders(ACC)) == before
        assert [o.order_id for o in await remote.orders(ACC, open_only=True)] == [resting.order.order_id]
    finally:
        await remote.close()
        await server.stop()
        await standby.close()
