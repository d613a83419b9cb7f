"""Kernel-level oracle: one correctly rounded RMSProp update of one tensor.

``evaluate`` runs the dialect rule (``dialects.py``) three ways:

1. certified fast path (16/32-bit storage): binary64 arithmetic with a rigorous
   running error bound (``propagate.Propagator``, mode ``certify``); an element is
   accepted only when every decision and every output rounding is certain;
2. exact path for every other element: rationals exact, the square root enclosed
   by mpmath at ``prec`` bits, doubling ``prec`` until every rounding is certain
   (Ziv's strategy) -- the result is the correctly rounded exact value;
3. the bound model (``bounds.py``): the error a faithful port may make, and the
   ill-conditioned elements.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .bounds import accept, bound_dtype, classify, run_bound_model
from .dialects import DIALECTS, HP_KEYS
from .exact import ExactOps, NeedPrecision
from .faithful import faithful_sets
from .formats import bits_of_array, decode, format_of, numpy_dtype
from .propagate import Propagator

__all__ = ["evaluate", "step", "Evaluation", "WORKING_PRECISION", "MAX_PRECISION", "normalize_hp",
           "NEUTRAL_HP", "inexpressible", "resolve_flush"]

WORKING_PRECISION = 128  # bits of the first square-root enclosure
MAX_PRECISION = 1 << 16
# optional hyperparameters and their neutral values (clip < 0 is off)
NEUTRAL_HP = {"wd": 0.0, "rescale_grad": 1.0, "clip_gradient": -1.0, "clip_weights": -1.0}


def inexpressible(dialect: str, hp: dict) -> list:
    """The hyperparameters of ``hp`` set to a value ``dialect`` has no equivalent of, or
    that its real system refuses (``Dialect.refuses``)."""
    d = DIALECTS[dialect]
    return [k for k in d.unsupported if hp[k] != NEUTRAL_HP[k] and not (k.startswith("clip") and hp[k] < 0)] + \
        [k for k, v in d.refuses if hp[k] == v]


@dataclass
class Evaluation:
    """The oracle's verdict material for one update."""

    dialect: str
    dtype: np.dtype
    outputs: dict  # name -> correctly rounded array (storage dtype)
    allowed: dict  # name -> float64 array: faithful ports satisfy |port - oracle| <= allowed
    classes: dict  # name -> str array: finite, nan, +inf, -inf, ill
    faithful: dict = field(default_factory=dict)  # name -> faithful.FaithfulSet, outputs with ill elements
    exact_elements: int = 0  # elements that needed the exact path
    max_precision: int = 0  # the largest working precision used
    meta: dict = field(default_factory=dict)
    flush_denormals: bool = False  # evaluated with DAZ/FTZ (``dialects.flushing``)

    def check(self, actual: dict) -> dict:
        """Per output, a bool array: True where ``actual[name]`` is faithful."""
        missing = set(self.outputs) - set(actual)
        if missing:
            raise ValueError(f"missing outputs: {sorted(missing)}")
        out = {}
        for name, expected in self.outputs.items():
            a = np.asarray(actual[name])
            if a.shape != expected.shape:
                raise ValueError(f"output {name!r}: shape {a.shape} != expected {expected.shape}")
            out[name] = accept(expected, self.allowed[name], self.classes[name], a, self.faithful.get(name))
        return out


def normalize_hp(hp: dict) -> dict:
    """Validate a hyperparameter dict (SPEC §3 port contract) and fill optional keys."""
    if not isinstance(hp, dict):
        raise TypeError(f"hp must be a dict, got {type(hp).__name__}")
    unknown = set(hp) - set(HP_KEYS) - {"centered"}
    if unknown:
        raise ValueError(f"unknown hyperparameters: {sorted(unknown)}")
    out = dict(NEUTRAL_HP)
    out.update(hp)
    missing = [k for k in HP_KEYS if k not in out] + ([] if "centered" in out else ["centered"])
    if missing:
        raise ValueError(f"missing hyperparameters: {missing}")
    for k in HP_KEYS:
        v = out[k]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
            raise TypeError(f"hyperparameter {k!r} must be a real number, got {v!r}")
        if not math.isfinite(float(v)):
            raise ValueError(f"hyperparameter {k!r} must be finite, got {v!r}")
        out[k] = float(v)
    if not isinstance(out["centered"], (bool, np.bool_)):
        raise TypeError(f"hyperparameter 'centered' must be a bool, got {out['centered']!r}")
    out["centered"] = bool(out["centered"])
    return out


def _validate(weight, grad, state, hp, dialect):
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    d = DIALECTS[dialect]
    hp = normalize_hp(hp)
    bad = inexpressible(dialect, hp)
    if bad:
        if bad[0] in d.unsupported:
            raise ValueError(f"dialect {dialect!r} has no {bad[0]!r}: it must stay {NEUTRAL_HP[bad[0]]}")
        raise ValueError(f"dialect {dialect!r} refuses {bad[0]}={hp[bad[0]]!r} (its real system does)")
    for name, a in (("weight", weight), ("grad", grad)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    T = format_of(weight.dtype)
    if T.name not in d.dtypes:
        raise ValueError(f"dialect {dialect!r} has no {T.name} kernel (its real system takes {', '.join(d.dtypes)})")
    if grad.dtype != weight.dtype or grad.shape != weight.shape:
        raise ValueError(f"grad is {grad.dtype}{grad.shape}, weight is {weight.dtype}{weight.shape}")
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
    names = d.state_names(hp)
    if set(state) != set(names):
        raise ValueError(f"state for dialect {dialect!r} (centered={hp['centered']}) needs keys "
                         f"{sorted(names)}, got {sorted(state)}")
    for k in names:
        a = state[k]
        if not isinstance(a, np.ndarray) or a.dtype != weight.dtype or a.shape != weight.shape:
            raise ValueError(f"state[{k!r}] must be a {weight.dtype} array of shape {weight.shape}")
    return d, T, hp


def fast_dtype(T):
    """Working dtype of the certified fast path: binary64 for 16/32-bit storage, and for
    binary64 storage the platform's long double when it has at least 10 extra bits."""
    if T.bits < 64:
        return np.dtype(np.float64)
    ld = np.finfo(np.longdouble)
    return np.dtype(np.longdouble) if ld.nmant >= 62 and ld.maxexp > 1024 else None


def _exact_element(rule, T, C, w, g, st, h, hp, prec):
    """Correctly rounded bit patterns of every output for one element (Ziv loop)."""
    while True:
        ops = ExactOps(C, prec)
        try:
            outs = rule(ops, ops.const(w), ops.const(g), {k: ops.const(v) for k, v in st.items()}, h, hp, T)
            return {k: ops.round(v, T) for k, v in outs.items()}, prec
        except NeedPrecision:
            prec *= 2
            if prec > MAX_PRECISION:  # pragma: no cover - an irrational always separates
                raise RuntimeError("precision escalation did not terminate") from None


def resolve_flush(dialect: str, flush_denormals=None) -> bool:
    """The denormal mode: ``flush_denormals`` if given, else the dialect's real system's default."""
    if flush_denormals is None:
        return DIALECTS[dialect].flushes
    if not isinstance(flush_denormals, (bool, np.bool_)):
        raise TypeError(f"flush_denormals must be True, False or None, got {flush_denormals!r}")
    return bool(flush_denormals)


def evaluate(weight, grad, state, hp, dialect="mxnet2", *, flush_denormals=None, prec=WORKING_PRECISION,
             fast=True) -> Evaluation:
    """Correctly rounded outputs, allowed errors and classes for one update.

    ``flush_denormals``: evaluate with DAZ/FTZ (True) or IEEE subnormals (False); None
    takes the dialect's default (``Dialect.flushes``).
    """
    d, T, hp = _validate(weight, grad, state, hp, dialect)
    flush = resolve_flush(dialect, flush_denormals)
    rule = d.rule_for(flush)
    C = d.compute(T)
    h = d.hyper_for(flush)(hp, T)
    shape = weight.shape
    flat = {"weight": weight.ravel(), "grad": grad.ravel()}
    flat.update({k: v.ravel() for k, v in state.items()})
    n = weight.size
    bits = {}
    uncertain = np.ones(n, dtype=bool)
    out_names = None
    work = fast_dtype(T)
    if fast and work is not None and n:
        ops = Propagator(C, (n,), "certify", dtype=work)
        lift = lambda a: (a.astype(work), np.zeros(a.shape, dtype=work))  # noqa: E731
        with np.errstate(all="ignore"):
            outs = rule(ops, lift(flat["weight"]), lift(flat["grad"]),
                          {k: lift(flat[k]) for k in state}, h, hp, T)
        uncertain = ops.flag.copy()
        for k, (v, _) in outs.items():
            b = bits_of_array(v.astype(numpy_dtype(T))).copy()
            b[np.isnan(v)] = T.qnan_bits  # one canonical NaN: hardware NaN signs vary
            bits[k] = b
        out_names = list(outs)
    used_prec = 0
    idx = np.nonzero(uncertain)[0]
    if len(idx):
        raw = {k: bits_of_array(v) for k, v in flat.items()}
        for i in idx:
            vals = {k: decode(int(raw[k][i]), T) for k in raw}
            st = {k: vals[k] for k in state}
            res, p = _exact_element(rule, T, C, vals["weight"], vals["grad"], st, h, hp, prec)
            used_prec = max(used_prec, p)
            if out_names is None:
                out_names = list(res)
                bits = {k: np.zeros(n, dtype=bits_of_array(weight[:0]).dtype) for k in res}
            for k, b in res.items():
                bits[k][i] = b
    if out_names is None:  # empty arrays
        out_names = ["weight"] + list(d.state_names(hp))
        bits = {k: np.zeros(0, dtype=bits_of_array(weight[:0]).dtype) for k in out_names}
    with np.errstate(all="ignore"):
        allowed, ill = run_bound_model(rule, C, T, weight, grad, state, h, hp)
    dt = numpy_dtype(T)
    outputs = {k: bits[k].reshape(shape).view(dt) for k in out_names}
    classes = {k: classify(bits[k].reshape(shape), T, ill[k]) for k in out_names}
    faithful = {}
    ill_any = np.zeros(shape, dtype=bool)
    for k in out_names:
        ill_any |= ill[k]
    if ill_any.any():  # the ill elements are judged by their faithful sets
        sets = faithful_sets(rule, C, T, weight, grad, state, h, hp, ill_any, outputs, allowed, bound_dtype(T))
        faithful = {k: sets[k] for k in out_names if ill[k].any()}
    return Evaluation(dialect, np.dtype(dt), outputs, allowed, classes, faithful,
                      exact_elements=int(len(idx)), max_precision=used_prec, flush_denormals=flush)


def step(weight, grad, state, hp, dialect="mxnet2", *, flush_denormals=None):
    """SPEC §3: the correctly rounded ``(new_weight, new_state)`` in the input dtype
    (``flush_denormals`` as in ``evaluate``)."""
    ev = evaluate(weight, grad, state, hp, dialect, flush_denormals=flush_denormals)
    new_state = {k: ev.outputs[k].copy() for k in state}
    return ev.outputs["weight"].copy(), new_state
