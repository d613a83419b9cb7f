"""The oracle's ``mxnet2`` dialect against the real MXNet 2.0.0b1 operators (CPU), in both
denormal modes.

Only runs where MXNet 2 imports (``tox -e mxnet2``).  Every element MXNet produces must be
faithful under ``oracle.evaluate(..., flush_denormals=mode)`` with MXNet's flushing set to
the same mode (``mxnet.util.set_flush_denorms``), and unfaithful-by-design the other way
on the ``denormals`` fixtures.  Cases: the hypothesis-generated kernel cases of ``check``
(every edge-case family, every dtype) at many seeds, and every special-value pairing.
"""
import numpy as np
import pytest

from tests.mxnet2_helpers import mx, flushing, run_real  # noqa: F401  (skips without MXNet 2)

import oracle  # noqa: E402
from conformance.corpus import kernel_arrays, load  # noqa: E402
from conformance.generated import sampled_specs  # noqa: E402
from conformance.verify import default_fixture_dir  # noqa: E402
from tests.differential import mxnet_refuses_bfloat16, special_grid, specials, unfaithful  # noqa: E402

pytestmark = pytest.mark.mxnet2

MODES = {"flush": True, "keep": False}
SEEDS = range(6)


def _compare(label, spec, flush):
    inp = spec["inputs"]
    state = {k: v for k, v in inp.items() if k not in ("weight", "grad")}
    ev = oracle.evaluate(inp["weight"], inp["grad"], state, spec["hp"], "mxnet2", flush_denormals=flush)
    with flushing(flush):
        actual = run_real(inp["weight"], inp["grad"], state, oracle.normalize_hp(spec["hp"]))
    return unfaithful(label, ev, actual, inp, "mxnet")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", SEEDS)
def test_generated_cases(seed, mode):
    """check's generated cases (250 per seed: every family, dtype, special value) agree."""
    problems = []
    for spec in sampled_specs("mxnet2", seed, 250):
        problems += _compare(spec["id"], spec, MODES[mode])
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize("mode", MODES)
def test_fixture_cases(mode):
    """Every mxnet2 kernel fixture agrees in its mode; the denormals ones fail the other mode."""
    flush = MODES[mode]
    problems, other_fails = [], set()
    for _p, _n, case in load(default_fixture_dir()):
        if case["level"] != "kernel" or case["dialect"] != "mxnet2":
            continue
        inputs, verdicts = kernel_arrays(case, flush)
        state = {k: v for k, v in inputs.items() if k not in ("weight", "grad")}
        hp = {k: (v if k == "centered" else float.fromhex(v["hex"])) for k, v in case["hp"].items()}
        with flushing(flush):
            actual = run_real(inputs["weight"], inputs["grad"], state, hp)
        ev = oracle.Evaluation("mxnet2", inputs["weight"].dtype, {k: v[0] for k, v in verdicts.items()},
                               {k: v[1] for k, v in verdicts.items()}, {k: v[2] for k, v in verdicts.items()})
        problems += unfaithful(case["id"], ev, actual, inputs, "mxnet")
        _, other = kernel_arrays(case, not flush)
        ev_other = oracle.Evaluation("mxnet2", inputs["weight"].dtype, {k: v[0] for k, v in other.items()},
                                     {k: v[1] for k, v in other.items()}, {k: v[2] for k, v in other.items()})
        if unfaithful(case["id"], ev_other, actual, inputs, "mxnet"):
            other_fails.add(case["id"])
    assert not problems, "\n".join(problems[:40])
    assert {c for c in other_fails if c.startswith("denormals/")} == {
        f"denormals/mxnet2/{dt}/{v}" for dt in ("float32", "float64") for v in ("plain", "centered")}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_special_value_pairings(dtype, centered, mode):
    """Every pairing of ±0, ±inf, NaN, subnormals, ±tiny, ±max for weight x gradient x var."""
    hp = dict(lr=0.5, rho=0.5, momentum=0.5, epsilon=1e-6, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
              clip_weights=-1.0, centered=centered)
    w, g, state = special_grid(dtype, ("mean", "var", "mom") if centered else ("var",))
    spec = {"inputs": dict(weight=w, grad=g, **state), "hp": hp}
    problems = _compare(f"{dtype}-specials", spec, MODES[mode])
    assert not problems, "\n".join(problems[:40])


def test_float16_ignores_flushing():
    """MXNet 2's float16 kernels give the same bits with flushing on and off (subnormal halves kept)."""
    sv = specials("float16")
    w, g = (a.reshape(-1).copy() for a in np.meshgrid(sv, sv, indexing="ij"))
    for centered in (False, True):
        hp = oracle.normalize_hp(dict(lr=0.5, rho=0.5, momentum=0.5, epsilon=1e-3, centered=centered))
        state = {k: np.full_like(w, 2.0 ** -20) for k in (("mean", "var", "mom") if centered else ("var",))}
        runs = []
        for flush in (True, False):
            with flushing(flush):
                runs.append(run_real(w, g, state, hp))
        for name in runs[0]:
            assert runs[0][name].tobytes() == runs[1][name].tobytes(), name


@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
def test_the_operators_refuse_bfloat16(centered):
    """MXNet 2 builds a bfloat16 NDArray, but neither RMSProp operator takes one; so the
    dialects mxnet2 and mxnet2-step have no bfloat16 kernel, and neither has the oracle."""
    mxnet_refuses_bfloat16(mx, centered, ("mxnet2", "mxnet2-step"), momentum=0.9)  # (mean, var, mom)
