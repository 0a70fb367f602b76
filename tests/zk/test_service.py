"""The receipt service on the real databases (SQLite and PostgreSQL), with its process pool."""

import json
from pathlib import Path

from bot.cli import main as cli_main
from config.settings import SecretsConfig
from engine.api import OrderStatus, OrderType, OrderView, Product, Side, Trade, Validity
from engine.zk import open_receipts
from engine.zk.signing import SigningKey
from engine.zk.verify import verify_receipt


def _order(clock, *, order_id="O-1", side=Side.BUY, quantity=10, price=250000, order_type=OrderType.LIMIT,
           protection=None):
    now = clock.now()
    return OrderView(order_id, "c-" + order_id, "acct", "RELIANCE", side, quantity, 0, order_type, Product.CNC,
                     Validity.DAY, OrderStatus.OPEN, price, None, None, now, now, protection_price_paise=protection)


def _trade(clock, trade_id, order, qty, price):
    return Trade(trade_id, order.order_id, "acct", order.symbol, order.side, qty, price, clock.now())


async def test_receipts_end_to_end_on_the_database(db, clock, tmp_path: Path, capsys):
    service = await open_receipts(db=db, secrets=SecretsConfig(state_dir=tmp_path / "state"), clock=clock)
    try:
        order = _order(clock)
        leaf = await service.log_order(order, pseudonym="p-1")
        again = await service.log_order(order, pseudonym="p-1")
        assert leaf.created and not again.created and again.leaf_index == leaf.leaf_index
        clock.advance(seconds=5)
        first = await service.issue_fill(order, _trade(clock, "T-1", order, 4, 249950), pseudonym="p-1")
        clock.advance(seconds=5)
        second = await service.issue_fill(order, _trade(clock, "T-2", order, 6, 250000), pseudonym="p-1")
        assert first.ok and second.ok and first.receipt_id.startswith("R-")
        assert first.filename == f"{first.receipt_id}.json"
        assert first.document["receipt"]["bytes"] <= 1536
        # partial fills: the second receipt accounts for the first (remaining = 10 − 4)
        assert second.opening["prior_filled_quantity"] == 4
        for issued in (first, second):
            assert verify_receipt(issued.document, opening=issued.opening, public_key=service.public_key).ok
            assert (await service.verify_document(json.dumps(issued.document).encode())).ok
        # idempotent per trade
        repeat = await service.issue_fill(order, _trade(clock, "T-2", order, 6, 250000), pseudonym="p-1")
        assert repeat.receipt_id == second.receipt_id and repeat.opening == second.opening
        # the order is complete: one more unit is a false statement → no receipt, a value not an exception
        refused = await service.issue_fill(order, _trade(clock, "T-3", order, 1, 250000), pseudonym="p-1")
        assert not refused.ok and refused.code == "statement_false"
        assert await service.find(first.receipt_id) == first.document
        assert await service.find("R-none") is None

        head = await service.head()
        assert head.size == 3
        inc = await service.inclusion_proof(first.receipt_id)
        assert inc["verified"] and inc["leaf_index"] == 1
        for old in range(0, head.size + 1):
            assert (await service.consistency_proof(old))["verified"]
        assert await service.consistency_proof(head.size + 1) is None

        tampered = json.loads(json.dumps(first.document))
        tampered["public"]["side"] = "SELL"
        result = await service.verify_document(tampered)
        assert not result.ok and result.failed_check == "statement"

        portfolio = await service.prove_portfolio_at_least([("RELIANCE", 10, 250000), ("TCS", 2, 400000)],
                                                           3_000_000, pseudonym="p-1")
        assert portfolio.ok and verify_receipt(portfolio.document, opening=portfolio.opening).ok
        assert "quantity" not in json.dumps(portfolio.document)
        below = await service.prove_portfolio_at_least([("RELIANCE", 1, 100)], 101, pseudonym="p-1")
        assert (below.ok, below.code) == (False, "below_threshold")
        assert (await service.head()).size == 4

        path = tmp_path / first.filename
        path.write_text(json.dumps(first.document))
        capsys.readouterr()
        assert cli_main(["receipt", "verify", str(path), "--pubkey", service.public_key.hex()]) == 0
        assert capsys.readouterr().out.startswith("OK ")
        bad = json.loads(path.read_text())
        raw = bytearray(__import__("base64").b64decode(bad["receipt"]["b64"]))
        raw[-10] ^= 1
        bad["receipt"]["b64"] = __import__("base64").b64encode(bytes(raw)).decode()
        path.write_text(json.dumps(bad))
        capsys.readouterr()
        assert cli_main(["receipt", "verify", str(path)]) == 1
        assert "check=signature" in capsys.readouterr().out
    finally:
        await service.close()


async def test_sell_market_order_and_configured_keys(db, clock, tmp_path: Path):
    key = SigningKey.generate()
    cfg = SecretsConfig(signing_key=key.to_bytes().hex(), blinding_seed="11" * 32, state_dir=tmp_path / "s")
    service = await open_receipts(db=db, secrets=cfg, clock=clock)
    try:
        assert service.public_key == key.public
        assert not (tmp_path / "s").exists()             # nothing generated when configured
        order = _order(clock, order_id="O-9", side=Side.SELL, price=None, order_type=OrderType.MARKET,
                       protection=99000)
        await service.log_order(order, pseudonym="p")
        ok = await service.issue_fill(order, _trade(clock, "T-9", order, 10, 99500), pseudonym="p")
        assert ok.ok and verify_receipt(ok.document, public_key=key.public).ok
        assert ok.opening["limit_paise"] == 99000
        order2 = _order(clock, order_id="O-10", side=Side.SELL, price=100000)
        below = await service.issue_fill(order2, _trade(clock, "T-10", order2, 1, 99999), pseudonym="p")
        assert (below.ok, below.code) == (False, "statement_false")
    finally:
        await service.close()


async def test_generated_keys_persist_in_state_dir(db, clock, tmp_path: Path):
    cfg = SecretsConfig(state_dir=tmp_path / "state")
    a = await open_receipts(db=db, secrets=cfg, clock=clock)
    await a.close()
    b = await open_receipts(db=db, secrets=cfg, clock=clock)
    await b.close()
    assert a.public_key == b.public_key
    assert (tmp_path / "state" / "zk_signing_key.hex").stat().st_mode & 0o777 == 0o600


async def test_two_services_share_one_log(db, clock, tmp_path: Path):
    """Two processes' services append to the same log; each sees the other's leaves and heads."""
    cfg = SecretsConfig(state_dir=tmp_path / "state")
    a = await open_receipts(db=db, secrets=cfg, clock=clock)
    b = await open_receipts(db=db, secrets=cfg, clock=clock)
    try:
        o1, o2 = _order(clock, order_id="O-A"), _order(clock, order_id="O-B")
        await a.log_order(o1, pseudonym="p")
        await b.log_order(o2, pseudonym="p")
        await a.log_order(_order(clock, order_id="O-C"), pseudonym="p")
        issued = await b.issue_fill(o1, _trade(clock, "T-A", o1, 2, 250000), pseudonym="p")
        assert issued.ok and verify_receipt(issued.document).ok
        assert (await a.head()).size == (await b.head()).size == 4
        assert (await a.inclusion_proof(issued.receipt_id))["verified"]
        assert (await a.consistency_proof(2))["verified"]
    finally:
        await a.close()
        await b.close()
