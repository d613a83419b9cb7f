"""The built-in ``optax`` and ``keras`` ports (conformance/adapters.py) run the real libraries
on JAX's CPU backend; ``tox -e optax`` / ``tox -e keras``.  Each module half skips, with the
reason, where its library is not installed."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.adapter_checks import (caught_against, fingerprint_is, keeps_bfloat16, one_step, passes_in_bfloat16,
                                  passes_its_dialect)

OTHER_CASE = "epsilon/torch/float32/plain/eps0.001"  # epsilon outside the root: both put it inside


@pytest.fixture
def optax_step():
    pytest.importorskip("optax", reason="optax is not installed (tox -e optax)")
    from conformance.adapters import optax_step

    return optax_step


@pytest.fixture
def keras_step():
    pytest.importorskip("jax", reason="jax is not installed (tox -e keras)")
    from conformance.adapters import import_keras, keras_step

    try:
        import_keras()  # KERAS_BACKEND=jax before the first import
    except ImportError as exc:
        pytest.skip(f"Keras 3 on the JAX backend does not import: {exc} (tox -e keras)")
    return keras_step


# -- optax -------------------------------------------------------------------------------------
@pytest.mark.optax
def test_optax_passes_its_dialect(optax_step, tmp_path):
    passes_its_dialect("optax", "optax", tmp_path)


@pytest.mark.optax
def test_optax_fingerprint_is_optax(optax_step, tmp_path):
    fp = fingerprint_is("optax", "optax", tmp_path, flushes=True)
    assert fp["dialects"]["keras"]["centered"] == "departs"  # lr inside vs outside the momentum trace


@pytest.mark.optax
def test_optax_is_caught_against_another_dialect(optax_step, tmp_path, capsys):
    caught_against("optax", OTHER_CASE, "epsilon", tmp_path, capsys)


@pytest.mark.optax
@pytest.mark.parametrize("name,value", [("wd", 0.1), ("rescale_grad", 0.5), ("clip_gradient", 0.0),
                                        ("clip_weights", 1.0)])
def test_optax_refuses_what_optax_rmsprop_cannot_express(optax_step, name, value):
    with pytest.raises(ValueError, match=f"optax.rmsprop has no '{name}'"):
        one_step(optax_step, **{name: value})
    one_step(optax_step, **({name: -1.0} if name.startswith("clip") else {}))  # off: accepted


@pytest.mark.optax
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_optax_keeps_the_dtype_and_leaves_jax_x64_as_it_was(optax_step, dtype):
    import jax

    before = jax.config.jax_enable_x64
    w, st = one_step(optax_step, dtype, centered=True, momentum=0.9)
    assert jax.config.jax_enable_x64 == before
    assert {k: v.dtype for k, v in dict(st, weight=w).items()} == dict.fromkeys(("weight", "var", "mean", "mom"),
                                                                               np.dtype(dtype))


@pytest.mark.optax
def test_optax_passes_in_bfloat16(optax_step, tmp_path):
    passes_in_bfloat16("optax", "optax", tmp_path)


@pytest.mark.optax
def test_optax_keeps_bfloat16(optax_step):
    keeps_bfloat16(optax_step, centered=True, momentum=0.9)


# -- keras -------------------------------------------------------------------------------------
@pytest.mark.keras
def test_keras_passes_its_dialect(keras_step, tmp_path):
    passes_its_dialect("keras", "keras", tmp_path)


@pytest.mark.keras
def test_keras_fingerprint_is_keras(keras_step, tmp_path):
    fp = fingerprint_is("keras", "keras", tmp_path, flushes=True)
    assert fp["dialects"]["mxnet2"]["clip-zero"] == "departs"  # clipvalue=0 is off in Keras


@pytest.mark.keras
def test_keras_is_caught_against_another_dialect(keras_step, tmp_path, capsys):
    caught_against("keras", OTHER_CASE, "epsilon", tmp_path, capsys)


@pytest.mark.keras
@pytest.mark.parametrize("hp,message", [
    (dict(rescale_grad=0.5), "has no 'rescale_grad'"),
    (dict(clip_weights=0.0), "has no 'clip_weights'"),
    (dict(momentum=-0.5), "no negative 'momentum'"),
])
def test_keras_refuses_what_keras_rmsprop_cannot_express(keras_step, hp, message):
    with pytest.raises(ValueError, match=message):
        one_step(keras_step, **hp)


@pytest.mark.keras
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_keras_keeps_the_dtype(keras_step, dtype):
    w, st = one_step(keras_step, dtype, centered=True, momentum=0.9, wd=0.1, clip_gradient=0.5)
    assert {k: v.dtype for k, v in dict(st, weight=w).items()} == dict.fromkeys(("weight", "var", "mean", "mom"),
                                                                               np.dtype(dtype))


@pytest.mark.keras
def test_keras_passes_in_bfloat16(keras_step, tmp_path):
    passes_in_bfloat16("keras", "keras", tmp_path)


@pytest.mark.keras
def test_keras_keeps_bfloat16(keras_step):
    keeps_bfloat16(keras_step, centered=True, momentum=0.9, wd=0.1, clip_gradient=0.5)


@pytest.mark.keras
def test_keras_on_another_backend_is_a_target_that_does_not_import(keras_step):
    env = dict(os.environ, KERAS_BACKEND="torch")
    r = subprocess.run([sys.executable, "-m", "conformance.cli", "check", "keras"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "KERAS_BACKEND=torch" in r.stderr and "JAX backend" in r.stderr
