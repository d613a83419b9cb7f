"""Shared pieces of the differential tests of the oracle against a real system.

``unfaithful`` lists the elements a real system produced that the oracle's verdict
refuses; ``specials`` is the special-value palette of a dtype; ``special_grid`` pairs it
for weight x gradient x var; ``generated_problems`` runs ``check``'s generated cases of a
dialect through a real update (``outputs_of`` a port).
"""
import numpy as np

import oracle
from conformance.generated import sampled_specs

__all__ = ["unfaithful", "specials", "special_grid", "generated_problems", "outputs_of", "MAX_REPORTED",
           "mxnet_refuses_bfloat16"]

MAX_REPORTED = 6


def unfaithful(label, ev, actual, inputs, system="real"):
    """One line per unfaithful element (at most ``MAX_REPORTED`` per output), with its inputs."""
    lines = []
    for name, ok in ev.check(actual).items():
        for i in np.flatnonzero(~ok.reshape(-1))[:MAX_REPORTED]:
            ins = " ".join(f"{k}={float(v.reshape(-1)[i]).hex()}" for k, v in inputs.items())
            lines.append(f"{label}: {name}[{i}] {system}={float(actual[name].reshape(-1)[i]).hex()} "
                         f"oracle={float(ev.outputs[name].reshape(-1)[i]).hex()} ({ins})")
    return lines


def specials(dtype):
    """±0, ±inf, NaN, the smallest and largest subnormals, tiny/2, ±tiny, ±max, 1, -1.5, 300."""
    fi = np.finfo(dtype)
    eta = float(np.nextafter(np.zeros((), dtype), np.ones((), dtype)))
    vals = [0.0, -0.0, np.inf, -np.inf, np.nan, eta, -eta, float(fi.tiny) - eta, float(fi.tiny) / 2,
            float(fi.tiny), -float(fi.tiny), float(fi.max), -float(fi.max), 1.0, -1.5, 300.0]
    return np.array(vals, dtype=dtype)


def special_grid(dtype, names):
    """(weight, grad, state): every pairing of ``specials`` for weight x gradient x |var|; the
    other states in ``names`` reuse the gradient and weight columns reversed."""
    sv = specials(dtype)
    w, g, v = (a.reshape(-1).copy() for a in np.meshgrid(sv, sv, np.abs(sv), indexing="ij"))
    others = {"mean": g[::-1].copy(), "mom": w[::-1].copy()}
    return w, g, {k: (v if k == "var" else others[k]) for k in names}


def outputs_of(step):
    """A kernel-level port as ``run(weight, grad, state, hp) -> {output name: array}``."""
    def run(weight, grad, state, hp):
        new_w, new_state = step(weight, grad, state, hp)
        return dict(new_state, weight=new_w)
    return run


def generated_problems(dialect, run, seed, count, flush):
    """Unfaithful elements of ``run(weight, grad, state, hp) -> {output: array}`` over the
    ``count`` generated cases of ``seed`` (``check``'s), judged with ``flush_denormals=flush``."""
    problems = []
    for spec in sampled_specs(dialect, seed, count):
        inp = spec["inputs"]
        state = {k: v for k, v in inp.items() if k not in ("weight", "grad")}
        ev = oracle.evaluate(inp["weight"], inp["grad"], state, spec["hp"], dialect, flush_denormals=flush)
        actual = run(inp["weight"].copy(), inp["grad"].copy(), {k: v.copy() for k, v in state.items()},
                     oracle.normalize_hp(spec["hp"]))
        problems += unfaithful(spec["id"], ev, actual, inp, dialect)
    return problems


# MXNet's own bfloat16 (1.9.1 and 2.x): a structured uint16 dtype, type enum 12 (mxnet.ndarray.ndarray)
MX_BFLOAT16 = np.dtype([("bfloat16", np.uint16)])


def mxnet_refuses_bfloat16(mx, centered, dialects, **centered_kw):
    """The real MXNet builds a bfloat16 NDArray, but its RMSProp operator raises "Unknown type
    enum 12" for it; and the oracle's ``dialects`` have no bfloat16 kernel either.  The centered
    operator takes its three states in the version's own order, ``centered_kw`` its momentum."""
    import ml_dtypes
    import pytest

    w = mx.nd.array(np.array([1.0, -2.0, 0.5], np.float32)).astype(MX_BFLOAT16)
    assert w.dtype == MX_BFLOAT16
    g, a, b, c = (w.copy() for _ in range(4))
    with pytest.raises(mx.base.MXNetError, match="Unknown type enum 12"):
        if centered:
            mx.nd.rmspropalex_update(w, g, a, b, c, out=w, lr=0.01, **centered_kw)
        else:
            mx.nd.rmsprop_update(w, g, b, out=w, lr=0.01)
        mx.nd.waitall()
    one = np.ones(3, ml_dtypes.bfloat16)
    state = {"mean": one, "var": one, "mom": one} if centered else {"var": one}
    hp = dict(lr=0.01, rho=0.9, momentum=0.9, epsilon=1e-8, centered=centered)
    for dialect in dialects:
        assert "bfloat16" not in oracle.DIALECTS[dialect].dtypes
        with pytest.raises(ValueError, match="has no bfloat16 kernel"):
            oracle.evaluate(one, one, state, hp, dialect)
