"""The bound model admits faithful ports and rejects wrong ones.

The faithful ports below are independent NumPy transliterations of the mxnet2
rule computing in the storage dtype, in MXNet's order, in another association,
and in binary64 with one rounding per stored value (as a fused or wider kernel).
"""
import numpy as np
import pytest

import oracle

HP = dict(lr=0.01, rho=0.9, momentum=0.9, epsilon=1e-6, wd=0.001, rescale_grad=0.5,
          clip_gradient=-1.0, clip_weights=-1.0)


def inputs(dtype, centered, n=4000, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n).astype(dtype)
    g = (rng.standard_normal(n) * 3).astype(dtype)
    mean = (rng.standard_normal(n) * 0.3).astype(dtype)
    var = (mean.astype(np.float64) ** 2 + rng.random(n) + 0.01).astype(dtype)
    st = {"mean": mean, "var": var, "mom": (rng.standard_normal(n) * 0.01).astype(dtype)}
    return w, g, (st if centered else {"var": var})


def port(w, g, st, hp, dtype, order="kernel", eps_inside=False):
    """mxnet2 computed in ``dtype`` (binary64 then one rounding per store for order='wide')."""
    T = np.dtype(dtype).type
    C = np.float64 if order == "wide" else T
    h = {k: C(T(np.float32(hp[k]))) for k in HP}
    w, g = w.astype(C), g.astype(C)
    g = h["rescale_grad"] * g + h["wd"] * w
    one = C(1)
    if hp["centered"]:
        var = T((one - h["rho"]) * g * g + h["rho"] * st["var"].astype(C)).astype(C)
        mean = T((one - h["rho"]) * g + h["rho"] * st["mean"].astype(C)).astype(C)
        rad = var - mean * mean + h["epsilon"]
        step = (h["lr"] * g) / np.sqrt(rad) if order != "alt" else h["lr"] * (g / np.sqrt(rad))
        mom = T(h["momentum"] * st["mom"].astype(C) - step).astype(C)
        return {"mean": T(mean), "var": T(var), "mom": T(mom), "weight": T(w + mom)}
    sq = g * g if order != "alt" else None
    var = (one - h["rho"]) * sq if order != "alt" else ((one - h["rho"]) * g) * g
    var = T(var + h["rho"] * st["var"].astype(C)).astype(C)
    den = np.sqrt(var + h["epsilon"]) if eps_inside else np.sqrt(var) + h["epsilon"]
    step = h["lr"] * (g / den) if order != "alt" else (h["lr"] * g) / den
    return {"var": T(var), "weight": T(w - step)}


@pytest.mark.parametrize("order", ["kernel", "alt", "wide"])
@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_faithful_ports_are_within_the_bound(dtype, centered, order):
    w, g, st = inputs(dtype, centered)
    hp = {**HP, "centered": centered}
    ev = oracle.evaluate(w, g, st, hp, "mxnet2")
    with np.errstate(all="ignore"):
        got = port(w, g, st, hp, dtype, order)
    for name, ok in ev.check(got).items():
        bad = np.nonzero(~ok)[0][:5]
        assert ok.all(), (name, [(got[name][i], ev.outputs[name][i], ev.allowed[name][i]) for i in bad])
        assert not (ev.classes[name] == "ill").any()


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_epsilon_inside_the_root_is_caught(dtype):
    w, g, st = inputs(dtype, False)
    hp = {**HP, "centered": False, "epsilon": 0.1, "lr": 0.1}
    ev = oracle.evaluate(w, g, st, hp, "mxnet2")
    with np.errstate(all="ignore"):
        got = port(w, g, st, hp, dtype, eps_inside=True)
    assert ev.check(got)["var"].all()  # the state is unaffected
    assert (~ev.check(got)["weight"]).mean() > 0.5


def test_bound_is_a_few_ulps_on_ordinary_data():
    w, g, st = inputs("float32", True)
    ev = oracle.evaluate(w, g, st, {**HP, "centered": True}, "mxnet2")
    for name, out in ev.outputs.items():
        ulp = np.spacing(np.abs(out)).astype(np.float64)
        ratio = ev.allowed[name] / ulp
        assert 0.5 <= np.median(ratio) < 16, (name, np.median(ratio))


def test_vanishing_radicand_is_flagged_ill():
    # var = m², mean = m, g = m, rho = 0.5, eps = 0: the exact radicand is 0 (the oracle
    # gives an infinite step), but one rounding either way gives NaN or a finite step.
    m = np.array([0.3, 1.7, 123.0], dtype=np.float32)
    st = {"mean": m.copy(), "var": (m * m), "mom": np.zeros_like(m)}
    hp = {**HP, "rho": 0.5, "epsilon": 0.0, "wd": 0.0, "rescale_grad": 1.0, "centered": True}
    ev = oracle.evaluate(np.ones_like(m), m.copy(), st, hp, "mxnet2")
    assert (ev.classes["mom"] == "ill").all() and (ev.classes["weight"] == "ill").all()
    assert (ev.classes["var"] == "finite").all() and (ev.classes["mean"] == "finite").all()


def test_special_inputs_give_special_classes():
    nan, inf = np.nan, np.inf
    w = np.array([1.0, 1.0, nan, 1.0, inf], dtype=np.float32)
    g = np.array([nan, inf, 1.0, 0.0, 1.0], dtype=np.float32)
    var = np.array([1.0, 1.0, 1.0, inf, 1.0], dtype=np.float32)
    ev = oracle.evaluate(w, g, {"var": var}, {**HP, "wd": 0.0, "centered": False}, "mxnet2")
    # nan grad -> nan everywhere; inf grad: var = inf, step inf/inf = nan; var = inf, g = 0:
    # step 0/inf = 0, w kept.  The kernel forms wd*w even for wd = 0, so a NaN or infinite
    # weight poisons the gradient (0*nan = 0*inf = nan) and with it the state.
    assert list(ev.classes["var"]) == ["nan", "+inf", "nan", "+inf", "nan"]
    assert list(ev.classes["weight"]) == ["nan", "nan", "nan", "finite", "nan"]


def test_another_association_is_judged_by_the_dialects_order_where_an_intermediate_overflows():
    """The bound covers rounding in any association, not range exits: float16 ((1-rho)*g)*g
    stays finite where mxnet2's (1-rho)*square(g) overflows, so that port fails exactly there."""
    w, g, st = inputs("float16", False, n=64)
    g[::8] = np.float16(600.0)  # rescaled 300: 300² = 90000 > 65504 overflows, 0.1*300*300 does not
    hp = {**HP, "centered": False}
    ev = oracle.evaluate(w, g, st, hp, "mxnet2")
    with np.errstate(all="ignore"):
        got = port(w, g, st, hp, "float16", "alt")
    ok = ev.check(got)
    assert np.isinf(ev.outputs["var"][::8]).all() and np.isfinite(got["var"][::8]).all()
    assert np.flatnonzero(~ok["var"]).tolist() == list(range(0, 64, 8))
    assert ok["var"][g != 600].all() and ok["weight"][g != 600].all()
