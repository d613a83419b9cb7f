"""Block kernels: one RMSProp update of contiguous 1-D blocks, in place.

Every operation is one NumPy ufunc call writing into the block itself or into a
preallocated scratch buffer, in MXNet's operation order, each rounded to the
compute dtype ``T``::

    g  = rescale * grad ;  g = clip(g, clip_gradient) ;  g = g + wd * w
    non-centered:  var = (1-rho) * (g*g) + rho * var
                   w   = w - (lr * g) / (sqrt(var) + eps)     (fused operator)
                   w   = w - lr * (g / (sqrt(var) + eps))     (step flavour)
    centered:      var = (1-rho) * (g*g) + rho * var
                   mean = (1-rho) * g + rho * mean
                   mom = momentum * mom - (lr * g) / sqrt(var - mean*mean + eps)
                   w   = w + mom
    w = clip(w, clip_weights)

The states are written before they are read back for the weight update, so the
weight update sees the stored (rounded) state.  Multiplying by 1 and adding a
zero epsilon are skipped (exact identities here); the weight-decay term is never
skipped because ``0 * inf`` is NaN in MXNet too.
"""
import numpy as np

from ._half import narrow, widen

try:                                           # the clip ufunc (NumPy >= 1.17)
    from numpy._core.umath import clip as _clip
except ImportError:                            # pragma: no cover - NumPy 1.x
    from numpy.core.umath import clip as _clip

_mul, _add, _sub, _div = np.multiply, np.add, np.subtract, np.divide
_sqrt, _square, _copyto = np.sqrt, np.square, np.copyto
_F16, _F32 = np.dtype(np.float16), np.dtype(np.float32)


class Scratch:
    """Per-thread work buffers of ``size`` elements of ``dtype`` (reused across blocks)."""

    def __init__(self, dtype, size):
        self.dtype, self.size = np.dtype(dtype), size
        e = lambda: np.empty(size, self.dtype)  # noqa: E731
        self.a, self.b, self.c, self.g = e(), e(), e(), e()
        self.m1, self.m2 = np.empty(size, bool), np.empty(size, bool)
        # staging buffers for groups of small tensors
        self.sw, self.sg, self.sv, self.sm, self.so = e(), e(), e(), e(), e()
        self._half = None

    def half(self):
        """uint32 work arrays and float16 staging (weight, grad) for multi-precision."""
        if self._half is None:
            n = self.size
            self._half = (np.empty(n, np.uint32), np.empty(n, np.uint32),
                          np.empty(n, np.float16), np.empty(n, np.float16))
        return self._half


def widen_into(dst, src, s, n):
    """``dst[:] = src``; float16 -> float32 through :mod:`rmsprop._half`."""
    if src.dtype == _F16 and dst.dtype == _F32:
        u1 = s.half()[0]
        widen(src, dst, u1[:n], s.m1[:n])
    else:
        _copyto(dst, src)


def narrow_into(dst, src, s, n):
    """``dst[:] = src``; float32 -> float16 through :mod:`rmsprop._half`."""
    if src.dtype == _F32 and dst.dtype == _F16:        # the f32 scratch c is free here
        u1, u2 = s.half()[:2]
        narrow(src, dst, u1[:n], u2[:n], s.c[:n].view(np.uint32), s.m1[:n])
    else:
        _copyto(dst, src)


def clip_into(x, bounds, out, s, n):
    """``out = clip(x)`` with the C++ rule ``x > hi ? hi : (x < lo ? lo : x)``.

    NaN and -0.0 pass through; with ``hi == 0`` a negative x becomes ``lo`` (-0.0).
    """
    lo, hi, fast = bounds
    if fast:
        _clip(x, lo, hi, out)
        return
    m_hi, m_lo = s.m1[:n], s.m2[:n]
    np.greater(x, hi, m_hi)
    np.less(x, lo, m_lo)
    if out is not x:
        _copyto(out, x)
    _copyto(out, lo, where=m_lo)
    _copyto(out, hi, where=m_hi)      # the ``x > hi`` branch wins (else-if)


def update_block(p, n, W, G, V, M, MO, WL, s):
    """Update ``n`` elements in place.  W, V, M, MO (and G unless it needs a
    cast) have dtype ``p.dtype``; WL (or None) receives ``W`` cast to its dtype."""
    if n == s.size:
        a, b = s.a, s.b
    else:
        a, b = s.a[:n], s.b[:n]
    if G.dtype != p.dtype:                        # multi-precision: float16 grad
        g = s.g if n == s.size else s.g[:n]
        widen_into(g, G, s, n)
        G = g
    # g' = clip(rescale * grad) + wd * w, into a
    src = G
    if p.rescale is not None:
        _mul(G, p.rescale, a)
        src = a
    if p.gclip is not None:
        clip_into(src, p.gclip, a, s, n)
        src = a
    if src is a:
        _mul(W, p.wd, b)
        _add(a, b, a)
    else:
        _mul(W, p.wd, a)
        _add(a, G, a)
    if M is None:
        _square(a, b)
        _mul(b, p.omr, b)
        _mul(V, p.rho, V)
        _add(b, V, V)
        _sqrt(V, b)
        if p.eps is not None:
            _add(b, p.eps, b)
        if p.lr_first:
            _mul(a, p.lr, a)
            _div(a, b, b)
        else:
            _div(a, b, b)
            _mul(b, p.lr, b)
        _sub(W, b, W)
    else:
        _square(a, b)
        _mul(b, p.omr, b)                     # (1-rho) * (g*g)
        _mul(V, p.rho, V)
        _add(b, V, V)
        _mul(a, p.omr, b)                     # (1-rho) * g
        _mul(M, p.rho, M)
        _add(b, M, M)
        _square(M, b)
        _sub(V, b, b)
        if p.eps is not None:
            _add(b, p.eps, b)
        _sqrt(b, b)
        _mul(a, p.lr, a)
        _div(a, b, a)                         # (lr * g) / sqrt(var - mean^2 + eps)
        _mul(MO, p.momentum, MO)
        _sub(MO, a, MO)
        _add(W, MO, W)
    if p.wclip is not None:
        clip_into(W, p.wclip, W, s, n)
    if WL is not None:
        narrow_into(WL, W, s, n)
