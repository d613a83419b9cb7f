"""float16 <-> float32 conversion of contiguous blocks with integer ufuncs.

NumPy's own casts between float16 and float32 run at about one element per
nanosecond (no F16C in the baseline build); these bit manipulations run 2-3
times faster and give the same bits for every float16 (widening, exact) and for
every non-NaN float32 (narrowing, round to nearest even, overflow to inf,
subnormal results).  NaN stays NaN (the payload may differ from NumPy's).

Widening: shift the 15 exponent+mantissa bits into float32 position and scale
by 2**112 (exact for normal and subnormal halves), mark inf/NaN (which land at
or above 65536), then restore the sign.  Narrowing: add the rounding bias
``0xfff + lowest kept bit`` and rebias the exponent in one integer pass; the few
elements outside the normal float16 range are recomputed separately.
"""
import numpy as np

_U16, _U32, _F32 = np.uint16, np.uint32, np.float32
_SCALE = np.array(2.0 ** 112, _F32)
_HUGE = np.array(65536.0, _F32)
_EXP_ALL = np.array(0x7F800000, _U32)
_MAG = np.array(0x0FFFE000, _U32)
_SIGN28 = np.array(0x10000000, _U32)
_ABS = np.array(0x7FFFFFFF, _U32)
_ONE = np.array(1, _U32)
_SIGN16 = np.array(0x8000, _U32)
_BIAS = np.array((0xFFF - (112 << 23)) & 0xFFFFFFFF, _U32)   # rounding bias, exponent 127 -> 15
_OVER = 0x47800000          # |x| >= 65536 (or inf/NaN): outside the rounding path
_UNDER = 0x38800000         # |x| < 2**-14: float16 subnormal or zero
_UNDER_U = np.array(_UNDER, _U32)
_SPAN = np.array(_OVER - _UNDER, _U32)
_HALF = np.array(0.5, _F32)
_HALF_BITS = np.array(0x3F000000, _U32)


def widen(h, out, t1, mask):
    """``out[:] = h`` for float16 ``h`` (1-D), float32 ``out``; ``t1`` uint32 and
    ``mask`` bool scratch of the same length."""
    u = out.view(_U32)
    np.left_shift(h.view(_U16), 13, out=u, dtype=_U32)    # sign lands on bit 28
    np.bitwise_and(u, _SIGN28, t1)
    np.bitwise_and(u, _MAG, u)
    np.multiply(out, _SCALE, out)
    np.greater_equal(out, _HUGE, mask)                       # was inf or NaN
    np.bitwise_or(u, _EXP_ALL, u, where=mask)
    np.left_shift(t1, 3, t1)
    np.bitwise_or(u, t1, u)


def narrow(x, out, t1, t2, t3, mask):
    """``out[:] = x`` for float32 ``x`` (1-D), float16 ``out``; ``t1``, ``t2``, ``t3``
    uint32 and ``mask`` bool scratch of the same length."""
    u = x.view(_U32)
    np.bitwise_and(u, _ABS, t1)                              # |x| bits
    np.right_shift(t1, 13, t2)
    np.bitwise_and(t2, _ONE, t2)                             # lowest kept mantissa bit
    np.add(t2, t1, t2)
    np.add(t2, _BIAS, t2)
    np.right_shift(t2, 13, t2)                               # rounded half bits (normal range)
    # |x| < 2**-14 or |x| >= 65536 in one unsigned comparison (the subtraction wraps)
    np.subtract(t1, _UNDER_U, t3)
    np.greater_equal(t3, _SPAN, mask)
    idx = np.flatnonzero(mask)
    if idx.size:
        _fix(t1, t2, idx)
    np.right_shift(u, 16, t1)
    np.bitwise_and(t1, _SIGN16, t1)
    np.bitwise_or(t2, t1, t2)
    np.copyto(out.view(_U16), t2, casting="unsafe")


def _fix(a, r, idx):
    """Recompute the elements ``idx`` whose half is zero, subnormal, inf or NaN."""
    ai = a[idx]
    # below 2**-14: |x| + 0.5 rounds |x| to a multiple of 2**-24 (round to nearest even)
    with np.errstate(invalid="ignore"):                        # NaN lanes: replaced below
        ri = (ai.view(_F32) + _HALF).view(_U32) - _HALF_BITS
    ri[ai >= _OVER] = 0x7C00                                 # overflow -> inf
    nan = ai > 0x7F800000
    if nan.any():
        ri[nan] = np.maximum((ai[nan] >> 13) & 0x3FF, 1) | 0x7C00
    r[idx] = ri
