"""``RMSProp`` on CuPy arrays: :class:`rmsprop.RMSProp` (MXNet 2 API and bookkeeping:
rates, schedulers, counts, multipliers, ``step`` vs ``fused_step``, multi-precision)
with the update of a whole call in one launch per (variant, device).

The validated plan of a call (pointers, sizes, chunk table) is kept while the next call
passes the same weight and state objects (the plan holds them, so their identity stands
for their memory); only the per-tensor ``lr``/``wd`` column is then rebuilt, and uploaded
when it changed.  New gradient objects are checked alone (dtype, shape, device, layout,
no overlap with an output: a vectorized interval search) and their pointers swapped in;
anything unusual falls back to the full validation.  A list of hundreds of tensors thus
costs the bookkeeping plus one launch.
"""
import warnings

import numpy as np

from .. import optimizer as _np_opt
from .._params import FLOAT_DTYPES
from . import _device, _plan

__all__ = ["RMSProp"]

_F16 = np.dtype(np.float16)
_NAMES = {False: ("var",), True: ("mean", "var", "mom")}


class _Cached:
    """A validated plan: ``key`` (flavour, ids of weights and states), ``gkey`` (ids of the
    gradients), ``refs`` (keeps those objects, hence their ids, alive), per-tensor update
    dtypes and gradient requirements, sorted output spans, groups, uploaded tables."""
    __slots__ = ("key", "gkey", "refs", "dtypes", "gmeta", "out_lo", "out_hi", "groups",
                 "uploads")

    def __init__(self, key, gkey, refs, dtypes, jobs, groups):
        self.key, self.gkey, self.refs, self.dtypes, self.groups = key, gkey, refs, dtypes, groups
        self.gmeta = []
        for j in jobs:
            gi = j.infos[1]
            c = all("C" in i.layout for i in j.infos if i is not None)
            self.gmeta.append((gi.dtype, gi.shape, gi.device, "C" if c else "F"))
        spans = np.array([i.span() for j in jobs for r, i in enumerate(j.infos)
                          if i is not None and r != 1], dtype=np.int64).reshape(-1, 2)
        spans = spans[spans[:, 1] > spans[:, 0]]
        spans = spans[np.argsort(spans[:, 0], kind="stable")]   # disjoint: validated
        self.out_lo, self.out_hi = spans[:, 0], spans[:, 1]
        self.uploads = {}

    def rebind(self, ad, gkey, grads):
        """Swap in new gradient objects if they fit the plan; False to revalidate fully."""
        infos = []
        for g, (dt, shape, dev, lay) in zip(grads, self.gmeta):
            i = ad.info(g) if ad.is_array(g) else None
            if i is None or i.dtype != dt or i.shape != shape or i.device != dev \
                    or lay not in i.layout:
                return False
            infos.append(i)
        spans = np.array([i.span() for i in infos], dtype=np.int64).reshape(-1, 2)
        j = np.searchsorted(self.out_lo, spans[:, 1], "left") - 1
        hit = (j >= 0) & (spans[:, 1] > spans[:, 0])
        if self.out_hi.size and (hit & (self.out_hi[np.maximum(j, 0)] > spans[:, 0])).any():
            return False
        ptr = np.array([i.ptr for i in infos], dtype=np.uint64)
        groups = []
        for grp in self.groups:
            p = grp.ptrs.copy()
            p[:, 1] = ptr[grp.index]
            groups.append(grp._replace(ptrs=p))
        self.groups, self.gkey, self.refs = groups, gkey, self.refs[:2] + (tuple(grads),)
        return True


class RMSProp(_np_opt.RMSProp):
    """:class:`rmsprop.RMSProp` for ``cupy.ndarray`` weights, gradients and states
    (same constructor and methods; states are CuPy arrays laid out like the weight)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._plan_cache = None

    def create_state(self, index, weight):
        """Zero state(s) like ``weight``: ``var`` or ``(mean, var, mom)``."""
        cp = _device.cupy()
        i = _plan.array_info(_device.adapter(), "weight", weight)
        if i.dtype not in FLOAT_DTYPES:
            raise TypeError(f"weight: dtype {i.dtype} is not float16, float32 or float64")
        with cp.cuda.Device(i.device):
            if self.centered:
                return tuple(cp.zeros_like(weight) for _ in range(3))
            return cp.zeros_like(weight)

    def create_state_multi_precision(self, index, weight):
        """With ``multi_precision`` and a float16 weight: ``(float32 copy, state)``."""
        i = _plan.array_info(_device.adapter(), "weight", weight)
        if self.multi_precision and i.dtype == _F16:
            with _device.cupy().cuda.Device(i.device):
                master = weight.astype(np.float32)
            return master, self.create_state(index, master)
        if i.dtype == _F16:
            warnings.warn("Accumulating with float16 in optimizer can lead to poor accuracy "
                          "or slow convergence; consider multi_precision=True", stacklevel=2)
        return self.create_state(index, weight)

    def __getstate__(self):
        state = super().__getstate__()
        state["_plan_cache"] = None
        return state

    # -------------------------------------------------------------- internals
    def _spec(self, k, w, state, mp):
        ad = _device.adapter()
        if not ad.is_array(w):
            raise TypeError(f"weights[{k}] must be a {ad.kind}, got {type(w).__name__}")
        master = None
        if mp and w.dtype == _F16:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError(f"states[{k}]: expected (float32 master weight, state) "
                                f"for a float16 weight with multi_precision")
            master, state = state
            if not ad.is_array(master):
                raise TypeError(f"states[{k}][0] must be a {ad.kind}, "
                                f"got {type(master).__name__}")
        if self.centered:
            if not isinstance(state, (tuple, list)) or len(state) != 3:
                raise TypeError(f"states[{k}]: expected (mean, var, mom) for centered RMSProp, "
                                f"got {type(state).__name__}")
            return w, master, tuple(state), _NAMES[True]
        if not ad.is_array(state):
            raise TypeError(f"states[{k}]: expected the var array for non-centered RMSProp, "
                            f"got {type(state).__name__}")
        return w, master, (state,), _NAMES[False]

    def _frozen(self, ad, s):
        """A state whose arrays cannot be swapped behind our back (arrays in tuples)."""
        return ad.is_array(s) or (type(s) is tuple and all(self._frozen(ad, x) for x in s))

    def _run(self, indices, weights, grads, states, fused, mp):
        indices, weights, grads, states = self._as_lists(indices, weights, grads, states)
        key = (fused, mp, self.centered, tuple(map(id, weights)), tuple(map(id, states)))
        gkey = tuple(map(id, grads))
        hit = self._plan_cache
        if hit is not None and (hit.key != key or (
                hit.gkey != gkey and not hit.rebind(_device.adapter(), gkey, grads))):
            hit = None
        specs = None if hit is not None else \
            [self._spec(k, w, s, mp) for k, (w, s) in enumerate(zip(weights, states))]
        snap = self._snapshot()
        try:
            lrs, wds, uniform = self._rates(indices)
            if hit is not None:
                params = self._param_list(hit.dtypes, lrs, wds, uniform, fused)
            else:
                dtypes = [w.dtype if m is None else m.dtype for w, m, _, _ in specs]
                params = self._param_list(dtypes, lrs, wds, uniform, fused)
                ad = _device.adapter()
                jobs = [_plan.make_job(ad, params[k], ("weights[{}]:", k), w, grads[k], sts,
                                       names, m, None if m is None else _F16)
                        for k, (w, m, sts, names) in enumerate(specs)]
                _plan.check_aliasing(jobs, "weights[{}]:")
        except BaseException:
            self._restore(snap)
            raise
        if hit is not None:
            _device.execute(hit.groups, params, hit.uploads)
            return
        back = _device.stage(jobs)
        groups = _plan.make_plan(jobs)
        cached = None
        if all(j.dense for j in jobs) and all(self._frozen(ad, s) for s in states):
            cached = _Cached(key, gkey, (tuple(weights), tuple(states), tuple(grads)), dtypes,
                             jobs, groups)
        self._plan_cache = cached
        _device.execute(groups, params, None if cached is None else cached.uploads)
        _device.write_back(back)
