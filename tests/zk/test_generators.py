"""Generators: recomputed from the domain string, pinned, distinct, never identity or G."""

from py_ecc import optimized_bn128 as bn

from engine.zk import generators as gens
from engine.zk import reference as ref
from engine.zk.statements import FILL_M, FILL_N

#: Pinned: changing the domain string, the hash-to-curve or the encoding changes this.
PARAMS_ID_32x4 = "a635de3b1550fa27f731673c72425589d0e90986399ab86ef47ff4ce933e776a"
PINNED_H_X = "2bc32332ced9dceab51929582d3761c05906c45db56f4719b730e63353d35d85"
PINNED_G0_X = "05bd3fabb8fdfee8726c01381174a91685119b9e0b71f627dbec7b749d47feb7"


def test_params_id_is_pinned():
    assert gens.params_id(FILL_N, FILL_M).hex() == PARAMS_ID_32x4


def test_generator_vectors_are_pinned():
    assert gens.DOMAIN == b"ZKRECEIPT-V1-BN254G1"
    assert format(gens.H()[0], "064x") == PINNED_H_X
    assert format(gens.G_vec(0)[0], "064x") == PINNED_G0_X


def test_generators_recomputed_from_domain_are_on_curve_distinct_and_not_g():
    pts = [gens.G(), gens.H(), gens.U()] + [gens.G_vec(i) for i in range(FILL_N * FILL_M)] \
        + [gens.H_vec(i) for i in range(FILL_N * FILL_M)]
    assert len(set(pts)) == len(pts)
    xs = {p[0] for p in pts}
    assert len(xs) == len(pts)                      # not even negatives of each other
    for p in pts[1:]:
        assert p != (1, 2) and p[0] != 1           # not G, not −G
        assert ref.hash_to_curve_check(p)          # on the curve per py_ecc (cofactor 1: in the group)
    assert gens.hash_to_curve(b"H") == gens.H()
    assert bn.is_on_curve(ref.from_aff(gens.H()), bn.b)


def test_params_id_depends_on_shape():
    assert gens.params_id(32, 4) != gens.params_id(32, 2) != gens.params_id(64, 4)
