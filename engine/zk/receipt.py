"""Fill and portfolio proofs: which commitments the verifier derives, and the transcript order.

Fill (n = 32, m = 4), with C_rem = C_q − C_prior − C_qf (C_prior = Σ earlier fills' C_qf):
  buy  V = [C_f, C_L − C_f, C_qf − G, C_rem]   ⇒ 0 ≤ f ≤ L, 1 ≤ qf, qf ≤ q − Σ earlier fills
  sell V = [C_L, C_f − C_L, C_qf − G, C_rem]   ⇒ f ≥ L
Every value and difference is bounded by 2^32, so the integer statements hold without wrap-around.

Portfolio (n = 64, m = next power of two ≥ k + 1): V = [C_1 … C_k, Σ p_i·C_i − T·G, identity padding]
⇒ every quantity is in range and Σ p_i·q_i ≥ T, with the prices p_i public and signed.

Transcript: protocol, version → params_id → n, m, side → base commitments → derived V_j → context
(statement hash = receipt id, order leaf hash, log id, key id, time, symbol, trade ref, fill seq) →
A, S → y, z → T1, T2 → x → τx, μ, t̂ → w → L_k, R_k → u_k.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Sequence

from engine.zk import generators as gens
from engine.zk import rangeproof as rp
from engine.zk.codec import encode_point
from engine.zk.curve import INF, Q, Jac, add, neg
from engine.zk.statements import (FILL_M, FILL_N, PORTFOLIO_N, FillStatement, PortfolioStatement, SIDES,
                                  statement_hash)
from engine.zk.transcript import Transcript


def commit(value: int, blinder: int) -> Jac:
    """Pedersen commitment v·G + r·H (fixed-base tables)."""
    return add(gens.fixed_G().mul(value % Q), gens.fixed_H().mul(blinder % Q))


def _sub(a: Jac, b: Jac) -> Jac:
    return add(a, neg(b))


_G_JAC = (1, 2, 1)


@dataclass(frozen=True, slots=True)
class FillOpening:
    """Everything needed to recompute the fill commitments (delivered only to the user)."""

    limit: int
    r_limit: int
    quantity: int
    r_quantity: int
    prior: int
    r_prior: int
    fill_price: int
    r_fill_price: int
    fill_quantity: int
    r_fill_quantity: int


def fill_V(st: FillStatement) -> list[Jac]:
    rem = _sub(_sub(st.C_q, st.C_prior), st.C_qf)
    qf1 = _sub(st.C_qf, _G_JAC)
    if st.side == "BUY":
        return [st.C_f, _sub(st.C_L, st.C_f), qf1, rem]
    return [st.C_L, _sub(st.C_f, st.C_L), qf1, rem]


def fill_witness(st_side: str, o: FillOpening) -> tuple[list[int], list[int]]:
    rem = o.quantity - o.prior - o.fill_quantity
    r_rem = o.r_quantity - o.r_prior - o.r_fill_quantity
    if st_side == "BUY":
        values = [o.fill_price, o.limit - o.fill_price, o.fill_quantity - 1, rem]
        blinds = [o.r_fill_price, o.r_limit - o.r_fill_price, o.r_fill_quantity, r_rem]
    else:
        values = [o.limit, o.fill_price - o.limit, o.fill_quantity - 1, rem]
        blinds = [o.r_limit, o.r_fill_price - o.r_limit, o.r_fill_quantity, r_rem]
    return [v % Q for v in values], [b % Q for b in blinds]


def fill_transcript(st: FillStatement) -> tuple[Transcript, list]:
    tr = Transcript()
    tr.append(b"params_id", st.params_id)
    tr.append(b"n", FILL_N.to_bytes(2, "big"))
    tr.append(b"m", FILL_M.to_bytes(2, "big"))
    tr.append(b"side", bytes([SIDES[st.side]]))
    for label, p in ((b"C_L", st.C_L), (b"C_q", st.C_q), (b"C_prior", st.C_prior), (b"C_f", st.C_f),
                     (b"C_qf", st.C_qf)):
        tr.append_point(label, p)
    context = [
        (b"receipt", statement_hash(st.to_bytes())),
        (b"order_leaf", st.order_leaf_hash),
        (b"log_id", st.log_id),
        (b"key_id", st.key_id),
        (b"fill_time", st.fill_us.to_bytes(8, "big", signed=True)),
        (b"symbol", st.symbol.encode()),
        (b"trade", st.trade_ref),
        (b"fill_seq", st.fill_seq.to_bytes(2, "big") + st.prior_count.to_bytes(2, "big")),
    ]
    return tr, context


def prove_fill(st: FillStatement, opening: FillOpening, *, rng: rp.Rng = secrets.token_bytes) -> bytes:
    values, blinds = fill_witness(st.side, opening)
    tr, context = fill_transcript(st)
    return rp.prove(tr, values, blinds, fill_V(st), FILL_N, context=context, rng=rng).to_bytes()


def fill_terms(st: FillStatement, proof: rp.RangeProof, weight: int):
    tr, context = fill_transcript(st)
    return rp.verification_terms(tr, proof, fill_V(st), FILL_N, weight, context=context)


def verify_fill(st: FillStatement, proof: rp.RangeProof) -> bool:
    return rp.check_terms(*fill_terms(st, proof, rp.random_scalar()))


def verify_fills_batch(items: Sequence[tuple[FillStatement, rp.RangeProof]]) -> bool:
    """All-or-nothing check of many fill proofs in one MSM: each proof's terms get an independent random
    weight (so one bad proof cannot cancel another), and the shared generators are summed once.
    On failure, fall back to ``verify_fill`` per item to find the culprit."""
    fixed_total: dict[int, tuple[list, int]] = {}
    var: list = []
    for st, proof in items:
        rho = rp.random_scalar()
        fixed, v = fill_terms(st, proof, rp.random_scalar())
        for rows, k in fixed:
            key = id(rows)
            prev = fixed_total.get(key)
            fixed_total[key] = (rows, (k * rho + (prev[1] if prev else 0)) % Q)
        var += [(p, k * rho % Q) for p, k in v]
    return rp.check_terms(list(fixed_total.values()), var)


# ---- portfolio ----

def portfolio_V(st: PortfolioStatement) -> list[Jac]:
    V = [h.C for h in st.holdings]
    total = INF
    for h in st.holdings:
        total = add(total, _mul_public(h.C, h.price_paise))
    total = _sub(total, gens.fixed_G().mul(st.threshold_paise % Q))
    V.append(total)
    V += [INF] * (st.m - len(V))
    return V


def _mul_public(p: Jac, k: int) -> Jac:
    from engine.zk.curve import mul
    return mul(p, k)


def portfolio_transcript(st: PortfolioStatement) -> tuple[Transcript, list]:
    tr = Transcript()
    tr.append(b"params_id", st.params_id)
    tr.append(b"n", PORTFOLIO_N.to_bytes(2, "big"))
    tr.append(b"m", st.m.to_bytes(2, "big"))
    tr.append(b"side", b"\xff")
    for h in st.holdings:
        tr.append(b"holding", h.symbol.encode() + b"\x00" + h.price_paise.to_bytes(8, "big") + encode_point(h.C))
    context = [
        (b"receipt", statement_hash(st.to_bytes())),
        (b"log_id", st.log_id),
        (b"key_id", st.key_id),
        (b"pseudonym", st.pseudonym),
        (b"time", st.at_us.to_bytes(8, "big", signed=True)),
        (b"threshold", st.threshold_paise.to_bytes(8, "big")),
    ]
    return tr, context


def prove_portfolio(st: PortfolioStatement, quantities: Sequence[int], blinders: Sequence[int], *,
                    rng: rp.Rng = secrets.token_bytes) -> bytes:
    total = sum(q * h.price_paise for q, h in zip(quantities, st.holdings)) - st.threshold_paise
    r_total = sum(r * h.price_paise for r, h in zip(blinders, st.holdings))
    values = [q % Q for q in quantities] + [total % Q] + [0] * (st.m - len(quantities) - 1)
    blinds = [r % Q for r in blinders] + [r_total % Q] + [0] * (st.m - len(quantities) - 1)
    tr, context = portfolio_transcript(st)
    return rp.prove(tr, values, blinds, portfolio_V(st), PORTFOLIO_N, context=context, rng=rng).to_bytes()


def verify_portfolio(st: PortfolioStatement, proof: rp.RangeProof) -> bool:
    tr, context = portfolio_transcript(st)
    return rp.verify(tr, proof, portfolio_V(st), PORTFOLIO_N, context=context)


# ---- process-pool jobs: top-level, picklable, spawn-safe ----

def _worker_init() -> None:
    """Pool initializer: die with the parent, lower the worker's CPU priority (chat replies on the event loop
    come first when cores are contended) and build the generator tables once per process."""
    import os

    from engine.children import exit_with_parent

    exit_with_parent()
    try:
        os.nice(5)
    except (AttributeError, OSError):  # pragma: no cover - platforms without nice
        pass
    gens.warm(FILL_N, FILL_M)


def job_prove_fill(statement_bytes: bytes, opening: FillOpening) -> bytes:
    from engine.zk.codec import Reader
    r = Reader(statement_bytes)
    st = FillStatement.read(r)
    r.done()
    return prove_fill(st, opening)


def job_prove_portfolio(statement_bytes: bytes, quantities: list[int], blinders: list[int]) -> bytes:
    from engine.zk.codec import Reader
    r = Reader(statement_bytes)
    st = PortfolioStatement.read(r)
    r.done()
    return prove_portfolio(st, quantities, blinders)
