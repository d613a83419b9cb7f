"""The float16 <-> float32 block conversions against NumPy's casts, and the
multi-precision paths of the engine against each other."""
import numpy as np
import pytest

import rmsprop
from rmsprop._half import narrow, widen
from tests.rmsprop_engines import engine  # noqa: F401 - fixture


def test_widen_every_float16_exactly():
    h = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    out = np.empty(h.size, np.float32)
    widen(h, out, np.empty(h.size, np.uint32), np.empty(h.size, bool))
    ref = h.astype(np.float32)
    assert np.array_equal(out.view(np.uint32), ref.view(np.uint32))   # NaN payloads too


def _narrow(x):
    out = np.empty(x.size, np.float16)
    u = [np.empty(x.size, np.uint32) for _ in range(3)]
    narrow(x, out, *u, np.empty(x.size, bool))
    return out


def test_narrow_matches_numpy_rounding():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 1 << 32, 1 << 21, dtype=np.uint64).astype(np.uint32)
    edges = []
    for h in range(0, 1 << 15, 7):               # every 7th half and its midpoints
        f = np.float32(np.uint16(h).view(np.float16))
        b = int(np.float32(f).view(np.uint32))
        edges += [b, b + (1 << 12), b + (1 << 12) - 1, b + (1 << 12) + 1, b + (1 << 13)]
    edges += [0x477FEFFF, 0x477FF000, 0x47800000, 0x7F800000, 0x7F800001, 0x7FC00000,
              0x33000000, 0x33000001, 0x32FFFFFF, 0x38800000, 0x387FFFFF, 0]
    allbits = np.concatenate([bits, np.array(edges, np.uint64).astype(np.uint32)])
    allbits = np.concatenate([allbits, allbits | np.uint32(0x80000000)])
    x = allbits.view(np.float32)
    got = _narrow(x)
    with np.errstate(all="ignore"):
        ref = x.astype(np.float16)
    nan = np.isnan(x)
    assert np.isnan(got[nan]).all()
    assert np.array_equal(got[~nan].view(np.uint16), ref[~nan].view(np.uint16))


@pytest.mark.usefixtures("engine")
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("cfg", [{}, {"small": 0}, {"small": 0, "block_size": 999},
                                 {"small": 1 << 20, "block_size": 1 << 20}])
def test_multi_precision_paths_agree(centered, cfg):
    rng = np.random.default_rng(1)
    sizes = [1, 17, 3000, 40_000]
    w16 = [rng.standard_normal(n).astype(np.float16) for n in sizes]
    g16 = [rng.standard_normal(n).astype(np.float16) for n in sizes]
    w16[2][::7] = 0                                # zeros and subnormals to narrow
    w16[3][::11] = np.float16(3e-6)

    def run(ws, gs, extra):
        opt = rmsprop.RMSProp(learning_rate=0.05, centered=centered, multi_precision=True)
        states = [opt.create_state_multi_precision(i, w) for i, w in enumerate(ws)]
        with rmsprop.settings(min_parallel=0, **extra):
            for _ in range(2):
                opt.update_multi_precision(list(range(len(ws))), ws, gs, states)
        return states

    ref_w = [w.copy() for w in w16]
    ref_states = run(ref_w, g16, {"num_threads": 1, "small": 0, "block_size": 1 << 20})
    # also through non-contiguous float16 views (buffered nditer path)
    bufs = [np.zeros(2 * n, np.float16) for n in sizes]
    for b, w in zip(bufs, w16):
        b[::2] = w
    for ws in ([w.copy() for w in w16], [b[::2] for b in bufs]):
        states = run(ws, g16, cfg)
        for k in range(len(sizes)):
            assert np.array_equal(ws[k], ref_w[k])
            assert np.array_equal(states[k][0], ref_states[k][0])
            assert np.array_equal(ws[k], states[k][0].astype(np.float16))
