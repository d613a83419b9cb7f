"""The ``paddle`` dialect's float32 root: Eigen's fast packet sqrt (``ops.fast_sqrt``).

Checked against an independent NumPy emulation of the algorithm (a * x1, one Newton step
from an rsqrt estimate at the edges of its documented error), and for its special values.
"""
import numpy as np

import oracle
from oracle.propagate import FAST_SQRT_REL

F = np.float32
HP = dict(lr=0.5, rho=1.0, momentum=0.0, epsilon=0.0, centered=False)  # rho = 1: mom = lr*g/sqrt(var)


def _eigen_fast_sqrt(a, rel):
    """Eigen 3.4's psqrt with EIGEN_FAST_MATH in float32, from an estimate x0 = rsqrt(a) * (1 + rel)."""
    x0 = (1 / np.sqrt(a.astype(np.float64)) * (1 + rel)).astype(F)
    x1 = x0 * (F(1.5) - (a * F(0.5)) * (x0 * x0))
    return a * x1


def _case(var):
    n = var.size
    return np.zeros(n, F), np.ones(n, F), {"var": var, "mom": np.zeros(n, F)}


def test_the_emulated_fast_root_is_faithful_to_paddle_and_not_to_a_correctly_rounded_root():
    rng = np.random.default_rng(11)
    var = (2.0 ** rng.uniform(-120, 120, 2000)).astype(F)
    w, g, st = _case(var)
    paddle = oracle.evaluate(w, g, st, HP, "paddle")
    exact_root = oracle.evaluate(w, g, st, HP, "tensorflow")  # the same exact math in float32, correct roots
    assert (paddle.outputs["mom"] == exact_root.outputs["mom"]).all()
    for edge in (1.5 * 2.0 ** -12, -1.5 * 2.0 ** -12):
        with np.errstate(all="ignore"):
            mom = F(0.5) * g / _eigen_fast_sqrt(var, edge)
        actual = {"weight": w - mom, "var": var, "mom": mom}
        assert all(ok.all() for ok in paddle.check(actual).values())
        assert not exact_root.check(actual)["mom"].all()  # the wider bound is needed


def test_special_radicands():
    """sqrt(+inf) = inf * rsqrt(inf) = NaN; a subnormal or zero radicand is masked to +0 (g/0)."""
    tiny = float(np.finfo(F).tiny)
    var = np.array([np.inf, tiny / 2, 0.0, tiny, 4.0], F)
    mom = oracle.evaluate(*_case(var), HP, "paddle").outputs["mom"]
    assert np.isnan(mom[0]) and mom[1:3].tolist() == [np.inf, np.inf] and mom[4] == 0.25
    assert mom[3] == F(0.5) / np.sqrt(F(tiny))
    f64 = oracle.evaluate(*(a.astype(np.float64) if not isinstance(a, dict) else
                            {k: v.astype(np.float64) for k, v in a.items()} for a in _case(var)), HP, "paddle")
    assert f64.outputs["mom"][0] == 0 and f64.outputs["mom"][1] != np.inf  # float64 roots are correct


def test_the_bound_is_the_newton_step_and_its_roundings():
    e, u = 1.5 * 2.0 ** -12, 2.0 ** -24
    assert FAST_SQRT_REL == 1.5 * e ** 2 + 0.5 * e ** 3 + 7 * u
    assert 2 * u < FAST_SQRT_REL < 2.0 ** -20  # wider than correct rounding, far from a bare estimate
