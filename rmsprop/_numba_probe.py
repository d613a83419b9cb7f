"""A compiled kernel's self-check: the NumPy engine's bits on special values.

Before a compiled kernel first touches a caller's arrays, it updates a small probe
(NaN, +-inf, +-0, subnormals, the largest finite value, values whose square
overflows or underflows, ordinary values; every array a different permutation)
under four hyperparameter sets (no options; rescale, clipping and weight decay;
clipping to zero with a zero epsilon; the ``step`` flavour), and the result must
equal the NumPy engine's bit for bit, where any NaN equals any NaN: when both
operands of an addition or multiplication are NaN, IEEE 754 leaves open whose
payload and sign the result carries, and NumPy's own loops pick either operand
depending on the loop length and alignment (so the NumPy engine's NaN signs
depend on its block size; see docs/rmsprop.md).  A numba or LLVM that contracted ``a*b + c``
into a fused multiply-add, computed float32 in float64 or rounded differently
fails here, and the engine falls back or refuses (see :mod:`rmsprop._settings`).
"""
import numpy as np

from ._params import make_params
from ._validate import make_job

_N = 64
_HP = (dict(flavour="fused", lr=0.01, rho=0.9, momentum=0.9, epsilon=1e-8),
       dict(flavour="fused", lr=0.1, rho=0.5, momentum=0.5, epsilon=1e-3, wd=0.1,
            rescale_grad=0.5, clip_gradient=1.0, clip_weights=2.0),
       dict(flavour="fused", lr=0.5, rho=0.99, momentum=0.0, epsilon=0.0, wd=1e-4,
            clip_gradient=0.0, clip_weights=0.0),
       dict(flavour="step", lr=0.05, rho=0.95, momentum=0.8, epsilon=1e-6, wd=0.01,
            rescale_grad=2.0, clip_gradient=0.5, clip_weights=1.5))


def palette(dtype):
    """Special and ordinary values of ``dtype``."""
    fi = np.finfo(dtype)
    big, tiny, sub = float(fi.max), float(fi.tiny), float(fi.smallest_subnormal)
    vals = [0.0, -0.0, np.inf, -np.inf, np.nan, big, -big, tiny, -tiny, sub, -sub,
            tiny / 2, -tiny / 2, np.sqrt(big) * 2, -np.sqrt(big) * 2, np.sqrt(sub), 1.0, -1.0]
    rng = np.random.default_rng(0)
    vals += list(rng.standard_normal(_N - len(vals)) * np.exp2(rng.integers(-8, 8, _N - len(vals))))
    with np.errstate(over="ignore"):
        return np.array(vals, np.float64).astype(dtype)


# kind -> (weight dtype, gradient dtype, state and compute dtype)
_DTYPES = {"float16": (np.float16,) * 3, "float32": (np.float32,) * 3,
           "float64": (np.float64,) * 3,
           "float16+float32 master": (np.float16, np.float16, np.float32)}


def _arrays(kind, centered, strided, seed):
    wdt, gdt, sdt = _DTYPES[kind]
    rng = np.random.default_rng(seed)
    base = palette(sdt)

    def arr(dtype, nonneg=False):
        with np.errstate(over="ignore"):
            x = rng.permutation(base).astype(dtype)
        x = np.abs(x) if nonneg else x
        return _restride(x[None, :]) if strided else x
    out = {"w": arr(wdt), "g": arr(gdt), "var": arr(sdt, True)}
    if centered:
        out["mean"], out["mom"] = arr(sdt), arr(sdt)
    if wdt != sdt:
        out["master"] = arr(sdt)
    return out


def _jobs(kind, centered, arrays, hp):
    wdt, gdt, sdt = _DTYPES[kind]
    p = make_params(sdt, centered=centered, **hp)
    names = ["mean", "var", "mom"] if centered else ["var"]
    return [make_job(p, "probe", arrays["w"], arrays["g"], [arrays[n] for n in names], names,
                     arrays.get("master"), gdt if wdt != sdt else None)]


def differences(a, b):
    """Flat indices where ``a`` and ``b`` differ: unequal bit patterns, unless both are NaN."""
    a, b = np.ascontiguousarray(a).ravel(), np.ascontiguousarray(b).ravel()
    u = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.itemsize]
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    return np.flatnonzero((a.view(u) != b.view(u)) & ~(nan_a & nan_b))


def probe(kind, centered, strided, parallel):
    """None when the compiled kernel (threaded or serial) matches the NumPy engine, else
    the first difference."""
    from . import _engine, _numba_engine
    for k, hp in enumerate(_HP):
        ref = _arrays(kind, centered, strided, k)
        got = {n: _restride(a) if strided else a.copy() for n, a in ref.items()}
        _engine.run_numpy(_jobs(kind, centered, ref, hp))
        nthreads = _numba_engine.threads(2) if parallel else 1
        plan = _numba_engine.make_plan(_jobs(kind, centered, got, hp), None, nthreads,
                                       0 if parallel else 1 << 62)
        _numba_engine.execute_tables(plan, nthreads)
        for name in ref:
            bad = differences(ref[name], got[name])
            if bad.size:
                i = bad[0]
                return (f"hyperparameters {hp}: {name}[{i}] is {got[name].ravel()[i]!r}, "
                        f"the NumPy engine gives {ref[name].ravel()[i]!r}")
    return None


def _restride(a):
    """A copy of the ``(1, n)`` array ``a``, strided: every other element of one column
    of a ``(2n, 2)`` buffer, transposed."""
    buf = np.zeros((a.shape[1] * 2, 2), a.dtype)
    out = buf[::2, 1:].T
    out[...] = a
    return out
