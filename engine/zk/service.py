"""ReceiptService: what the conversation layer calls after PRO order acceptance and after each fill.

Proofs are generated in a spawn-context ``ProcessPoolExecutor`` (top-level picklable jobs in
``engine.zk.receipt``), so a burst of receipts never blocks the event loop. Everything else (signing,
Merkle hashing, the database) is cheap and stays on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import secrets as pysecrets
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Sequence

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.api import OrderView, Side, Trade
from engine.clock import Clock
from engine.zk import generators as gens
from engine.zk import merkle, store
from engine.zk import receipt as rc
from engine.zk.codec import Reader
from engine.zk.curve import INF, Q
from engine.zk.document import fill_document, portfolio_document
from engine.zk.keys import ReceiptKeys, load_keys
from engine.zk.statements import (FILL_M, FILL_N, MAX_HOLDINGS, PORTFOLIO_N, FillStatement, Holding,
                                  OrderStatement, PortfolioStatement, TreeHead, log_id_for, order_ref,
                                  pseudonym_ref, receipt_id_for, trade_ref)
from engine.zk.results import (MAX_VALUE, IssuedReceipt, OrderLeaf, ProofRefused, SignedTreeHead,
                               _fill_opening_dict, _fill_statement_true, _order_limit)
from engine.zk.verify import VerifyResult, verify_receipt
from engine.db import create_tables

__all__ = ["open_receipts", "ReceiptService", "IssuedReceipt", "OrderLeaf", "ProofRefused", "SignedTreeHead",
           "VerifyResult"]

log = structlog.get_logger(__name__)


class _Row:
    """Attribute access over an opened row mapping (the prior-fill rows)."""

    def __init__(self, data: dict) -> None:
        self.__dict__.update(data)


def _us(dt) -> int:
    return int(dt.timestamp() * 1_000_000)


def _b64(data: bytes) -> str:
    import base64
    return base64.b64encode(data).decode("ascii")


class ReceiptService:
    def __init__(self, *, db: AsyncEngine, keys: ReceiptKeys, clock: Clock,
                 pool: ProcessPoolExecutor | None, keyring: Any = None) -> None:
        self._db = db
        self._keyring = keyring      # data keys: openings, fill values, documents and leaves sealed at rest
        self._keys = keys
        self._clock = clock
        self._pool = pool
        self._public = keys.signing.public
        self._key_id = keys.signing.key_id
        self._log_id = log_id_for(self._public)
        self._order_locks = [asyncio.Lock() for _ in range(64)]
        self._log_lock = asyncio.Lock()
        self._tree: merkle.Tree | None = None

    @property
    def public_key(self) -> bytes:
        return self._public

    @property
    def key_id(self) -> bytes:
        return self._key_id

    async def close(self) -> None:
        """Stop the proving pool (pending proofs are cancelled) without blocking the event loop."""
        if self._pool is not None:
            await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)

    # ---- log ----

    @contextlib.asynccontextmanager
    async def _write(self):
        """One write transaction; if it fails, the in-memory tree is dropped and rebuilt from the database."""
        async with self._log_lock:
            try:
                async with self._db.begin() as conn:
                    yield conn
            except BaseException:
                self._tree = None
                raise

    async def _sync(self, conn) -> merkle.Tree:
        """Bring the cached tree up to the database (other processes may have appended)."""
        if self._tree is None:
            self._tree = merkle.Tree(await store.leaf_hashes(conn))
        else:
            for h in await store.leaf_hashes(conn, self._tree.size):
                self._tree.append(h)
        return self._tree

    async def _append(self, conn, kind: str, ref: str, leaf: bytes) -> tuple[int, merkle.Tree, bytes]:
        """Append one leaf and sign the new head in the caller's transaction; returns (index, tree, head)."""
        await store.lock_log(conn)
        tree = await self._sync(conn)
        index = tree.size
        now = _us(self._clock.now())
        lh = merkle.leaf_hash(leaf)
        await conn.execute(store.zk_log.insert().values(idx=index, kind=kind, ref=ref,
                                                        leaf=store.seal_leaf(self._keyring, index, leaf), leaf_hash=lh,
                                                        created_us=now))
        tree.append(lh)
        head = TreeHead(self._log_id, tree.size, tree.root(), now).to_bytes()
        signed = head + self._keys.signing.sign(head)
        await conn.execute(store.zk_heads.insert().values(size=tree.size, signed=signed, created_us=now))
        return index, tree, signed

    async def head(self) -> SignedTreeHead | None:
        async with self._db.connect() as conn:
            row = (await conn.execute(select(store.zk_heads.c.signed).order_by(store.zk_heads.c.size.desc())
                                      .limit(1))).first()
        return None if row is None else self._head_value(bytes(row[0]))

    def _head_value(self, signed: bytes) -> SignedTreeHead:
        r = Reader(signed[:-64])
        h = TreeHead.read(r)
        return SignedTreeHead(h.log_id.hex(), h.size, h.root.hex(), h.timestamp_us, _b64(signed))

    async def inclusion_proof(self, receipt_id: str) -> dict[str, Any] | None:
        async with self._db.connect() as conn:
            row = (await conn.execute(select(store.zk_documents.c.leaf_index)
                                      .where(store.zk_documents.c.receipt_id == receipt_id))).first()
            if row is None:
                return None
        head = await self.head()
        async with self._log_lock, self._db.connect() as conn:
            tree = await self._sync(conn)
        index = row[0]
        path = tree.inclusion(index, head.size)
        leaf = tree.hashes[index]
        ok = merkle.verify_inclusion(leaf, index, head.size, path, bytes.fromhex(head.root))
        return {"receipt_id": receipt_id, "leaf_index": index, "leaf_hash": leaf.hex(),
                "tree_head": head.to_dict(), "inclusion": [p.hex() for p in path], "verified": ok}

    async def consistency_proof(self, old_size: int) -> dict[str, Any] | None:
        head = await self.head()
        async with self._log_lock, self._db.connect() as conn:
            tree = await self._sync(conn)
        if head is None or not 0 <= old_size <= head.size:
            return None
        old_root = tree.root(old_size)
        path = tree.consistency(old_size, head.size)
        ok = merkle.verify_consistency(old_size, head.size, old_root, bytes.fromhex(head.root), path)
        return {"old_size": old_size, "old_root": old_root.hex(), "tree_head": head.to_dict(),
                "consistency": [p.hex() for p in path], "verified": ok}

    # ---- orders ----

    async def log_order(self, order: OrderView, *, pseudonym: str) -> OrderLeaf:
        """Commit to the limit (or market-protection price) and quantity before any fill. Idempotent."""
        async with self._write() as conn:
            await store.lock_log(conn)
            row = (await conn.execute(select(store.zk_orders.c.leaf_index)
                                      .where(store.zk_orders.c.order_id == order.order_id))).first()
            if row is not None:
                lh = (await conn.execute(select(store.zk_log.c.leaf_hash).where(store.zk_log.c.idx == row[0]))
                      ).scalar_one()
                return OrderLeaf(order.order_id, row[0], bytes(lh).hex(), False)
            limit = _order_limit(order)
            nonce = pysecrets.token_bytes(16)
            r_L = self._keys.blinder("limit", order.order_id, nonce)
            r_q = self._keys.blinder("quantity", order.order_id, nonce)
            st = OrderStatement(gens.params_id(FILL_N, FILL_M), order_ref(order.order_id), pseudonym_ref(pseudonym),
                                order.side.value, order.symbol, _us(self._clock.now()),
                                rc.commit(limit, r_L), rc.commit(order.quantity, r_q))
            body = st.to_bytes()
            leaf = body + self._keys.signing.sign(body)
            index, tree, _ = await self._append(conn, "order", order.order_id, leaf)
            leaf_hash = tree.hashes[index]
            await conn.execute(store.zk_orders.insert().values(**store.seal_order(self._keyring, dict(
                order_id=order.order_id, leaf_index=index, side=order.side.value, symbol=order.symbol,
                limit_paise=limit, quantity=order.quantity, nonce=nonce))))
        log.info("zk.order_logged", order_id=order.order_id, leaf_index=index)
        return OrderLeaf(order.order_id, index, leaf_hash.hex(), True)

    # ---- fills ----

    async def issue_fill(self, order: OrderView, trade: Trade, *, pseudonym: str) -> IssuedReceipt | ProofRefused:
        # striped locks: fills of one order are serialised (fill_seq, prior sums) without a lock per order
        lock = self._order_locks[hash(order.order_id) % len(self._order_locks)]
        async with lock:
            return await self._issue_fill(order, trade, pseudonym)

    async def _issue_fill(self, order: OrderView, trade: Trade, pseudonym: str) -> IssuedReceipt | ProofRefused:
        existing = await self._by_trade(trade.trade_id)
        if existing is not None:
            return existing
        await self.log_order(order, pseudonym=pseudonym)
        async with self._db.connect() as conn:
            orow = store.open_order(self._keyring, (await conn.execute(
                select(store.zk_orders).where(store.zk_orders.c.order_id == order.order_id))).mappings().one())
            order_leaf = store.open_leaf(self._keyring, orow["leaf_index"], (await conn.execute(
                select(store.zk_log.c.leaf).where(store.zk_log.c.idx == orow["leaf_index"]))).scalar_one())
            prior_rows = [_Row(store.open_document(self._keyring, r)) for r in (await conn.execute(
                select(store.zk_documents.c.receipt_id, store.zk_documents.c.seq, store.zk_documents.c.quantity,
                       store.zk_documents.c.nonce, store.zk_documents.c.trade_id, store.zk_documents.c.sealed)
                .where(store.zk_documents.c.order_id == order.order_id).order_by(store.zk_documents.c.seq))
            ).mappings().all()]
        prior_qty = sum(int(r.quantity) for r in prior_rows)
        r_prior = sum(self._keys.blinder("fill_quantity", r.trade_id, bytes(r.nonce)) for r in prior_rows) % Q
        if not (0 <= trade.price_paise <= MAX_VALUE and 1 <= trade.quantity <= MAX_VALUE):
            return ProofRefused("out_of_range")
        nonce = pysecrets.token_bytes(16)
        if not _fill_statement_true(order, int(orow["limit_paise"]), int(orow["quantity"]), prior_qty, trade):
            log.error("zk.fill_violates_order", order_id=order.order_id, trade_id=trade.trade_id)
            return ProofRefused("statement_false")
        opening = rc.FillOpening(
            limit=int(orow["limit_paise"]), r_limit=self._keys.blinder("limit", order.order_id, bytes(orow["nonce"])),
            quantity=int(orow["quantity"]),
            r_quantity=self._keys.blinder("quantity", order.order_id, bytes(orow["nonce"])),
            prior=prior_qty, r_prior=r_prior,
            fill_price=trade.price_paise, r_fill_price=self._keys.blinder("fill_price", trade.trade_id, nonce),
            fill_quantity=trade.quantity, r_fill_quantity=self._keys.blinder("fill_quantity", trade.trade_id, nonce))
        ost = OrderStatement.read(Reader(order_leaf[:-64]))
        st = FillStatement(
            params_id=gens.params_id(FILL_N, FILL_M), log_id=self._log_id, key_id=self._key_id,
            order_leaf_hash=merkle.leaf_hash(order_leaf), side=ost.side, symbol=ost.symbol,
            fill_us=_us(trade.at), trade_ref=trade_ref(trade.trade_id), fill_seq=len(prior_rows),
            prior_count=len(prior_rows), C_L=ost.C_L, C_q=ost.C_q,
            C_prior=rc.commit(prior_qty, r_prior) if prior_rows else INF,
            C_f=rc.commit(trade.price_paise, opening.r_fill_price),
            C_qf=rc.commit(trade.quantity, opening.r_fill_quantity))
        statement_bytes = st.to_bytes()
        loop = asyncio.get_running_loop()
        proof = await loop.run_in_executor(self._pool, rc.job_prove_fill, statement_bytes, opening)
        body = statement_bytes + proof
        raw = body + self._keys.signing.sign(body)
        receipt_id = receipt_id_for(statement_bytes)
        async with self._write() as conn:
            index, tree, head_signed = await self._append(conn, "fill", receipt_id, raw)
            head = TreeHead.read(Reader(head_signed[:-64]))
            doc = fill_document(
                receipt_id=receipt_id, receipt=raw, statement=st, order_id=order.order_id, order_leaf=order_leaf,
                order_leaf_index=int(orow["leaf_index"]),
                order_inclusion=tree.inclusion(int(orow["leaf_index"]), head.size),
                public_key=self._public, key_id=self._key_id, leaf_index=index,
                inclusion=tree.inclusion(index, head.size), head_signed=head_signed, head_size=head.size,
                head_root=head.root, head_time_us=head.timestamp_us)
            await conn.execute(store.zk_documents.insert().values(**store.seal_document(self._keyring, dict(
                receipt_id=receipt_id, kind="fill", trade_id=trade.trade_id, order_id=order.order_id,
                seq=len(prior_rows), leaf_index=index, price_paise=trade.price_paise, quantity=trade.quantity,
                nonce=nonce, document=json.dumps(doc)))))
        log.info("zk.receipt_issued", receipt_id=receipt_id, order_id=order.order_id, leaf_index=index)
        return IssuedReceipt(receipt_id, doc, _fill_opening_dict(receipt_id, order, opening), f"{receipt_id}.json")

    async def _by_trade(self, trade_id: str) -> IssuedReceipt | None:
        async with self._db.connect() as conn:
            row = (await conn.execute(select(store.zk_documents).where(store.zk_documents.c.trade_id == trade_id))
                   ).mappings().first()
            if row is None:
                return None
            row = store.open_document(self._keyring, row)
            orow = store.open_order(self._keyring, (await conn.execute(
                select(store.zk_orders).where(store.zk_orders.c.order_id == row["order_id"]))).mappings().one())
            prior = [_Row(store.open_document(self._keyring, r)) for r in (await conn.execute(
                select(store.zk_documents.c.receipt_id, store.zk_documents.c.quantity, store.zk_documents.c.nonce,
                       store.zk_documents.c.trade_id, store.zk_documents.c.sealed)
                .where(store.zk_documents.c.order_id == row["order_id"], store.zk_documents.c.seq < row["seq"])
            )).mappings().all()]
        onon = bytes(orow["nonce"])
        opening = rc.FillOpening(
            limit=int(orow["limit_paise"]), r_limit=self._keys.blinder("limit", orow["order_id"], onon),
            quantity=int(orow["quantity"]), r_quantity=self._keys.blinder("quantity", orow["order_id"], onon),
            prior=sum(int(p.quantity) for p in prior),
            r_prior=sum(self._keys.blinder("fill_quantity", p.trade_id, bytes(p.nonce)) for p in prior) % Q,
            fill_price=int(row["price_paise"]),
            r_fill_price=self._keys.blinder("fill_price", trade_id, bytes(row["nonce"])),
            fill_quantity=int(row["quantity"]),
            r_fill_quantity=self._keys.blinder("fill_quantity", trade_id, bytes(row["nonce"])))
        doc = json.loads(row["document"])

        class _O:  # minimal view for the opening dict
            order_id = orow["order_id"]
            side = Side(orow["side"])
            symbol = orow["symbol"]
        return IssuedReceipt(row["receipt_id"], doc, _fill_opening_dict(row["receipt_id"], _O, opening),
                             f"{row['receipt_id']}.json")

    # ---- portfolio ----

    async def prove_portfolio_at_least(self, holdings: Sequence[tuple[str, int, int]], threshold_paise: int, *,
                                       pseudonym: str) -> IssuedReceipt | ProofRefused:
        """Prove Σ qty·price ≥ threshold without revealing quantities (prices are public and signed)."""
        if not holdings:
            return ProofRefused("no_holdings")
        if len(holdings) > MAX_HOLDINGS:
            return ProofRefused("too_many_holdings")
        if any(q < 0 or q >= 1 << PORTFOLIO_N or p < 0 or p >= 1 << PORTFOLIO_N for _, q, p in holdings) \
                or not 0 <= threshold_paise < 1 << PORTFOLIO_N:
            return ProofRefused("out_of_range")
        total = sum(q * p for _, q, p in holdings)
        if total < threshold_paise:
            return ProofRefused("below_threshold")
        nonce = pysecrets.token_bytes(16)
        ref = pysecrets.token_hex(8)
        blinders = [self._keys.blinder("holding", f"{ref}/{i}", nonce) for i in range(len(holdings))]
        m = 1
        while m < len(holdings) + 1:
            m <<= 1
        loop = asyncio.get_running_loop()
        # up to 31 commitments (~2.5 ms each): in the pool, not in one stretch on the event loop
        commitments = await loop.run_in_executor(self._pool, job_commit_all,
                                                 [(q, r) for (_, q, _), r in zip(holdings, blinders)])
        st = PortfolioStatement(
            params_id=gens.params_id(PORTFOLIO_N, m), log_id=self._log_id, key_id=self._key_id,
            pseudonym=pseudonym_ref(pseudonym), at_us=_us(self._clock.now()), threshold_paise=threshold_paise,
            holdings=tuple(Holding(sym, price, c) for (sym, _, price), c in zip(holdings, commitments)))
        statement_bytes = st.to_bytes()
        proof = await loop.run_in_executor(self._pool, rc.job_prove_portfolio, statement_bytes,
                                           [q for _, q, _ in holdings], blinders)
        body = statement_bytes + proof
        raw = body + self._keys.signing.sign(body)
        receipt_id = receipt_id_for(statement_bytes)
        async with self._write() as conn:
            index, tree, head_signed = await self._append(conn, "portfolio", receipt_id, raw)
            head = TreeHead.read(Reader(head_signed[:-64]))
            doc = portfolio_document(receipt_id=receipt_id, receipt=raw, statement=st, public_key=self._public,
                                     key_id=self._key_id, leaf_index=index,
                                     inclusion=tree.inclusion(index, head.size), head_signed=head_signed,
                                     head_size=head.size, head_root=head.root, head_time_us=head.timestamp_us)
            await conn.execute(store.zk_documents.insert().values(**store.seal_document(self._keyring, dict(
                receipt_id=receipt_id, kind="portfolio", leaf_index=index, nonce=nonce, document=json.dumps(doc)))))
        opening = {"receipt_id": receipt_id, "total_paise": total,
                   "holdings": [{"symbol": s, "quantity": q, "price_paise": p, "blinder": format(r, "064x")}
                                for (s, q, p), r in zip(holdings, blinders)]}
        return IssuedReceipt(receipt_id, doc, opening, f"{receipt_id}.json")

    # ---- lookup and verification ----

    async def find(self, receipt_id: str) -> dict[str, Any] | None:
        async with self._db.connect() as conn:
            row = (await conn.execute(select(store.zk_documents.c.receipt_id, store.zk_documents.c.document,
                                             store.zk_documents.c.sealed)
                                      .where(store.zk_documents.c.receipt_id == receipt_id))).mappings().first()
        return None if row is None else json.loads(store.open_document(self._keyring, row)["document"])

    async def verify_document(self, doc: dict | bytes | str) -> VerifyResult:
        """Verify against this engine's key in a worker thread: ~30-50 ms of CPU that must not queue behind
        a burst of proofs in the pool; the GIL switch interval keeps the loop's stalls to a few ms."""
        return await asyncio.to_thread(verify_receipt, doc, public_key=self._public)


def job_commit_all(pairs: Sequence[tuple[int, int]]) -> list:
    """Pedersen commitments to (value, blinder) pairs: a top-level (picklable) job for the proving pool."""
    return [rc.commit(v, r) for v, r in pairs]


async def open_receipts(*, db: AsyncEngine, secrets, clock: Clock, processes: int = 1,
                        read_only: bool = False, keyring: Any = None) -> ReceiptService:
    """Create the zk_ tables, load keys (config or state dir) and start the proving pool.

    ``read_only`` (the log and receipt queries of the CLI): no proving pool, and keys must already exist
    (:class:`engine.zk.keys.MissingKeys` otherwise) — a query never mints a new signing key."""
    async with db.begin() as conn:
        await create_tables(conn, store.metadata)
        await conn.run_sync(store.add_sealed_columns)
    keys = load_keys(secrets, create=not read_only)
    if read_only:
        return ReceiptService(db=db, keys=keys, clock=clock, pool=None, keyring=keyring)
    pool = ProcessPoolExecutor(max_workers=max(1, processes), mp_context=multiprocessing.get_context("spawn"),
                               initializer=rc._worker_init)
    pool.submit(gens.warm, FILL_N, FILL_M)   # start the worker now, so the first receipt is not slowed by it
    return ReceiptService(db=db, keys=keys, clock=clock, pool=pool, keyring=keyring)
