"""Cross-check the oracle's ``mxnet1`` dialect against the real MXNet 1.9.1 operators (CPU).

Only runs where the real ``mxnet`` wheel imports (``tox -e mxnet``); elsewhere the whole module
is skipped.  Every element of every output MXNet produces must be judged faithful by
``oracle.evaluate(...).check``.  Name mapping to the 1.9.1 operators: rho = ``gamma1``,
momentum = ``gamma2``; centered state var = ``n``, mean = ``g``, mom = ``delta``, passed in the
order ``rmspropalex_update(weight, grad, n, g, delta, ...)``.
"""
import numpy as np
import pytest

mx = pytest.importorskip(
    "mxnet", reason="the real mxnet==1.9.1 wheel is not importable here (run `tox -e mxnet`)"
)
if not mx.__version__.startswith("1.9."):
    pytest.skip(f"needs mxnet 1.9.x, found {mx.__version__}", allow_module_level=True)

import oracle  # noqa: E402  (after the skip: the oracle is not needed where mxnet is absent)
from tests.differential import mxnet_refuses_bfloat16  # noqa: E402

pytestmark = pytest.mark.mxnet

DTYPES = ("float16", "float32", "float64")
VARIANTS = ("plain", "centered")
UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}
# clip mode -> (clip_gradient, clip_weights); None means "draw a positive value"
CLIP_MODES = {"noclip": (-1.0, -1.0), "clip0": (0.0, 0.0), "clipg0": (0.0, -1.0),
              "clipw0": (-1.0, 0.0), "clip": (None, None)}
MAX_REPORTED = 8


def _hex(a, i):
    flat = np.ascontiguousarray(a).reshape(-1)
    bits = int(flat.view(UINT[flat.dtype.itemsize])[i])
    return f"{float(flat[i]).hex()}[0x{bits:0{2 * flat.dtype.itemsize}x}]"


def run_mxnet(weight, grad, state, hp):
    """One MXNet 1.9.1 update; returns {name: ndarray} with the oracle's output names."""
    nd = mx.nd
    dt = weight.dtype.name
    arr = lambda a: nd.array(np.ascontiguousarray(a), dtype=dt)  # noqa: E731
    kw = dict(lr=float(hp["lr"]), gamma1=float(hp["rho"]), epsilon=float(hp["epsilon"]),
              wd=float(hp["wd"]), rescale_grad=float(hp["rescale_grad"]),
              clip_gradient=float(hp["clip_gradient"]), clip_weights=float(hp["clip_weights"]))
    w, g = arr(weight), arr(grad)
    if not hp["centered"]:
        n = arr(state["var"])
        out = nd.rmsprop_update(w, g, n, **kw)
        return {"weight": out.asnumpy(), "var": n.asnumpy()}
    n, m, d = arr(state["var"]), arr(state["mean"]), arr(state["mom"])
    out = nd.rmspropalex_update(w, g, n, m, d, gamma2=float(hp["momentum"]), **kw)
    return {"weight": out.asnumpy(), "var": n.asnumpy(), "mean": m.asnumpy(), "mom": d.asnumpy()}


def compare(label, weight, grad, state, hp):
    """Run both sides; return (MXNet outputs, list of readable failure reports)."""
    actual = run_mxnet(weight, grad, state, hp)
    ev = oracle.evaluate(weight, grad, state, hp, dialect="mxnet1")
    verdict = ev.check(actual)
    problems = []
    for name, got in actual.items():
        if name not in verdict:
            problems.append(f"{label}: oracle.check returned no verdict for output {name!r}")
            continue
        bad = np.flatnonzero(~np.asarray(verdict[name], dtype=bool).reshape(-1))
        if bad.size == 0:
            continue
        lines = [f"{label}: output {name!r}: {bad.size}/{got.size} elements not faithful; hp={hp}"]
        for i in bad[:MAX_REPORTED]:
            ins = " ".join(f"{k}={_hex(v, i)}" for k, v in [("w", weight), ("g", grad), *state.items()])
            expect = _hex(ev.outputs[name], i) if name in ev.outputs else "?"
            lines.append(f"  [{i}] {ins} -> mxnet {name}={_hex(got, i)} oracle={expect}")
        problems.append("\n".join(lines))
    return actual, problems


def zero_state(shape, dtype, centered):
    names = ("mean", "var", "mom") if centered else ("var",)
    return {k: np.zeros(shape, dtype) for k in names}


def random_hp(rng, centered, clip_mode):
    pick = lambda *xs: float(xs[rng.integers(len(xs))])  # noqa: E731
    cg, cw = CLIP_MODES[clip_mode]
    return {
        "lr": pick(0.001, 0.01, 10 ** rng.uniform(-4, -0.5)),
        "rho": pick(0.9, 0.95, 0.99, 0.5, rng.uniform(0, 1)),
        "momentum": pick(0.0, 0.9, rng.uniform(0, 1)),
        "epsilon": pick(0.0, 1e-8, 1e-6, 10 ** rng.uniform(-9, -1)),
        "wd": pick(0.0, 1e-4, rng.uniform(0, 0.1)),
        "rescale_grad": pick(1.0, 0.5, 1 / 3, rng.uniform(0.01, 2)),
        "clip_gradient": cg if cg is not None else pick(0.5, rng.uniform(0.01, 5)),
        "clip_weights": cw if cw is not None else pick(1.0, rng.uniform(0.1, 5)),
        "centered": centered,
    }


RANDOM_CASES = [(d, v, c) for d in DTYPES for v in VARIANTS for c in CLIP_MODES]


@pytest.mark.parametrize("dtype,variant,clip_mode", RANDOM_CASES,
                         ids=["-".join(c) for c in RANDOM_CASES])
def test_random_cases(dtype, variant, clip_mode):
    """Random weights/gradients, hyperparameters varied; 3 consecutive steps from zero state."""
    case_no = RANDOM_CASES.index((dtype, variant, clip_mode))
    rng = np.random.default_rng([1234, case_no])
    centered, n = variant == "centered", 32
    problems = []
    for trial in range(6):
        hp = random_hp(rng, centered, clip_mode)
        weight = (rng.standard_normal(n) * 10.0 ** rng.uniform(-2, 1, n)).astype(dtype)
        state = zero_state(n, dtype, centered)
        for step in range(3):
            grad = (rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 2, n)).astype(dtype)
            label = f"{dtype}-{variant}-{clip_mode} trial {trial} step {step}"
            actual, found = compare(label, weight, grad, state, hp)
            problems += found
            # continue from MXNet's own result, so every step is a one-step check
            weight = actual.pop("weight")
            state = actual
    assert not problems, "\n".join(problems)


def _specials(dtype):
    fi = np.finfo(dtype)
    tiny_sub = float(np.nextafter(np.zeros((), dtype), np.ones((), dtype)))
    max_sub = float(fi.tiny) - tiny_sub
    vals = [0.0, -0.0, np.inf, -np.inf, np.nan, tiny_sub, -tiny_sub, max_sub, float(fi.tiny),
            float(fi.max), -float(fi.max), 1.0, -1.5, 300.0]
    return np.array(vals, dtype=dtype)


SPECIAL_HP = {
    "defaults": dict(lr=0.001, rho=0.95, momentum=0.9, epsilon=1e-8, wd=0.0, rescale_grad=1.0,
                     clip_gradient=-1.0, clip_weights=-1.0),
    "wd-clip0": dict(lr=0.01, rho=0.9, momentum=0.5, epsilon=1e-6, wd=0.01, rescale_grad=0.5,
                     clip_gradient=0.0, clip_weights=0.0),
    "eps0-clip": dict(lr=0.1, rho=0.5, momentum=0.9, epsilon=0.0, wd=0.001, rescale_grad=2.0,
                      clip_gradient=1.0, clip_weights=2.0),
}
SPECIAL_GRID = [(d, v, h) for d in DTYPES for v in VARIANTS for h in SPECIAL_HP]


@pytest.mark.parametrize("dtype,variant,hp_name", SPECIAL_GRID,
                         ids=[f"{d}-{v}-specials-{h}" for d, v, h in SPECIAL_GRID])
def test_special_values(dtype, variant, hp_name):
    """Every pairing of NaN, +-inf, +-0, subnormals, extremes for weight x gradient."""
    sv = _specials(dtype)
    weight, grad = (a.reshape(-1).copy() for a in np.meshgrid(sv, sv, indexing="ij"))
    hp = dict(SPECIAL_HP[hp_name], centered=variant == "centered")
    state = zero_state(weight.shape, dtype, hp["centered"])
    _, problems = compare(f"{dtype}-{variant}-specials-{hp_name}", weight, grad, state, hp)
    assert not problems, "\n".join(problems)


# (id, dtype, centered, weight, grad, hp overrides): the edge cases seen on the real 1.9.1 wheel
NAMED = [
    ("float16-plain-g300-var-overflows", "float16", False, [1.0], [300.0], {}),
    ("float16-centered-g300-var-finite", "float16", True, [1.0], [300.0], {}),
    ("float16-plain-g0-eps-rounds-to-0-nan", "float16", False, [1.0, -2.0], [0.0, -0.0], {}),
    ("float16-centered-g0-eps-rounds-to-0-nan", "float16", True, [1.0, -2.0], [0.0, -0.0], {}),
    ("float32-plain-g1e-30-eps0-inf-step", "float32", False, [1.0], [1e-30], {"epsilon": 0.0}),
    ("float32-centered-g1e-30-eps0-inf-step", "float32", True, [1.0], [1e-30], {"epsilon": 0.0}),
    ("float64-plain-lr-is-float32", "float64", False, [0.0], [1.0],
     {"rho": 0.0, "epsilon": 0.0, "lr": 0.001}),
    ("float64-plain-wd-before-clip", "float64", False, [10.0], [0.0],
     {"rho": 0.0, "epsilon": 0.0, "lr": 1.0, "wd": 1.0, "clip_gradient": 1.0}),
    ("float32-plain-clipw0-negative-zero", "float32", False, [0.0, -0.0, 1.0, -1.0, 0.5],
     [1.0, 1.0, -1.0, 1.0, -1.0], {"rho": 0.0, "epsilon": 0.0, "lr": 0.25, "clip_weights": 0.0}),
    ("float32-plain-subnormal-grad", "float32", False, [0.0], [2.0 ** -140],
     {"rho": 0.0, "epsilon": 1.0, "lr": 1.0}),
]


@pytest.mark.parametrize("dtype,centered,weight,grad,over", [c[1:] for c in NAMED],
                         ids=[c[0] for c in NAMED])
def test_named_edge_cases(dtype, centered, weight, grad, over):
    hp = dict(SPECIAL_HP["defaults"], centered=centered, **over)
    weight, grad = np.array(weight, dtype=dtype), np.array(grad, dtype=dtype)
    state = zero_state(weight.shape, dtype, centered)
    label = f"{dtype}-{'centered' if centered else 'plain'} named case"
    _, problems = compare(label, weight, grad, state, hp)
    assert not problems, "\n".join(problems)


def test_fingerprint_is_mxnet1_keeping_denormals(tmp_path):
    """MXNet 1.9.1 does not flush (MXNet 2 does, from import): its fingerprint says so."""
    from tests.adapter_checks import fingerprint_is

    fingerprint_is("mxnet", "mxnet1", tmp_path, flushes=False)


@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
def test_the_operators_refuse_bfloat16(centered):
    """MXNet 1.9.1 builds a bfloat16 NDArray, but neither RMSProp operator takes one; so the
    dialect mxnet1 has no bfloat16 kernel, and neither has the oracle."""
    mxnet_refuses_bfloat16(mx, centered, ("mxnet1",), gamma2=0.9)  # (n, g, delta)
