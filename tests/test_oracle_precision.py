"""The oracle's answer does not depend on how it was computed.

* the certified binary64 fast path and the exact path agree bit for bit;
* the exact path started at very different working precisions agrees bit for bit.
Inputs mix ordinary values, wide exponents and every special value.
"""
import zlib

import numpy as np
import pytest

import oracle
from oracle.formats import bits_of_array

SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -5e-324, 6e-8, 65504.0, 300.0, 1e-30, 3e38, 1e300]
DIALECT_HP = {
    "mxnet2": dict(wd=0.01, clip_gradient=1.0, clip_weights=2.0, rescale_grad=0.5),
    "mxnet2-step": dict(wd=0.01, clip_gradient=0.0, rescale_grad=2.0),
    "mxnet1": dict(wd=0.01, clip_gradient=1.0, clip_weights=0.0),
    "torch": dict(wd=0.01),
    "keras": dict(wd=0.01, clip_gradient=1.0),
    "optax": {},
    "tensorflow": {},
}


def sample(rng, n, dtype):
    x = rng.standard_normal(n) * np.exp2(rng.integers(-40, 40, n))
    special = rng.random(n) < 0.1
    x[special] = rng.choice(SPECIALS, special.sum())
    with np.errstate(over="ignore"):
        return x.astype(dtype)


def case(rng, dialect, dtype, centered, n):
    hp = dict(lr=float(rng.choice([1e-3, 0.1, 3.0])), rho=float(rng.choice([0.0, 0.5, 0.9, 0.95, 1.0])),
              momentum=float(rng.choice([0.0, 0.9])), epsilon=float(rng.choice([0.0, 1e-8, 1e-3])),
              centered=centered, **DIALECT_HP[dialect])
    names = oracle.DIALECTS[dialect].state_names(oracle.normalize_hp(hp))
    state = {k: sample(rng, n, dtype) for k in names}
    state["var"] = np.abs(state["var"])
    return sample(rng, n, dtype), sample(rng, n, dtype), state, hp


def same_bits(a, b):
    """Bit-identical, NaNs included: the oracle emits one canonical quiet NaN."""
    return bool((bits_of_array(a) == bits_of_array(b)).all())


@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
@pytest.mark.parametrize("dialect, dtype", [(d, t) for d in DIALECT_HP for t in ("float16", "bfloat16", "float32",
                                                                               "float64")
                                            if t in oracle.DIALECTS[d].dtypes])  # MXNet has no bfloat16 kernel
def test_fast_path_equals_exact_path(dialect, dtype, centered):
    if dtype == "bfloat16":
        import ml_dtypes

        dtype = ml_dtypes.bfloat16
    rng = np.random.default_rng([zlib.crc32(dialect.encode()), len(str(dtype)), centered])
    w, g, st, hp = case(rng, dialect, dtype, centered, 300 if dtype == "float64" else 1500)
    fast = oracle.evaluate(w, g, st, hp, dialect)
    exact = oracle.evaluate(w, g, st, hp, dialect, fast=False)
    assert exact.exact_elements == w.size
    for k in fast.outputs:
        assert same_bits(fast.outputs[k], exact.outputs[k]), k


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("dialect", ["mxnet2", "mxnet1", "torch", "optax"])
def test_low_and_high_working_precision_agree(dialect, dtype):
    rng = np.random.default_rng([len(dialect), len(dtype)])
    for centered in (False, True):
        w, g, st, hp = case(rng, dialect, dtype, centered, 250)
        low = oracle.evaluate(w, g, st, hp, dialect, fast=False, prec=24)
        high = oracle.evaluate(w, g, st, hp, dialect, fast=False, prec=4096)
        for k in low.outputs:
            assert same_bits(low.outputs[k], high.outputs[k]), k
        assert high.max_precision == 4096 or not high.exact_elements


def test_escalation_happens_and_terminates():
    """At 24 bits some roundings are undecidable at first: the loop must raise the precision."""
    rng = np.random.default_rng(5)
    w, g, st, hp = case(rng, "mxnet2", "float64", True, 400)
    ev = oracle.evaluate(w, g, st, hp, "mxnet2", fast=False, prec=24)
    assert ev.max_precision > 24
