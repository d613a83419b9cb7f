"""The production port judged by the oracle (dialect mxnet2), and a negative control.

Only ``ev.check`` decides: ``oracle.evaluate(weight, grad, state, hp,
dialect="mxnet2").check({"weight": ..., "var": ..., ...})`` returns, per output,
a boolean array that is True where the value is faithful.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from rmsprop.port import step as production_step
from tests import rmsprop_strategies as rs
from tests.rmsprop_engines import engine  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("engine")


oracle = pytest.importorskip("oracle")
if not hasattr(oracle, "evaluate"):
    pytest.skip("oracle.evaluate is not available yet", allow_module_level=True)


def judge(port, case):
    """Run ``port`` on ``case`` and assert that the oracle accepts every output."""
    weight, grad, state, hp = case
    ev = oracle.evaluate(weight, grad, state, hp, dialect="mxnet2")
    new_w, new_state = port(weight.copy(), grad.copy(),
                            {k: v.copy() for k, v in state.items()}, dict(hp))
    actual = dict(new_state, weight=new_w)
    verdict = ev.check(actual)
    assert set(verdict) >= {"weight", "var"}
    for name, ok in verdict.items():
        ok = np.asarray(ok, bool)
        assert ok.all(), (f"{name} not faithful at {np.flatnonzero(~ok.ravel())}: "
                          f"got {actual[name].ravel()[~ok.ravel()]}, "
                          f"expected {np.asarray(ev.outputs[name]).ravel()[~ok.ravel()]}")


@pytest.mark.parametrize("family", rs.FAMILIES)
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("dtype", rs.DTYPES, ids=lambda d: np.dtype(d).name)
def test_production_port_is_faithful(family, centered, dtype):
    @given(case=rs.cases(family=family, centered=centered, dtype=dtype))
    def prop(case):
        judge(production_step, case)
    prop()


@np.errstate(all="ignore")
def epsilon_inside_root(weight, grad, state, hp):
    """A deliberately wrong non-centered port: ``w - lr*g/sqrt(var + eps)`` (the mxnet1
    placement of epsilon), otherwise the mxnet2 rule computed in float64."""
    t = weight.dtype.type
    r = lambda k: float(t(np.float32(hp[k])))  # noqa: E731
    w, g = weight.astype(np.float64), grad.astype(np.float64)
    gp = r("rescale_grad") * g + r("wd") * w
    omr = float(t(1) - t(r("rho")))
    var = (omr * gp * gp + r("rho") * state["var"].astype(np.float64)).astype(weight.dtype)
    new_w = w - r("lr") * gp / np.sqrt(var.astype(np.float64) + r("epsilon"))
    return new_w.astype(weight.dtype), {"var": var}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_property_detects_epsilon_inside_the_root(dtype):
    @settings(database=None, suppress_health_check=list(HealthCheck))
    @given(case=rs.cases(family="epsilon", centered=False, dtype=dtype))
    def prop(case):
        judge(epsilon_inside_root, case)
    with pytest.raises(AssertionError, match="not faithful"):
        prop()
