"""Vectorized value + error-bound arithmetic over NumPy arrays.

A value is a pair ``(v, e)``: an array of approximations ``v`` and of bounds ``e``
with ``|exact - v| <= e`` elementwise (``e = 0`` for IEEE special values).  Each
operation propagates the bound exactly in the perturbation (not only to first
order) and adds one rounding of the operation's result:

    a + b    e = ea + eb + r(v)
    a * b    e = |a| eb + |b| ea + ea eb + r(v)
    a / b    e = (ea + |v| eb) / (|b| - eb) + r(v)        needs |b| > eb
    sqrt(a)  e = ea / (sqrt(a) + sqrt(a - ea)) + r(v)    needs a > ea
    clip     e = ex                                       (clip is 1-Lipschitz)

where ``r(v)`` is half an ulp of ``v`` in the rounding format (``2**(k-p)`` for
``2**k <= |v| < 2**(k+1)``, at least half the smallest subnormal) and every ``e``
is inflated by ``2**-20`` relative to absorb the rounding of this bookkeeping.

Two uses, selected by ``mode``:

* ``"certify"`` (the oracle's fast path): operations round in binary64, range
  exits are those of the compute format.  An element whose decision (a range
  exit, a zero divisor, a negative radicand, an output rounding) is not certain
  from ``(v, e)`` is marked in ``uncertain`` and recomputed exactly.
* ``"bound"`` (the error model of a faithful port): operations round in the
  compute format itself, so ``e`` bounds how far a port computing in that format,
  in any order of the same operations, with or without FMA, may drift from the
  exact value.  Where a decision straddles (a divisor or radicand whose bound
  contains zero, a value within its bound of the overflow threshold), both
  outcomes are faithful: the element is marked in ``ill``.
"""
from __future__ import annotations

import numpy as np

from .formats import Format

__all__ = ["Propagator", "FAST_SQRT_REL"]

_INFLATE = 1.0 + 2.0 ** -20
# Eigen's fast-math float32 packet sqrt (Eigen 3.4, EIGEN_FAST_MATH; Paddle's CPU kernels):
# y = a * x1, x1 = x0 * (1.5 - (a/2) * x0**2), x0 = rsqrtps(a) with |x0 * sqrt(a) - 1| <= 1.5 * 2**-12
# (Intel SDM).  One exact Newton step leaves 1.5 e**2 + 0.5 e**3; its float32 roundings add at
# most 7 u (u = 2**-24: five roundings, x0**2 subnormal for a >= 2**126 and a/2 for a < 2**-125).
_RSQRT_EPS = 1.5 * 2.0 ** -12
FAST_SQRT_REL = 1.5 * _RSQRT_EPS ** 2 + 0.5 * _RSQRT_EPS ** 3 + 7 * 2.0 ** -24


class Propagator:
    def __init__(self, fmt: Format, shape, mode: str, dtype=np.float64):
        if mode not in ("certify", "bound"):
            raise ValueError(mode)
        self.fmt = fmt  # compute format: range exits, and roundings in "bound" mode
        self.mode = mode
        self.dtype = np.dtype(dtype)
        self.flag = np.zeros(shape, dtype=bool)  # uncertain (certify) or ill (bound)
        if mode == "certify":  # the evaluation's own rounding: the working dtype's
            fi = np.finfo(self.dtype)
            self._p, self._emin = fi.nmant + 1, fi.minexp
        else:
            self._p, self._emin = fmt.p, fmt.emin
        self._thr = {}

    # -- helpers --------------------------------------------------------------
    def _thresholds(self, fmt: Format):
        if fmt.name not in self._thr:
            self._thr[fmt.name] = (self.exact(fmt.overflow), self.exact(fmt.eta / 2))
        return self._thr[fmt.name]

    def exact(self, q):
        """A dyadic rational in this dtype: n * 2**-k by ldexp (exact when n fits)."""
        n, d = q.numerator, q.denominator
        return np.ldexp(self.dtype.type(n), -(d.bit_length() - 1))

    def half_ulp(self, v, p=None, emin=None):
        p = self._p if p is None else p
        emin = self._emin if emin is None else emin
        finite = np.isfinite(v) & (v != 0)
        _, ex = np.frexp(np.where(finite, v, 1))
        return np.where(finite, np.ldexp(self.dtype.type(1), np.maximum(ex - 1, emin) - p), 0)

    def _finish(self, v, e):
        """Range exits are decided on the exact value's enclosure; then one rounding."""
        e = np.where(np.isfinite(v), e * _INFLATE, 0)
        bad = np.isnan(e)
        if bad.any():
            self.flag |= bad
            e = np.where(bad, 0, e)
        v, e = self.node((v, e))
        return v, e + self.half_ulp(v)

    def _mark(self, mask):
        self.flag |= mask

    # -- range exits -------------------------------------------------------------
    def node(self, x, fmt: Format | None = None):
        v, e = x
        ovf, half_eta = self._thresholds(fmt or self.fmt)
        a = np.abs(v)
        finite = np.isfinite(v)
        over = finite & (a - e >= ovf)
        self._mark(finite & ~over & (a + e >= ovf))
        flush = finite & (a + e <= half_eta) & (a != 0)
        if self.mode == "certify":
            # whether it flushes, and the sign of the zero, must be certain
            self._mark(flush & (e >= a))
            self._mark(finite & (a != 0) & (a - e <= half_eta) & (a + e > half_eta))
        if over.any() or flush.any():
            v = np.where(over, np.copysign(np.inf, v), np.where(flush, np.copysign(0.0, v), v))
            e = np.where(over | flush, 0, e)
        return v, e

    def flush_subnormal(self, x):
        """Flush-to-zero / denormals-are-zero in the compute format (see ``ExactOps``).

        Certainly below ``tiny - eta/2``: a zero of its sign.  A value whose bound reaches
        ``[tiny - eta/2, tiny)`` is marked: there the platform decides (x86 flushes after
        rounding, ARM before), so both outcomes are faithful.
        """
        v, e = x
        lo, hi = self.exact(self.fmt.tiny - self.fmt.eta / 2), self.exact(self.fmt.tiny)
        a = np.abs(v)
        nonzero = np.isfinite(v) & (a != 0)
        flush = nonzero & (a + e < lo)
        self._mark(nonzero & ~flush & (a - e < hi))
        if self.mode == "certify":
            self._mark(flush & (e >= a))  # the sign of the zero must be certain
        if flush.any():
            v, e = np.where(flush, np.copysign(0.0, v), v), np.where(flush, 0, e)
        return v, e

    # -- arithmetic ------------------------------------------------------------------
    def const(self, x):
        return self.dtype.type(x), self.dtype.type(0)

    def neg(self, a):
        return -a[0], a[1]

    def add(self, a, b):
        return self._finish(a[0] + b[0], a[1] + b[1])

    def sub(self, a, b):
        return self.add(a, self.neg(b))

    def mul(self, a, b):
        (av, ae), (bv, be) = a, b
        # inf times a value that may be zero: NaN or an infinity
        self._mark(np.isinf(bv) & (ae > 0) & (np.abs(av) <= ae))
        self._mark(np.isinf(av) & (be > 0) & (np.abs(bv) <= be))
        v = av * bv
        e = np.abs(av) * be + np.abs(bv) * ae + ae * be
        return self._finish(v, e)

    def fma(self, a, b, c):
        """a*b + c rounded once by a fused port (the product never leaves the range); the
        bound also admits an unfused port (one more rounding, of the product)."""
        (av, ae), (bv, be), (cv, ce) = a, b, c
        self._mark(np.isinf(bv) & (ae > 0) & (np.abs(av) <= ae))
        self._mark(np.isinf(av) & (be > 0) & (np.abs(bv) <= be))
        p = av * bv
        e = np.abs(av) * be + np.abs(bv) * ae + ae * be + np.where(np.isfinite(p), self.half_ulp(p), 0)
        return self._finish(p + cv, e + ce)

    def div(self, a, b):
        (av, ae), (bv, be) = a, b
        ab = np.abs(bv)
        self._mark((be > 0) & (ab <= be))
        # a zero divisor with a numerator that may be zero: NaN or an infinity
        self._mark((ab == 0) & (ae > 0) & (np.abs(av) <= ae))
        v = av / bv
        e = (ae + np.abs(v) * be) / np.where(ab > be, ab - be, 1)
        return self._finish(v, e)

    def sqrt(self, a):
        av, ae = a
        self._mark((ae > 0) & (av - ae <= 0) & (av + ae >= 0))
        v = np.sqrt(av)
        low = np.sqrt(np.maximum(av - ae, 0))
        e = ae / np.where(v + low > 0, v + low, 1)
        return self._finish(v, e)

    def fast_sqrt(self, a, ftz=False):
        """Eigen's fast packet sqrt (``ExactOps.fast_sqrt``): in bound mode the root may be off
        by ``FAST_SQRT_REL`` relative; a radicand whose bound reaches the smallest normal may
        be masked to +0 or not (marked).  Under flushing (``ftz``) x0**2 flushes to zero for
        radicands >= 2**126, where the root is then off by half: those elements are marked."""
        av, ae = a
        lo = self.exact(self.fmt.tiny - self.fmt.eta / 2)
        finite = np.isfinite(av)
        self._mark(finite & (av - ae < lo) & (av + ae >= lo))
        masked = finite & (av >= 0) & (av + ae < lo)
        v, e = self.sqrt(a)
        if self.mode == "bound":
            e = e + FAST_SQRT_REL * np.where(np.isfinite(v), np.abs(v), 0)
            if ftz:
                self._mark(finite & (av + ae >= self.dtype.type(2.0) ** 126))
        nan = np.isposinf(av)
        return np.where(masked, 0.0, np.where(nan, np.nan, v)), np.where(masked | nan, 0, e)

    def clip(self, x, c):
        """Certainly saturated elements are exactly ±c; elsewhere clip is 1-Lipschitz."""
        (xv, xe), (cv, _) = x, c
        v = np.where(xv > cv, cv, np.where(xv < -cv, -cv, xv))
        if self.mode == "certify" and cv == 0:
            self._mark((xe > 0) & (np.abs(xv) <= xe))
        saturated = (xv - xe > cv) | (xv + xe < -cv)
        return v, np.where(np.isfinite(v) & ~saturated, xe, 0)

    # -- memory -------------------------------------------------------------------
    def stage(self, x, fmt: Format):
        """A value materialized in a ``fmt`` tensor between operations."""
        if self.mode == "certify":
            return self.node(x, fmt)
        v, e = self.node(x, fmt)
        return v, e + self.half_ulp(v, fmt.p, fmt.emin)

    def store(self, x, fmt: Format):
        """The value written to memory in ``fmt`` (a state or an output).

        certify: the rounded value (exact, e = 0), marking elements whose rounding
        is not certain.  bound: the port's stored value may differ from the
        oracle's by the propagated bound plus the oracle's own half-ulp rounding.
        """
        v, e = x
        if self.mode == "bound":
            v, e = self.node(x, fmt)
            h = self.half_ulp(v, fmt.p, fmt.emin)
            if fmt.p < self.fmt.p:  # the port's own rounding from its wider compute format
                e = e + h
            return v, e + h
        from .formats import numpy_dtype

        T = numpy_dtype(fmt)
        r = v.astype(T)
        up = np.nextafter(r, T.type(np.inf)).astype(self.dtype)
        dn = np.nextafter(r, T.type(-np.inf)).astype(self.dtype)
        r64 = r.astype(self.dtype)
        ovf = self.exact(fmt.overflow)
        m_hi = np.where(np.isinf(up), ovf, (r64 + up) / 2)
        m_lo = np.where(np.isinf(dn), -ovf, (r64 + dn) / 2)
        finite_in = np.isfinite(v)
        ok = ~finite_in | ((m_lo < v - e) & (v + e < m_hi))
        ok |= np.isinf(r64) & finite_in & (np.abs(v) - e >= ovf)
        ok &= ~((r64 == 0) & (e > 0) & (np.abs(v) <= e))
        ok &= ~(finite_in & np.isinf(r64) & ~(np.abs(v) - e >= ovf))
        self._mark(~ok)
        return r64, np.zeros_like(r64)
