"""rmsprop.port.step: the kernel-level port signature of SPEC.md section 3."""
import numpy as np
import pytest
from hypothesis import given

import rmsprop
from rmsprop.port import step
from tests import rmsprop_strategies as rs
from tests.rmsprop_engines import engine  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("engine")


@given(case=rs.cases())
def test_port_equals_in_place_kernel_and_leaves_inputs_alone(case):
    weight, grad, state, hp = case
    before = [weight.copy(), grad.copy()] + [state[k].copy() for k in sorted(state)]
    new_w, new_state = step(weight, grad, state, hp)
    after = [weight, grad] + [state[k] for k in sorted(state)]
    for a, b in zip(before, after):
        assert np.array_equal(a, b, equal_nan=True)
    assert set(new_state) == set(state)
    assert new_w.dtype == weight.dtype and new_w.shape == weight.shape
    assert all(new_state[k].dtype == weight.dtype for k in new_state)
    # same update in place through the operator function
    w, st = weight.copy(), {k: v.copy() for k, v in state.items()}
    kw = {k: hp[k] for k in ("lr", "rho", "epsilon", "wd", "rescale_grad",
                             "clip_gradient", "clip_weights")}
    if hp["centered"]:
        rmsprop.rmspropalex_update(w, grad, st["mean"], st["var"], st["mom"],
                                   momentum=hp["momentum"], **kw)
    else:
        rmsprop.rmsprop_update(w, grad, st["var"], **kw)
    bits = lambda a: a.view(np.dtype(f"u{a.itemsize}"))  # noqa: E731
    assert np.array_equal(bits(w), bits(new_w))
    for k in st:
        assert np.array_equal(bits(st[k]), bits(new_state[k]))


def test_port_validation():
    w, g = np.ones(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(ValueError, match="lr"):
        step(w, g, {"var": np.zeros(3, np.float32)}, {})
    with pytest.raises(ValueError, match="state"):
        step(w, g, {"var": np.zeros(3, np.float32)}, {"lr": 0.1, "centered": True})
    with pytest.raises(TypeError, match="centered"):
        step(w, g, {"var": np.zeros(3, np.float32)}, {"lr": 0.1, "centered": "yes"})
    with pytest.raises(TypeError, match="hp"):
        step(w, g, {"var": np.zeros(3, np.float32)}, [("lr", 0.1)])
    with pytest.raises(ValueError, match="grad"):
        step(w, g[:2], {"var": np.zeros(3, np.float32)}, {"lr": 0.1})
    new_w, st = step(w, g, {"var": np.zeros(3, np.float32)}, {"lr": 0.1, "extra": 1})
    assert (new_w < 1).all() and (w == 1).all()
