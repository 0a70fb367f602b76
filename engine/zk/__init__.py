"""ZK receipts for PRO users: private, verifiable proof that each fill respected the order (issue 6).

Interfaces for the conversation layer (names are stable)::

    from engine.zk import open_receipts, verify_receipt

    service = await open_receipts(db=engine, secrets=settings.secrets, clock=clock, processes=1)
    leaf = await service.log_order(order_view, pseudonym=p)            # at PRO order acceptance
    issued = await service.issue_fill(order_view, trade, pseudonym=p)  # after each fill
    #   IssuedReceipt(.receipt_id "R-…", .document dict, .opening dict (user only), .filename "R-….json", .ok)
    #   or ProofRefused(.code, .ok=False) when the statement is false/out of range (an engine bug: logged)
    result = await service.verify_document(doc_dict_or_bytes)          # VerifyResult(.ok, .failed_check, .summary)
    doc = await service.find("R-…")                                    # stored document or None
    head = await service.head()                                        # SignedTreeHead(.size, .root, …) or None
    await service.inclusion_proof("R-…"); await service.consistency_proof(old_size)   # dicts or None
    issued = await service.prove_portfolio_at_least([(symbol, qty, price_paise), …], threshold_paise,
                                                    pseudonym=p)       # IssuedReceipt | ProofRefused
    await service.close()

    verify_receipt(document, *, public_key=None, opening=None) -> VerifyResult   # pure, no database

Failed-check names: encoding, document, receipt_id, params, key, signature, tree_head, inclusion, order_leaf,
statement, range_proof, opening. ProofRefused codes: statement_false, out_of_range, no_holdings,
too_many_holdings, below_threshold. User texts live in locales/<lang>/zk.toml (keys ``zk.*``).

Modules: curve (plain-int Jacobian BN254 G1), msm (fixed-base shifted tables, Pippenger), codec
(canonical points/scalars), generators (hash-to-curve, params_id), transcript (Fiat–Shamir),
rangeproof (aggregated Bulletproofs), statements (canonical leaves), receipt (what is proved),
results (returned values),
merkle (RFC 9162), signing (Schnorr), keys, document (JSON wrapper), verify, store, service,
reference (py_ecc reference implementations used by the differential tests), bench.

Construction choices, beyond docs/zk-receipts.md:
* One aggregated 32-bit × 4 Bulletproof per fill over commitments the verifier derives itself;
  partial fills use C_q − C_prior − C_qf with C_prior the engine-signed sum of earlier fills.
* The receipt id hashes the statement (everything but proof and signature); the transcript absorbs
  that hash, the signature covers statement ‖ proof, and the log leaf is the whole receipt.
* The prover never folds generator points: it tracks scalar coefficients of the original generators
  and computes L_k, R_k as fixed-base MSMs over precomputed "shifted" tables (no doublings), with
  buckets reduced in affine coordinates sharing one inversion per level.
* The inner-product argument stops at vectors of length 8 and sends them: 4 rounds instead of 7
  (≈ 40% less proving) for +256 B; the receipt is 1,407 B (statement 351 + proof 992 + signature 64).
* Verification is one MSM joining both Bulletproof checks with a random weight;
  ``receipt.verify_fills_batch`` checks many proofs in one MSM.
* Field arithmetic uses gmpy2 when installed (≈ 1.5x faster end to end), plain ints otherwise; both are
  held to py_ecc by the differential tests (``GRIDWORKS_ZK_BACKEND=int`` forces plain ints).
* Timing: Python ints are variable-time. Secret scalars use fixed-window fixed-base code, but this is
  not constant time; keep the signing key in an HSM/native library in production.
"""

from __future__ import annotations

from typing import Any

__all__ = ["open_receipts", "ReceiptService", "IssuedReceipt", "ProofRefused", "OrderLeaf", "SignedTreeHead",
           "verify_receipt", "VerifyResult"]


def __getattr__(name: str) -> Any:  # lazy: keep `import engine.zk` cheap for the CLI
    if name in ("open_receipts", "ReceiptService", "IssuedReceipt", "ProofRefused", "OrderLeaf", "SignedTreeHead"):
        from engine.zk import service
        return getattr(service, name)
    if name in ("verify_receipt", "VerifyResult"):
        from engine.zk import verify
        return getattr(verify, name)
    raise AttributeError(name)
