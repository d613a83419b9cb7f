"""The production NumPy backend bit for bit against the real MXNet 2.0.0b1 (CPU, flushing off).

Only runs where MXNet 2 imports (``tox -e mxnet2``).  With ``set_flush_denorms(False)``
MXNet computes IEEE arithmetic in the weight's dtype, operation by operation, as the
production engine does: every output bit must be equal (NaNs compared as NaN).  Kernel
level: ``check``'s generated cases at several seeds and every special-value pairing.
Optimizer level: ``rmsprop.RMSProp`` against ``mxnet.optimizer.RMSProp`` over multi-step
runs (fused and step, centered and not, clipping, wd, multipliers, a scheduler with
``begin_num_update``, float16 with multi_precision); float32 states only, since MXNet 2
makes float32 states for every weight dtype (a known deviation).
"""
import numpy as np
import pytest

from tests.mxnet2_helpers import flushing, mx, run_real

import rmsprop  # noqa: E402
from conformance.generated import sampled_specs  # noqa: E402
from oracle import normalize_hp  # noqa: E402
from rmsprop.port import step as production_step  # noqa: E402

pytestmark = pytest.mark.mxnet2


def unequal_bits(a, b):
    """Flat indices where two arrays of one dtype and shape differ in bits (any NaN equals any NaN)."""
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    u = f"u{a.itemsize}"
    return np.flatnonzero(~(np.isnan(a) & np.isnan(b)) & (a.view(u) != b.view(u)))


def _differences(label, ours, real):
    out = []
    for name in real:
        for i in unequal_bits(ours[name], real[name])[:3]:
            out.append(f"{label}: {name}[{i}] ours={float(ours[name].reshape(-1)[i]).hex()} "
                       f"mxnet={float(real[name].reshape(-1)[i]).hex()}")
    return out


def _flat(state):
    """A state (array, NDArray or nested tuples of them) as a list of NumPy arrays."""
    if isinstance(state, (tuple, list)):
        return [a for s in state for a in _flat(s)]
    return [state if isinstance(state, np.ndarray) else state.asnumpy()]


@pytest.mark.parametrize("seed", range(4))
def test_kernel_generated_cases_bit_for_bit(seed):
    problems = []
    with flushing(False):
        for spec in sampled_specs("mxnet2", seed, 300):
            inp = spec["inputs"]
            state = {k: v for k, v in inp.items() if k not in ("weight", "grad")}
            hp = normalize_hp(spec["hp"])
            new_w, new_state = production_step(inp["weight"], inp["grad"], state, hp)
            problems += _differences(spec["id"], dict(new_state, weight=new_w), run_real(inp["weight"], inp["grad"],
                                                                                         state, hp))
    assert not problems, "\n".join(problems[:30])


@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_kernel_special_values_bit_for_bit(dtype, centered):
    fi = np.finfo(dtype)
    eta = float(np.nextafter(np.zeros((), dtype), np.ones((), dtype)))
    sv = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, eta, -eta, float(fi.tiny), float(fi.max), -float(fi.max),
                   1.0, -1.5, 300.0, 1e-4], dtype=dtype)
    w, g, v = (a.reshape(-1).copy() for a in np.meshgrid(sv, sv, np.abs(sv), indexing="ij"))
    state = {"var": v}
    if centered:
        state.update(mean=g[::-1].copy(), mom=w[::-1].copy())
    problems = []
    with flushing(False):
        for hp in (dict(lr=0.01, rho=0.9, momentum=0.9, epsilon=1e-8),
                   dict(lr=0.5, rho=0.5, momentum=0.5, epsilon=0.0, wd=0.01, rescale_grad=0.5, clip_gradient=1.0,
                        clip_weights=2.0),
                   dict(lr=0.1, rho=1.0, momentum=0.0, epsilon=1e-3, clip_gradient=0.0, clip_weights=0.0)):
            hp = normalize_hp(dict(hp, centered=centered))
            new_w, new_state = production_step(w, g, state, hp)
            problems += _differences(f"{dtype} {hp}", dict(new_state, weight=new_w), run_real(w, g, state, hp))
    assert not problems, "\n".join(problems[:30])


OPTIMIZERS = {
    "fused-plain": dict(learning_rate=0.01, rho=0.9, wd=0.01, clip_gradient=0.5, clip_weights=2.0),
    "fused-centered": dict(learning_rate=0.005, rho=0.95, momentum=0.8, centered=True, rescale_grad=0.5),
    "step-plain": dict(learning_rate=0.02, rho=0.8, use_fused_step=False, wd=0.001, clip_gradient=0.25),
    "step-centered": dict(learning_rate=0.01, centered=True, use_fused_step=False, clip_weights=1.5),
    "scheduler": dict(learning_rate=None, begin_num_update=3, centered=True),
    "multi-precision": dict(learning_rate=0.01, multi_precision=True, centered=True),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_bit_for_bit(name):
    """Six steps on three parameters (lr/wd multipliers on two), our RMSProp and MXNet's."""
    kw = dict(OPTIMIZERS[name])
    dtype = "float16" if kw.get("multi_precision") else "float32"
    ours_kw, real_kw = dict(kw), dict(kw)
    if name == "scheduler":
        ours_kw["lr_scheduler"] = rmsprop.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=0.1)
        real_kw["lr_scheduler"] = mx.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=0.1)
    ours, real = rmsprop.RMSProp(**ours_kw), mx.optimizer.RMSProp(**real_kw)
    for opt in (ours, real):
        opt.set_lr_mult({0: 0.5})
        opt.set_wd_mult({1: 2.0})
    rng = np.random.default_rng(sorted(OPTIMIZERS).index(name))
    weights = [(rng.standard_normal(17) * 2.0 ** rng.uniform(-6, 2, 17)).astype(dtype) for _ in range(3)]
    real_w = [mx.nd.array(w, dtype=dtype) for w in weights]
    mp = bool(kw.get("multi_precision"))
    ours_s = [(ours.create_state_multi_precision if mp else ours.create_state)(i, w) for i, w in enumerate(weights)]
    real_s = [(real.create_state_multi_precision if mp else real.create_state)(i, w) for i, w in enumerate(real_w)]
    problems = []
    with flushing(False):
        for k in range(6):
            grads = [(rng.standard_normal(17) * 2.0 ** rng.uniform(-8, 3, 17)).astype(dtype) for _ in weights]
            idx = [0, 1, 2] if k % 3 else [2, 0]
            update = (ours.update_multi_precision if mp else ours.update)
            update(idx, [weights[i] for i in idx], [grads[i].copy() for i in idx], [ours_s[i] for i in idx])
            real_update = (real.update_multi_precision if mp else real.update)
            real_update(idx, [real_w[i] for i in idx], [mx.nd.array(grads[i], dtype=dtype) for i in idx],
                        [real_s[i] for i in idx])
            for i in range(3):
                ours_all = dict(enumerate(_flat(ours_s[i])), weight=weights[i])
                real_all = dict(enumerate(_flat(real_s[i])), weight=real_w[i].asnumpy())
                problems += _differences(f"{name} step {k} index {i}", ours_all, real_all)
    assert not problems, "\n".join(problems[:30])
