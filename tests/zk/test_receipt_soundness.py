"""Fill receipts: completeness (buy, sell, partial fills, edges) and a cheating engine whose own signed
receipts are rejected by the range-proof check."""

import pytest

from engine.zk.verify import verify_receipt
from tests.zk.helpers import make_fill_document

MAX = 2**32 - 1


@pytest.mark.parametrize("kw", [
    dict(side="BUY", limit=250000, quantity=10, fill_price=250000, fill_quantity=10),     # at the limit, full
    dict(side="BUY", limit=MAX, quantity=MAX, fill_price=0, fill_quantity=1),            # edges 0, 1, 2^n−1
    dict(side="SELL", limit=100, quantity=5, prior=4, fill_price=MAX, fill_quantity=1),   # partial, last unit
    dict(side="SELL", limit=0, quantity=1, fill_price=0, fill_quantity=1),
])
def test_honest_receipts_verify_with_opening(kw):
    doc, opening, _, _ = make_fill_document(**kw)
    result = verify_receipt(doc, opening=opening)
    assert result.ok, result.summary
    assert result.receipt_id == doc["receipt_id"] and result.kind == "fill"


@pytest.mark.parametrize("kw", [
    dict(side="BUY", limit=250000, fill_price=250001),                     # fill above limit on a buy
    dict(side="SELL", limit=250000, fill_price=249999),                    # fill below limit on a sell
    dict(side="BUY", fill_quantity=0),                                      # qf = 0
    dict(side="BUY", quantity=10, fill_quantity=11),                        # qf > q
    dict(side="SELL", quantity=10, prior=8, fill_quantity=3),               # partial fills exceed the order
    dict(side="BUY", limit=2**32, fill_price=2**32),                        # value ≥ 2^n
    dict(side="BUY", limit=2**33 + 5, fill_price=2**32 + 7),                # both large, difference small
])
def test_cheating_engine_receipts_are_rejected_by_range_proof(kw):
    doc, opening, _, _ = make_fill_document(**kw)
    result = verify_receipt(doc)
    assert not result.ok
    assert result.failed_check == "range_proof"


def test_wrong_opening_is_named():
    doc, opening, _, _ = make_fill_document()
    opening["fill_price_paise"] += 1
    result = verify_receipt(doc, opening=opening)
    assert (result.ok, result.failed_check) == (False, "opening")


def test_batch_verification_accepts_good_and_rejects_one_bad():
    from engine.zk import rangeproof as rp
    from engine.zk import receipt as rc
    from engine.zk.codec import Reader
    from tests.zk.helpers import make_opening, make_order_leaf, make_statement

    items = []
    for fill_price in (249000, 250000, 250001):
        o = make_opening(limit=250000, quantity=10, prior=0, fill_price=fill_price, fill_quantity=2)
        st = make_statement("BUY", o, order_leaf=make_order_leaf("BUY", o))
        items.append((st, rp.RangeProof.read(Reader(rc.prove_fill(st, o)), 32, 4)))
    assert rc.verify_fills_batch(items[:2])
    assert not rc.verify_fills_batch(items)
    assert not rc.verify_fills_batch([items[0], (items[1][0], items[0][1])])
