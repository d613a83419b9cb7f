"""Faithful sets: every value a faithful port may store for an ill-conditioned element.

Where the bound model (``propagate.Propagator``, mode ``bound``) finds a decision that
straddles (a divisor or radicand whose bound contains zero, a value within its bound of
the overflow threshold), one number and its error bound cannot describe the faithful
results.  ``SetOps`` interprets the same dialect rule over *sets* instead: per element

    S = F ∪ {NaN if may_nan} ∪ {+inf if may_pinf} ∪ {-inf if may_ninf}

with ``F = [lo, hi]`` the hull of the finite values (empty when ``fin`` is False).  Every
operation maps the sets of its operands to a set holding every result a faithful port can
produce from any values of those sets, then rounds it to the operation's format (nearest
even, overflow to infinity):

    a + b   [alo + blo, ahi + bhi];   inf - inf gives NaN
    a * b   hull of the end products;  inf * (a set holding 0) gives NaN
    a / b   b holds 0: F unbounded (both infinities; NaN too when a holds 0);
            else the hull of the end quotients;  x / inf gives 0, inf / inf NaN
    sqrt a  [sqrt(max(lo, 0)), sqrt(hi)];  NaN when lo < 0

Each end is computed in the working dtype and, unless an error-free transformation shows it
exact (two-sum, Dekker's product), moved one step outward, so the float arithmetic of the
ends only ever widens the set (and a zero end stays zero).  As in the bound model, an
operation may also be computed in a wider format (its set keeps the unrounded ends too);
only stores round for certain; range exits are the compute format's.  Signs of zeros
are not tracked (a set holding 0 accepts ±0).  ``why`` records, per element, the events
that widened the set (``REASONS``): they explain the elements left *unconstrained*, whose
set is every value of the storage format.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .formats import Format, numpy_dtype

__all__ = ["SetOps", "FaithfulSet", "faithful_sets", "narrowed", "REASONS", "reason_names", "MAY_NAN", "MAY_PINF",
           "MAY_NINF", "MAY_FINITE"]

MAY_NAN, MAY_PINF, MAY_NINF, MAY_FINITE = 1, 2, 4, 8
# events that widen a set, as bits of ``why``
REASONS = ("divisor", "radicand", "overflow", "inf-arithmetic")
_DIVISOR, _RADICAND, _OVERFLOW, _INF = 1, 2, 4, 8


def reason_names(bits: int) -> list:
    """The names of the reasons in a ``why`` bit set."""
    return [r for i, r in enumerate(REASONS) if bits & (1 << i)]


@dataclass
class FaithfulSet:
    """Per element of one output: ``may`` (MAY_* bits), the finite hull ``[lo, hi]`` (float64,
    meaningful where MAY_FINITE) and ``why`` (REASONS bits)."""

    lo: np.ndarray
    hi: np.ndarray
    may: np.ndarray
    why: np.ndarray

    def contains(self, actual: np.ndarray) -> np.ndarray:
        """True where ``actual`` (float64 values) is a member (any sign of zero)."""
        a = np.asarray(actual, dtype=np.float64)
        ok = np.isnan(a) & ((self.may & MAY_NAN) > 0)
        ok |= (a == np.inf) & ((self.may & MAY_PINF) > 0)
        ok |= (a == -np.inf) & ((self.may & MAY_NINF) > 0)
        with np.errstate(invalid="ignore"):
            ok |= np.isfinite(a) & ((self.may & MAY_FINITE) > 0) & (self.lo <= a) & (a <= self.hi)
        return ok

    def unconstrained(self, fmt: Format) -> np.ndarray:
        """True where the set holds every value of ``fmt``."""
        top = float(fmt.max)
        return (self.may == MAY_NAN | MAY_PINF | MAY_NINF | MAY_FINITE) & (self.lo <= -top) & (self.hi >= top)


class _S:
    """One set per element (arrays): fin, lo, hi, nan, pinf, ninf, why."""

    __slots__ = ("fin", "lo", "hi", "nan", "pinf", "ninf", "why")

    def __init__(self, fin, lo, hi, nan, pinf, ninf, why):
        self.fin, self.lo, self.hi, self.nan, self.pinf, self.ninf, self.why = fin, lo, hi, nan, pinf, ninf, why

    def has_zero(self):
        return self.fin & (self.lo <= 0) & (self.hi >= 0)

    def has_pos(self):  # a positive value, +inf included
        return (self.fin & (self.hi > 0)) | self.pinf

    def has_neg(self):
        return (self.fin & (self.lo < 0)) | self.ninf

    def has_nonzero_finite(self):
        return self.fin & ((self.lo != 0) | (self.hi != 0))


class SetOps:
    """The ``ops`` interface of the dialect rules over faithful sets (see the module doc).

    ``fmt`` is the compute format: operations round to it; ``stage`` and ``store`` round to
    the format they are given.  ``dtype`` is the working dtype of the ends (``bounds.bound_dtype``).
    """

    def __init__(self, fmt: Format, shape, dtype=np.float64):
        self.fmt = fmt
        self.shape = shape
        self.dtype = np.dtype(dtype)

    # -- construction -----------------------------------------------------------------
    def lift(self, a):
        v = np.asarray(a).astype(self.dtype)
        fin = np.isfinite(v)
        z = np.where(fin, v, 0).astype(self.dtype)
        return _S(fin, z, z.copy(), np.isnan(v), v == np.inf, v == -np.inf, np.zeros(v.shape, dtype=np.uint8))

    def const(self, x):
        return self.lift(np.full(self.shape, float(x)))

    # -- rounding -----------------------------------------------------------------------
    def _rn(self, x, fmt: Format):
        """Nearest-even rounding of finite ``x`` to ``fmt`` (overflow gives ±inf)."""
        _, e = np.frexp(x)
        q = np.maximum(e - fmt.p, fmt.emin - fmt.p + 1)
        r = np.ldexp(np.rint(np.ldexp(x, -q)), q)
        top = self.dtype.type(float(fmt.max))
        return np.where(np.abs(r) > top, np.copysign(self.dtype.type(np.inf), r), r)

    def _round(self, s: _S, fmt: Format = None, wide=True):
        """Round to ``fmt``; ``wide``: or keep the value unrounded, as a port computing in a
        wider format does (the range exits stay those of ``fmt``, as in the bound model)."""
        fmt = fmt or self.fmt
        lo, hi = self._rn(s.lo, fmt), self._rn(s.hi, fmt)
        if wide:
            lo = np.where(np.isfinite(lo), np.minimum(lo, s.lo), lo)
            hi = np.where(np.isfinite(hi), np.maximum(hi, s.hi), hi)
        top = self.dtype.type(float(fmt.max))
        fin = s.fin.copy()
        pinf = s.pinf | (fin & (hi == np.inf))
        ninf = s.ninf | (fin & (lo == -np.inf))
        why = s.why | np.where(fin & ((hi == np.inf) | (lo == -np.inf)), _OVERFLOW, 0).astype(np.uint8)
        fin &= (lo != np.inf) & (hi != -np.inf)
        lo, hi = np.maximum(lo, -top), np.minimum(hi, top)
        return _S(fin, np.where(fin, lo, 0), np.where(fin, hi, 0), s.nan.copy(), pinf, ninf, why)

    def stage(self, x, fmt: Format):
        return self._round(x, fmt)

    def store(self, x, fmt: Format):
        return self._round(x, fmt, wide=False)

    def flush_subnormal(self, x: _S):
        """DAZ/FTZ in the compute format: values below the smallest normal become zeros.  A
        rounded ±tiny may come from an exact value just below it, which a platform that flushes
        before rounding (ARM) makes a zero: sets reaching ±tiny gain 0 too."""
        tiny = self.dtype.type(float(self.fmt.tiny))
        touch = x.fin & (x.lo <= tiny) & (x.hi >= -tiny)
        lo = np.where(touch, np.minimum(x.lo, 0), x.lo)
        hi = np.where(touch, np.maximum(x.hi, 0), x.hi)
        return _S(x.fin, lo, hi, x.nan, x.pinf, x.ninf, x.why)

    # -- arithmetic ---------------------------------------------------------------------
    def neg(self, a: _S):
        return _S(a.fin, -a.hi, -a.lo, a.nan, a.ninf, a.pinf, a.why)

    def _add(self, a: _S, b: _S):
        fin = a.fin & b.fin
        pinf = (a.pinf & (b.fin | b.pinf)) | (b.pinf & a.fin)
        ninf = (a.ninf & (b.fin | b.ninf)) | (b.ninf & a.fin)
        clash = (a.pinf & b.ninf) | (a.ninf & b.pinf)
        why = a.why | b.why | np.where(clash, _INF, 0).astype(np.uint8)
        return _S(fin, np.where(fin, _sum(a.lo, b.lo, -1), 0), np.where(fin, _sum(a.hi, b.hi, 1), 0),
                  a.nan | b.nan | clash, pinf, ninf, why)

    def add(self, a, b):
        return self._round(self._add(a, b))

    def sub(self, a, b):
        return self.add(a, self.neg(b))

    def _mul(self, a: _S, b: _S):
        fin = a.fin & b.fin
        ends = [(a.lo, b.lo), (a.lo, b.hi), (a.hi, b.lo), (a.hi, b.hi)]
        lo = _min4([_prod(x, y, -1) for x, y in ends])
        hi = _max4([_prod(x, y, 1) for x, y in ends])
        a_inf, b_inf = a.pinf | a.ninf, b.pinf | b.ninf
        pinf = (a.pinf & b.has_pos()) | (a.ninf & b.has_neg()) | (b.pinf & a.has_pos()) | (b.ninf & a.has_neg())
        ninf = (a.pinf & b.has_neg()) | (a.ninf & b.has_pos()) | (b.pinf & a.has_neg()) | (b.ninf & a.has_pos())
        zinf = (a_inf & b.has_zero()) | (b_inf & a.has_zero())
        why = a.why | b.why | np.where(zinf, _INF, 0).astype(np.uint8)
        return _S(fin, np.where(fin, lo, 0), np.where(fin, hi, 0), a.nan | b.nan | zinf, pinf, ninf, why)

    def mul(self, a, b):
        return self._round(self._mul(a, b))

    def fma(self, a, b, c):
        """a*b + c rounded once (fused), and the unfused port (the product rounded too)."""
        fused = self._round(self._add(self._mul(a, b), c))
        unfused = self.add(self.mul(a, b), c)
        return _union(fused, unfused)

    def div(self, a: _S, b: _S):
        zero_div = b.has_zero()
        safe = b.fin & ~zero_div
        bl = np.where(safe, b.lo, 1)
        bh = np.where(safe, b.hi, 1)
        ends = [(a.lo, bl), (a.lo, bh), (a.hi, bl), (a.hi, bh)]
        lo = _min4([_quot(x, y, -1) for x, y in ends])
        hi = _max4([_quot(x, y, 1) for x, y in ends])
        fin = a.fin & safe
        b_inf = b.pinf | b.ninf
        # x / ±inf = ±0
        zero = a.fin & b_inf
        lo = np.where(fin, np.where(zero, np.minimum(lo, 0), lo), 0)
        hi = np.where(fin, np.where(zero, np.maximum(hi, 0), hi), 0)
        fin = fin | zero
        # inf / finite nonzero (b's finite part has one sign here)
        b_pos, b_neg = safe & (b.lo > 0), safe & (b.hi < 0)
        pinf = (a.pinf & b_pos) | (a.ninf & b_neg)
        ninf = (a.pinf & b_neg) | (a.ninf & b_pos)
        nan = a.nan | b.nan | ((a.pinf | a.ninf) & b_inf)
        # a divisor that may be zero: quotients unbounded towards the side(s) of zero the
        # divisor reaches, x/±0 = ±inf (the sign of a zero is not tracked), 0/0 = NaN
        top = self.dtype.type(float(self.fmt.max))
        nonneg, nonpos = zero_div & (b.lo >= 0), zero_div & (b.hi <= 0)
        al, ah = np.where(nonpos, -a.hi, a.lo), np.where(nonpos, -a.lo, a.hi)  # x/y = (-x)/(-y)
        bh = np.where(nonpos, -b.lo, b.hi)
        one_side = (nonneg | nonpos) & (bh > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            zlo = np.where(al > 0, _quot(al, np.where(one_side, bh, 1), -1), np.where(al == 0, 0, -top))
            zhi = np.where(ah < 0, _quot(ah, np.where(one_side, bh, 1), 1), np.where(ah == 0, 0, top))
        zlo, zhi = np.where(one_side, zlo, -top), np.where(one_side, zhi, top)
        zero_num = (al == 0) & (ah == 0)  # 0 / y = 0 for every nonzero y
        zlo, zhi = np.where(zero_num, 0, zlo), np.where(zero_num, 0, zhi)
        zfin = zero_div & a.fin & ~(b.lo == b.hi)  # b = {0}: no finite quotient but 0/0
        piece = _S(zfin, np.where(zfin, zlo, 0), np.where(zfin, zhi, 0), zero_div & a.has_zero(),
                   zero_div & (a.has_nonzero_finite() | a.pinf | a.ninf),
                   zero_div & (a.has_nonzero_finite() | a.pinf | a.ninf), np.zeros_like(a.why))
        merged = _union(_S(fin, lo, hi, nan, pinf, ninf, a.why), piece)
        fin, lo, hi, nan, pinf, ninf = merged.fin, merged.lo, merged.hi, merged.nan, merged.pinf, merged.ninf
        why = a.why | b.why | np.where(zero_div, _DIVISOR, 0).astype(np.uint8) \
            | np.where((a.pinf | a.ninf) & b_inf, _INF, 0).astype(np.uint8)
        return self._round(_S(fin, lo, hi, nan, pinf, ninf, why))

    def _root(self, a: _S, rel_lo=0.0, rel_hi=0.0):
        fin = a.fin & (a.hi >= 0)
        lo = _root_end(np.where(fin, np.maximum(a.lo, 0), 0), -1)
        hi = _root_end(np.where(fin, a.hi, 0), 1)
        if rel_lo or rel_hi:
            lo = np.maximum(_down(lo * self.dtype.type(1 - rel_lo)), 0)
            hi = _up(hi * self.dtype.type(1 + rel_hi))
        neg = (a.fin & (a.lo < 0)) | a.ninf
        why = a.why | np.where(neg, _RADICAND, 0).astype(np.uint8)
        return _S(fin, lo, hi, a.nan | neg, a.pinf.copy(), np.zeros_like(a.ninf), why)

    def sqrt(self, a):
        return self._round(self._root(a))

    def fast_sqrt(self, a: _S, ftz=False):
        """Eigen's fast packet sqrt (``Propagator.fast_sqrt``): off by ``FAST_SQRT_REL``; radicands
        below the smallest normal masked to +0; +inf gives NaN; under ``ftz`` a radicand from
        2**126 up may lose the Newton step (a root up to 1.5 times too large)."""
        from .propagate import FAST_SQRT_REL

        grow = 1.5 * (1 + 2.0 ** -10) if ftz else 1 + FAST_SQRT_REL
        r = self._root(a, FAST_SQRT_REL, FAST_SQRT_REL)
        if ftz:
            big = a.fin & (a.hi >= 2.0 ** 126)
            r.hi = np.where(big, _up(_root_end(np.where(r.fin, np.maximum(a.hi, 0), 0), 1) * self.dtype.type(grow)),
                            r.hi)
        low = self.dtype.type(float(self.fmt.tiny - self.fmt.eta / 2))
        masked = a.fin & (a.lo < low) & (a.hi >= 0)
        r.lo = np.where(masked, 0, r.lo)
        r.nan = r.nan | a.pinf
        r.pinf = np.zeros_like(a.pinf)
        return self._round(r)

    def clip(self, x: _S, c: _S):
        """clip to [-c, c] (monotone); ±inf become ±c; NaN stays NaN; c = inf clips nothing."""
        if not np.any(c.fin):
            return x
        cv = c.lo  # a constant
        none = np.zeros_like(x.fin)
        pieces = _S(x.fin, np.clip(x.lo, -cv, cv), np.clip(x.hi, -cv, cv), x.nan, none, none, x.why)
        for flag, end in ((x.pinf, cv), (x.ninf, -cv)):
            at = np.full(x.lo.shape, end, dtype=self.dtype)
            pieces = _union(pieces, _S(flag, at, at, none, none, none, x.why))
        return pieces

    # -- results ------------------------------------------------------------------------
    def result(self, s: _S) -> FaithfulSet:
        may = (np.where(s.nan, MAY_NAN, 0) | np.where(s.pinf, MAY_PINF, 0) | np.where(s.ninf, MAY_NINF, 0)
               | np.where(s.fin, MAY_FINITE, 0)).astype(np.uint8)
        return FaithfulSet(s.lo.astype(np.float64), s.hi.astype(np.float64), may, s.why.copy())


def _down(x):
    """One step towards -inf: below the exact value of a nearest-rounded operation."""
    return np.nextafter(x, -np.inf)


def _up(x):
    return np.nextafter(x, np.inf)


def _outward(r, exact, side):
    """``r`` where it is exact, else one step to ``side`` (-1 down, +1 up)."""
    return np.where(exact, r, np.nextafter(r, np.inf if side > 0 else -np.inf))


def _split(a):
    """Veltkamp: a = hi + lo with hi of half the significand (no overflow at our magnitudes)."""
    fi = np.finfo(a.dtype)
    c = a * a.dtype.type(2.0 ** ((fi.nmant + 2) // 2) + 1)
    hi = c - (c - a)
    return hi, a - hi


def _prod_err(a, b, p):
    """``a*b - p`` for ``p`` the rounded product, exactly (Dekker's error-free product)."""
    (ah, al), (bh, bl) = _split(a), _split(b)
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _prod(a, b, side):
    """a*b rounded, moved outward unless exact."""
    p = a * b
    return _outward(p, np.isfinite(p) & (_prod_err(a, b, p) == 0), side)


def _quot(a, b, side):
    """a/b rounded, moved outward unless exact (q*b == a exactly)."""
    q = a / b
    p = q * b
    return _outward(q, np.isfinite(q) & (p == a) & (_prod_err(q, b, p) == 0), side)


def _sum(a, b, side):
    """a+b rounded, moved outward unless exact (Knuth's two-sum)."""
    s = a + b
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    return _outward(s, np.isfinite(s) & (err == 0), side)


def _root_end(x, side):
    """sqrt(x) rounded, moved outward unless exact (r*r == x exactly)."""
    r = np.sqrt(x)
    p = r * r
    return _outward(r, (p == x) & (_prod_err(r, r, p) == 0), side)


def _min4(v):
    return np.minimum(np.minimum(v[0], v[1]), np.minimum(v[2], v[3]))


def _max4(v):
    return np.maximum(np.maximum(v[0], v[1]), np.maximum(v[2], v[3]))


def _union(a: _S, b: _S) -> _S:
    lo = np.where(a.fin & b.fin, np.minimum(a.lo, b.lo), np.where(a.fin, a.lo, b.lo))
    hi = np.where(a.fin & b.fin, np.maximum(a.hi, b.hi), np.where(a.fin, a.hi, b.hi))
    return _S(a.fin | b.fin, lo, hi, a.nan | b.nan, a.pinf | b.pinf, a.ninf | b.ninf, a.why | b.why)


def faithful_sets(rule, compute: Format, T: Format, w, g, state, h, hp, where, expected, allowed, dtype):
    """Per output, the ``FaithfulSet`` of the elements ``where`` (elsewhere: empty sets), from
    ``rule`` over ``SetOps``, joined with the bound model's finite branch: the oracle's own
    value ``expected`` and, where both are finite, ``expected ± allowed`` (within the format),
    which covers ports that associate the same operations differently."""
    shape = w.shape
    idx = np.nonzero(where.ravel())[0]
    ops = SetOps(compute, (len(idx),), dtype)
    pick = lambda a: ops.lift(a.ravel()[idx])  # noqa: E731
    with np.errstate(all="ignore"):
        outs = rule(ops, pick(w), pick(g), {k: pick(v) for k, v in state.items()}, h, hp, T)
    top = float(T.max)
    sets = {}
    for name, s in outs.items():
        fs = ops.result(s)
        e = expected[name].astype(np.float64).ravel()[idx]
        a = allowed[name].ravel()[idx]
        fin, has = np.isfinite(e), (fs.may & MAY_FINITE) > 0
        with np.errstate(invalid="ignore", over="ignore"):
            band = fin & np.isfinite(a)
            lo = np.where(band, np.maximum(e - a, -top), e)
            hi = np.where(band, np.minimum(e + a, top), e)
        fs.lo = np.where(fin, np.where(has, np.minimum(fs.lo, lo), lo), fs.lo)
        fs.hi = np.where(fin, np.where(has, np.maximum(fs.hi, hi), hi), fs.hi)
        fs.may |= (np.where(fin, MAY_FINITE, 0) | np.where(np.isnan(e), MAY_NAN, 0)
                   | np.where(e == np.inf, MAY_PINF, 0) | np.where(e == -np.inf, MAY_NINF, 0)).astype(np.uint8)
        full = FaithfulSet(np.zeros(shape), np.zeros(shape), np.zeros(shape, np.uint8), np.zeros(shape, np.uint8))
        for part in ("lo", "hi", "may", "why"):
            getattr(full, part).reshape(-1)[idx] = getattr(fs, part)
        sets[name] = full
    return sets


def narrowed(fs: FaithfulSet, fmt: Format) -> FaithfulSet:
    """The set of a value rounded once more, to ``fmt`` (nearest rounding is monotone; the
    ends that overflow give the infinities)."""
    dt = numpy_dtype(fmt)
    with np.errstate(over="ignore"):
        lo, hi = fs.lo.astype(dt).astype(np.float64), fs.hi.astype(dt).astype(np.float64)
    fin = (fs.may & MAY_FINITE) > 0
    may = fs.may | np.where(fin & (hi == np.inf), MAY_PINF, 0).astype(np.uint8) \
        | np.where(fin & (lo == -np.inf), MAY_NINF, 0).astype(np.uint8)
    gone = fin & ((lo == np.inf) | (hi == -np.inf))
    may = np.where(gone, may & ~np.uint8(MAY_FINITE), may).astype(np.uint8)
    top = float(fmt.max)
    return FaithfulSet(np.clip(lo, -top, top), np.clip(hi, -top, top), may, fs.why.copy())
