"""The compiled engine: validated jobs as tables of tensors, one compiled call per group.

Jobs are grouped by storage (float16, float32, float64, float16 with a float32
master) and rule (centered or not).  Per group, :func:`make_plan` writes

* a chunk table of the contiguous tensors (element addresses, length, row), with
  large tensors cut so that each thread gets an equal share of the elements;
* a strided table of the others (dimensions ordered by the weight's strides,
  mergeable dimensions merged);
* hyperparameter and flag tables, one row per job, refilled from each job's
  ``Params`` at every run (so a kept plan runs with the current rates).

:func:`run` makes one compiled call per table.  A kernel is compiled (or loaded
from numba's disk cache) on its first use and then checked bit for bit against
the NumPy engine on special-value inputs (:mod:`rmsprop._numba_probe`) before
it touches the caller's arrays; the time this takes is recorded per kernel.
Compiled calls are serialized with a lock (numba's workqueue threading layer
must not be entered by two threads at once).
"""
import os
import threading
import time

import numba
import numpy as np

from . import _numba_kernels as K
from ._params import FLOAT_DTYPES

_F16, _F32, _F64 = FLOAT_DTYPES
_CUT = 1024              # a thread's share of a tensor starts at a multiple of this
_LOCK = threading.Lock()
_KINDS = {_F16: "float16", _F32: "float32", _F64: "float64"}
_STORE = {"float16": (np.uint16(0), np.uint16(0), None, np.float32),
          "float32": (np.float32(0), np.float32(0), None, np.float32),
          "float64": (np.float64(0), np.float64(0), None, np.float64),
          "float16+float32 master": (np.float32(0), np.uint16(0), np.uint16(0), np.float32)}
compiled = {}            # kernel label -> {"seconds", "cache" ("hit"/"miss"), "self_check_seconds"}
_ready = set()
if "NUMBA_THREADING_LAYER" not in os.environ:
    # numba's own scheduler: needs neither TBB nor an OpenMP runtime (not thread-safe,
    # hence the lock); takes effect unless numba has already started its threads
    numba.config.THREADING_LAYER = "workqueue"


class EngineError(RuntimeError):
    """A compiled kernel could not be built or disagrees with the NumPy engine."""


class Group:
    """The tables of one storage kind and rule."""

    __slots__ = ("kind", "centered", "jobs", "chunks", "starts", "strided", "hp", "fl",
                 "parallel")


class NumbaPlan:
    """A plan of the compiled engine (see :class:`rmsprop._engine.Plan`); it stays valid
    for any rates, as the hyperparameter rows are refilled at every run."""

    __slots__ = ("jobs", "config", "groups")
    any_rates = True


def _addr(a):
    return 0 if a is None else a.__array_interface__["data"][0]


def _kind(job):
    return "float16+float32 master" if job.wl is not None else _KINDS[job.p.dtype]


def _dims(arrays):
    """``(shape, strides per array)`` of equally shaped arrays, dims ordered by the first
    array's stride magnitude (largest first), length-1 dims dropped, mergeable ones merged."""
    keep = [d for d in range(arrays[0].ndim) if arrays[0].shape[d] != 1]
    keep.sort(key=lambda d: -abs(arrays[0].strides[d]))
    shape = [arrays[0].shape[d] for d in keep] or [1]
    strides = [[a.strides[d] for d in keep] or [0] for a in arrays]
    d = len(shape) - 1
    while d > 0:          # merge d-1 into d when every array steps over d's extent evenly
        if all(s[d - 1] == s[d] * shape[d] for s in strides):
            shape[d] *= shape[d - 1]
            del shape[d - 1]
            for s in strides:
                del s[d - 1]
        d -= 1
    return shape, strides


def _strided_row(row, job):
    arrs = [job.w, job.g, job.v, job.m, job.mo, job.wl]
    present = [a for a in arrs if a is not None]
    shape, st = _dims(present)
    it = iter(st)
    strides = [next(it) if a is not None else [0] * len(shape) for a in arrs]
    return [row, len(shape)] + [_addr(a) for a in arrs] + shape + sum(strides, [])


def _split(entries, nshares):
    """Chunk rows for contiguous ``(row, job)`` entries, cut into ``nshares`` shares of
    about equal element counts (a cut inside a tensor falls on a multiple of ``_CUT``
    elements); returns ``(chunk table, share starts)``."""
    target = -(-sum(job.n for _, job in entries) // nshares)
    rows, starts, load = [], [0], 0
    for row, job in entries:
        arrs = [job.w, job.g, job.v, job.m, job.mo, job.wl]
        base = [_addr(a) for a in arrs]
        size = [0 if a is None else a.itemsize for a in arrs]
        lo = 0
        while lo < job.n:
            hi = job.n
            if len(starts) < nshares:                 # this share may end inside the tensor
                hi = min(hi, -(-(lo + target - load) // _CUT) * _CUT)
            rows.append([b + lo * s if b else 0 for b, s in zip(base, size)] + [hi - lo, row])
            load += hi - lo
            lo = hi
            if load >= target and len(starts) < nshares:
                starts.append(len(rows))
                load = 0
    if starts[-1] != len(rows):
        starts.append(len(rows))
    return np.array(rows, np.int64).reshape(-1, K.N_CHUNK), np.array(starts, np.int64)


def make_plan(jobs, config, nthreads, min_parallel):
    """Group and tabulate validated jobs for :func:`run`."""
    groups = {}
    for job in jobs:
        if job.n == 0:
            continue
        key = (_kind(job), job.p.centered)
        grp = groups.get(key)
        if grp is None:
            grp = groups[key] = Group()
            grp.kind, grp.centered, grp.jobs = key[0], key[1], []
        grp.jobs.append(job)
    for grp in groups.values():
        flat = [(r, j) for r, j in enumerate(grp.jobs) if j.flat]
        rows = [_strided_row(r, j) for r, j in enumerate(grp.jobs) if not j.flat]
        nshares = threads(nthreads) if sum(j.n for j in grp.jobs) >= min_parallel else 1
        grp.parallel = nshares > 1
        grp.chunks, grp.starts = _split(flat, nshares) if flat else (None, None)
        width = max(map(len, rows), default=0)
        grp.strided = np.array([r + [0] * (width - len(r)) for r in rows], np.int64) \
            if rows else None
        dt = _STORE[grp.kind][3]
        grp.hp = np.zeros((len(grp.jobs), K.N_HP), dt)
        grp.fl = np.zeros((len(grp.jobs), K.N_FLAGS), np.int64)
    plan = NumbaPlan()
    plan.jobs, plan.config, plan.groups = jobs, config, list(groups.values())
    return plan


def hp_row(p, dtype):
    """``(hp, flags)`` table rows for :class:`rmsprop._params.Params` ``p``."""
    h, f = np.zeros(K.N_HP, dtype), np.zeros(K.N_FLAGS, np.int64)
    h[K.LR], h[K.WD], h[K.RHO], h[K.OMR], h[K.MOM] = p.lr, p.wd, p.rho, p.omr, p.momentum
    f[K.F_LR_FIRST] = p.lr_first
    for col, flag, val in ((K.EPS, K.F_EPS, p.eps), (K.RESCALE, K.F_RESCALE, p.rescale)):
        if val is not None:
            h[col], f[flag] = val, 1
    for col, flag, val in ((K.GLO, K.F_GCLIP, p.gclip), (K.WLO, K.F_WCLIP, p.wclip)):
        if val is not None:
            h[col], h[col + 1], f[flag] = val[0], val[1], 1
    return h, f


def _fill(grp):
    ps = [j.p for j in grp.jobs]
    p0, dt = ps[0], grp.hp.dtype
    if all(p is p0 for p in ps):
        grp.hp[:], grp.fl[:] = hp_row(p0, dt)
        return
    memo = {}
    for r, p in enumerate(ps):
        hf = memo.get(id(p))
        if hf is None:
            hf = memo[id(p)] = hp_row(p, dt)
        grp.hp[r], grp.fl[r] = hf


def _kernel(strided, parallel):
    if strided:
        return K.strided if parallel else K.strided_serial
    return K.chunks if parallel else K.chunks_serial


def label(kind, centered, strided, parallel):
    """A kernel's name in :func:`describe`, e.g. ``non-centered float32 contiguous
    threaded``."""
    return (f"{'centered' if centered else 'non-centered'} {kind} "
            f"{'strided' if strided else 'contiguous'} {'threaded' if parallel else 'serial'}")


def _args(grp, strided):
    kw, kg, kl, _ = _STORE[grp.kind]
    km = kw if grp.centered else None
    if strided:
        return (grp.strided, grp.hp, grp.fl, kw, kg, km, kl)
    return (grp.chunks, grp.starts, grp.hp, grp.fl, kw, kg, km, kl)


def _prepare(grp, strided):
    """Compile (or load) the kernel the group runs and probe it, once per process."""
    key = (grp.kind, grp.centered, strided, grp.parallel)
    if key in _ready:
        return
    from ._numba_probe import probe
    fn = _kernel(strided, grp.parallel)
    sig = tuple(numba.typeof(a) for a in _args(grp, strided))
    hits = sum(fn.stats.cache_hits.values())
    t0 = time.perf_counter()
    try:
        fn.compile(sig)
    except Exception as exc:        # numba/LLVM failures surface as many exception types
        raise EngineError(f"numba could not compile the {label(*key)} kernel: "
                          f"{type(exc).__name__}: {exc}") from exc
    t1 = time.perf_counter()
    bad = probe(*key)
    if bad:
        raise EngineError(f"the compiled {label(*key)} kernel disagrees with the NumPy "
                          f"engine: {bad}")
    compiled[label(*key)] = {"seconds": round(t1 - t0, 3),
                             "cache": "hit" if sum(fn.stats.cache_hits.values()) > hits
                             else "miss",
                             "self_check_seconds": round(time.perf_counter() - t1, 3)}
    _ready.add(key)


def threads(n):
    """The numba threads used for ``n`` configured threads (numba starts at most
    ``NUMBA_NUM_THREADS``, by default the number of CPUs)."""
    return max(1, min(n, numba.config.NUMBA_NUM_THREADS))


def describe(n):
    """The compiled engine's part of :func:`rmsprop.settings`."""
    try:
        layer = numba.threading_layer()
    except ValueError:                      # no parallel region has run yet
        layer = f"{numba.config.THREADING_LAYER} (not started yet)"
    cache = K.CACHE_NOTE[0] if K.CACHE_NOTE else K.chunks.stats.cache_path
    return {"numba_threading_layer": layer, "numba_threads": threads(n),
            "numba_cache": cache, "numba_compile": dict(compiled)}


def run(plan, nthreads):
    """Run a plan in place on ``threads(nthreads)`` numba threads, compiling and checking
    its kernels first if this process has not used them yet."""
    for grp in plan.groups:
        for strided in (False, True):
            if (grp.strided if strided else grp.chunks) is not None:
                _prepare(grp, strided)
    execute_tables(plan, threads(nthreads))


def execute_tables(plan, nthreads):
    """The compiled calls of a plan whose kernels are ready, on ``nthreads`` numba threads
    (see :func:`threads`)."""
    with _LOCK:
        numba.set_num_threads(nthreads)
        for grp in plan.groups:
            _fill(grp)
            for strided in (False, True):
                if (grp.strided if strided else grp.chunks) is not None:
                    _kernel(strided, grp.parallel)(*_args(grp, strided))
