"""The compiled engine's float16 conversions against NumPy's casts.

Both implementations are checked whichever one this CPU uses, on every float16 and
on random float32 bit patterns plus the neighbourhood of every rounding boundary:
every value but a signalling NaN gives the bits of NumPy's ``astype``; the integer
code (``_soft_*``) also gives the NumPy engine's bits (:mod:`rmsprop._half`) for
signalling NaNs, the CPU instructions (``_hw_*``, where available) quiet them (see
:mod:`rmsprop._numba_half`)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rmsprop._half import narrow as engine_narrow
from rmsprop._half import widen as engine_widen

from tests.rmsprop_engines import needs_numba

pytestmark = needs_numba


def _loops():
    import numba

    from rmsprop import _numba_half as H
    out = {}
    for name in ("soft", "hw"):
        if name == "hw" and not H.HARDWARE_HALF:
            continue
        h2f, f2h = getattr(H, f"_{name}_h2f"), getattr(H, f"_{name}_f2h")

        @numba.njit
        def widen(h, out, h2f=h2f):
            for i in range(h.size):
                out[i] = h2f(h[i])

        @numba.njit
        def narrow(f, out, f2h=f2h):
            for i in range(f.size):
                out[i] = f2h(f[i])
        out[name] = (widen, narrow)
    return out


def _float32_patterns():
    every_half = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    near = every_half.astype(np.float32).view(np.uint32).astype(np.int64)
    steps = [d for k in (0, 1) for d in (k, -k, 0xFFF + k, 0x1000 + k, -0x1000 - k, 0x2000)]
    rng = np.random.default_rng(0)
    parts = [near + d for d in steps] + [rng.integers(0, 1 << 32, 1 << 20)]
    return (np.concatenate(parts) & 0xFFFFFFFF).astype(np.uint32).view(np.float32)


@pytest.mark.parametrize("impl", ["soft", "hw"])
def test_conversions_give_numpys_bits(impl):
    loops = _loops()
    if impl not in loops:
        pytest.skip("this CPU has no float16 conversion instructions LLVM uses")
    widen, narrow = loops[impl]
    h = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    got = np.empty(h.size, np.float32)
    widen(h, got)
    ref = h.view(np.float16).astype(np.float32)
    quiet = ~np.isnan(ref) | ((h & 0x200) != 0)           # all but the signalling NaNs
    assert np.array_equal(got.view(np.uint32)[quiet], ref.view(np.uint32)[quiet])
    mine = np.empty(h.size, np.float32)
    engine_widen(h.view(np.float16), mine, np.empty(h.size, np.uint32), np.empty(h.size, bool))
    if impl == "soft":
        assert np.array_equal(got.view(np.uint32), mine.view(np.uint32))
    assert np.isnan(got[~quiet]).all()
    f = _float32_patterns()
    out = np.empty(f.size, np.uint16)
    narrow(f, out)
    with np.errstate(over="ignore", invalid="ignore"):
        expect = f.astype(np.float16).view(np.uint16)
    bits = f.view(np.uint32)
    quiet = ~np.isnan(f) | ((bits & 0x400000) != 0)
    assert np.array_equal(out[quiet], expect[quiet])
    n = f.size
    mine = np.empty(n, np.float16)
    engine_narrow(f, mine, *(np.empty(n, np.uint32) for _ in range(3)), np.empty(n, bool))
    if impl == "soft":
        assert np.array_equal(out, mine.view(np.uint16))
    assert np.isnan(out[~quiet].view(np.float16)).all()


SOFT = """
import json, numpy as np, rmsprop
from rmsprop import _numba_half, _numba_probe
from tests.test_rmsprop_engine_bits import KERNEL_HP, kernel, special_triples
assert not _numba_half.HARDWARE_HALF
bad = [_numba_probe.probe(kind, centered, False, False)
       for kind in ("float16", "float16+float32 master") for centered in (False, True)]
base = special_triples(np.float16)
outs = []
for name in ("numpy", "numba"):
    arrays = [a.copy() for a in base]
    with rmsprop.settings(engine=name):
        kernel(False, KERNEL_HP[1])(arrays)
    outs.append(arrays)
diff = [int(_numba_probe.differences(a, b).size) for a, b in zip(*outs)]
print(json.dumps({"probe": bad, "diff": diff, "use": rmsprop.settings()["engine_in_use"]}))
"""


def test_the_integer_conversions_in_the_engine(tmp_path):
    """With numba targeting a generic CPU (no F16C), the float16 kernels use the integer
    conversions: they pass the self-check and give the NumPy engine's bits on every
    special-value triple."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "RMSPROP_ENGINE"}
    env.update(NUMBA_CPU_NAME="generic", NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=root)
    r = subprocess.run([sys.executable, "-c", SOFT], env=env, capture_output=True, text=True,
                       timeout=900, cwd=root)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"probe": [None] * 4, "diff": [0, 0, 0], "use": "numba"}
