"""Pure builders for receipts (no database, no pool), including a cheating engine for soundness tests."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace

from engine.zk import generators as gens
from engine.zk import merkle
from engine.zk import receipt as rc
from engine.zk.curve import INF, Q
from engine.zk.document import fill_document, portfolio_document
from engine.zk.signing import SigningKey
from engine.zk.statements import (FILL_M, FILL_N, PORTFOLIO_N, FillStatement, Holding, OrderStatement,
                                  PortfolioStatement, TreeHead, log_id_for, order_ref, pseudonym_ref, receipt_id_for,
                                  trade_ref)

KEY = SigningKey(int.from_bytes(hashlib.sha256(b"gridworks test key").digest(), "big") % Q)


class CountingRng:
    """A deterministic byte stream for known-answer tests (SHA-256 in counter mode)."""

    def __init__(self, seed: bytes = b"kat") -> None:
        self.seed = seed
        self.counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self.seed + self.counter.to_bytes(8, "big")).digest()
            self.counter += 1
        return out[:n]


def rand() -> int:
    return secrets.randbelow(gens.P - 1) + 1


def make_opening(*, limit: int, quantity: int, prior: int, fill_price: int, fill_quantity: int) -> rc.FillOpening:
    return rc.FillOpening(limit, rand(), quantity, rand(), prior, rand() if prior else 0, fill_price, rand(),
                          fill_quantity, rand())


def make_statement(side: str, o: rc.FillOpening, *, key: SigningKey = KEY, order_leaf: bytes, prior_count: int = 0,
                   fill_us: int = 1_795_408_200_000_000) -> FillStatement:
    return FillStatement(
        params_id=gens.params_id(FILL_N, FILL_M), log_id=log_id_for(key.public), key_id=key.key_id,
        order_leaf_hash=merkle.leaf_hash(order_leaf), side=side, symbol="RELIANCE", fill_us=fill_us,
        trade_ref=trade_ref("T-1"), fill_seq=prior_count, prior_count=prior_count,
        C_L=rc.commit(o.limit, o.r_limit), C_q=rc.commit(o.quantity, o.r_quantity),
        C_prior=rc.commit(o.prior, o.r_prior) if prior_count else INF,
        C_f=rc.commit(o.fill_price, o.r_fill_price), C_qf=rc.commit(o.fill_quantity, o.r_fill_quantity))


def make_order_leaf(side: str, o: rc.FillOpening, *, key: SigningKey = KEY, order_id: str = "O-1") -> bytes:
    st = OrderStatement(gens.params_id(FILL_N, FILL_M), order_ref(order_id), pseudonym_ref("p"), side, "RELIANCE",
                        1_795_408_100_000_000, rc.commit(o.limit, o.r_limit), rc.commit(o.quantity, o.r_quantity))
    body = st.to_bytes()
    return body + key.sign(body)


def make_fill_document(side: str = "BUY", *, limit: int = 250000, quantity: int = 10, prior: int = 0,
                       fill_price: int = 249950, fill_quantity: int = 4, key: SigningKey = KEY,
                       proof_edit=None, statement_edit=None, extra_leaves: int = 2):
    """A complete fill receipt document as the engine would issue it (signed by ``key``, whatever it proves)."""
    o = make_opening(limit=limit, quantity=quantity, prior=prior, fill_price=fill_price, fill_quantity=fill_quantity)
    order_leaf = make_order_leaf(side, o, key=key)
    st = make_statement(side, o, key=key, order_leaf=order_leaf, prior_count=1 if prior else 0)
    if statement_edit:
        st = statement_edit(st)
    sb = st.to_bytes()
    proof = rc.prove_fill(st, o)
    if proof_edit is not None:
        from engine.zk import rangeproof as rp
        from engine.zk.codec import Reader
        proof = proof_edit(rp.RangeProof.read(Reader(proof), FILL_N, FILL_M)).to_bytes()
    body = sb + proof
    raw = body + key.sign(body)
    leaves = [order_leaf] + [bytes([i]) * 40 for i in range(extra_leaves)] + [raw]
    hashes = [merkle.leaf_hash(x) for x in leaves]
    index = len(leaves) - 1
    head = TreeHead(st.log_id, len(hashes), merkle.root_from_hashes(hashes), 1_795_408_300_000_000)
    head_signed = head.to_bytes() + key.sign(head.to_bytes())
    doc = fill_document(receipt_id=receipt_id_for(sb), receipt=raw, statement=st, order_id="O-1",
                        order_leaf=order_leaf, order_leaf_index=0, order_inclusion=merkle.inclusion_path(0, hashes),
                        public_key=key.public, key_id=key.key_id, leaf_index=index,
                        inclusion=merkle.inclusion_path(index, hashes), head_signed=head_signed,
                        head_size=head.size, head_root=head.root, head_time_us=head.timestamp_us)
    opening = {"receipt_id": doc["receipt_id"], "order_id": "O-1", "side": side, "symbol": "RELIANCE",
               "limit_paise": o.limit, "limit_blinder": format(o.r_limit % Q, "064x"), "quantity": o.quantity,
               "quantity_blinder": format(o.r_quantity % Q, "064x"), "prior_filled_quantity": o.prior,
               "prior_blinder": format(o.r_prior % Q, "064x"), "fill_price_paise": o.fill_price,
               "fill_price_blinder": format(o.r_fill_price % Q, "064x"), "fill_quantity": o.fill_quantity,
               "fill_quantity_blinder": format(o.r_fill_quantity % Q, "064x")}
    return doc, opening, st, o


def make_portfolio_document(holdings=(("RELIANCE", 10, 250000), ("TCS", 2, 400000)), threshold: int = 3_000_000, *,
                            key: SigningKey = KEY, extra_leaves: int = 3):
    """A portfolio proof document and its opening, shaped exactly as ``ReceiptService`` issues them."""
    blinders = [rand() % Q for _ in holdings]
    st = PortfolioStatement(params_id=b"", log_id=log_id_for(key.public), key_id=key.key_id,
                            pseudonym=pseudonym_ref("p"), at_us=1_795_408_200_000_000, threshold_paise=threshold,
                            holdings=tuple(Holding(s, p, rc.commit(q, r)) for (s, q, p), r in zip(holdings, blinders)))
    st = replace(st, params_id=gens.params_id(PORTFOLIO_N, st.m))
    sb = st.to_bytes()
    body = sb + rc.prove_portfolio(st, [q for _, q, _ in holdings], blinders)
    raw = body + key.sign(body)
    hashes = [merkle.leaf_hash(bytes([i]) * 40) for i in range(extra_leaves)] + [merkle.leaf_hash(raw)]
    head = TreeHead(st.log_id, len(hashes), merkle.root_from_hashes(hashes), 1_795_408_300_000_000)
    head_signed = head.to_bytes() + key.sign(head.to_bytes())
    index = len(hashes) - 1
    receipt_id = receipt_id_for(sb)
    doc = portfolio_document(receipt_id=receipt_id, receipt=raw, statement=st, public_key=key.public,
                             key_id=key.key_id, leaf_index=index, inclusion=merkle.inclusion_path(index, hashes),
                             head_signed=head_signed, head_size=head.size, head_root=head.root,
                             head_time_us=head.timestamp_us)
    opening = {"receipt_id": receipt_id, "total_paise": sum(q * p for _, q, p in holdings),
               "holdings": [{"symbol": s, "quantity": q, "price_paise": p, "blinder": format(r, "064x")}
                            for (s, q, p), r in zip(holdings, blinders)]}
    return doc, opening


__all__ = ["KEY", "CountingRng", "make_fill_document", "make_portfolio_document", "make_opening", "make_statement",
           "make_order_leaf", "replace"]
