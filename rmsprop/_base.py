"""Optimizer bookkeeping with the semantics of ``mxnet.optimizer.Optimizer`` (2.x):
learning-rate resolution, schedulers, per-index update counts and multipliers.

* lr: ``learning_rate`` if given, else 0.01 without a scheduler; with a
  scheduler, ``lr_scheduler(num_update)`` (an explicit ``learning_rate``
  overwrites the scheduler's ``base_lr``).
* counts: each index counts once per update call, starting from
  ``begin_num_update``; ``num_update = max(num_update, count)``; the count is
  taken before the rate is read.
* multipliers for index ``i``, first match wins: ``param_dict[i].lr_mult``,
  ``lr_mult[i]``, ``lr_mult[idx2name[i]]``, else 1 (same for ``wd_mult``).
"""
import math
import numbers
import warnings

from ._params import check_real

__all__ = ["Optimizer"]


class Optimizer:
    """Base optimizer state (no update rule); see the module docstring."""

    def __init__(self, rescale_grad=1.0, param_idx2name=None, wd=0.0, clip_gradient=None,
                 learning_rate=None, lr_scheduler=None, sym=None, begin_num_update=0,
                 multi_precision=False, param_dict=None, aggregate_num=None,
                 use_fused_step=None):
        self.rescale_grad = check_real("rescale_grad", rescale_grad)
        self.wd = check_real("wd", wd)
        self.clip_gradient = check_real("clip_gradient", clip_gradient, allow_none=True)
        learning_rate = check_real("learning_rate", learning_rate, allow_none=True)
        if lr_scheduler is not None and not (callable(lr_scheduler)
                                             and hasattr(lr_scheduler, "base_lr")):
            raise TypeError("lr_scheduler must be a callable scheduler with a base_lr attribute")
        if sym is not None:
            raise ValueError("sym is not supported by the NumPy optimizer (pass None)")
        if isinstance(begin_num_update, bool) or not isinstance(begin_num_update, numbers.Integral):
            raise TypeError("begin_num_update must be an int")
        if begin_num_update < 0:
            raise ValueError("begin_num_update must be >= 0")
        if param_idx2name is None:
            param_idx2name = {}
        if not isinstance(param_idx2name, dict):
            raise TypeError("param_idx2name must be a dict of index -> name")
        if param_dict is not None and not isinstance(param_dict, dict):
            raise TypeError("param_dict must be a dict of index -> parameter")
        if aggregate_num is None:
            aggregate_num = 1
        elif not (aggregate_num == math.inf or (isinstance(aggregate_num, numbers.Integral)
                                                 and not isinstance(aggregate_num, bool)
                                                 and aggregate_num >= 1)):
            raise ValueError("aggregate_num must be an int >= 1, numpy.inf or None")
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if lr_scheduler is not None and learning_rate is not None \
                and lr_scheduler.base_lr != learning_rate:
            warnings.warn("learning rate from lr_scheduler has been overwritten by "
                          "learning_rate in optimizer", UserWarning, stacklevel=3)
            lr_scheduler.base_lr = learning_rate
        self.begin_num_update = int(begin_num_update)
        self.num_update = int(begin_num_update)
        self._all_index_update_counts = {0: {}}
        self._index_update_count = self._all_index_update_counts[0]
        self.multi_precision = bool(multi_precision)
        self.aggregate_num = aggregate_num
        self.idx2name = param_idx2name.copy()
        self.param_dict = param_dict if param_dict else {}
        self.use_fused_step = bool(use_fused_step) if use_fused_step is not None else False
        self.lr_mult = {}
        self.wd_mult = {}

    @property
    def learning_rate(self):
        """Current rate: ``lr_scheduler(num_update)`` or the fixed ``lr``."""
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr):
        """Set the fixed rate; raises UserWarning when a scheduler is in charge (as MXNet)."""
        if self.lr_scheduler is not None:
            raise UserWarning("LRScheduler of the optimizer has already been defined; "
                              "set_learning_rate only works without a scheduler")
        self.lr = check_real("lr", lr)

    def set_lr_mult(self, args_lr_mult):
        """Replace the lr multipliers: ``{index_or_name: mult}``."""
        if not isinstance(args_lr_mult, dict):
            raise TypeError("args_lr_mult must be a dict")
        self.lr_mult = {k: check_real(f"lr_mult[{k!r}]", v) for k, v in args_lr_mult.items()}

    def set_wd_mult(self, args_wd_mult):
        """Replace the wd multipliers: ``{index_or_name: mult}``."""
        if not isinstance(args_wd_mult, dict):
            raise TypeError("args_wd_mult must be a dict")
        self.wd_mult = {k: check_real(f"wd_mult[{k!r}]", v) for k, v in args_wd_mult.items()}

    def _set_current_device(self, device_id):
        """Switch to the update counters of ``device_id``."""
        self._index_update_count = self._all_index_update_counts.setdefault(device_id, {})

    _set_current_context = _set_current_device

    def _update_count(self, index):
        """Count one update of ``index`` (or of each index of a list)."""
        indices = index if isinstance(index, (list, tuple)) else [index]
        counts, begin = self._index_update_count, self.begin_num_update
        if len(indices) > 1 and len(set(indices)) == len(indices):
            # distinct indices: the counts do not depend on each other (one pass in C)
            new = [c + 1 for c in map(counts.get, indices, [begin] * len(indices))]
            counts.update(zip(indices, new))
            self.num_update = max(self.num_update, max(new))
            return
        for idx in indices:
            count = counts.get(idx, begin) + 1
            counts[idx] = count
            self.num_update = max(count, self.num_update)

    def _mult(self, index, table, attr):
        if index in self.param_dict:
            return getattr(self.param_dict[index], attr)
        if index in table:
            return table[index]
        if index in self.idx2name:
            return table.get(self.idx2name[index], 1.0)
        return 1.0

    def _get_lrs(self, indices):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return [lr * self._mult(i, self.lr_mult, "lr_mult") for i in indices]

    def _get_lr(self, index):
        return self._get_lrs([index])[0]

    def _get_wds(self, indices):
        return [self.wd * self._mult(i, self.wd_mult, "wd_mult") for i in indices]

    def _get_wd(self, index):
        return self._get_wds([index])[0]

    def _snapshot(self):
        sched = self.lr_scheduler
        return (dict(self._index_update_count), self.num_update,
                None if sched is None else dict(vars(sched)))

    def _restore(self, snap):
        counts, num_update, sched = snap
        self._index_update_count.clear()
        self._index_update_count.update(counts)
        self.num_update = num_update
        if sched is not None:
            vars(self.lr_scheduler).clear()
            vars(self.lr_scheduler).update(sched)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("param_dict", None)
        return state

    def __setstate__(self, state):
        self.__dict__ = state
        self.param_dict = {}
