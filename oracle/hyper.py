"""How each system turns a Python hyperparameter into the number its kernel uses.

MXNet's Python layer passes every operator parameter as ``str(x)``; the C++ side
parses it with dmlc-core's ``ParseFloat`` (``dmlc::stof`` for ``float`` fields,
``dmlc::stod`` for ``double`` scalars).  That parser is not correctly rounded:

    value = integer part                                  (in the target type)
    value = value + fraction_digits[:19] / 10**len(digits)  (int / pow10 in double, then target)
    scale = 1e8**(e // 8) * 10**(e % 8)                    (repeated multiplies, target type)
    value = value / scale  or  value * scale               (negative / positive exponent)

so e.g. ``clip_gradient=4.57162163557631`` becomes float32 0x1.249574p+2 where
``float32(x)`` is 0x1.249572p+2.  A ``float`` field with a decimal exponent above
38 (or at 38 beyond the float range) is refused by MXNet ("Out of range value").
This was checked bit for bit against the real mxnet==1.9.1 wheel (620 of 620
parameter values, 406 of 406 scalars); MXNet 2.x uses the same parameter parser.
The kernel then converts the parsed value to the weight dtype (RNE).
"""
from __future__ import annotations

import re
from fractions import Fraction

import numpy as np

from .formats import FORMATS, Format
from .rounding import round_value

__all__ = ["HP_KEYS", "to_format", "dmlc_stof", "dmlc_stod", "mxnet_field", "mxnet_scalar", "python_double"]

F32, F64 = FORMATS["float32"], FORMATS["float64"]
# the kernel-level hyperparameters (SPEC §3), besides the bool ``centered``
HP_KEYS = ("lr", "rho", "momentum", "epsilon", "wd", "rescale_grad", "clip_gradient", "clip_weights")
_NUMBER = re.compile(r"^(\d*)(?:\.(\d*))?(?:[eE]([+-]?)(\d+))?$")


def to_format(x, *fmts: Format) -> float:
    """x (a Python float or Fraction) rounded to each format in turn, as an exact Python float."""
    for fmt in fmts:
        if x != 0 and x == x and abs(x) != float("inf"):
            v = round_value(x if isinstance(x, Fraction) else Fraction(x), fmt)
            x = v if isinstance(v, float) else float(v)
    return float(x)


def python_double(x: Fraction) -> float:
    """The value of a Python float expression: the exact result rounded to binary64."""
    return to_format(x, F64)


def _parse(text: str, ftype):
    s = text.strip()
    negative = s[:1] == "-"
    if s[:1] in "+-":
        s = s[1:]
    low = s.lower()
    if low.startswith("inf"):
        v = ftype(np.inf)
    elif low.startswith("nan"):
        v = ftype(np.nan)
    else:
        m = _NUMBER.match(s)
        if m is None:
            raise ValueError(f"not a number: {text!r}")
        ip, fp, esign, ex = m.groups()
        with np.errstate(all="ignore"):
            v = ftype(int(ip or "0"))
            if fp is not None:
                digits = fp[:19]
                v = ftype(v + ftype(float(int(digits or "0")) / float(10 ** len(digits))))
            if ex is not None:
                e = int(ex)
                if ftype is np.float32 and (e > 38 or (e == 38 and (
                        (esign != "-" and v > np.float32(3.402823466)) or
                        (esign == "-" and v < np.float32(1.175494351))))):
                    raise ValueError(f"MXNet refuses {text!r}: out of float range (dmlc::stof ERANGE)")
                scale = ftype(1.0)
                while e >= 8:
                    scale = ftype(scale * ftype(1e8))
                    e -= 8
                while e > 0:
                    scale = ftype(scale * ftype(10.0))
                    e -= 1
                v = ftype(v / scale) if esign == "-" else ftype(v * scale)
    return float(-v if negative else v)


def dmlc_stof(text: str) -> float:
    """dmlc::stof: the float32 MXNet parses from ``text``."""
    return _parse(text, np.float32)


def dmlc_stod(text: str) -> float:
    """dmlc::stod: the binary64 MXNet parses from ``text``."""
    return _parse(text, np.float64)


def mxnet_field(x: float, T: Format) -> float:
    """A C ``float`` operator field: T(dmlc::stof(str(x)))."""
    return to_format(dmlc_stof(str(float(x))), T)


def mxnet_scalar(x: float, T: Format) -> float:
    """An NDArray scalar operand (``_mul_scalar`` and friends): T(dmlc::stod(str(x))).

    For float16 the double passes through float32 first (mshadow's half conversion).
    """
    v = dmlc_stod(str(float(x)))
    return to_format(v, F32, T) if T.bits == 16 else to_format(v, T)
