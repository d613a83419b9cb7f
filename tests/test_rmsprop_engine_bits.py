"""The compiled engine against the NumPy engine, bit for bit.

Every output is compared as bit patterns, except that any NaN equals any NaN
(:func:`rmsprop._numba_probe.differences`): when both operands of a sum or product
are NaN, IEEE 754 leaves the result's payload and sign open, and NumPy's own loops
pick either operand depending on the loop length, so even the NumPy engine's NaN
signs depend on its block size there.  A NaN that meets no other NaN keeps its
payload, and that is compared strictly (``test_a_lone_nan_keeps_its_payload``).
Inputs: every combination of special values (NaN, +-inf, +-0, subnormals, the
largest finite value, values whose square overflows or underflows) with ordinary
ones, random cases of every family, lists, multi-precision and strided layouts.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given

import rmsprop
from rmsprop._numba_probe import differences, palette
from rmsprop.port import step
from tests import rmsprop_strategies as rs
from tests.rmsprop_engines import use

# fused-operator hyperparameters: defaults; everything on; clips at zero with a zero
# epsilon; a float16-overflowing lr, rho 0, negative wd and clip beyond float16; rho 1
# with a float16-subnormal epsilon; a gradient clip at the smallest normal float32
KERNEL_HP = [
    dict(lr=0.01, rho=0.9, momentum=0.9, epsilon=1e-8),
    dict(lr=0.1, rho=0.5, momentum=0.5, epsilon=1e-3, wd=0.1, rescale_grad=0.5,
         clip_gradient=1.0, clip_weights=2.0),
    dict(lr=0.5, rho=0.99, momentum=0.0, epsilon=0.0, wd=1e-4, clip_gradient=0.0,
         clip_weights=0.0),
    dict(lr=1e5, rho=0.0, momentum=1.0, epsilon=1e-30, wd=-0.5, rescale_grad=3.0,
         clip_gradient=1e30),
    dict(lr=1e-3, rho=1.0, momentum=0.99, epsilon=6e-8, rescale_grad=1 / 3, clip_weights=1e-3),
    dict(lr=0.3, rho=0.95, clip_gradient=1.2e-38, clip_weights=65504.0),
]


def same(ref, got, what=""):
    for k, (a, b) in enumerate(zip(ref, got)):
        bad = differences(a, b)
        assert bad.size == 0, (f"{what} array {k}: {bad.size} of {a.size} elements differ, "
                               f"first at {bad[0]}: numpy {a.ravel()[bad[0]]!r}, "
                               f"numba {b.ravel()[bad[0]]!r}")


def on_both(make, run, **cfg):
    """``run(arrays)`` on fresh ``make()`` arrays under each engine; the two results."""
    out = []
    for name in ("numpy", "numba"):
        arrays = make()
        with use(name), rmsprop.settings(**cfg):
            run(arrays)
        out.append(arrays)
    return out


def special_triples(dtype):
    """Every (w, g, var) triple of the probe palette (specials and ordinary values)."""
    p = palette(dtype)
    return [np.array(c) for c in zip(*itertools.product(p, repeat=3))]


def special_draws(dtype, n_arrays, n, seed):
    p = palette(dtype)
    rng = np.random.default_rng(seed)
    return [p[rng.integers(0, p.size, n)] for _ in range(n_arrays)]


def kernel(centered, hp):
    fn = rmsprop.rmspropalex_update if centered else rmsprop.rmsprop_update
    return lambda a: fn(*a, **{k: v for k, v in hp.items() if centered or k != "momentum"})


@pytest.mark.parametrize("dtype", rs.DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("hp", range(len(KERNEL_HP)))
def test_every_special_triple_non_centered(dtype, hp):
    base = special_triples(dtype)
    ref, got = on_both(lambda: [a.copy() for a in base], kernel(False, KERNEL_HP[hp]))
    same(ref, got)


@pytest.mark.parametrize("dtype", rs.DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("hp", range(len(KERNEL_HP)))
def test_special_draws_centered(dtype, hp):
    # 5 arrays drawn independently from the 64-value palette: every pair of values
    # meets about 60 times
    base = special_draws(dtype, 5, 1 << 18, hp)
    ref, got = on_both(lambda: [a.copy() for a in base], kernel(True, KERNEL_HP[hp]))
    same(ref, got)


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("cfg", [dict(num_threads=1), dict(num_threads=2, min_parallel=0),
                                 dict(num_threads=3, min_parallel=1000, block_size=4097)])
def test_thread_splits_and_tails(centered, cfg):
    """Random values with 10% specials, lengths that leave vector tails, thread shares."""
    rng = np.random.default_rng(5)
    n = 300_007
    base = [rng.standard_normal(n).astype(np.float32) for _ in range(5 if centered else 3)]
    for a, s in zip(base, special_draws(np.float32, len(base), n, 1)):
        mask = rng.random(n) < 0.1
        a[mask] = s[mask]
    ref, got = on_both(lambda: [a.copy() for a in base], kernel(centered, KERNEL_HP[1]), **cfg)
    same(ref, got)


@given(case=rs.cases())
def test_port_cases_of_every_family(case):
    w, g, state, hp = case
    outs = []
    for name in ("numpy", "numba"):
        with use(name):
            new_w, new_state = step(w, g, state, hp)
        outs.append([new_w] + [new_state[k] for k in sorted(new_state)])
    same(*outs)


def test_a_lone_nan_keeps_its_payload():
    """A NaN that meets no other NaN: payload and sign must be identical (quiet and
    signalling payloads, in each input array in turn)."""
    nans = {np.float16: [0x7E55, 0xFD21, 0x7C01], np.float32: [0x7FC12345, 0xFFA00001, 0x7F800003],
            np.float64: [0x7FF8000012345678, 0xFFF4000000000001]}
    for dtype, pats in nans.items():
        u = rs.bits(np.zeros(1, dtype)).dtype
        for centered in (False, True):
            for role in range(5 if centered else 3):
                rng = np.random.default_rng(role)
                base = [np.abs(rng.standard_normal(64)).astype(dtype) + dtype(0.5)
                        for _ in range(5 if centered else 3)]
                for k, pat in enumerate(pats):
                    base[role][k * 7] = np.array(pat, u).view(dtype)
                ref, got = on_both(lambda: [a.copy() for a in base],
                                   kernel(centered, KERNEL_HP[1]))
                for a, b in zip(ref, got):
                    assert np.array_equal(rs.bits(a), rs.bits(b)), (dtype, centered, role)


def _strided_views(rng, dtype, shape, layout):
    big = rng.standard_normal((shape[0] * 2, shape[1] * 3)).astype(dtype)
    if layout == "every-other":
        return big[::2, ::3]
    if layout == "fortran":
        return np.asfortranarray(big[: shape[0], : shape[1]])
    if layout == "reversed":
        return big[: shape[0], : shape[1]][::-1, ::-1]
    return big[: shape[1], : shape[0]].T                     # transposed


SIZES = [0, 1, 3, 1000, 70_000, 5, 200_001]
LAYOUTS = ["every-other", "fortran", "reversed", "transposed"]


def _optimizer_arrays(mp, seed):
    """Tensors of SIZES in float32 and float64 (float16 with mp), then strided ones."""
    rng = np.random.default_rng(seed)
    dts = [np.float16] if mp else [np.float32, np.float64, np.float16]
    ws = [_mixed(rng, n, dts[k % len(dts)]) for k, n in enumerate(SIZES)]
    ws += [_strided_views(rng, dts[k % len(dts)], (30, 7), lay) for k, lay in enumerate(LAYOUTS)]
    gs = [np.ascontiguousarray(rng.standard_normal(w.shape)).astype(w.dtype) for w in ws]
    gs[-1] = np.broadcast_to(gs[-1][:1], gs[-1].shape)        # a stride-0 gradient
    return ws, gs


def _mixed(rng, n, dtype):
    x = rng.standard_normal(n).astype(dtype)
    s = special_draws(dtype, 1, n, n)[0]
    mask = rng.random(n) < 0.05
    x[mask] = s[mask]
    return x


def _flat(x):
    return [x] if isinstance(x, np.ndarray) else [a for item in x for a in _flat(item)]


@pytest.mark.filterwarnings("ignore:Accumulating with float16")
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("mp", [False, True])
@pytest.mark.parametrize("fused", [True, False])
def test_optimizer_lists_multi_precision_strided(centered, mp, fused):
    """Five steps of ``RMSProp.update_multi_precision`` over a list of every size, dtype
    and layout, with per-tensor rates (multipliers), clipping, wd and rescale."""
    results = []
    for name in ("numpy", "numba"):
        ws, gs = _optimizer_arrays(mp, 3)
        opt = rmsprop.RMSProp(learning_rate=0.05, rho=0.8, momentum=0.7, epsilon=1e-6,
                              centered=centered, clip_weights=3.0, use_fused_step=fused,
                              rescale_grad=0.5, wd=0.01, clip_gradient=2.0,
                              multi_precision=mp)
        opt.set_lr_mult({1: 0.5, 4: 2.0})
        opt.set_wd_mult({2: 0.0})
        with use(name), rmsprop.settings(min_parallel=0):
            states = [opt.create_state_multi_precision(i, w) for i, w in enumerate(ws)]
            idx = list(range(len(ws)))
            for _ in range(5):
                opt.update_multi_precision(idx, ws, gs, states)
        results.append(_flat(ws) + _flat(states))
    same(*results)
