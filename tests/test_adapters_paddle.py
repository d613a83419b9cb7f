"""The built-in ``paddle`` port (``paddle.optimizer.RMSProp``, dynamic graph, CPU); ``tox -e paddle``.

Besides the port checks: what decided the ``paddle`` dialect, measured on the real kernel
(the float32 fast square root and its packet/tail split, float32 attributes, subnormals
kept), and the oracle against Paddle over several seeds and every special-value pairing,
in both denormal modes (flushed: FTZ/DAZ set around each call, ``tests/ports/paddle_flushing.py``).
"""
import json

import numpy as np
import pytest

import oracle
from conformance.cli import main
from tests.adapter_checks import caught_against, dialect_fixtures, fingerprint_is, one_step, passes_its_dialect
from tests.differential import generated_problems, outputs_of, special_grid, unfaithful

pytestmark = pytest.mark.paddle

SEEDS = range(4)
MODES = {"keep": False, "flush": True}
HP = dict(lr=1.0, rho=1.0, momentum=0.0, epsilon=0.0, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
          clip_weights=-1.0, centered=False)  # rho = 1: ms = var, so mom = g*lr/sqrt(var)


@pytest.fixture(scope="module")
def paddle():
    pytest.importorskip("paddle", reason="paddlepaddle is not installed (tox -e paddle)")
    from conformance.adapters_paddle import import_paddle

    return import_paddle()


@pytest.fixture
def paddle_step(paddle):
    from conformance.adapters_paddle import paddle_step

    return paddle_step


@pytest.fixture
def flushing_step(paddle):
    from tests.ports import paddle_flushing

    if not paddle_flushing.usable():
        pytest.skip("setting MXCSR needs x86-64 with glibc's libm")
    return paddle_flushing


def unpadded_mom(paddle, var):
    """mom = 1/sqrt(var) from paddle.optimizer.RMSProp on the tensor as it is (no padding)."""
    p = paddle.create_parameter(shape=[var.size], dtype=var.dtype.name,
                                default_initializer=paddle.nn.initializer.Assign(np.zeros_like(var)))
    opt = paddle.optimizer.RMSProp(learning_rate=1.0, rho=1.0, epsilon=0.0, momentum=0.0, parameters=[p])
    opt._create_accumulators(paddle.static.default_main_program().global_block(), [p])
    opt._get_accumulator_master(opt._mean_square_acc_str, p).set_value(var)
    p.grad = paddle.to_tensor(np.ones_like(var))
    opt.step()
    return opt._get_accumulator_master(opt._momentum_acc_str, p).numpy()


# -- the port ----------------------------------------------------------------------------
def test_paddle_passes_its_dialect(paddle_step, tmp_path):
    report = passes_its_dialect("paddle", "paddle", tmp_path)
    assert {c["dtype"] for c in report["cases"]} == {"float32", "float64"}  # no float16 kernel on CPU


def test_paddle_fingerprint_is_paddle(paddle_step, tmp_path):
    fp = fingerprint_is("paddle", "paddle", tmp_path, flushes=False)
    assert fp["dialects"]["paddle"]["clip-zero"] == "n/a"  # ClipGradByValue refuses max=0


def test_paddle_is_caught_against_another_dialect(paddle_step, tmp_path, capsys):
    caught_against("paddle", "epsilon/torch/float32/plain/eps0.001", "epsilon", tmp_path, capsys)


@pytest.mark.parametrize("hp,message", [
    (dict(rescale_grad=0.5), "has no 'rescale_grad'"),
    (dict(clip_weights=1.0), "has no 'clip_weights'"),
    (dict(clip_gradient=0.0), "ClipGradByValue has no 'clip_gradient' 0"),
    (dict(momentum=-0.5), "no negative 'momentum'"),
])
def test_paddle_refuses_what_paddle_rmsprop_cannot_express(paddle_step, hp, message):
    with pytest.raises(ValueError, match=message):
        one_step(paddle_step, **dict(hp, momentum=hp.get("momentum", 0.5)))


def test_paddle_refuses_float16(paddle_step):
    with pytest.raises(ValueError, match="has no float16 on CPU"):
        one_step(paddle_step, "float16", momentum=0.5)
    with pytest.raises(ValueError, match="no float16 kernel"):
        oracle.evaluate(*_one("float16"), HP, "paddle")


def test_paddle_refuses_bfloat16(paddle):
    """Paddle builds a bfloat16 parameter and gradient, but its CPU rmsprop kernel has no
    bfloat16: so the dialect has none, and neither has the oracle."""
    import ml_dtypes

    p = paddle.create_parameter([3], dtype="bfloat16", default_initializer=paddle.nn.initializer.Constant(1.0))
    opt = paddle.optimizer.RMSProp(learning_rate=0.01, parameters=[p], centered=True, momentum=0.9)
    (p.astype("float32") * paddle.to_tensor([0.3, 0.1, -0.7])).sum().backward()
    assert (p.dtype, p.grad.dtype) == (paddle.bfloat16, paddle.bfloat16)
    with pytest.raises(RuntimeError, match=r"\(CPU, Undefined\(AnyLayout\), bfloat16\) of kernel `rmsprop` is not "
                                           "registered"):
        opt.step()
    assert "bfloat16" not in oracle.DIALECTS["paddle"].dtypes
    with pytest.raises(ValueError, match="no bfloat16 kernel"):
        oracle.evaluate(*_one(ml_dtypes.bfloat16), HP, "paddle")


def _one(dtype):
    one = np.ones(1, dtype)
    return one, one, {"var": one, "mom": one}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_paddle_keeps_the_dtype_and_the_shape(paddle_step, dtype):
    w, st = one_step(paddle_step, dtype, centered=True, momentum=0.9, wd=0.1, clip_gradient=0.5)
    assert {k: (v.dtype, v.shape) for k, v in dict(st, weight=w).items()} == dict.fromkeys(
        ("weight", "var", "mean", "mom"), (np.dtype(dtype), (3,)))


# -- what decided the dialect ------------------------------------------------------------
def test_float32_roots_are_eigens_fast_packet_sqrt(paddle):
    """On full 8-wide packets 1/sqrt(var) is off by more than two correct roundings allow, and
    sqrt(inf) = NaN, sqrt(subnormal) = 0; the scalar tail (the last n mod 8) is correct."""
    f = np.float32
    tiny = float(np.finfo(f).tiny)
    var = np.array([np.inf, tiny / 2, 4.0, 2.0, 3.0, 5.0, 7.0, 11.0], f)
    packet, tail = unpadded_mom(paddle, var), unpadded_mom(paddle, var[:7])
    correct = (f(1) / np.sqrt(var)).tolist()
    assert np.isnan(packet[0]) and packet[1] == np.inf and tail[:2].tolist() == correct[:2]
    rng = np.random.default_rng(5)
    var = (2.0 ** rng.uniform(-60, 60, 4096)).astype(f)
    rel = np.abs(unpadded_mom(paddle, var).astype(np.float64) * np.sqrt(var.astype(np.float64)) - 1)
    two_roundings = 2 * 2.0 ** -24 + 2.0 ** -48
    assert two_roundings < rel.max() <= oracle.propagate.FAST_SQRT_REL + 2.0 ** -24


def test_float64_roots_are_correctly_rounded(paddle):
    var = (2.0 ** np.random.default_rng(6).uniform(-900, 900, 4096))
    assert (unpadded_mom(paddle, var) == 1 / np.sqrt(var)).all()


def test_float32_attributes_round_epsilon_rho_and_momentum(paddle_step):
    """float64: epsilon = 0.1 reaches the kernel as float32(0.1); lr (a float64 tensor) does not."""
    one = np.ones(1)
    hp = dict(HP, lr=0.1, rho=0.0, epsilon=0.1)
    w, _ = paddle_step(one * 2, one, {"var": one * 0, "mom": one * 0}, hp)  # ms = 1: w = 2 - lr/sqrt(1 + eps)
    assert w[0] == 2 - 0.1 / np.sqrt(1 + float(np.float32(0.1))) != 2 - 0.1 / np.sqrt(1.1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_paddle_keeps_subnormals(paddle_step, dtype):
    sub, tiny = float(np.finfo(dtype).tiny) / 4, float(np.finfo(dtype).tiny)
    hp = dict(HP, lr=0.5, rho=0.5, momentum=0.5, epsilon=1e-8)
    w, _ = paddle_step(np.array([sub, 0.0] + [0.0] * 14, dtype), np.array([0.0, tiny] + [0.0] * 14, dtype),
                       {"var": np.ones(16, dtype), "mom": np.zeros(16, dtype)}, hp)
    assert w[0] == sub and w[1] != 0 and abs(w[1]) < tiny  # a subnormal weight and a subnormal step


# -- the oracle against Paddle ---------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", SEEDS)
def test_oracle_against_paddle_on_generated_cases(paddle_step, flushing_step, seed, mode):
    step = flushing_step.step if MODES[mode] else paddle_step
    problems = generated_problems("paddle", outputs_of(step), seed, 120, flush=MODES[mode])
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_oracle_against_paddle_on_special_value_pairings(paddle_step, flushing_step, dtype, centered, mode):
    flush = MODES[mode]
    w, g, state = special_grid(dtype, ("mean", "var", "mom") if centered else ("var", "mom"))
    hp = oracle.normalize_hp(dict(lr=0.5, rho=0.5, momentum=0.5, epsilon=1e-6, wd=0.01, clip_gradient=100.0,
                                  centered=centered))
    actual = outputs_of(flushing_step.step if flush else paddle_step)(w, g, state, hp)
    inputs = dict(weight=w, grad=g, **state)
    problems = unfaithful(f"{dtype}-specials", oracle.evaluate(w, g, state, hp, "paddle", flush_denormals=flush),
                          actual, inputs, "paddle")
    assert not problems, "\n".join(problems[:40])
    assert unfaithful("", oracle.evaluate(w, g, state, hp, "paddle", flush_denormals=not flush), actual, inputs)


def test_flushing_wrapper_passes_flushed_and_fails_kept(flushing_step, tmp_path):
    """check of the MXCSR wrapper: exit 0 judged flushed; kept, the denormals fixtures fail."""
    target = "tests.ports.paddle_flushing:step"
    args = ["check", target, "--dialect", "paddle", "--level", "kernel", "--samples", "4",
            "--fixtures", dialect_fixtures(tmp_path)]
    assert main(args + ["--flush-denormals"]) == 0
    assert main(args + ["--no-flush-denormals", "--json", str(tmp_path / "kept.json")]) == 1
    failed = {c["id"] for c in json.loads((tmp_path / "kept.json").read_text())["cases"] if not c["passed"]}
    assert {c for c in failed if c.startswith("denormals/")} == {
        f"denormals/paddle/{dt}/{v}" for dt in ("float32", "float64") for v in ("plain", "centered")}
