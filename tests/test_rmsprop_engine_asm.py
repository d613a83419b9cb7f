"""The compiled loops' machine code: no fused multiply-add, no float64 in float32 math.

A fresh interpreter with an empty numba cache compiles the contiguous loop
(``rmsprop._numba_kernels._run``) for every storage kind and both rules, and the
assembly numba generated for this CPU is searched.  A control function compiled
with ``fastmath={"contract"}`` must show a fused multiply-add to the same search,
so the check is not vacuous (it is skipped on a CPU without FMA instructions).
The bit-identity tests (test_rmsprop_engine_bits.py) check the results;
``test_random_inputs_are_sensitive_to_contraction`` shows that their inputs would
expose a contracted update.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.rmsprop_engines import needs_numba

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FMA = r"\bvf(n)?m(add|sub)"
TO_DOUBLE = r"\bv?cvt(ss2sd|ps2pd)\b"
COMPILE = r"""
import json, re, numpy as np, numba, rmsprop
from rmsprop import _numba_kernels as K
hp = dict(lr=0.1, rho=0.9, epsilon=1e-6, wd=0.01, rescale_grad=0.5, clip_gradient=1.0,
          clip_weights=2.0)
with rmsprop.settings(engine="numba", num_threads=1):
    for dt in (np.float16, np.float32, np.float64):
        a = [np.ones(8, dt) for _ in range(5)]
        rmsprop.rmsprop_update(*a[:3], **hp)
        rmsprop.rmspropalex_update(*a, **hp)
    opt = rmsprop.RMSProp(multi_precision=True)
    for centered in (False, True):
        opt.centered = centered
        w, g = np.ones(8, np.float16), np.ones(8, np.float16)
        opt.update_multi_precision(0, w, g, opt.create_state_multi_precision(0, w))
out = {}
for sig in K._run.signatures:
    asm = K._run.inspect_asm(sig)
    out[str(sig)] = {k: len(re.findall(p, asm)) for k, p in
                     (("fma", FMA), ("to_double", TO_DOUBLE), ("sqrt_f32", r"\bv?sqrt[ps]s\b"),
                      ("sqrt_f64", r"\bv?sqrt[ps]d\b"))}
@numba.njit(fastmath={"contract"})
def contracted(a, b, c):
    return a * b + c
contracted(np.float32(1), np.float32(2), np.float32(3))
control = len(re.findall(FMA, contracted.inspect_asm(contracted.signatures[0])))
print(json.dumps({"kernels": out, "control": control}))
"""


@needs_numba
def test_no_fused_multiply_add_and_no_float64_in_the_compiled_loops(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RMSPROP_ENGINE"}
    env.update(NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=ROOT)      # an empty cache: compile
    code = f"FMA, TO_DOUBLE = {FMA!r}, {TO_DOUBLE!r}\n" + COMPILE
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if out["control"] == 0:
        pytest.skip("this CPU has no fused multiply-add instructions: nothing to rule out")
    kernels = out["kernels"]
    assert len(kernels) == 8                    # 4 storage kinds x 2 rules
    for sig, n in kernels.items():
        assert n["fma"] == 0, sig
        if "float64" in sig:
            assert n["sqrt_f64"] > 0 and n["sqrt_f32"] == 0, sig
        else:                                   # float16 and float32 weights: float32 math
            assert n["to_double"] == 0 and n["sqrt_f32"] > 0 and n["sqrt_f64"] == 0, sig


def test_random_inputs_are_sensitive_to_contraction():
    """The float32 state update ``(g*g)*(1-rho) + var*rho``, rounded after every operation,
    against the same with the first product left unrounded (what a fused multiply-add
    computes; evaluated exactly in float64): they differ on many of the random inputs the
    bit-identity tests use, so a contracted kernel could not pass them."""
    rng = np.random.default_rng(5)
    g = rng.standard_normal(100_000).astype(np.float32)
    v = np.abs(rng.standard_normal(100_000)).astype(np.float32)
    rho = np.float32(0.9)
    omr = np.float32(1) - rho
    gg, vr = g * g, v * rho
    separate = gg * omr + vr
    fused = (gg.astype(np.float64) * np.float64(omr) + vr.astype(np.float64)).astype(np.float32)
    assert np.mean(separate != fused) > 0.05
