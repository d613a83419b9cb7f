"""Binary floating-point formats the oracle rounds to, and their bit patterns.

A format with precision ``p`` (significand bits, hidden bit included), exponent
width ``w`` and ``emin = 2 - 2**(w-1)`` holds ``(-1)**s * m * 2**(e - p + 1)``.
Special values are Python floats (``nan``, ``±inf``, ``±0.0``); every other
value the oracle handles is an exact ``fractions.Fraction``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

__all__ = ["Format", "FORMATS", "format_of", "numpy_dtype", "decode", "decode_array", "encode_array"]


@dataclass(frozen=True)
class Format:
    name: str
    bits: int  # total width
    p: int  # precision, hidden bit included
    w: int  # exponent width

    @property
    def emax(self) -> int:
        return (1 << (self.w - 1)) - 1

    @property
    def emin(self) -> int:
        return 1 - self.emax

    @property
    def u(self) -> Fraction:
        """Unit roundoff 2**-p: the largest relative error of one rounding (normal range)."""
        return Fraction(1, 1 << self.p)

    @property
    def eta(self) -> Fraction:
        """Smallest positive subnormal 2**(emin - p + 1)."""
        return Fraction(1, 1 << (self.p - 1 - self.emin))

    @property
    def tiny(self) -> Fraction:
        """Smallest positive normal 2**emin."""
        return Fraction(1, 1 << -self.emin)

    @property
    def max(self) -> Fraction:
        return Fraction((1 << self.p) - 1) * Fraction(2) ** (self.emax - self.p + 1)

    @property
    def overflow(self) -> Fraction:
        """Smallest magnitude that rounds to infinity: max + half an ulp."""
        return Fraction((1 << (self.p + 1)) - 1) * Fraction(2) ** (self.emax - self.p)

    @property
    def inf_bits(self) -> int:
        return ((1 << self.w) - 1) << (self.p - 1)

    @property
    def sign_bit(self) -> int:
        return 1 << (self.bits - 1)

    @property
    def qnan_bits(self) -> int:
        return self.inf_bits | (1 << (self.p - 2))

    @property
    def hex_digits(self) -> int:
        return self.bits // 4


FORMATS = {
    "float16": Format("float16", 16, 11, 5),
    "bfloat16": Format("bfloat16", 16, 8, 8),
    "float32": Format("float32", 32, 24, 8),
    "float64": Format("float64", 64, 53, 11),
}
_UINT = {16: np.uint16, 32: np.uint32, 64: np.uint64}


def _bfloat16():
    try:
        import ml_dtypes  # a dependency of the package; missing only in a hand-made environment
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return np.dtype(ml_dtypes.bfloat16)


@lru_cache(maxsize=None)
def numpy_dtype(fmt: Format | str) -> np.dtype:
    name = fmt if isinstance(fmt, str) else fmt.name
    if name == "bfloat16":
        dt = _bfloat16()
        if dt is None:
            raise ValueError("bfloat16 needs ml_dtypes, a dependency of rmsprop-conformance that is not "
                             "installed here (pip install ml_dtypes)")
        return dt
    return np.dtype(name)


def format_of(dtype) -> Format:
    """The Format of a NumPy dtype (or dtype name); ValueError for anything else."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"not a floating-point dtype: {dtype!r}") from exc
    name = "bfloat16" if dt.name == "bfloat16" else dt.name
    if name not in FORMATS:
        raise ValueError(f"unsupported dtype {dt.name!r}: expected one of float16, bfloat16, float32, float64")
    return FORMATS[name]


def decode(bits: int, fmt: Format):
    """Exact value of a bit pattern: a special Python float or a nonzero Fraction."""
    neg = bool(bits & fmt.sign_bit)
    mag = bits & (fmt.sign_bit - 1)
    e_field = mag >> (fmt.p - 1)
    frac = mag & ((1 << (fmt.p - 1)) - 1)
    if e_field == (1 << fmt.w) - 1:
        if frac:
            return float("nan")
        return float("-inf") if neg else float("inf")
    if mag == 0:
        return -0.0 if neg else 0.0
    if e_field == 0:
        value = frac * fmt.eta
    else:
        value = ((1 << (fmt.p - 1)) | frac) * Fraction(2) ** (e_field + fmt.emin - fmt.p)
    return -value if neg else value


def bits_of_array(a: np.ndarray) -> np.ndarray:
    """Bit patterns of a float array, as unsigned integers of the same width."""
    a = np.ascontiguousarray(a)
    return a.view(_UINT[a.dtype.itemsize * 8])


def decode_array(a: np.ndarray) -> list:
    """Exact values of every element (flattened, C order)."""
    fmt = format_of(a.dtype)
    return [decode(int(b), fmt) for b in bits_of_array(a).ravel()]


def encode_array(bits, fmt: Format, shape) -> np.ndarray:
    """An array of format ``fmt`` from a sequence of bit patterns."""
    raw = np.array(list(bits), dtype=_UINT[fmt.bits]).reshape(shape)
    return raw.view(numpy_dtype(fmt))
