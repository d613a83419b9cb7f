"""``RMSProp``: the MXNet 2 optimizer API on NumPy arrays, in place.

``update``/``update_multi_precision``/``step``/``fused_step`` take lists
``(indices, weights, grads, states)`` (a single index with single arrays is
accepted too) and update the whole list in one validated, blocked, threaded
call.  ``fused_step`` follows the operator semantics (dialect ``mxnet2``:
hyperparameters are float32 operator fields, clip values are passed only when
truthy); ``step`` follows MXNet's NDArray code path (dialect ``mxnet2-step``:
double scalars, ``clip_gradient`` applied whenever it is not None, so 0 zeroes
the gradient).  Unlike MXNet's ``step``, the caller's gradients are never modified.
"""
import warnings

import numpy as np

from . import _engine
from ._arena import Arena
from ._base import Optimizer
from ._params import FLOAT_DTYPES, check_epsilon, check_real, check_unit, make_params
from ._plancache import Validated
from ._validate import as_array, check_aliasing, make_job

__all__ = ["RMSProp", "Optimizer"]

_F16 = np.dtype(np.float16)


class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton 2012; ``centered=True``: Graves 2013).

    ``RMSProp(learning_rate=0.001, rho=0.9, momentum=0.9, epsilon=1e-8,
    centered=False, clip_weights=None, use_fused_step=True, **kwargs)`` with the
    :class:`~rmsprop._base.Optimizer` keywords ``rescale_grad, param_idx2name, wd,
    clip_gradient, lr_scheduler, sym, begin_num_update, multi_precision,
    param_dict, aggregate_num``.  States: ``var`` (non-centered) or
    ``(mean, var, mom)`` (centered); with ``multi_precision`` and float16 weights
    ``(float32 master weight, state)``.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.9, epsilon=1e-8,
                 centered=False, clip_weights=None, use_fused_step=True, **kwargs):
        super().__init__(learning_rate=learning_rate, use_fused_step=use_fused_step, **kwargs)
        self.rho = check_unit("rho", rho)
        self.momentum = check_unit("momentum", momentum)
        self.epsilon = check_epsilon(epsilon)
        self.centered = bool(centered)
        self.clip_weights = check_real("clip_weights", clip_weights, allow_none=True)
        self._validated = None     # the last call's validated jobs (see rmsprop._plancache)
        self._arena = Arena()      # small tensors' states, back to back (see rmsprop._arena)

    # ----------------------------------------------------------------- states
    def create_state(self, index, weight):
        """Zero state(s) shaped like ``weight``: ``var`` or ``(mean, var, mom)``.

        States of small weights are views of shared zeroed buffers, adjacent to the
        states made just before them, which lets a call update them in place."""
        w = as_array("weight", weight)
        if w.dtype not in FLOAT_DTYPES:
            raise TypeError(f"weight: dtype {w.dtype} is not float16, float32 or float64")
        if self.centered:
            return tuple(self._arena.zeros(w.shape, w.dtype, kind) for kind in range(3))
        return self._arena.zeros(w.shape, w.dtype, 1)

    def create_state_multi_precision(self, index, weight):
        """With ``multi_precision`` and a float16 weight: ``(float32 copy, state)``."""
        w = as_array("weight", weight)
        if self.multi_precision and w.dtype == _F16:
            master = self._arena.copy(w, np.float32, 3)
            return master, self.create_state(index, master)
        if w.dtype == _F16:
            warnings.warn("Accumulating with float16 in optimizer can lead to poor accuracy "
                          "or slow convergence; consider multi_precision=True", stacklevel=2)
        return self.create_state(index, weight)

    # ---------------------------------------------------------------- updates
    def update(self, indices, weights, grads, states):
        """``fused_step`` if ``use_fused_step`` else ``step``."""
        self._run(indices, weights, grads, states, self.use_fused_step, False)

    def update_multi_precision(self, indices, weights, grads, states):
        """As :meth:`update`; float16 weights with ``multi_precision`` are updated
        through their float32 master copy (the float16 gradient is widened in
        blocks, the result is rounded back into the float16 weight)."""
        self._run(indices, weights, grads, states, self.use_fused_step, self.multi_precision)

    def step(self, indices, weights, grads, states):
        """Update with double NDArray-scalar hyperparameters (MXNet's non-fused path)."""
        self._run(indices, weights, grads, states, False, False)

    def fused_step(self, indices, weights, grads, states):
        """Update with the fused-operator semantics."""
        self._run(indices, weights, grads, states, True, False)

    # -------------------------------------------------------------- internals
    def _params(self, dtype, lr, wd, fused):
        common = dict(centered=self.centered, lr=lr, rho=self.rho, momentum=self.momentum,
                      epsilon=self.epsilon, wd=wd, rescale_grad=self.rescale_grad)
        if fused:
            return make_params(dtype, flavour="fused",
                               clip_gradient=self.clip_gradient if self.clip_gradient else -1.0,
                               clip_weights=self.clip_weights if self.clip_weights else -1.0,
                               **common)
        return make_params(dtype, flavour="step", clip_gradient=self.clip_gradient,
                           clip_weights=self.clip_weights, **common)

    @staticmethod
    def _as_lists(indices, weights, grads, states):
        """A single index with single arrays, or equal-length lists of them."""
        if not isinstance(indices, (list, tuple)):
            indices, weights, grads, states = [indices], [weights], [grads], [states]
        n = len(indices)
        for name, seq in (("weights", weights), ("grads", grads), ("states", states)):
            if not isinstance(seq, (list, tuple)):
                raise TypeError(f"{name} must be a list, got {type(seq).__name__}")
            if len(seq) != n:
                raise ValueError(f"{name}: expected {n} entries (one per index), got {len(seq)}")
        return indices, weights, grads, states

    def _run(self, indices, weights, grads, states, fused, mp):
        indices, weights, grads, states = self._as_lists(indices, weights, grads, states)
        key = (mp, self.centered, tuple(map(id, weights)), tuple(map(id, grads)),
               tuple(map(id, states)))
        hit = self._validated
        if hit is not None and not hit.still_valid(key):
            hit = None
        specs = None if hit is not None else \
            [self._spec(k, w, s, mp) for k, (w, s) in enumerate(zip(weights, states))]
        snap = self._snapshot()
        try:
            lrs, wds, uniform = self._rates(indices)
            if hit is not None:
                jobs = hit.jobs
                for job, p in zip(jobs, self._param_list(hit.dtypes, lrs, wds, uniform, fused)):
                    job.p = p
            else:
                dtypes = [w.dtype if m is None else m.dtype for w, m, _, _ in specs]
                for k, dt in enumerate(dtypes):
                    if dt not in FLOAT_DTYPES:
                        what = "weights" if specs[k][1] is None else "master weight of weights"
                        raise TypeError(f"{what}[{k}]: dtype {dt} is not float16, float32 "
                                        f"or float64")
                params = self._param_list(dtypes, lrs, wds, uniform, fused)
                jobs = [make_job(params[k], ("weights[{}]:", k), w, grads[k], sts, names, m,
                                 None if m is None else _F16)
                        for k, (w, m, sts, names) in enumerate(specs)]
                check_aliasing(jobs, "weights[{}]:")
        except BaseException:
            self._restore(snap)
            raise
        if hit is None:
            hit = self._validated = Validated.build(key, (weights, grads, states), specs,
                                                    dtypes, jobs)
        elif hit.plan is not None and (uniform or hit.plan.any_rates):
            # the plan comes from a call with uniform rates too (one Params per dtype
            # then and now, hence the same staged groups), or it runs with any rates
            hit.plan = _engine.execute(hit.plan)
            return
        plan = _engine.execute(_engine.make_plan(jobs))
        if hit is not None and (uniform or plan.any_rates):
            hit.plan = plan

    def _spec(self, k, w, state, mp):
        """Check the structure of entry ``k``: ``(weight, master, states, names)``."""
        if type(w) is not np.ndarray:
            w = as_array(f"weights[{k}]", w)
        master = None
        if mp and w.dtype == _F16:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError(f"states[{k}]: expected (float32 master weight, state) "
                                f"for a float16 weight with multi_precision")
            master, state = state
            master = as_array(f"states[{k}][0]", master)
        if self.centered:
            if not isinstance(state, (tuple, list)) or len(state) != 3:
                raise TypeError(f"states[{k}]: expected (mean, var, mom) for centered RMSProp, "
                                f"got {type(state).__name__}")
            return w, master, state, ("mean", "var", "mom")
        if not isinstance(state, np.ndarray):
            raise TypeError(f"states[{k}]: expected the var array for non-centered RMSProp, "
                            f"got {type(state).__name__}")
        return w, master, (state,), ("var",)

    def _rates(self, indices):
        """Count the updates and read lr and wd per index, in index order (MXNet order:
        count, then read the rate, index after index)."""
        plain = not (self.param_dict or self.lr_mult or self.wd_mult or self.idx2name)
        if plain and self.lr_scheduler is None:
            self._update_count(list(indices))
            return [self.lr] * len(indices), [self.wd] * len(indices), True
        lrs, wds = [], []
        for idx in indices:
            self._update_count(idx)
            lrs.append(self._get_lr(idx))
            wds.append(self._get_wd(idx))
        return lrs, wds, False

    def _param_list(self, dtypes, lrs, wds, uniform, fused):
        """One :class:`~rmsprop._params.Params` per entry, shared between entries with
        the same dtype (and, with per-index rates, the same lr and wd)."""
        if uniform:
            by_dtype = {dt: None for dt in dtypes}
            if all(dt in FLOAT_DTYPES for dt in by_dtype):
                for dt in by_dtype:
                    by_dtype[dt] = self._params(dt, lrs[0], wds[0], fused)
                return list(map(by_dtype.__getitem__, dtypes))
        cache, out = {}, []
        for k, dt in enumerate(dtypes):
            key = dt if uniform else (dt, lrs[k], wds[k])
            p = cache.get(key)
            if p is None:
                if dt not in FLOAT_DTYPES:
                    raise TypeError(f"weights[{k}]: dtype {dt} is not float16, float32 "
                                    f"or float64")
                p = cache[key] = self._params(dt, lrs[k], wds[k], fused)
            out.append(p)
        return out

    def __getstate__(self):
        state = super().__getstate__()
        state["_validated"] = None
        state["_arena"] = Arena()
        return state
