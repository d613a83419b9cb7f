"""Optimizer-level oracle: ``mxnet.optimizer.RMSProp`` (MXNet 2.x) over exact kernels.

The bookkeeping follows MXNet 2 (SPEC.md §2); every tensor update is
``kernel.evaluate`` on the current arrays, so a trajectory stores each state in
its dtype between steps, as memory does.

* learning rate: ``learning_rate=None`` without scheduler means 0.01; a given
  ``learning_rate`` overwrites the scheduler's ``base_lr``; with a scheduler the
  rate is ``lr_scheduler(num_update)``.
* counts: each index counts once per call, from ``begin_num_update``;
  ``num_update = max(num_update, count)``, counted before the rate is read.
* multipliers for index i, first match wins: ``param_dict[i].lr_mult``,
  ``lr_mult[i]``, ``lr_mult[idx2name[i]]``, else 1 (likewise ``wd``).
* ``fused_step`` (dialect ``mxnet2``) passes the clips only when truthy;
  ``step`` (dialect ``mxnet2-step``) clips the gradient when ``clip_gradient is not
  None`` and the weights when ``clip_weights`` is truthy.
* ``flush_denormals`` (keyword only, not MXNet's): every kernel evaluated with DAZ/FTZ,
  as MXNet 2 runs on CPU by default.
* ``multi_precision`` with float16 weights: state ``(float32 master, state)``; the
  gradient is widened, the master updated, and the weight set to the master
  rounded to float16.

Each ``update`` returns one ``Evaluation`` per tensor (outputs, allowed errors,
classes); the weight's entry refers to the array the caller passed.
"""
from __future__ import annotations

import numpy as np

from .bounds import classify
from .faithful import narrowed
from .formats import FORMATS, bits_of_array
from .kernel import Evaluation, evaluate

__all__ = ["RMSPropOracle", "cast_to"]

F16, F32 = FORMATS["float16"], FORMATS["float32"]


def cast_to(a: np.ndarray, dtype) -> np.ndarray:
    """RNE conversion (IEEE casts are correctly rounded; widening is exact; a value past
    the format's range becomes inf, as intended)."""
    with np.errstate(over="ignore"):
        return np.asarray(a).astype(dtype)


class RMSPropOracle:
    """The MXNet 2 optimizer API, computing with the oracle's kernels in place on NumPy arrays."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.9, epsilon=1e-8, centered=False,
                 clip_weights=None, use_fused_step=True, rescale_grad=1.0, param_idx2name=None, wd=0.0,
                 clip_gradient=None, lr_scheduler=None, sym=None, begin_num_update=0,
                 multi_precision=False, param_dict=None, aggregate_num=None, *, flush_denormals=False):
        if sym is not None:
            raise ValueError("sym (symbol attribute multipliers) is not supported by the oracle")
        if param_idx2name is not None and not isinstance(param_idx2name, dict):
            raise TypeError("param_idx2name should be a dict of param indexes to names")
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, bool(centered)
        self.clip_weights, self.clip_gradient = clip_weights, clip_gradient
        self.use_fused_step = True if use_fused_step is None else bool(use_fused_step)
        self.rescale_grad, self.wd = rescale_grad, wd
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if lr_scheduler is not None and learning_rate is not None:
            lr_scheduler.base_lr = learning_rate
        self.begin_num_update = self.num_update = begin_num_update
        self._index_update_count = {}
        self.multi_precision = bool(multi_precision)
        self.idx2name = dict(param_idx2name or {})
        self.param_dict = dict(param_dict or {})
        self.aggregate_num = aggregate_num
        self.lr_mult, self.wd_mult = {}, {}
        self.flush_denormals = flush_denormals  # not MXNet's: the oracle's denormal mode

    # -- MXNet API ------------------------------------------------------------------
    @property
    def learning_rate(self):
        return self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr

    def set_learning_rate(self, lr):
        if self.lr_scheduler is not None:
            raise UserWarning("LRScheduler of the optimizer has already been defined")
        self.lr = lr

    def set_lr_mult(self, args_lr_mult):
        self.lr_mult = dict(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        self.wd_mult = dict(args_wd_mult)

    def create_state(self, index, weight):
        names = ("mean", "var", "mom") if self.centered else ("var",)
        state = tuple(np.zeros_like(weight) for _ in names)
        return state if self.centered else state[0]

    def create_state_multi_precision(self, index, weight):
        if self.multi_precision and weight.dtype == np.float16:
            master = cast_to(weight, np.float32)
            return (master, self.create_state(index, master))
        return self.create_state(index, weight)

    def update(self, indices, weights, grads, states):
        indices, weights, grads, states = _as_lists(indices, weights, grads, states)
        return self._run(indices, weights, grads, states, self.use_fused_step)

    def step(self, indices, weights, grads, states):
        return self._run(*_as_lists(indices, weights, grads, states), fused=False)

    def fused_step(self, indices, weights, grads, states):
        return self._run(*_as_lists(indices, weights, grads, states), fused=True)

    def update_multi_precision(self, indices, weights, grads, states):
        indices, weights, grads, states = _as_lists(indices, weights, grads, states)
        mp = [self.multi_precision and w.dtype == np.float16 for w in weights]
        ws = [s[0] if m else w for w, s, m in zip(weights, states, mp)]
        gs = [cast_to(g, np.float32) if m else g for g, m in zip(grads, mp)]
        ss = [s[1] if m else s for s, m in zip(states, mp)]
        evs = self.update(indices, ws, gs, ss)
        out = []
        for ev, w, m in zip(evs, weights, mp):
            if m:
                master = ev.outputs["weight"]
                w[...] = cast_to(master, np.float16)
                ev = _narrowed(ev, w)
            out.append(ev)
        return out

    # -- internals --------------------------------------------------------------------
    def _update_count(self, index):
        if index not in self._index_update_count:
            self._index_update_count[index] = self.begin_num_update
        self._index_update_count[index] += 1
        self.num_update = max(self._index_update_count[index], self.num_update)

    def _mult(self, index, base, attr, table):
        if index in self.param_dict:
            return base * getattr(self.param_dict[index], attr)
        if index in table:
            return base * table[index]
        if index in self.idx2name:
            return base * table.get(self.idx2name[index], 1.0)
        return base

    def _get_lr(self, index):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return self._mult(index, lr, "lr_mult", self.lr_mult)

    def _get_wd(self, index):
        return self._mult(index, self.wd, "wd_mult", self.wd_mult)

    def hyperparameters(self, index, fused):
        """The kernel hyperparameters MXNet passes for ``index`` (after counting it)."""
        hp = dict(lr=self._get_lr(index), wd=self._get_wd(index), rho=self.rho, epsilon=self.epsilon,
                  momentum=self.momentum, rescale_grad=self.rescale_grad, centered=self.centered)
        if fused:
            hp["clip_gradient"] = self.clip_gradient if self.clip_gradient else -1.0
        else:
            if self.clip_gradient is not None and self.clip_gradient < 0:
                raise ValueError("step() with a negative clip_gradient has no defined meaning")
            hp["clip_gradient"] = -1.0 if self.clip_gradient is None else self.clip_gradient
        hp["clip_weights"] = self.clip_weights if self.clip_weights else -1.0
        return hp

    def _run(self, indices, weights, grads, states, fused):
        evs = []
        dialect = "mxnet2" if fused else "mxnet2-step"
        for index, weight, grad, state in zip(indices, weights, grads, states):
            self._update_count(index)
            hp = self.hyperparameters(index, fused)
            names = ("mean", "var", "mom") if self.centered else ("var",)
            arrays = dict(zip(names, state if self.centered else (state,)))
            ev = evaluate(weight, grad, arrays, hp, dialect, flush_denormals=self.flush_denormals)
            weight[...] = ev.outputs["weight"]
            for k, a in arrays.items():
                a[...] = ev.outputs[k]
            ev.meta.update(index=index, hp=hp)
            evs.append(ev)
        return evs


def _as_lists(indices, weights, grads, states):
    if not isinstance(indices, (list, tuple)):
        return [indices], [weights], [grads], [states]
    if not (len(indices) == len(weights) == len(grads) == len(states)):
        raise ValueError("indices, weights, grads and states must have the same length")
    return list(indices), list(weights), list(grads), list(states)


def _narrowed(ev: Evaluation, weight16: np.ndarray) -> Evaluation:
    """The float16 weight's verdict material.

    Port and oracle each round their float32 master to float16 (half an ulp each, at most
    one float16 ulp of the result together), on top of the masters' own allowed difference.
    """
    master = ev.outputs["weight"].astype(np.float64)
    with np.errstate(invalid="ignore"):
        spacing = np.spacing(np.abs(weight16)).astype(np.float64)
    allowed = ev.allowed["weight"] + np.where(np.isfinite(master), spacing, 0)
    ill = ev.classes["weight"] == "ill"
    outputs = dict(ev.outputs, weight=weight16.copy())
    classes = dict(ev.classes, weight=classify(bits_of_array(weight16), F16, ill))
    allowed_all = dict(ev.allowed, weight=allowed)
    meta = dict(ev.meta, master=ev.outputs["weight"], master_allowed=ev.allowed["weight"],
                master_classes=ev.classes["weight"], master_faithful=ev.faithful.get("weight"))
    faithful = dict(ev.faithful)
    if "weight" in faithful:
        faithful["weight"] = narrowed(faithful["weight"], F16)
    return Evaluation(ev.dialect, np.dtype(np.float16), outputs, allowed_all, classes, faithful,
                      exact_elements=ev.exact_elements, max_precision=ev.max_precision, meta=meta,
                      flush_denormals=ev.flush_denormals)
