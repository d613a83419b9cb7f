"""The bound model: how far a faithful port may land from the oracle, and the judge.

A port is *faithful* when it evaluates the dialect's operations in the compute
format, each operation rounded once (any order of the same operations, with or
without fused multiply-add, rounding through a wider format first).  Running the
dialect rule through ``Propagator(mode="bound")`` bounds, per element and output,
``|port - exact|`` before the final store; the store adds the oracle's own half
ulp, so ``allowed`` bounds ``|port - oracle|``.

Classes per output element:
  ``finite``  the port must be finite... or an infinity of the right sign when the
              bound reaches the overflow threshold; ``|port - oracle| <= allowed``;
              when ``allowed == 0`` and the oracle is a zero, its sign must match.
  ``nan``     the port must give NaN.
  ``+inf`` / ``-inf``  the port must give that infinity.
  ``ill``     ill-conditioned: a divisor or radicand whose bound contains zero, or a
              value within its bound of the overflow threshold; very different
              results (NaN and a number, inf and a number) are all faithful, so
              the port must give a member of the element's faithful set
              (``faithful.py``: NaN and ±inf where reachable, an interval for the
              finite branch); an element whose set is every value is unconstrained.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .formats import Format, format_of, numpy_dtype
from .propagate import Propagator

__all__ = ["bound_dtype", "run_bound_model", "classify", "accept", "CLASSES"]

CLASSES = ("finite", "nan", "+inf", "-inf", "ill")


def bound_dtype(T: Format) -> np.dtype:
    """Binary64 for 16/32-bit storage; x87 extended for binary64 (its range covers binary64 overflow)."""
    if T.bits < 64:
        return np.dtype(np.float64)
    ld = np.finfo(np.longdouble)
    return np.dtype(np.longdouble) if ld.maxexp > 1024 else np.dtype(np.float64)


def run_bound_model(rule, compute: Format, T: Format, w, g, state, h, hp):
    """(allowed, ill) dicts per output, from the rule evaluated by the bound model.

    An output is ill when any decision taken before its store straddled.
    """
    dt = bound_dtype(T)
    ops = Propagator(compute, w.shape, "bound", dtype=dt)
    lift = lambda a: (a.astype(dt), np.zeros(a.shape, dtype=dt))  # noqa: E731
    flags_at_store = {}
    plain_store = ops.store

    def store(x, fmt):
        out = plain_store(x, fmt)
        flags_at_store[id(out)] = ops.flag.copy()
        return out

    ops.store = store
    outs = rule(ops, lift(w), lift(g), {k: lift(v) for k, v in state.items()}, h, hp, T)
    allowed, ill = {}, {}
    for name, value in outs.items():
        e = np.broadcast_to(value[1], w.shape)
        a64 = e.astype(np.float64)
        allowed[name] = np.where(a64 < e, np.nextafter(a64, np.inf), a64)
        ill[name] = flags_at_store[id(value)]
    return allowed, ill


def classify(bits_array: np.ndarray, fmt: Format, ill: np.ndarray) -> np.ndarray:
    vals = bits_array.view(numpy_dtype(fmt)).astype(np.float64)
    cls = np.full(vals.shape, "finite", dtype="<U6")
    cls[np.isnan(vals)] = "nan"
    cls[vals == np.inf] = "+inf"
    cls[vals == -np.inf] = "-inf"
    cls[ill] = "ill"
    return cls


def accept(expected: np.ndarray, allowed: np.ndarray, cls: np.ndarray, actual: np.ndarray,
           faithful=None) -> np.ndarray:
    """True where ``actual`` is a faithful value for the oracle's ``expected``; an ``ill``
    element is judged by its faithful set (``faithful.FaithfulSet``; None: any value)."""
    fmt = format_of(expected.dtype)
    e = expected.astype(np.float64)
    a = np.asarray(actual).astype(expected.dtype).astype(np.float64)
    ok = np.zeros(e.shape, dtype=bool)
    ill = cls == "ill"
    ok |= ill if faithful is None else ill & faithful.contains(a)
    ok |= (cls == "nan") & np.isnan(a)
    ok |= (cls == "+inf") & (a == np.inf)
    ok |= (cls == "-inf") & (a == -np.inf)
    fin = cls == "finite"
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - e)
        close = np.isfinite(a) & (diff <= allowed)
        # the float64 difference can round: decide exactly near the boundary
        # (diff 0 is exact: a == e)
        edge = fin & np.isfinite(a) & (diff != 0) & (np.abs(diff - allowed) <= 2.0 ** -49 * np.maximum(diff, allowed))
    for i in zip(*np.nonzero(edge)):
        close[i] = abs(Fraction(float(a[i])) - Fraction(float(e[i]))) <= Fraction(float(allowed[i]))
    zero_exact = (allowed == 0) & (e == 0)
    close &= ~zero_exact | (np.signbit(a) == np.signbit(e))
    # in binary64, |e| + allowed rounds to inf exactly when it reaches binary64's threshold
    ovf = float(fmt.overflow) if fmt.bits < 64 else np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        overflow_ok = np.isinf(a) & (np.sign(a) == np.sign(e)) & (np.abs(e) + allowed >= ovf)
    ok |= fin & (close | overflow_ok)
    return ok
