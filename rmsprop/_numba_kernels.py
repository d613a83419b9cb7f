"""Compiled RMSProp loops over tables of tensors (numba, no fastmath).

The same operations as :func:`rmsprop._kernels.update_block`, in the same order and
with the same operand order, one element at a time, each rounded to the compute
dtype (float16 weights: computed in float32 and rounded to half after every
operation, see :mod:`rmsprop._numba_half`)::

    g  = clip(rescale * grad) + wd * w     (rescale, clip optional; else wd * w + grad)
    non-centered:  var = (g*g) * (1-rho) + var * rho
                   w   = w - (g * lr) / (sqrt(var) + eps)     (lr_first: fused operator)
                   w   = w - (g / (sqrt(var) + eps)) * lr     (step flavour)
    centered:      var = (g*g) * (1-rho) + var * rho
                   mean = g * (1-rho) + mean * rho
                   mom = mom * momentum - (g * lr) / sqrt(var - mean*mean + eps)
                   w   = w + mom
    w = clip(w, clip_weights);  clip(x) = x > hi ? hi : (x < lo ? lo : x)

Compiled with ``error_model="numpy"`` (IEEE division: no ZeroDivisionError) and
without fastmath, so LLVM neither contracts ``a*b + c`` into a fused multiply-add
nor reorders.  The per-pointer inner loops are compiled with ``noalias`` arguments
(the validator guarantees that no output overlaps another array), which lets LLVM
vectorize them without runtime overlap checks.

Tables (int64): a *chunk* row is ``(w, g, var, mean, mom, w16, n, row)``: element
addresses (``mean``/``mom``/``w16`` 0 when absent), its length and its row in the
hyperparameter table ``hp`` (compute dtype, columns ``LR..WHI``) and flag table
``fl`` (columns ``F_*``).  ``starts`` splits the chunks into one share per thread.
A *strided* row is ``(row, ndim, 6 addresses, shape[D], 6 x strides[D])`` (bytes).
"""
import numpy as np
from numba import njit, prange
from numba.core.compiler import Compiler

from ._numba_half import as_ptr, ld, rnd, st

LR, WD, RHO, OMR, MOM, EPS, RESCALE, GLO, GHI, WLO, WHI = range(11)
F_RESCALE, F_GCLIP, F_EPS, F_WCLIP, F_LR_FIRST = range(5)
N_HP, N_FLAGS = 11, 5
C_N, C_ROW, N_CHUNK = 6, 7, 8
_U16 = np.uint16(0)
_PIECE = 4096            # inner elements per work unit of a strided tensor
CACHE_NOTE = []          # why compiled code is not cached, if it is not


class _NoAliasCompiler(Compiler):
    """The default pipeline with ``noalias`` on pointer arguments."""

    def define_pipelines(self):
        self.state.flags.noalias = True
        return super().define_pipelines()


def _jit(parallel=False, noalias=False):
    """``njit`` with the engine's options and a disk cache (no cache, and a note in
    :data:`CACHE_NOTE`, when numba finds no writable cache directory)."""
    opts = dict(error_model="numpy", nogil=True, parallel=parallel)
    if noalias:
        opts["pipeline_class"] = _NoAliasCompiler

    def deco(fn):
        try:
            return njit(cache=True, **opts)(fn)
        except RuntimeError as exc:          # "cannot cache function ...: no locator"
            if not CACHE_NOTE:
                CACHE_NOTE.append(str(exc))
            return njit(**opts)(fn)
    return deco


@_jit()
def _clip(x, lo, hi):
    if x > hi:
        return hi
    if x < lo:
        return lo
    return x


@_jit()
def _grad(w, g, k, wd, rescale, glo, ghi, f_rescale, f_gclip):
    """``clip(rescale * g) + wd * w``, or ``wd * w + g`` when neither applies."""
    if f_rescale or f_gclip:
        a = g
        if f_rescale:
            a = rnd(g * rescale, k)
        if f_gclip:
            a = _clip(a, glo, ghi)
        return rnd(a + rnd(w * wd, k), k)
    return rnd(rnd(w * wd, k) + g, k)


@_jit()
def _plain(w, g, v, k, h, f):
    """One non-centered update: ``(w, var)``; ``h``/``f`` are the hp and flag tuples."""
    a = _grad(w, g, k, h[WD], h[RESCALE], h[GLO], h[GHI], f[F_RESCALE], f[F_GCLIP])
    b = rnd(rnd(a * a, k) * h[OMR], k)
    v = rnd(b + rnd(v * h[RHO], k), k)
    d = rnd(np.sqrt(v), k)
    if f[F_EPS]:
        d = rnd(d + h[EPS], k)
    if f[F_LR_FIRST]:
        b = rnd(rnd(a * h[LR], k) / d, k)
    else:
        b = rnd(rnd(a / d, k) * h[LR], k)
    w = rnd(w - b, k)
    if f[F_WCLIP]:
        w = _clip(w, h[WLO], h[WHI])
    return w, v


@_jit()
def _centered(w, g, v, m, mo, k, h, f):
    """One centered update: ``(w, var, mean, mom)``."""
    a = _grad(w, g, k, h[WD], h[RESCALE], h[GLO], h[GHI], f[F_RESCALE], f[F_GCLIP])
    b = rnd(rnd(a * a, k) * h[OMR], k)
    v = rnd(b + rnd(v * h[RHO], k), k)
    b = rnd(a * h[OMR], k)
    m = rnd(b + rnd(m * h[RHO], k), k)
    b = rnd(v - rnd(m * m, k), k)
    if f[F_EPS]:
        b = rnd(b + h[EPS], k)
    b = rnd(np.sqrt(b), k)
    a = rnd(rnd(a * h[LR], k) / b, k)
    mo = rnd(rnd(mo * h[MOM], k) - a, k)
    w = rnd(w + mo, k)
    if f[F_WCLIP]:
        w = _clip(w, h[WLO], h[WHI])
    return w, v, m, mo


@_jit()
def _row(hp, fl, r):
    h, f = hp[r], fl[r]
    return ((h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10]),
            (f[0] != 0, f[1] != 0, f[2] != 0, f[3] != 0, f[4] != 0))


@_jit(noalias=True)
def _run(pw, pg, pv, pm, po, pl, n, k, h, f, km, kl):
    """``n`` contiguous elements; ``km``/``kl`` None (typed: the branches are pruned at
    compile time) or values of the mean/mom and float16-weight storage types."""
    for i in range(n):
        if km is None:
            w, v = _plain(ld(pw, i), ld(pg, i), ld(pv, i), k, h, f)
        else:
            w, v, m, mo = _centered(ld(pw, i), ld(pg, i), ld(pv, i), ld(pm, i), ld(po, i),
                                    k, h, f)
            st(pm, i, m)
            st(po, i, mo)
        st(pv, i, v)
        st(pw, i, w)
        if kl is not None:
            st(pl, i, w)


@_jit()
def _chunk(ch, c, hp, fl, kw, kg, km, kl):
    h, f = _row(hp, fl, ch[c, C_ROW])
    _run(as_ptr(ch[c, 0], kw), as_ptr(ch[c, 1], kg), as_ptr(ch[c, 2], kw),
         as_ptr(ch[c, 3], kw), as_ptr(ch[c, 4], kw), as_ptr(ch[c, 5], _U16), ch[c, C_N],
         kw, h, f, km, kl)


@_jit(parallel=True)
def chunks(ch, starts, hp, fl, kw, kg, km, kl):
    """Update every chunk; thread ``t`` takes ``ch[starts[t]:starts[t+1]]``.  ``kw``/``kg``:
    values of the storage types of weight and state / gradient; ``km``: None
    (non-centered) or ``kw`` (centered); ``kl``: ``np.uint16(0)`` to write float16
    weights (multi-precision), else None."""
    for t in prange(starts.size - 1):
        for c in range(starts[t], starts[t + 1]):
            _chunk(ch, c, hp, fl, kw, kg, km, kl)


@_jit()
def chunks_serial(ch, starts, hp, fl, kw, kg, km, kl):
    """:func:`chunks` on the calling thread (no thread start-up for small calls)."""
    for c in range(ch.shape[0]):
        _chunk(ch, c, hp, fl, kw, kg, km, kl)


@_jit()
def _offsets(row, nd, o, out):
    """Addresses of outer index ``o`` (C order over the first ``nd - 1`` dims) for the
    six arrays of strided row ``row`` into ``out``."""
    for j in range(6):
        out[j] = row[2 + j]
    for d in range(nd - 2, -1, -1):
        dim = row[8 + d]
        i = o % dim
        o //= dim
        for j in range(6):
            out[j] += i * row[8 + nd + j * nd + d]


@_jit()
def _units(row):
    """Work units of a strided row: outer indices x pieces of ``_PIECE`` inner elements."""
    nd = row[1]
    outer = 1
    for d in range(nd - 1):
        outer *= row[8 + d]
    return outer * ((row[7 + nd] + _PIECE - 1) // _PIECE)


@_jit()
def _unit(row, u, hp, fl, kw, kg, km, kl):
    """Work unit ``u`` of strided row ``row`` (see :func:`_run` for the arguments)."""
    nd, inner = row[1], row[7 + row[1]]
    pieces = (inner + _PIECE - 1) // _PIECE
    a = np.empty(6, np.int64)
    _offsets(row, nd, u // pieces, a)
    last = 8 + 2 * nd - 1                       # inner strides: row[last + j * nd]
    s = np.empty(6, np.int64)
    for j in range(6):
        s[j] = row[last + j * nd]
    h, f = _row(hp, fl, row[0])
    for i in range((u % pieces) * _PIECE, min(inner, (u % pieces + 1) * _PIECE)):
        pw, pv = as_ptr(a[0] + i * s[0], kw), as_ptr(a[2] + i * s[2], kw)
        g = ld(as_ptr(a[1] + i * s[1], kg), 0)
        if km is None:
            w, v = _plain(ld(pw, 0), g, ld(pv, 0), kw, h, f)
        else:
            pm, po = as_ptr(a[3] + i * s[3], km), as_ptr(a[4] + i * s[4], km)
            w, v, m, mo = _centered(ld(pw, 0), g, ld(pv, 0), ld(pm, 0), ld(po, 0), kw, h, f)
            st(pm, 0, m)
            st(po, 0, mo)
        st(pv, 0, v)
        st(pw, 0, w)
        if kl is not None:
            st(as_ptr(a[5] + i * s[5], kl), 0, w)


@_jit(parallel=True)
def strided(tab, hp, fl, kw, kg, km, kl):
    """Update every strided tensor (rows of ``tab``, see the module docstring); the work
    units of one tensor are shared among the threads."""
    for r in range(tab.shape[0]):
        row = tab[r]
        for u in prange(_units(row)):
            _unit(row, u, hp, fl, kw, kg, km, kl)


@_jit()
def strided_serial(tab, hp, fl, kw, kg, km, kl):
    """:func:`strided` on the calling thread."""
    for r in range(tab.shape[0]):
        row = tab[r]
        for u in range(_units(row)):
            _unit(row, u, hp, fl, kw, kg, km, kl)
