"""Exact scalar arithmetic with IEEE 754 special values: the oracle's slow path.

A value is one of
  * a special Python float: ``nan``, ``±inf``, ``±0.0`` (IEEE rules apply);
  * a nonzero ``Fraction``: an exact rational;
  * an ``Enclosure(lo, hi)``: an irrational number known to lie strictly inside
    ``(lo, hi)`` (dyadic endpoints, same sign), produced by a square root.

Rational operations (+, -, *, /) are exact.  A square root of a rational that is
not a perfect square is enclosed by mpmath's ``mpf_sqrt`` with directed rounding
at the working precision ``prec``; every later operation on the enclosure is
exact interval arithmetic on its endpoints.  Each dialect output contains at most
one square root, so an output is either an exact rational or an irrational in an
enclosure: an irrational never equals a rounding boundary, and raising ``prec``
(Ziv's strategy) always ends with both endpoints rounding alike.  Whenever a
decision (a sign, a comparison, a range exit, a rounding) cannot be made from the
current enclosure, ``NeedPrecision`` is raised and the caller retries with more
bits.

Range exits: every intermediate is checked against its compute format.  A value
whose rounding would overflow becomes ``±inf``; one that would round to zero
becomes a zero of its sign; anything else stays exact.  This is what a kernel
computing in that format produces at a range exit, while inside the range the
oracle keeps the exact value (rounding happens once, on output).
"""
from __future__ import annotations

import math
from fractions import Fraction

from mpmath.libmp import from_man_exp, mpf_sqrt, round_ceiling, round_floor

from .formats import Format, decode
from .rounding import round_bits

__all__ = ["NeedPrecision", "Enclosure", "ExactOps", "is_special"]

NAN = float("nan")
INF = float("inf")


class NeedPrecision(Exception):
    """The enclosure at the current precision cannot decide; retry with more bits."""


class Enclosure:
    """An irrational number strictly between the dyadic rationals lo < hi (same sign)."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo: Fraction, hi: Fraction):
        if lo > hi:
            lo, hi = hi, lo
        if lo <= 0 <= hi:
            raise NeedPrecision("enclosure contains zero")
        self.lo, self.hi = lo, hi

    def __neg__(self):
        return Enclosure(-self.hi, -self.lo)

    def sign(self) -> int:
        return 1 if self.lo > 0 else -1

    def __repr__(self):
        return f"Enclosure({float(self.lo)!r}, {float(self.hi)!r})"


def is_special(x) -> bool:
    return isinstance(x, float)


def _sign(x) -> int:
    """Sign of a value, -1 or +1 (zeros by their sign bit); NaN has no sign."""
    if isinstance(x, float):
        return -1 if math.copysign(1.0, x) < 0 else 1
    if isinstance(x, Enclosure):
        return x.sign()
    return -1 if x < 0 else 1


def _abs_lt(x, bound: Fraction) -> bool:
    """|x| < bound for a Fraction or Enclosure (bound > 0); NeedPrecision if undecided."""
    if isinstance(x, Enclosure):
        lo, hi = (x.lo, x.hi) if x.lo > 0 else (-x.hi, -x.lo)
        if hi < bound:
            return True
        if lo >= bound:
            return False
        raise NeedPrecision("range boundary")
    return abs(x) < bound


def _abs_le(x, bound: Fraction) -> bool:
    if isinstance(x, Enclosure):
        return _abs_lt(x, bound)  # an irrational never equals a dyadic bound
    return abs(x) <= bound


def _sqrt_fraction(q: Fraction, prec: int):
    """sqrt(q) for q > 0: exact Fraction if q is a rational square, else an Enclosure."""
    n, d = q.numerator, q.denominator
    rn, rd = math.isqrt(n), math.isqrt(d)
    if rn * rn == n and rd * rd == d:
        return Fraction(rn, rd)
    # d is a power of two for every dyadic input; scale to an integer radicand 4**k * n / d.
    k = max(0, (prec - (n.bit_length() - d.bit_length()) // 2) + 2)
    num = n << (2 * k)
    m, rem = divmod(num, d)
    # sqrt(m) <= sqrt(num/d) < sqrt(m+1): enclose both with directed mpmath roots.
    lo = mpf_sqrt(from_man_exp(m, 0), prec, round_floor)
    hi = mpf_sqrt(from_man_exp(m + 1, 0), prec, round_ceiling)
    scale = Fraction(1, 1 << k)
    return Enclosure(_mpf_to_fraction(lo) * scale, _mpf_to_fraction(hi) * scale)


def _mpf_to_fraction(v) -> Fraction:
    sign, man, exp, _bc = v
    val = Fraction(man) * (Fraction(2) ** exp)
    return -val if sign else val


class ExactOps:
    """Exact arithmetic on one element, with range exits checked in ``fmt``."""

    def __init__(self, fmt: Format, prec: int):
        self.fmt = fmt
        self.prec = prec
        self._half_eta = fmt.eta / 2
        self._ovf = fmt.overflow

    # -- range exits ------------------------------------------------------------
    def node(self, x, fmt: Format | None = None):
        """Apply the range exits of ``fmt`` (default: the compute format) to x."""
        if isinstance(x, float):
            return x
        if fmt is None or fmt is self.fmt:
            ovf, half_eta = self._ovf, self._half_eta
        else:
            ovf, half_eta = fmt.overflow, fmt.eta / 2
        if not _abs_lt(x, ovf):
            return INF if _sign(x) > 0 else -INF
        if _abs_le(x, half_eta):
            return 0.0 if _sign(x) > 0 else -0.0
        return x

    # -- arithmetic -------------------------------------------------------------
    def const(self, x):
        """A hyperparameter or input already exact in the format."""
        if isinstance(x, float):
            if math.isnan(x) or math.isinf(x) or x == 0:
                return x
            return Fraction(x)
        return x

    def neg(self, a):
        return -a

    def add(self, a, b):
        if isinstance(a, float) or isinstance(b, float):
            if isinstance(a, float) and isinstance(b, float):
                return a + b  # IEEE: nan, inf, signed zeros all follow Python floats
            if isinstance(a, float):
                a, b = b, a
            # a exact nonzero, b special
            if math.isnan(b) or math.isinf(b):
                return b
            return a  # x + ±0 = x
        if isinstance(a, Enclosure) and isinstance(b, Enclosure):
            raise TypeError("sum of two irrational values: not expected in any dialect")
        if isinstance(a, Enclosure) or isinstance(b, Enclosure):
            e, f = (a, b) if isinstance(a, Enclosure) else (b, a)
            return self.node(Enclosure(e.lo + f, e.hi + f))
        s = a + b
        return self.node(s) if s != 0 else 0.0  # exact cancellation gives +0 under RNE

    def sub(self, a, b):
        return self.add(a, self.neg(b))

    def mul(self, a, b):
        return self._product(a, b, fused=False)

    def fma(self, a, b, c):
        """a*b + c with one rounding: the product itself never leaves the range."""
        return self.add(self._product(a, b, fused=True), c)

    def _product(self, a, b, fused):
        node = (lambda x: x) if fused else self.node
        if isinstance(a, float) or isinstance(b, float):
            if isinstance(a, float) and isinstance(b, float):
                return a * b
            if isinstance(a, float):
                a, b = b, a
            if math.isnan(b):
                return b
            s = _sign(a) * _sign(b)
            if math.isinf(b):
                return INF if s > 0 else -INF
            return 0.0 if s > 0 else -0.0
        if isinstance(a, Enclosure) and isinstance(b, Enclosure):
            raise TypeError("product of two irrational values: not expected in any dialect")
        if isinstance(a, Enclosure) or isinstance(b, Enclosure):
            e, f = (a, b) if isinstance(a, Enclosure) else (b, a)
            return node(Enclosure(e.lo * f, e.hi * f))
        return node(a * b)

    def div(self, a, b):
        if isinstance(a, float) or isinstance(b, float):
            if isinstance(a, float) and isinstance(b, float):
                if b == 0:
                    if a == 0 or math.isnan(a):
                        return NAN
                    return INF if _sign(a) * _sign(b) > 0 else -INF
                return a / b
            if isinstance(a, float):  # a special, b exact nonzero
                if math.isnan(a):
                    return a
                s = _sign(a) * _sign(b)
                if math.isinf(a):
                    return INF if s > 0 else -INF
                return 0.0 if s > 0 else -0.0
            # a exact nonzero, b special
            if math.isnan(b):
                return b
            s = _sign(a) * _sign(b)
            if math.isinf(b):
                return 0.0 if s > 0 else -0.0
            return INF if s > 0 else -INF
        if isinstance(a, Enclosure) and isinstance(b, Enclosure):
            raise TypeError("quotient of two irrational values: not expected in any dialect")
        if isinstance(a, Enclosure):
            return self.node(Enclosure(a.lo / b, a.hi / b))
        if isinstance(b, Enclosure):
            return self.node(Enclosure(a / b.lo, a / b.hi))
        return self.node(a / b)

    def sqrt(self, a):
        if isinstance(a, float):
            if math.isnan(a) or a < 0:
                return NAN
            return a  # ±0 and +inf are their own roots
        if isinstance(a, Enclosure):
            raise TypeError("root of an irrational value: not expected in any dialect")
        if a < 0:
            return NAN
        return self.node(_sqrt_fraction(a, self.prec))

    def fast_sqrt(self, a, ftz=False):
        """Eigen's fast-math float32 packet sqrt (``propagate.FAST_SQRT_REL``): the exact root
        in range; +inf gives NaN (inf * rsqrt(inf) = inf * 0); a radicand that rounds below the
        smallest normal, zeros included, is masked to +0.  ``ftz`` plays no part in the value."""
        if isinstance(a, float):
            return NAN if math.isnan(a) or a != 0 else 0.0
        if isinstance(a, Enclosure):
            raise TypeError("root of an irrational value: not expected in any dialect")
        if a < 0:
            return NAN
        if a < self.fmt.tiny - self.fmt.eta / 2:
            return 0.0
        return self.sqrt(a)

    def clip(self, x, c):
        """clip(x, c) = c if x > c, -c if x < -c, else x (NaN and ±0 pass through)."""
        if isinstance(x, float) and (math.isnan(x) or x == 0):
            return x
        cv = c if not isinstance(c, float) else Fraction(0) if c == 0 else None
        if cv is None:  # c = +inf: nothing to clip
            return x
        if isinstance(x, float):  # ±inf
            return self.neg(c) if x < 0 else c
        if isinstance(x, Enclosure):
            if x.lo > cv:
                return c
            if x.hi < -cv:
                return self.neg(c)
            if x.hi < cv and x.lo > -cv:
                return x
            raise NeedPrecision("clip boundary")
        if x > cv:
            return c
        if x < -cv:
            return self.neg(c)
        return x

    # -- rounding -----------------------------------------------------------------
    def round(self, x, fmt: Format) -> int:
        """Bit pattern of RNE(x) in fmt; NeedPrecision if the enclosure straddles a boundary."""
        if isinstance(x, Enclosure):
            lo, hi = round_bits(x.lo, fmt), round_bits(x.hi, fmt)
            if lo != hi:
                raise NeedPrecision("rounding boundary")
            return lo
        return round_bits(x, fmt)

    def store(self, x, fmt: Format):
        """A write to memory in fmt: later reads see the rounded value."""
        return decode(self.round(x, fmt), fmt)

    def stage(self, x, fmt: Format):
        """A value materialized in a fmt tensor: the exact model keeps it, range exits apply."""
        return self.node(x, fmt)

    def flush_subnormal(self, x):
        """Flush-to-zero / denormals-are-zero in the compute format: x becomes a zero of its
        sign when it rounds to a subnormal (tininess after rounding: ``|x| < tiny - eta/2``)."""
        if isinstance(x, float):
            return x
        if _abs_lt(x, self.fmt.tiny - self.fmt.eta / 2):
            return 0.0 if _sign(x) > 0 else -0.0
        return x
