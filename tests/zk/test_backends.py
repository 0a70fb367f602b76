"""Both arithmetic backends (gmpy2 when installed, plain ints always) agree with py_ecc."""

import os
import subprocess
import sys

from engine.zk import curve

SCRIPT = r"""
import secrets
from py_ecc import optimized_bn128 as bn
from engine.zk import curve as c, generators as g, rangeproof as rp, reference as ref
from engine.zk.receipt import commit
from engine.zk.transcript import Transcript
k = secrets.randbelow(c.Q)
assert c.to_affine(c.mul((1, 2, 1), k)) == ref.to_aff(bn.multiply(bn.G1, k))
assert c.to_affine(g.fixed_H().mul(k)) == ref.to_aff(ref.mul(ref.from_aff(g.H()), k))
vals = [3, 255]
bl = [rp.random_scalar() for _ in vals]
V = [commit(v, r) for v, r in zip(vals, bl)]
proof = rp.prove(Transcript(), vals, bl, V, 8)
assert rp.verify(Transcript(), proof, V, 8) and ref.verify_range_proof(Transcript(), proof, V, 8)
print(c.BACKEND, g.params_id(32, 4).hex())
"""


def test_plain_int_backend_agrees_with_py_ecc_and_pins_the_same_params():
    env = dict(os.environ, GRIDWORKS_ZK_BACKEND="int")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    backend, params = out.stdout.split()
    assert backend == "int"
    from engine.zk import generators
    assert params == generators.params_id(32, 4).hex()
    assert curve.BACKEND in ("int", "gmpy2")
