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

Where the CPU converts between float16 and float32 itself (x86 with F16C, which
numba targets when it compiles for the host; aarch64), the conversions are LLVM's
``fpext``/``fptrunc`` (``vcvtph2ps``/``vcvtps2ph``), else the integer code below
(``_soft_h2f``/``_soft_f2h``; integer work in int64, as numba turns mixed
unsigned/signed arithmetic into float64).  The instructions give the same bits as
NumPy for every value but one case: widening a signalling NaN quiets it.  No output
can show that: every value the engine stores is the result of an arithmetic
operation, which quiets a NaN anyway (and only quiet NaNs are ever narrowed).
"""
import numba
import numpy as np
from llvmlite import binding, ir
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


def _hardware_half():
    """Whether LLVM converts float16 <-> float32 with instructions of the target CPU."""
    if numba.config.CPU_NAME not in (None, "host") or numba.config.CPU_FEATURES:
        return False                       # a chosen target: do not count on its features
    triple = binding.get_process_triple()
    if triple.startswith(("x86_64", "i686", "i386")):
        return bool(binding.get_host_cpu_features().get("f16c"))
    return triple.startswith(("aarch64", "arm64"))


HARDWARE_HALF = _hardware_half()


@intrinsic
def _hw_h2f(typingctx, h):
    if h != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())
    return types.float32(h), codegen


@intrinsic
def _hw_f2h(typingctx, f):
    if f != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))
    return types.uint16(f), codegen


@njit
def _soft_h2f(h):
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
def _soft_f2h(f):
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


h2f = _hw_h2f if HARDWARE_HALF else _soft_h2f
f2h = _hw_f2h if HARDWARE_HALF else _soft_f2h


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
