"""The built-in ``tensorflow`` and ``keras-tf`` ports on TensorFlow 2 eager, CPU; ``tox -e tensorflow``.

Besides the port checks: what decided the ``tensorflow`` dialect, measured on the real ops
(flushing, the float16 hyperparameter conversion, no fused multiply-add), and the oracle
against the raw ops over several seeds and every special-value pairing, flushed (TF has
no switch to keep subnormals).
"""
import os

import numpy as np
import pytest

import oracle
from oracle.formats import FORMATS
from tests.adapter_checks import (caught_against, fingerprint_is, keeps_bfloat16, one_step, passes_in_bfloat16,
                                  passes_its_dialect)
from tests.differential import generated_problems, outputs_of, special_grid, unfaithful

pytestmark = pytest.mark.tensorflow

SEEDS = range(4)


@pytest.fixture(scope="module")
def tf():
    pytest.importorskip("tensorflow", reason="tensorflow is not installed (tox -e tensorflow)")
    from conformance.adapters_tensorflow import import_tensorflow

    return import_tensorflow()


@pytest.fixture
def tf_step(tf):
    from conformance.adapters_tensorflow import tensorflow_step

    return tensorflow_step


@pytest.fixture
def keras_tf_step(tf):
    from conformance.adapters_tensorflow import import_keras_tf, keras_tf_step

    try:
        import_keras_tf()
    except ImportError as exc:
        pytest.skip(f"Keras 3 on the TensorFlow backend does not import: {exc} (tox -e tensorflow)")
    return keras_tf_step


# -- the raw training ops ------------------------------------------------------------------
def test_tensorflow_passes_its_dialect(tf_step, tmp_path):
    passes_its_dialect("tensorflow", "tensorflow", tmp_path)


def test_tensorflow_fingerprint_is_tensorflow(tf_step, tmp_path):
    fp = fingerprint_is("tensorflow", "tensorflow", tmp_path, flushes=True)
    assert fp["dialects"]["paddle"]["plain"] == "departs"  # float64: Paddle's float32 attributes


def test_tensorflow_is_caught_against_another_dialect(tf_step, tmp_path, capsys):
    caught_against("tensorflow", "epsilon/torch/float32/plain/eps0.001", "epsilon", tmp_path, capsys)


@pytest.mark.parametrize("name,value", [("wd", 0.1), ("rescale_grad", 0.5), ("clip_gradient", 0.0),
                                        ("clip_weights", 1.0)])
def test_tensorflow_refuses_what_the_raw_ops_cannot_express(tf_step, name, value):
    with pytest.raises(ValueError, match=f"tf.raw_ops.ApplyRMSProp has no '{name}'"):
        one_step(tf_step, momentum=0.5, **{name: value})
    one_step(tf_step, momentum=0.5, **({name: -1.0} if name.startswith("clip") else {}))  # off: accepted


def test_tensorflow_needs_the_momentum_buffer(tf_step):
    with pytest.raises(ValueError, match="always keeps a momentum buffer"):
        one_step(tf_step, momentum=0.0)  # the state one_step builds has no 'mom' then


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_tensorflow_keeps_the_dtype(tf_step, dtype):
    w, st = one_step(tf_step, dtype, centered=True, momentum=0.9)
    assert {k: v.dtype for k, v in dict(st, weight=w).items()} == dict.fromkeys(("weight", "var", "mean", "mom"),
                                                                               np.dtype(dtype))


def test_tensorflow_passes_in_bfloat16(tf_step, tmp_path):
    passes_in_bfloat16("tensorflow", "tensorflow", tmp_path)


def test_tensorflow_keeps_bfloat16(tf_step):
    keeps_bfloat16(tf_step, centered=True, momentum=0.9)


# -- what decided the dialect ----------------------------------------------------------------
@pytest.mark.parametrize("dtype,flushes", [("float32", True), ("float64", True), ("float16", False)])
@pytest.mark.parametrize("n", [1, 100000])
def test_eager_ops_flush_denormals_in_float32_and_float64(tf, dtype, flushes, n):
    """A subnormal operand (DAZ) and a subnormal product (FTZ) of one eager multiply, on one
    element (the calling thread) and on many (TF's intra-op threads); float16 keeps both."""
    tiny = float(np.finfo(dtype).tiny)
    operand = tf.multiply(np.full(n, tiny / 4, dtype), np.ones(n, dtype)).numpy()
    product = tf.multiply(np.full(n, tiny, dtype), np.full(n, 0.25, dtype)).numpy()
    kept = np.full(n, tiny / 4, dtype)  # both, computed exactly with subnormals kept
    assert ((operand == 0).all(), (product == 0).all()) == (flushes, flushes)
    if not flushes:
        assert (operand == kept).all() and (product == kept).all()
    assert np.float32(np.finfo(np.float32).tiny) * np.float32(0.25) != 0  # the caller's MXCSR is left alone


def test_rmsprop_op_flushes_a_subnormal_weight(tf_step):
    sub = float(np.finfo(np.float32).tiny) / 4
    hp = dict(lr=0.5, rho=0.5, momentum=0.5, epsilon=1e-8, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
              clip_weights=-1.0, centered=False)
    state = {"var": np.ones(2, np.float32), "mom": np.zeros(2, np.float32)}
    w, _ = tf_step(np.array([sub, -sub], np.float32), np.zeros(2, np.float32), state, hp)
    assert w.tolist() == [0.0, 0.0] and np.signbit(w).tolist() == [False, True]  # w - 0, w read as ±0


def test_float16_hyperparameters_pass_through_float32(tf_step):
    """lr = 1 + 2**-11 + 2**-40 rounds to half 1.0009765625 directly, but to 1.0 through float32."""
    lr = 1 + 2.0 ** -11 + 2.0 ** -40
    direct, via32 = float(np.float16(lr)), float(np.float16(np.float32(lr)))
    assert direct != via32
    hp = dict(lr=lr, rho=0.0, momentum=0.0, epsilon=0.0, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
              clip_weights=-1.0, centered=False)
    one = np.ones(1, np.float16)
    w, _ = tf_step(one * 4, one, {"var": one * 0, "mom": one * 0}, hp)  # ms = 1: w = 4 - lr
    assert float(w[0]) == 4 - via32
    assert oracle.DIALECTS["tensorflow"].hyper(oracle.normalize_hp(hp), FORMATS["float16"])["lr"] == via32


def test_no_fused_multiply_add(tf_step):
    """mom = mom*momentum + g*lr/sqrt(ms + eps), each operation rounded: float32 elements where
    fma(mom, momentum, q) rounds differently from RN(RN(mom*momentum) + q) take the unfused value."""
    rng = np.random.default_rng(7)
    n = 512
    f = np.float32
    w, g = rng.normal(size=n).astype(f), rng.normal(size=n).astype(f)
    ms, mom = rng.random(n).astype(f), (rng.normal(size=n) * 0.01).astype(f)
    hp = dict(lr=0.1234567, rho=0.95, momentum=0.9, epsilon=1e-7, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
              clip_weights=-1.0, centered=False)
    _, st = tf_step(w, g, {"var": ms.copy(), "mom": mom.copy()}, hp)
    lr, momentum, eps, omr = f(hp["lr"]), f(hp["momentum"]), f(hp["epsilon"]), f(1) - f(hp["rho"])
    ms2 = ms + (g * g - ms) * omr
    q = (g * lr) / np.sqrt(ms2 + eps)
    unfused = mom * momentum + q
    fused = (mom.astype(np.float64) * momentum + q).astype(f)  # the product exact in binary64
    differs = unfused != fused
    assert differs.sum() > 10 and (st["var"] == ms2).all()
    assert (st["mom"] == unfused).all()


# -- the oracle against the raw ops --------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_oracle_against_the_raw_ops_on_generated_cases(tf_step, seed):
    problems = generated_problems("tensorflow", outputs_of(tf_step), seed, 150, flush=True)
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_oracle_against_the_raw_ops_on_special_value_pairings(tf_step, dtype, centered):
    w, g, state = special_grid(dtype, ("mean", "var", "mom") if centered else ("var", "mom"))
    hp = oracle.normalize_hp(dict(lr=0.5, rho=0.5, momentum=0.5, epsilon=1e-6, centered=centered))
    ev = oracle.evaluate(w, g, state, hp, "tensorflow", flush_denormals=True)
    actual = outputs_of(tf_step)(w, g, state, hp)
    problems = unfaithful(f"{dtype}-specials", ev, actual, dict(weight=w, grad=g, **state), "tensorflow")
    assert not problems, "\n".join(problems[:40])
    if dtype != "float16":  # the IEEE verdict refuses what TF computes on subnormals
        assert unfaithful("", oracle.evaluate(w, g, state, hp, "tensorflow", flush_denormals=False), actual,
                          dict(weight=w, grad=g, **state))


# -- Keras 3 on the TensorFlow backend -----------------------------------------------------
def test_keras_tf_passes_its_dialect(keras_tf_step, tmp_path):
    passes_its_dialect("keras-tf", "keras-tf", tmp_path)


def test_keras_tf_fingerprint_is_keras_tf(keras_tf_step, tmp_path):
    fp = fingerprint_is("keras-tf", "keras-tf", tmp_path, flushes=True)
    # the JAX backend's Keras differs only where tf.cast rounds float64 weight decay to float32
    assert [f for f, v in fp["dialects"]["keras"].items() if v != "match"] == ["weight-decay"]


def test_keras_tf_rounds_float64_weight_decay_to_float32(keras_tf_step):
    hp = dict(lr=1.0, rho=0.0, momentum=0.0, epsilon=1.0, wd=0.1, rescale_grad=1.0, clip_gradient=-1.0,
              clip_weights=-1.0, centered=False)
    w, _ = keras_tf_step(np.ones(1), np.zeros(1), {"var": np.zeros(1)}, hp)  # decay only: w = 1 - 1*wd*lr
    assert w[0] == 1 - float(np.float32(0.1)) != 1 - 0.1


def test_keras_tf_passes_in_bfloat16(keras_tf_step, tmp_path):
    passes_in_bfloat16("keras-tf", "keras-tf", tmp_path)


def test_keras_tf_keeps_bfloat16(keras_tf_step):
    keeps_bfloat16(keras_tf_step, centered=True, momentum=0.9, wd=0.1, clip_gradient=0.5)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_oracle_against_keras_tf_on_generated_cases(keras_tf_step, seed):
    problems = generated_problems("keras-tf", outputs_of(keras_tf_step), seed, 100, flush=True)
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize("hp,message", [
    (dict(rescale_grad=0.5), "has no 'rescale_grad'"),
    (dict(clip_weights=0.0), "has no 'clip_weights'"),
    (dict(momentum=-0.5), "no negative 'momentum'"),
])
def test_keras_tf_refuses_what_keras_rmsprop_cannot_express(keras_tf_step, hp, message):
    with pytest.raises(ValueError, match=message):
        one_step(keras_tf_step, **hp)


def test_keras_tf_on_another_backend_is_a_target_that_does_not_import(keras_tf_step):
    import subprocess
    import sys

    env = dict(os.environ, KERAS_BACKEND="jax")
    r = subprocess.run([sys.executable, "-m", "conformance.cli", "check", "keras-tf"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "KERAS_BACKEND=jax" in r.stderr and "TensorFlow backend" in r.stderr
