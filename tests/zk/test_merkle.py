"""RFC 9162 log proofs for every size ≤ 64 and every index; exact-size binding; full consumption."""

import hashlib

from engine.zk import merkle as mk


def _hashes(n):
    return [mk.leaf_hash(b"leaf-%d" % i) for i in range(n)]


def test_known_structure_small_trees():
    h = _hashes(3)
    assert mk.root_from_hashes([]) == hashlib.sha256(b"").digest()
    assert mk.root_from_hashes(h[:1]) == h[0]
    assert mk.root_from_hashes(h) == mk.node_hash(mk.node_hash(h[0], h[1]), h[2])
    assert mk.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()


def test_no_duplicate_last_node_ambiguity():
    h = _hashes(3)
    assert mk.root_from_hashes(h) != mk.root_from_hashes(h + [h[2]])      # CVE-2012-2459 cannot occur


def test_inclusion_for_every_size_and_index():
    for n in range(1, 65):
        h = _hashes(n)
        root = mk.root_from_hashes(h)
        for i in range(n):
            path = mk.inclusion_path(i, h)
            assert mk.verify_inclusion(h[i], i, n, path, root)
            assert not mk.verify_inclusion(h[(i + 1) % n], i, n, path, root) or n == 1
            assert not mk.verify_inclusion(h[i], i, n, path + [root], root)        # fully consumed
            if path:
                assert not mk.verify_inclusion(h[i], i, n, path[:-1], root)         # prefix
            assert not mk.verify_inclusion(h[i], i, n, path, mk.root_from_hashes(h[:-1] or _hashes(2)))
        assert not mk.verify_inclusion(h[0], n, n, [], root)


def test_consistency_for_every_pair_of_sizes():
    for n in range(1, 65):
        h = _hashes(n)
        root = mk.root_from_hashes(h)
        for m in range(0, n + 1):
            old_root = mk.root_from_hashes(h[:m])
            path = mk.consistency_path(m, h)
            assert mk.verify_consistency(m, n, old_root, root, path)
            if 0 < m < n:
                assert not mk.verify_consistency(m, n, old_root, root, path + [root])   # fully consumed
                assert not mk.verify_consistency(m, n, old_root, root, path[:-1])
                assert not mk.verify_consistency(m, n, mk.leaf_hash(b"other"), root, path)
                assert not mk.verify_consistency(m, n, old_root, mk.leaf_hash(b"other"), path)
                assert not mk.verify_consistency(m - 1 or m, n, old_root, root, path) or m == 1


def test_a_proof_binds_to_one_size():
    """Bare RFC paths can also verify against size + 1 for some indices; the receipt verifier therefore
    only ever uses the size and root from one signed tree head (tested in test_tamper)."""
    h = _hashes(6)
    root6 = mk.root_from_hashes(h)
    path = mk.inclusion_path(5, h)
    assert mk.verify_inclusion(h[5], 5, 6, path, root6)
    root7 = mk.root_from_hashes(h + [mk.leaf_hash(b"new")])
    assert not mk.verify_inclusion(h[5], 5, 7, path, root7)


def test_cached_tree_matches_the_reference_functions_and_survives_truncation():
    t = mk.Tree()
    h = _hashes(40)
    for x in h:
        t.append(x)
    for size in range(0, 41):
        assert t.root(size) == mk.root_from_hashes(h[:size])
        for i in range(size):
            assert t.inclusion(i, size) == mk.inclusion_path(i, h[:size])
        for old in range(size + 1):
            assert t.consistency(old, size) == mk.consistency_path(old, h[:size])
    t.truncate(17)
    t.append(mk.leaf_hash(b"replacement"))
    assert t.root() == mk.root_from_hashes(h[:17] + [mk.leaf_hash(b"replacement")])
