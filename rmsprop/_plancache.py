"""The last call's validated jobs, reused while the next call passes the same arrays.

A training loop passes the same weight, gradient and state objects at every step.
:class:`Validated` keeps those objects (so their ids keep standing for them) and
the jobs built from them; the next call with the same ids re-checks only what can
change on an existing ndarray -- shape, strides and dtype (all assignable in place)
and, for outputs, the writeable flag -- and reuses the jobs with fresh
hyperparameters.  Any difference, a state held in a mutable container (a list
whose items could be swapped) or an ndarray subclass (validated through a view)
means a full validation.  Memory cannot move under the jobs: their views keep the
arrays referenced, so ``ndarray.resize`` refuses.  The entry also keeps the engine's
plan for the jobs (blocks, staged groups and their gather/scatter views).
"""
import operator

import numpy as np

__all__ = ["Validated"]

_ND = np.ndarray
_META = operator.attrgetter("shape", "strides", "dtype")
_WRITEABLE = operator.attrgetter("flags.writeable")


def _frozen(state):
    """Arrays, or tuples of arrays: containers whose items cannot be swapped."""
    return type(state) is _ND or (type(state) is tuple and all(map(_frozen, state)))


class Validated:
    __slots__ = ("key", "refs", "arrays", "meta", "outputs", "dtypes", "jobs", "plan")
    # outputs: the output arrays among ``arrays`` (their writeable flag is re-checked)

    @classmethod
    def build(cls, key, refs, specs, dtypes, jobs):
        """A cache entry for the call's ``refs = (weights, grads, states)``, or None when it
        cannot be cached (a state in a list, an ndarray subclass)."""
        if not all(map(_frozen, refs[2])):
            return None
        self = cls()
        # the items themselves, not the caller's lists: a state tuple dropped from a list the
        # caller reuses could otherwise be freed and its id taken by a new, unvalidated tuple
        self.key, self.refs, self.dtypes, self.jobs = key, tuple(map(tuple, refs)), dtypes, jobs
        self.plan = None              # the engine plan, reused while the rates are uniform
        arrays, outputs = [], []
        for (w, master, sts, _), g in zip(specs, refs[1]):
            arrays += [w, g, *sts]
            outputs += [True, False] + [True] * len(sts)
            if master is not None:
                arrays.append(master)
                outputs.append(True)
        if any(type(a) is not _ND for a in arrays) or any(type(w) is not _ND for w in refs[0]):
            return None   # a subclass was checked through a view: its own layout is not watched
        self.arrays = arrays
        self.outputs = [a for a, out in zip(arrays, outputs) if out]
        self.meta = list(map(_META, arrays))
        return self

    def still_valid(self, key):
        """Same objects (by id, kept alive here) with unchanged layout and writability."""
        return key == self.key and list(map(_META, self.arrays)) == self.meta \
            and all(map(_WRITEABLE, self.outputs))
