"""Scalar helpers for the compiled engine: raw pointers, bit casts and float16.

Compiled code reads and writes the arrays through raw addresses (tables of
tensors), so every access goes through :func:`ld` / :func:`st`, which convert a
float16 element (a ``uint16`` bit pattern) to float32 and back and pass other
dtypes through.  :func:`rnd` rounds a float32 value to float16 precision when
the weight is float16 (stored as ``uint16``) and is the identity
otherwise: an operation on float16 weights is computed in float32 and rounded
to half, as NumPy's float16 ufuncs do.  Both conversions give the bits of
NumPy's own casts (``npy_half_to_float`` / ``npy_float_to_half``):

* widening is exact; a NaN keeps its sign and payload;
* narrowing rounds to nearest even, overflows to inf (``|x| >= 65520``), gives
  float16 subnormals for ``|x| < 2**-14`` (``|x| + 0.5`` in float32 rounds ``|x|``
  to a multiple of ``2**-24``), and a NaN becomes ``0x7c00 | max(payload >> 13, 1)``
  with its sign.

Integer work is done in int64 (numba would turn mixed unsigned/signed integer
arithmetic into float64); float constants are ``np.float32`` literals.
"""
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

_TWO_M24 = np.float32(2.0 ** -24)
_HALF = np.float32(0.5)


@intrinsic
def as_ptr(typingctx, addr, like):
    """``addr`` (an int64 address) as a pointer to elements of the type of ``like``."""
    if not isinstance(addr, types.Integer):
        return None
    sig = types.CPointer(like)(addr, like)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))
    return sig, codegen


@intrinsic
def f32_bits(typingctx, x):
    """The bit pattern of a float32 as an int32."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(x), codegen


@intrinsic
def bits_f32(typingctx, x):
    """The float32 whose bit pattern is the (low 32 bits of the) integer ``x``."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        v = args[0]
        if v.type.width != 32:
            v = builder.trunc(v, ir.IntType(32))
        return builder.bitcast(v, ir.FloatType())
    return types.float32(x), codegen


@njit
def h2f(h):
    """float16 bits (uint16) -> float32, exactly."""
    x = np.int64(h)
    a = x & 0x7FFF
    if a >= 0x7C00:                                   # inf, NaN: keep the payload
        r = 0x7F800000 | ((a & 0x3FF) << 13)
    elif a >= 0x0400:                                 # normal: rebias the exponent
        r = (a << 13) + (112 << 23)
    else:                                             # zero, subnormal: a * 2**-24 (exact)
        r = np.int64(f32_bits(np.float32(a) * _TWO_M24))
    return bits_f32(r | ((x & 0x8000) << 16))


@njit
def f2h(f):
    """float32 -> float16 bits (uint16), rounded to nearest even."""
    x = np.int64(f32_bits(f)) & 0xFFFFFFFF
    a = x & 0x7FFFFFFF
    if a >= 0x47800000:                               # |f| >= 65536, inf, NaN
        if a > 0x7F800000:
            r = 0x7C00 | max((a >> 13) & 0x3FF, 1)
        else:
            r = 0x7C00
    elif a < 0x38800000:                              # |f| < 2**-14: subnormal or zero
        r = (np.int64(f32_bits(bits_f32(a) + _HALF)) & 0xFFFFFFFF) - 0x3F000000
    else:
        r = (a + 0xFFF + ((a >> 13) & 1) - (112 << 23)) >> 13
    return np.uint16(r | ((x >> 16) & 0x8000))


def ld(p, i):
    """Element ``i`` of pointer ``p`` in the compute dtype."""


def st(p, i, x):
    """Store ``x`` (compute dtype) as element ``i`` of pointer ``p``."""


def rnd(x, like):
    """``x`` rounded to float16 precision when ``like`` (a storage-type value) is a
    ``uint16``, else unchanged."""


def _is_half(p):
    return isinstance(p, types.CPointer) and p.dtype == types.uint16


@overload(ld)
def _ld(p, i):
    if _is_half(p):
        return lambda p, i: h2f(p[i])
    return lambda p, i: p[i]


@overload(st)
def _st(p, i, x):
    if _is_half(p):
        def impl(p, i, x):
            p[i] = f2h(x)
        return impl

    def impl(p, i, x):
        p[i] = x
    return impl


@overload(rnd)
def _rnd(x, like):
    if like == types.uint16:
        return lambda x, like: h2f(f2h(x))
    return lambda x, like: x
