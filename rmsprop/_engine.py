"""Blocked, threaded execution of a list of tensor updates.

A call receives already validated :class:`Job` objects (one per tensor) and

* cuts large contiguous tensors into blocks of ``block_size`` elements, so that
  every ufunc of :func:`update_block` works on cache-resident data and each
  element of weight/grad/state is read and written about once from memory;
* packs small tensors with equal hyperparameters into groups that are updated
  as one block: each array of a group is used in place when its pieces lie back
  to back in one buffer (arena states, see :mod:`rmsprop._arena`), otherwise
  gathered into per-thread staging buffers and scattered back, so 500 tiny
  tensors cost a few ufunc calls per group rather than 15 per tensor;
* walks non-contiguous tensors with a buffered ``np.nditer`` (same blocking);
* splits the work by element count over ``num_threads`` threads (the caller's
  thread plus a pool); NumPy releases the GIL inside the ufuncs.

:func:`make_plan` does the packing, blocking and splitting once; the optimizer
keeps the :class:`Plan` with its validated jobs and runs it again (with
:func:`execute`) while they stay the same.

The result does not depend on the block size or the thread count: every
element goes through the same sequence of correctly rounded operations.
"""
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _settings
from ._kernels import Scratch, narrow_into, update_block, widen_into
from ._settings import cfg as _cfg
from ._settings import configure, get_config, settings  # noqa: F401 - the engine's API

_BLOCK_BYTES = 512 * 1024
_local = threading.local()
_pool = None
_pool_size = 0
_pool_pid = None
_pool_lock = threading.Lock()


class Job:
    """One tensor update.  ``flat``: the arrays are 1-D contiguous views that
    correspond element by element; otherwise they are the original arrays."""

    __slots__ = ("p", "n", "flat", "w", "g", "v", "m", "mo", "wl")

    def __init__(self, p, n, flat, w, g, v, m=None, mo=None, wl=None):
        self.p, self.n, self.flat = p, n, flat
        self.w, self.g, self.v, self.m, self.mo, self.wl = w, g, v, m, mo, wl


def _block_for(dtype):
    return _cfg.block_size or max(1024, _BLOCK_BYTES // np.dtype(dtype).itemsize)


def group_limits(dtype):
    """``(block, small)`` for weights of ``dtype``: the block size (elements, also the
    capacity of a staged group) and the largest tensor that is staged."""
    bs = _block_for(dtype)
    return bs, min(bs, bs // 8 if _cfg.small is None else _cfg.small)


_chunks = weakref.WeakValueDictionary()     # id -> a chunk of rmsprop._arena.Arena


def register_chunk(buf):
    """Record ``buf`` as an arena chunk: a staged group ends where its states move on
    to another chunk (so that groups do not straddle two chunks and get staged)."""
    _chunks[id(buf)] = buf


def _new_chunk(prev, job):
    """Whether ``job``'s var state lies in another arena chunk than ``prev``'s."""
    a, b = prev.v.base, job.v.base
    return a is not b and a is not None and b is not None \
        and _chunks.get(id(a)) is a and _chunks.get(id(b)) is b


def _scratch(dtype, size):
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    s = cache.get(dtype)
    if s is None or s.size != size:
        s = cache[dtype] = Scratch(dtype, size)
    return s


def _run_range(job, lo, hi, bs):
    p, s = job.p, _scratch(job.p.dtype, bs)
    w, g, v, m, mo, wl = job.w, job.g, job.v, job.m, job.mo, job.wl
    for i in range(lo, hi, bs):
        j = min(i + bs, hi)
        update_block(p, j - i, w[i:j], g[i:j], v[i:j],
                     None if m is None else m[i:j], None if mo is None else mo[i:j],
                     None if wl is None else wl[i:j], s)


def _flat(a, flat):
    return a if flat else a.reshape(-1)


def _adjacent(arrs):
    """A 1-D view equal to the concatenation of the 1-D contiguous ``arrs`` when they
    lie back to back, in order, in one C-contiguous buffer of their dtype (states from
    :class:`rmsprop._arena.Arena`, or a caller's flat parameter buffer); else None."""
    base = arrs[0].base
    if type(base) is not np.ndarray or base.dtype != arrs[0].dtype \
            or not base.flags.c_contiguous:
        return None
    isz, start = base.itemsize, _ptr(base)
    at = first = _ptr(arrs[0])
    if (first - start) % isz:
        return None
    for a in arrs:
        if a.base is not base or _ptr(a) != at:
            return None
        at += a.size * isz
    return base.reshape(-1)[(first - start) // isz:(at - start) // isz]


def _ptr(a):
    return a.__array_interface__["data"][0]


def _group_layout(jobs, total, s):
    """For staging buffers ``s``, per array of the group (w, g, v[, m, mo][, wl]): its
    whole-group source.  An array whose pieces lie back to back in one buffer is used
    in place; otherwise the pieces are gathered into a staging buffer (``gathers``:
    name -> list of pieces, None when a tensor is not contiguous: its flattened copy
    must then be taken at every call) and outputs are scattered back (``pairs``:
    ``(destination, staged view)``).  Returns ``(s, views, gathers, pairs)``."""
    p, mp, flat = jobs[0].p, jobs[0].wl is not None, all(j.flat for j in jobs)
    names = ["w", "g", "v"] + (["m", "mo"] if p.centered else []) + (["wl"] if mp else [])
    staging = {"w": s.sw, "g": s.half()[3] if mp else s.sg, "v": s.sv, "m": s.sm,
               "mo": s.so, "wl": s.half()[2] if mp else None}
    views, gathers, pairs = {}, {} if flat else None, []
    for name in names:
        pieces = [_flat(getattr(j, name), j.flat) for j in jobs]
        direct = _adjacent(pieces) if flat else None
        if direct is not None:
            views[name] = direct
            continue
        st = staging[name][:total]
        views[name] = st
        if name != "wl" and flat:
            gathers[name] = pieces
        if name != "g":
            a = 0
            for j in jobs:
                b = a + j.n
                dst = getattr(j, name)
                pairs.append((dst, st[a:b] if j.flat else st[a:b].reshape(dst.shape)))
                a = b
    return s, views, gathers, pairs


def _run_group(jobs, total, layouts, bs):
    """Update a group of small tensors as one block: each array is used in place when
    its pieces are adjacent, otherwise gathered into a staging buffer and (outputs)
    scattered back.  The layout is built once per staging buffers and kept in
    ``layouts`` (the plan may run again)."""
    p = jobs[0].p
    s = _scratch(p.dtype, bs)
    lay = layouts.get(id(s))
    if lay is None or lay[0] is not s:
        lay = layouts[id(s)] = _group_layout(jobs, total, s)
    _, views, gathers, pairs = lay
    if gathers is None:                           # a tensor is not contiguous
        gathers = {name: [_flat(getattr(j, name), j.flat) for j in jobs]
                   for name in views if name != "wl"}
    for name, pieces in gathers.items():
        np.concatenate(pieces, out=views[name])
    mp = jobs[0].wl is not None
    g = views["g"]
    if mp:                                        # float16 grads: widen
        g = s.sg[:total]
        widen_into(g, views["g"], s, total)
    update_block(p, total, views["w"], g, views["v"], views.get("m"), views.get("mo"),
                 None, s)
    if mp:
        narrow_into(views["wl"], views["w"], s, total)
    for dst, st in pairs:
        dst[...] = st


def _run_iter(job, bs):
    p = job.p
    s = _scratch(p.dtype, bs)
    ops = [job.w, job.g, job.v]
    flags = [["readwrite"], ["readonly"], ["readwrite"]]
    if p.centered:
        ops += [job.m, job.mo]
        flags += [["readwrite"], ["readwrite"]]
    if job.wl is not None:
        ops.append(job.wl)
        flags.append(["writeonly"])
    it = np.nditer(ops, flags=["external_loop", "buffered", "zerosize_ok"],
                   op_flags=flags, buffersize=bs, order="K")
    with it:
        for blocks in it:
            n = blocks[0].shape[0]
            for i in range(0, n, bs):               # a view may exceed the buffer size
                j = min(i + bs, n)
                b = [x[i:j] for x in blocks]
                w, g, v = b[0], b[1], b[2]
                m, mo = (b[3], b[4]) if p.centered else (None, None)
                wl = b[-1] if job.wl is not None else None
                update_block(p, j - i, w, g, v, m, mo, wl, s)


def _work(units):
    with np.errstate(all="ignore"):
        for kind, a, b, c, bs in units:
            if kind == 0:
                _run_range(a, b, c, bs)
            elif kind == 1:
                _run_group(a, b, c, bs)
            else:
                _run_iter(a, bs)


def _plan(jobs):
    """Turn jobs into ``(unit, size)`` pairs; a unit is ``(kind, x, y, z, block)``:
    kind 0 ``(job, lo, hi)`` a range of a contiguous tensor, kind 1 ``(jobs, total,
    layouts)`` a staged group, kind 2 ``(job,)`` a non-contiguous tensor."""
    out, open_groups, sizes = [], {}, {}
    for job in jobs:
        n = job.n
        if n == 0:
            continue
        p = job.p
        lim = sizes.get(p.dtype)
        if lim is None:
            lim = sizes[p.dtype] = group_limits(p.dtype)
        bs, small = lim
        if n <= small:
            key = (id(p), job.wl is None)
            grp = open_groups.get(key)
            if grp is None or grp[2] + n > bs or _new_chunk(grp[1][-1], job):
                grp = open_groups[key] = [1, [], 0, {}, bs]
                out.append(grp)
            grp[1].append(job)
            grp[2] += n
        elif job.flat:
            out.append(((0, job, 0, n, bs), n))
        else:
            out.append(((2, job, None, None, bs), n))
    return [(tuple(u), u[2]) if type(u) is list else u for u in out]


def _split(sized, nthreads):
    """Partition units over threads by element count, cutting ranges of large
    tensors at block boundaries."""
    total = sum(sz for _, sz in sized)
    target = -(-total // nthreads)
    shares, cur, load = [], [], 0
    for unit, sz in sized:
        while unit[0] == 0 and load + sz > target and len(shares) < nthreads - 1:
            _, job, lo, hi, bs = unit
            cut = lo + -(-(target - load) // bs) * bs
            if cut >= hi:
                break
            if cut > lo:
                cur.append((0, job, lo, cut, bs))
            shares.append(cur)
            cur, load = [], 0
            unit, sz = (0, job, cut, hi, bs), hi - cut
        cur.append(unit)
        load += sz
        if load >= target and len(shares) < nthreads - 1:
            shares.append(cur)
            cur, load = [], 0
    shares.append(cur)
    return [s for s in shares if s]


def _get_pool(n):
    """A pool with at least ``n`` workers (recreated after ``os.fork``)."""
    global _pool, _pool_size, _pool_pid
    with _pool_lock:
        pid = os.getpid()
        if _pool is None or _pool_size < n or _pool_pid != pid:
            if _pool is not None and _pool_pid == pid:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="rmsprop")
            _pool_size, _pool_pid = n, pid
        return _pool


class Plan:
    """The work of one call: ``serial`` units (staged groups, non-contiguous tensors)
    and ``shares``, one list of contiguous ranges per thread.  It refers to the jobs,
    not to their hyperparameters: it may run again after each job's ``p`` has been
    replaced, provided jobs that shared a ``p`` still do (staged groups are formed
    per ``p``) -- the optimizer reuses it only then (``any_rates`` is False; a plan
    of the compiled engine, :class:`rmsprop._numba_engine.NumbaPlan`, runs with any).
    ``config`` records the engine settings it was made under; :func:`execute`
    re-plans when they have changed."""

    __slots__ = ("jobs", "serial", "shares", "config")
    any_rates = False


def _config_key():
    return (_cfg.block_size, _cfg.num_threads, _cfg.small, _cfg.min_parallel,
            _settings.engine_in_use())


def make_plan(jobs):
    """Plan validated jobs: pack, block and split them over the threads (or tabulate
    them for the compiled engine when it is in use)."""
    key = _config_key()
    if key[-1] == "numba":
        from . import _numba_engine
        return _numba_engine.make_plan(jobs, key, _cfg.num_threads, _cfg.min_parallel)
    return _numpy_plan(jobs, key)


def _numpy_plan(jobs, key):
    plan = Plan()
    plan.jobs, plan.config = jobs, key
    sized = _plan(jobs)
    direct = [(u, sz) for u, sz in sized if u[0] == 0]
    serial = [u for u, _ in sized if u[0] != 0]
    total = sum(sz for _, sz in direct)
    nthreads = _cfg.num_threads
    if nthreads <= 1 or total < _cfg.min_parallel:
        plan.serial, plan.shares = serial + [u for u, _ in direct], []
    else:
        plan.serial, plan.shares = serial, _split(direct, nthreads)
    return plan


def execute(plan):
    """Run a plan (in place) and return it, or the new plan made because the engine
    settings have changed since; see :func:`run`.  A compiled kernel that fails to
    build or to pass its self-check (before any array is written) makes ``"auto"``
    fall back to the NumPy engine and ``"numba"`` raise."""
    if plan.config != _config_key():
        plan = make_plan(plan.jobs)
    if type(plan) is not Plan:
        from . import _numba_engine
        try:
            _numba_engine.run(plan, _cfg.num_threads)
            return plan
        except _numba_engine.EngineError as exc:
            if _cfg.engine == "numba":
                raise
            _settings.disable_numba(str(exc))
            plan = make_plan(plan.jobs)
    _run_numpy(plan)
    return plan


def _run_numpy(plan):
    if plan.serial:
        _work(plan.serial)
    shares = plan.shares
    if len(shares) <= 1:
        if shares:
            _work(shares[0])
        return
    pool = _get_pool(len(shares) - 1)
    futures = [pool.submit(_work, sh) for sh in shares[1:]]
    try:
        _work(shares[0])
    finally:
        for f in futures:
            f.result()


def run_numpy(jobs):
    """Execute validated jobs with the NumPy engine, whatever engine is configured."""
    _run_numpy(_numpy_plan(jobs, None))


def run(jobs):
    """Execute validated jobs (in place).

    Staged groups and non-contiguous tensors (Python-heavy: many short calls,
    during which the other threads would wait for the GIL) run first on the
    calling thread; the contiguous tensors are then split over the threads.
    """
    execute(make_plan(jobs))
