"""The engine's sealing of PRO accounts, below the conversation layer (SQLite and PostgreSQL): an account's
LITE history is sealed at its first PRO order, rows written while other commands commit in groups are never
left in clear, the append-only tables accept only sealing, and a restart reads everything back."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from bot.stores.crypto import DataCipher
from engine.api import OrderRequest, OrderType, Side, Tier
from config.product import shipped_product_config
from engine.factory import open_engine
from engine.params import EngineParams
from engine.sealed import SealedRowsWithoutKeys
from engine.tables import metadata, order_events, postings, trades

CONFIG = shipped_product_config()
PRO, LITE = "919877012345", "919877054321"


def req(account: str, coid: str, symbol: str, qty: int, *, tier: Tier = Tier.LITE, side: Side = Side.BUY,
        price: int | None = None) -> OrderRequest:
    return OrderRequest(account=account, client_order_id=coid, symbol=symbol, side=side, quantity=qty, tier=tier,
                        order_type=OrderType.LIMIT if price else OrderType.MARKET, price_paise=price)


async def _dump(db) -> dict[str, list[dict]]:
    async with db.connect() as conn:
        return {t.name: [dict(r._mapping) for r in await conn.execute(select(t))] for t in metadata.sorted_tables}


def _clear_text(rows: dict[str, list[dict]]) -> str:
    return " ".join(str(v) for trows in rows.values() for r in trows for k, v in r.items() if k != "sealed")


async def _state(engine, account: str):
    funds = await engine.funds(account)
    return (funds, [(h.symbol, h.quantity, h.average_price_paise) for h in await engine.holdings(account)],
            sorted((o.order_id, o.symbol, o.quantity, o.status.value) for o in await engine.orders(account)),
            [(t.symbol, t.quantity, t.price_paise) for t in await engine.trades(account)])


async def test_first_pro_order_seals_the_accounts_history_and_restart_reads_it(db, clock) -> None:
    keyring = DataCipher.from_hex([secrets.token_hex(32)])
    params = dataclasses.replace(EngineParams.from_config(CONFIG.engine), group_commit=True)
    engine = await open_engine(db=db, clock=clock, config=CONFIG, params=params, keyring=keyring)
    try:
        await engine.open_account(PRO, starting_cash_paise=98_765_432)
        await engine.open_account(LITE)
        r = await engine.place(req(PRO, "c1", "ITC", 41))            # still LITE: stored in clear
        assert r.accepted and r.trades
        assert "ITC" in _clear_text(await _dump(db)) and PRO in _clear_text(await _dump(db))
        # Concurrent commands (group commit): the PRO order seals the account once nothing is in flight.
        results = await asyncio.gather(
            engine.place(req(LITE, "l1", "WIPRO", 3)),
            engine.place(req(PRO, "c2", "HDFCBANK", 29, tier=Tier.PRO)),
            engine.place(req(LITE, "l2", "WIPRO", 4)),
            engine.place(req(PRO, "c3", "ITC", 13, tier=Tier.PRO, side=Side.SELL)))
        assert all(x.accepted for x in results)
        before = await _state(engine, PRO)
        lite_before = await _state(engine, LITE)
    finally:
        await engine.close()

    rows = await _dump(db)
    text = _clear_text(rows)
    for needle in ("ITC", "HDFCBANK", PRO, PRO[-10:], "98765432"):
        assert needle not in text, needle
    assert "WIPRO" in text and LITE in text                                    # LITE untouched
    assert len(rows["eng_account_ids"]) == 1
    assert all(t["sealed"] for t in rows["eng_trades"] if t["account"] != LITE)
    assert sum(p["amount"] for p in rows["eng_postings"]) == 0

    # Append-only: a sealed row can be neither unsealed nor deleted, a clear row not edited.
    sealed_trade = next(t for t in rows["eng_trades"] if t["sealed"])
    lite_trade = next(t for t in rows["eng_trades"] if not t["sealed"])
    for stmt in (update(trades).where(trades.c.trade_id == sealed_trade["trade_id"]).values(sealed=None),
                 update(trades).where(trades.c.trade_id == lite_trade["trade_id"]).values(quantity=1),
                 update(trades).where(trades.c.trade_id == sealed_trade["trade_id"]).values(trade_id="x"),
                 delete(trades).where(trades.c.trade_id == sealed_trade["trade_id"]),
                 delete(postings), delete(order_events)):
        with pytest.raises(DBAPIError):
            async with db.begin() as conn:
                await conn.execute(stmt)

    # Restart: the same portfolio, from sealed rows.
    engine = await open_engine(db=db, clock=clock, config=CONFIG, keyring=keyring)
    try:
        assert await _state(engine, PRO) == before
        assert await _state(engine, LITE) == lite_before
        assert await engine.ledger_balanced()
        more = await engine.place(req(PRO, "c4", "ITC", 2, tier=Tier.PRO))
        assert more.accepted
        # Idempotent on sealed rows: a re-sent instruction answers with the stored order and its trades.
        again = await engine.place(req(PRO, "c2", "HDFCBANK", 29, tier=Tier.PRO))
        assert again.duplicate and again.order.order_id == results[1].order.order_id
        assert again.order.symbol == "HDFCBANK" and again.order.filled_quantity == 29
        assert [t.trade_id for t in again.trades] == [t.trade_id for t in results[1].trades]
        assert [e["event"] for e in await engine.order_history(again.order.order_id)][:1] == ["accept"]
    finally:
        await engine.close()
    assert "ITC" not in _clear_text(await _dump(db))

    # Without the keys the engine refuses to start rather than run on a partial state.
    with pytest.raises(SealedRowsWithoutKeys):
        await open_engine(db=db, clock=clock, config=CONFIG)

    # A token copied onto another row does not open there (the associated data names the row).
    first, second = [t for t in rows["eng_trades"] if t["sealed"]][:2]
    async with db.begin() as conn:
        await conn.execute(update(trades).where(trades.c.trade_id == second["trade_id"]).values(sealed=first["sealed"]))
    engine = await open_engine(db=db, clock=clock, config=CONFIG, keyring=keyring)
    try:
        with pytest.raises(InvalidTag):
            await engine.trades(PRO)
    finally:
        await engine.close()
