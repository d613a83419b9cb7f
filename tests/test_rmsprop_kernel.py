"""Kernel semantics of rmsprop.rmsprop_update / rmspropalex_update (mxnet2 dialect).

Expected values come from single IEEE operations whose result is exact by
construction, or from a second code path of the package compared bit for bit;
general values are judged by the oracle (test_rmsprop_vs_oracle.py), never by a
chosen tolerance.
"""
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rmsprop
from tests import rmsprop_strategies as rs
from tests.rmsprop_engines import engine  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("engine")


def test_float64_uses_float32_rounded_hyperparameters():
    w, g, var = np.zeros(1), np.ones(1), np.zeros(1)
    rmsprop.rmsprop_update(w, g, var, lr=0.001, rho=0.95, epsilon=1e-8)
    lr, rho, eps = (float(np.float32(x)) for x in (0.001, 0.95, 1e-8))
    omr = 1.0 - rho
    ev = omr * (1.0 * 1.0) + rho * 0.0
    assert var[0] == ev
    assert w[0] == 0.0 - lr * (1.0 / (np.sqrt(ev) + eps))
    assert w[0] != 0.0 - 0.001 * (1.0 / (np.sqrt(ev) + 1e-8))     # the rounding is visible


def test_hyperparameters_are_parsed_like_mxnet():
    # dmlc::stof("4.57162163557631") = float(4) + float(0.57162163557631): one unit in the
    # last place away from float32(4.57162163557631)
    c = np.float32(np.float32(4) + np.float32(0.57162163557631))
    assert c != np.float32(4.57162163557631)
    w, g, var = np.zeros(1), np.array([100.0]), np.zeros(1)
    rmsprop.rmsprop_update(w, g, var, lr=0.5, rho=0.5, clip_gradient=4.57162163557631)
    assert var[0] == 0.5 * (float(c) * float(c))
    with pytest.raises(ValueError, match="clip_gradient"):       # MXNet refuses 1e39
        rmsprop.rmsprop_update(w, g, var, lr=0.5, clip_gradient=1e39)


def test_float16_epsilon_rounds_to_zero_and_gives_nan():
    # SPEC.md: float16, g = 0, var = 0 -> 0/0 because 1e-8 rounds to 0 in float16
    w, g, var = np.ones(3, np.float16), np.zeros(3, np.float16), np.zeros(3, np.float16)
    rmsprop.rmsprop_update(w, g, var, lr=0.01)
    assert np.isnan(w).all() and (var == 0).all()
    w32, g32, v32 = np.ones(3, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)
    rmsprop.rmsprop_update(w32, g32, v32, lr=0.01)
    assert (w32 == 1).all()


@pytest.mark.parametrize("dtype", rs.DTYPES)
def test_clip_gradient_zero_zeroes_the_gradient(dtype):
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 2, 8).astype(dtype) * np.where(np.arange(8) % 2, 1, -1).astype(dtype)
    g = rng.standard_normal(8).astype(dtype)
    var = rng.uniform(0.5, 2, 8).astype(dtype)
    w0, v0 = w.copy(), var.copy()
    rmsprop.rmsprop_update(w, g, var, lr=0.1, rho=0.9, clip_gradient=0.0)
    rho = dtype(np.float32(0.9))
    assert np.array_equal(var, v0 * rho)        # (1-rho)*0 + rho*var: one rounding
    assert np.array_equal(w, w0)                # w - lr*(+-0/(...)) = w


@pytest.mark.parametrize("dtype", rs.DTYPES)
def test_negative_clip_is_off(dtype):
    rng = np.random.default_rng(2)
    args = [rng.standard_normal(10).astype(dtype) * 10 for _ in range(2)]
    outs = []
    for kw in ({}, {"clip_gradient": -1.0, "clip_weights": -0.5}):
        w, g = args[0].copy(), args[1].copy()
        var = np.ones(10, dtype)
        rmsprop.rmsprop_update(w, g, var, lr=0.5, **kw)
        outs.append((w, var))
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])


@pytest.mark.parametrize("dtype", rs.DTYPES)
@pytest.mark.parametrize("centered", [False, True])
def test_clip_weights_zero_keeps_sign_and_nan(dtype, centered):
    w = np.array([1.5, -1.5, 0.25, -0.25, np.nan, -0.0], dtype)
    g = np.array([0.1, 0.1, -0.2, 0.2, 0.0, 0.0], dtype)
    states = [np.zeros(6, dtype) for _ in range(3 if centered else 1)]
    fn = rmsprop.rmspropalex_update if centered else rmsprop.rmsprop_update
    fn(w, g, *states, lr=0.01, epsilon=1e-3, clip_weights=0.0)
    assert np.all(w[[0, 2]] == 0) and not np.signbit(w[[0, 2]]).any()
    assert np.all(w[[1, 3]] == 0) and np.signbit(w[[1, 3]]).all()   # clip(x < 0, 0) = -0.0
    assert np.isnan(w[4])
    # -0.0 with a zero gradient: non-centered -0 - (+0) = -0 stays -0 through the clip;
    # centered -0 + mom(+0) = +0
    assert w[5] == 0 and bool(np.signbit(w[5])) == (not centered)


@pytest.mark.parametrize("dtype", rs.DTYPES)
def test_nan_gradient_passes_clipping(dtype):
    w, g, var = np.ones(2, dtype), np.array([np.nan, 1], dtype), np.ones(2, dtype)
    rmsprop.rmsprop_update(w, g, var, lr=0.1, clip_gradient=0.5)
    assert np.isnan(var[0]) and np.isnan(w[0]) and np.isfinite(w[1])


@pytest.mark.parametrize("dtype", rs.DTYPES)
def test_zero_weight_decay_still_multiplies_inf_weights(dtype):
    # wd * w with wd = 0 and w = inf is NaN in MXNet; the term is never skipped
    w, g, var = np.array([np.inf, 1.0], dtype), np.ones(2, dtype), np.ones(2, dtype)
    rmsprop.rmsprop_update(w, g, var, lr=0.1, wd=0.0)
    assert np.isnan(var[0]) and np.isnan(w[0]) and np.isfinite(var[1])


def test_updates_in_place_and_returns_weight():
    rng = np.random.default_rng(3)
    buf = rng.standard_normal((4, 6)).astype(np.float32)
    buf[2] = np.abs(buf[2]) + 1
    w, mean, var, mom = buf[0], buf[1], buf[2], buf[3]        # row views of one buffer
    g = rng.standard_normal(6).astype(np.float32)
    g0, buf0 = g.copy(), buf.copy()
    out = rmsprop.rmspropalex_update(w, g, mean, var, mom, lr=0.1)
    assert out is w
    assert np.array_equal(g, g0)
    for row in range(4):                                      # written through the views
        assert not np.array_equal(buf[row], buf0[row])


def _special_arrays(n, dtype, seed):
    rng = np.random.default_rng(seed)
    vals = np.array(rs.special_values(dtype), dtype)
    x = rng.standard_normal(n).astype(dtype)
    idx = rng.integers(0, n, n // 10)
    x[idx] = vals[rng.integers(0, len(vals), len(idx))]
    return x


@pytest.mark.parametrize("dtype", rs.DTYPES)
@pytest.mark.parametrize("centered", [False, True])
def test_blocked_threaded_equals_single_block(dtype, centered):
    n = 50_003 if dtype == np.float16 else 200_003
    base = [_special_arrays(n, dtype, s) for s in range(5)]
    base[2] = np.abs(base[2])
    hp = dict(lr=0.01, rho=0.9, epsilon=1e-6, wd=0.01, rescale_grad=0.5, clip_gradient=3.0,
              clip_weights=2.5)
    if centered:
        hp["momentum"] = 0.8
    results = []
    configs = [dict(block_size=n + 1, num_threads=1), dict(block_size=1000, num_threads=2,
               min_parallel=0), dict(block_size=4097, num_threads=3, min_parallel=0)]
    for cfg in configs:
        arrs = [a.copy() for a in base]
        with rmsprop.settings(**cfg):
            if centered:
                rmsprop.rmspropalex_update(arrs[0], arrs[1], arrs[3], arrs[2], arrs[4], **hp)
            else:
                rmsprop.rmsprop_update(arrs[0], arrs[1], arrs[2], **hp)
        results.append(arrs)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(rs.bits(a), rs.bits(b))


@pytest.mark.parametrize("centered", [False, True])
def test_list_update_equals_per_tensor_updates(centered):
    sizes = [0, 1, 5, 100, 3000, 70_000, 2, 40_000]
    rng = np.random.default_rng(4)
    ws = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    gs = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    nst = 3 if centered else 1
    sts = [[np.abs(rng.standard_normal(n)).astype(np.float32) for n in sizes] for _ in range(nst)]
    lrs = [0.01 * (k + 1) for k in range(len(sizes))]
    ref = [[a.copy() for a in xs] for xs in [ws] + sts]
    for k in range(len(sizes)):
        args = [ref[0][k], gs[k]] + [ref[1 + j][k] for j in range(nst)]
        (rmsprop.rmspropalex_update if centered else rmsprop.rmsprop_update)(
            *args, lr=lrs[k], wd=0.001)
    for small in (0, 64, 4096):
        got = [[a.copy() for a in xs] for xs in [ws] + sts]
        with rmsprop.settings(small=small, block_size=8192, min_parallel=0):
            if centered:
                rmsprop.rmspropalex_update_multi(got[0], gs, *got[1:], lr=lrs, wd=0.001)
            else:
                rmsprop.rmsprop_update_multi(got[0], gs, got[1], lr=lrs, wd=0.001)
        for xs, ys in zip(ref, got):
            for a, b in zip(xs, ys):
                assert np.array_equal(rs.bits(a), rs.bits(b))


@pytest.mark.parametrize("layout", ["strided", "fortran", "mixed", "transposed-big"])
def test_non_contiguous_inputs(layout):
    rng = np.random.default_rng(5)
    shape = (300, 70) if layout == "transposed-big" else (6, 5)
    full = [rng.standard_normal((shape[0], 2 * shape[1])).astype(np.float32) for _ in range(3)]
    full[2] = np.abs(full[2])
    if layout == "strided":
        arrs = [f[:, ::2] for f in full]
    elif layout == "fortran":
        arrs = [np.asfortranarray(f[:, : shape[1]]) for f in full]
    elif layout == "mixed":
        arrs = [full[0][:, ::2], np.asfortranarray(full[1][:, : shape[1]]), full[2][:, 1::2]]
    else:
        arrs = [f[:, ::2].T for f in full]
    keep = [f.copy() for f in full]
    g_before = arrs[1].copy()
    contig = [np.ascontiguousarray(a) for a in arrs]
    hp = dict(lr=0.05, rho=0.9, wd=0.01, clip_gradient=1.0)
    rmsprop.rmsprop_update(contig[0], contig[1], contig[2], **hp)
    with rmsprop.settings(block_size=64):
        rmsprop.rmsprop_update(arrs[0], arrs[1], arrs[2], **hp)
    assert np.array_equal(arrs[0], contig[0]) and np.array_equal(arrs[2], contig[2])
    assert np.array_equal(arrs[1], g_before) and np.array_equal(full[1], keep[1])
    if layout == "strided":                       # untouched columns stay untouched
        assert np.array_equal(full[0][:, 1::2], keep[0][:, 1::2])


@given(st.sampled_from(rs.DTYPES), st.booleans())
def test_zero_size_and_scalar_arrays(dtype, centered):
    for shape in [(0,), (), (1, 0, 3)]:
        w, g = np.ones(shape, dtype), np.ones(shape, dtype)
        states = [np.ones(shape, dtype) for _ in range(3 if centered else 1)]
        fn = rmsprop.rmspropalex_update if centered else rmsprop.rmsprop_update
        fn(w, g, *states, lr=0.1)
        assert w.shape == shape


def test_concurrent_callers_get_sequential_results():
    rng = np.random.default_rng(6)
    base = [[rng.standard_normal(300_000).astype(np.float32) for _ in range(3)] for _ in range(4)]
    for b in base:
        b[2] = np.abs(b[2])
    ref = [[a.copy() for a in b] for b in base]
    for w, g, v in ref:
        rmsprop.rmsprop_update(w, g, v, lr=0.01)
    got = [[a.copy() for a in b] for b in base]
    threads = [threading.Thread(target=rmsprop.rmsprop_update, args=tuple(b),
                                kwargs={"lr": 0.01}) for b in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r, o in zip(ref, got):
        assert all(np.array_equal(a, b) for a, b in zip(r, o))


def test_engine_configuration():
    before = rmsprop.get_config()
    with rmsprop.settings(block_size=123, num_threads=3):
        assert rmsprop.get_config()["block_size"] == 123
    assert rmsprop.get_config() == before
    with pytest.raises(ValueError, match="block_size"):
        rmsprop.configure(block_size=0)
    with pytest.raises(ValueError, match="num_threads"):
        rmsprop.configure(num_threads=0)
