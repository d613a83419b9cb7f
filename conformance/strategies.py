"""Hypothesis strategies for RMSProp conformance tests, exported for your own tests.

What they draw:

* ``special_values(dtype)`` -- the plain list (not a strategy): ±0, ±inf, NaN, the
  smallest and largest subnormals, the smallest normal, ±max, a value whose square
  overflows, one whose square underflows to zero, ±1; ``special_floats(dtype)`` draws
  from it.
* ``magnitudes(dtype, lo, hi)`` -- ordinary finite values ``±m * 2**e``, e in [lo, hi],
  full random significands (shrinking towards 1.0).
* ``tensors(dtype, shape)`` -- arrays of ordinary values with specials mixed in.
* ``hyperparameters(dialect, family)`` -- the port's ``hp`` dict (SPEC §3): every key a
  family stresses is drawn from its edge values (clip 0 and off, epsilon 0 and tiny,
  rho 0 and 1, momentum 0 and 1, wd, rescale, lr); the others from ordinary values.
  Hyperparameters the dialect cannot express stay neutral (``oracle.kernel.inexpressible``
  is empty for every draw).
* ``kernel_inputs(dialect, dtype, hp, family)`` -- ``{"weight", "grad", **state}`` with
  the dialect's state keys: var >= 0, and for ordinary elements var >= mean²
  (``families.state_inputs``' rule); special values mixed in per element.
* ``kernel_cases(dialect, dtypes=None, families=None)`` -- a whole kernel case spec
  (``conformance.families.kernel_spec`` format) that ``conformance.corpus.golden``
  accepts, over every edge-case family in ``FAMILIES`` the dialect can express and every
  dtype in ``dtypes`` (default the dialect's own of float16, float32, float64, bfloat16).

Inputs are drawn element by element (one record of weight, grad and state values per
element), so hypothesis shrinks a failing case towards a single element.  Every draw is
labelled.  Example::

    from hypothesis import given
    from conformance.corpus import golden
    from conformance.strategies import kernel_cases

    @given(kernel_cases("mxnet2", dtypes=["float32"]))
    def test_my_port(spec):
        case = golden(spec)          # oracle outputs, bounds and classes; judge your port
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from hypothesis import strategies as st

from oracle import DIALECTS, normalize_hp
from oracle.formats import FORMATS, format_of, numpy_dtype
from oracle.kernel import inexpressible

from .families import BASE_HP, _hp_for, dtypes_of, kernel_spec

__all__ = ["FAMILIES", "special_values", "special_floats", "magnitudes", "tensors", "hyperparameters",
           "kernel_inputs", "states", "kernel_cases", "families_for", "edge_values"]

# family -> the hyperparameters it draws from their edge values ("mixed": all at once)
_FAMILY_HP = {
    "plain": (),
    "clipping": ("clip_gradient", "clip_weights"),
    "epsilon": ("epsilon",),
    "rates": ("lr", "rho", "momentum"),
    "wd-rescale": ("wd", "rescale_grad"),
    "centered": ("rho", "momentum", "epsilon"),
    "special-values": (),
    "overflow": ("lr", "rescale_grad"),
    "shapes": (),
    "mixed": ("lr", "rho", "momentum", "epsilon", "wd", "rescale_grad", "clip_gradient", "clip_weights"),
}
FAMILIES = tuple(_FAMILY_HP)
# non-empty: empty arrays are fixture cases (shapes/...), whose ids known-deviation files can name
_SHAPES = ((1,), (3, 5), (2, 3, 4), (33,), (2, 1))
# ordinary exponents per input (as families.state_inputs): weight, grad, mean, var extra, mom; the
# same in every dtype (inside float16's range, so bfloat16, 8-bit significand and float32's
# exponent range, gets full significands there; its range edges come from the special values)
_EXP = {"weight": (-4, 2), "grad": (-6, 3), "mean": (-7, -2), "var": (-8, 3), "mom": (-10, -4)}


def _format(dtype):
    return FORMATS[dtype] if isinstance(dtype, str) and dtype in FORMATS else format_of(dtype)


def _round(x, dtype):
    with np.errstate(over="ignore"):
        return float(np.array(x, dtype=np.float64).astype(numpy_dtype(_format(dtype))))


@lru_cache(maxsize=None)
def _specials(fmt_name, nonneg):
    fmt = FORMATS[fmt_name]
    big, tiny, eta = float(fmt.max), float(fmt.tiny), float(fmt.eta)
    root_max = _round(math.sqrt(big) * 2, fmt_name)   # its square overflows
    root_eta = _round(math.sqrt(eta) / 4, fmt_name)   # its square rounds to zero
    vals = [0.0, -0.0, math.inf, -math.inf, math.nan, eta, -eta, tiny - eta, -(tiny - eta), tiny / 2, -tiny / 2,
            tiny, -tiny, big, -big, root_max, -root_max, root_eta, -root_eta, 1.0, -1.0]
    vals = [_round(v, fmt_name) if v == v else v for v in vals]
    return tuple(v for v in vals if not (nonneg and (v < 0 or math.copysign(1, v) < 0)))


def special_values(dtype, nonneg=False):
    """The special values of ``dtype`` (a name or NumPy dtype), exactly representable in it."""
    return list(_specials(_format(dtype).name, bool(nonneg)))


@lru_cache(maxsize=None)
def special_floats(dtype, nonneg=False):
    """One special value of ``dtype``."""
    return st.sampled_from(_specials(_format(dtype).name, bool(nonneg)))


def _bits(draw, n):
    """n uniform random bits from draws in [-64, 63] (7 bits each; 0 shrinks to 0)."""
    out = 0
    for _ in range(-(-n // 7)):
        c = draw(st.integers(-64, 63))
        out = (out << 7) | (c if c >= 0 else 128 + c)
    return out & ((1 << n) - 1)


def _ordinary(draw, fmt, lo_exp, hi_exp, signed):
    e = draw(st.integers(lo_exp, hi_exp))
    v = math.ldexp((1 << (fmt.p - 1)) | _bits(draw, fmt.p - 1), e - fmt.p + 1)
    return -v if signed and draw(st.booleans()) else v


def _value(draw, dtype, lo_exp, hi_exp, odds, nonneg=False):
    """An ordinary value, or (about 1 in ``odds + 1``) a special one."""
    if draw(st.integers(0, odds)) == odds:
        return draw(special_floats(dtype, nonneg))
    return _ordinary(draw, _format(dtype), lo_exp, hi_exp, not nonneg)


@lru_cache(maxsize=None)
def magnitudes(dtype, lo_exp, hi_exp, signed=True):
    """Finite ``±m * 2**e`` (e in [lo_exp, hi_exp], m a full significand of ``dtype``)."""
    return st.composite(lambda draw: _ordinary(draw, _format(dtype), lo_exp, hi_exp, signed))()


def tensors(dtype, shape, lo_exp=-6, hi_exp=3, odds=7, nonneg=False):
    """An array of ``dtype`` and ``shape``: ordinary values, about 1 in ``odds + 1`` special."""
    n = int(np.prod(shape))
    one = st.composite(lambda draw: _value(draw, dtype, lo_exp, hi_exp, odds, nonneg))()
    return st.lists(one, min_size=n, max_size=n).map(
        lambda vals: np.array(vals, dtype=np.float64).astype(numpy_dtype(_format(dtype))).reshape(shape))


def edge_values(dialect):
    """Edge values of every hyperparameter (the neutral / default value first)."""
    tiny = 2e-38 if dialect.startswith("mxnet") else 1e-40  # MXNet refuses fields past 1e±38
    return {"lr": [0.01, 0.0, 1e-3, 0.1, 1.0, 100.0], "rho": [0.9, 0.0, 0.5, 0.95, 0.999, 1.0],
            "momentum": [0.9, 0.0, 0.5, 1.0], "epsilon": [1e-8, 0.0, tiny, 1e-7, 1e-6, 1e-3, 1.0, 1e30],
            "wd": [0.0, 1e-4, 0.01, 0.5], "rescale_grad": [1.0, 0.5, 1 / 128, 128.0, 0.1],
            "clip_gradient": [-1.0, 0.0, 1e-3, 0.1, 1.0, 10.0, 1e30],
            "clip_weights": [-1.0, 0.0, 1.0, 100.0, 1e30]}


_ORDINARY = {"lr": [0.01, 1e-3, 0.1], "rho": [0.9, 0.95, 0.5], "momentum": [0.9, 0.0, 0.5],
             "epsilon": [1e-8, 1e-6, 1e-3], "wd": [0.0, 1e-4], "rescale_grad": [1.0], "clip_gradient": [-1.0],
             "clip_weights": [-1.0]}


@st.composite
def _decimal(draw):
    """An arbitrary decimal in (0, 1) with up to four significant digits (MXNet's parse of ``str(x)``)."""
    digits = draw(st.integers(0, 99)) * 100 + draw(st.integers(0, 99))
    return (digits or 1) / 10 ** draw(st.integers(4, 7))


_FREE = {"lr": _decimal(), "rho": _decimal()}


def families_for(dialect):
    """The families of ``FAMILIES`` that ``dialect`` can express."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    unsupported = set(DIALECTS[dialect].unsupported)
    return tuple(f for f, keys in _FAMILY_HP.items() if not keys or set(keys) - unsupported)


@st.composite
def hyperparameters(draw, dialect, family="mixed", centered=None):
    """The ``hp`` dict for ``dialect``: ``family``'s keys at edge values, the rest ordinary."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    if family not in _FAMILY_HP:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    edges, stressed = edge_values(dialect), _FAMILY_HP[family]
    hp = {}
    for k in BASE_HP:
        if k in DIALECTS[dialect].unsupported:
            continue
        refused = {v for key, v in DIALECTS[dialect].refuses if key == k}
        pool = st.sampled_from([v for v in (edges[k] if k in stressed else _ORDINARY[k]) if v not in refused])
        hp[k] = draw(st.one_of(pool, _FREE[k]) if k in _FREE else pool, label=k)
    if centered is None:
        centered = True if family == "centered" else draw(st.booleans(), label="centered")
    hp = _hp_for(dialect, centered=bool(centered), **hp)
    assert not inexpressible(dialect, hp), (dialect, hp)
    return hp


def _edge_element(family, dtype, hp, names):
    """Family-specific edge values of one element (clip thresholds, zero state, overflow, ...)."""
    vals = {}
    if family == "clipping":
        cg, cw = hp["clip_gradient"], hp["clip_weights"]
        vals["grad"] = st.sampled_from([cg, -cg, 0.25, -3.0, 700.0, math.nan, math.inf, -0.0, 1e30, -1e30])
        vals["weight"] = st.sampled_from([cw, -cw, 2.0, -2.0, math.nan])
    elif family in ("epsilon", "plain", "rates", "wd-rescale", "mixed"):
        zero = st.just(0.0)  # 0 / (0 + eps) with a zero state
        vals.update({k: zero for k in ("grad", "var", "mean") if k in names or k == "grad"})
    elif family == "overflow":
        big = [v for v in special_values(dtype) if math.isfinite(v) and abs(v) > 2]
        vals["grad"] = st.sampled_from(big + [256.0, -256.0, 300.0])
        vals["weight"] = st.sampled_from(big)
    elif family == "centered":  # radicand var - mean² near zero: var = mean², grad = mean
        vals["radicand"] = st.just(True)
    return vals


@st.composite
def _element(draw, dialect, family, dtype, hp, names):
    odds = 2 if family == "special-values" else 7
    edge = {}
    if draw(st.integers(0, 3), label="edge element?") == 3:
        edge = {k: draw(s, label=f"edge {k}") for k, s in _edge_element(family, dtype, hp, names).items()}
    rec = {}
    for k in ("weight", "grad", "mean", "mom"):
        if k in names or k in ("weight", "grad"):
            rec[k] = edge[k] if k in edge else _value(draw, dtype, *_EXP[k], odds)
    if "var" in names:
        if "var" in edge:
            rec["var"] = edge["var"]
        elif edge.get("radicand") and "mean" in names and math.isfinite(rec["mean"]):
            m = _round(rec["mean"], dtype)
            rec["var"] = _round(m * m, dtype)
            rec["grad"] = rec["mean"]
        else:
            extra = _value(draw, dtype, *_EXP["var"], odds, nonneg=True)
            m = rec.get("mean", 0.0)
            m = _round(m, dtype) if math.isfinite(m) else m
            rec["var"] = extra + 2 * (m * m) if math.isfinite(extra) and math.isfinite(m) else extra
    return rec


@st.composite
def kernel_inputs(draw, dialect, dtype, hp, family="mixed", shape=None):
    """``{"weight", "grad", **state}`` arrays of ``dtype`` (state keys as ``dialect`` needs for ``hp``)."""
    names = DIALECTS[dialect].state_names(normalize_hp(hp))
    elem = _element(dialect, family, dtype, hp, names)
    if shape is None and family == "shapes":
        shape = draw(st.sampled_from(_SHAPES), label="shape")
    if shape is None:
        recs = draw(st.lists(elem, min_size=1, max_size=8), label="elements")
        shape = (len(recs),)
    else:
        n = int(np.prod(shape))
        recs = draw(st.lists(elem, min_size=n, max_size=n), label="elements")
    dt = numpy_dtype(_format(dtype))
    out = {}
    with np.errstate(over="ignore"):
        for k in ("weight", "grad") + tuple(names):
            out[k] = np.array([r[k] for r in recs], dtype=np.float64).astype(dt).reshape(shape)
    return out


def states(dialect, dtype, hp, family="mixed", shape=None):
    """The state dict alone (``kernel_inputs`` without weight and grad)."""
    return kernel_inputs(dialect, dtype, hp, family, shape).map(
        lambda inp: {k: v for k, v in inp.items() if k not in ("weight", "grad")})


@st.composite
def kernel_cases(draw, dialect, dtypes=None, families=None):
    """A kernel case spec for ``golden``: id ``hypothesis/<dialect>/<family>``, families ``[family]``."""
    for name, given in (("dtypes", dtypes), ("families", families)):
        if isinstance(given, str):
            raise TypeError(f"{name} must be a list of names, not the string {given!r}")
    allowed = families_for(dialect)
    fams = allowed if families is None else tuple(families)
    bad = [f for f in fams if f not in allowed]
    if bad or not fams:
        raise ValueError(f"families {bad or fams} not expressible in dialect {dialect!r}; choose from {allowed}")
    family = draw(st.sampled_from(fams), label="family")
    own = dtypes_of(dialect)
    if dtypes is not None and not set(dtypes) <= set(own):
        raise ValueError(f"dtypes {sorted(set(dtypes) - set(own))} not computed by dialect {dialect!r}; choose from {own}")
    dtype = draw(st.sampled_from(tuple(dtypes or own)), label="dtype")
    hp = draw(hyperparameters(dialect, family), label="hp")
    inputs = draw(kernel_inputs(dialect, dtype, hp, family), label="inputs")
    return kernel_spec(f"hypothesis/{dialect}/{family}", [family], dialect, dtype, hp, inputs)
