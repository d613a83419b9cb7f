"""The built-in ``mxnet2`` port: the real MXNet 2.0.0b1 (``pip install --pre mxnet==2.0.0b1``).

* ``step`` -- kernel level, SPEC §3: the 2.x operators ``nd.rmsprop_update(weight, grad,
  var)`` and ``nd.rmspropalex_update(weight, grad, mean, var, mom)`` (2.0.0b1 takes the
  centered states in that order, although its docstring still names them ``n, g, delta``).
* ``RMSProp`` -- optimizer level: the real ``mxnet.optimizer.RMSProp``, driven on NumPy
  arrays.  Each call copies the caller's arrays into NDArrays, runs MXNet's own
  ``create_state`` / ``update`` / ``update_multi_precision``, and copies every array back
  in place.  The states are what MXNet makes: ``create_state`` gives float32 states
  whatever the weight's dtype (a known deviation, ``expectations/mxnet-2.0.0b1.json``).
  Its schedulers are MXNet's own (``Port.schedulers``: ``mxnet.lr_scheduler``).

MXNet 2 flushes denormals on CPU from import (``mxnet.util.set_flush_denorms``: FTZ and
DAZ in MXCSR of its engine threads), so this port is judged with ``flush_denormals`` on
unless told otherwise.  It leaves that setting as MXNet ships it; a wrapper that calls
``mxnet.util.set_flush_denorms(False)`` first is judged by the IEEE model instead.
"""
from __future__ import annotations

import numpy as np

__all__ = ["require", "step", "RMSProp"]

def require():
    """Import MXNet 2.x; ImportError saying what is installed otherwise."""
    import mxnet

    if not mxnet.__version__.startswith("2."):
        raise ImportError(f"the mxnet2 port needs MXNet 2.x (pip install --pre mxnet==2.0.0b1), found "
                          f"mxnet {mxnet.__version__} (the 1.9.1 port is 'mxnet')")
    return mxnet


def _nd(a):
    import mxnet as mx

    return mx.nd.array(np.ascontiguousarray(a), dtype=a.dtype)


def step(weight, grad, state, hp):
    mx = require()
    kw = dict(lr=hp["lr"], rho=hp["rho"], epsilon=hp["epsilon"], wd=hp["wd"], rescale_grad=hp["rescale_grad"],
              clip_gradient=hp["clip_gradient"], clip_weights=hp["clip_weights"])
    w, g = _nd(weight), _nd(grad)
    if hp["centered"]:
        new = {k: _nd(state[k]) for k in ("mean", "var", "mom")}
        mx.nd.rmspropalex_update(w, g, new["mean"], new["var"], new["mom"], out=w, momentum=hp["momentum"], **kw)
    else:
        new = {"var": _nd(state["var"])}
        mx.nd.rmsprop_update(w, g, new["var"], out=w, **kw)
    return w.asnumpy(), {k: v.asnumpy() for k, v in new.items()}


def _tree(state, fn):
    """``state`` (an array, or nested tuples of arrays) with ``fn`` applied to every array."""
    if isinstance(state, (tuple, list)):
        return tuple(_tree(s, fn) for s in state)
    return None if state is None else fn(state)


def _copy_back(nds, arrays):
    """Write each NDArray into the NumPy array it stands for (in place, same structure)."""
    if isinstance(nds, tuple):
        for n, a in zip(nds, arrays):
            _copy_back(n, a)
    elif nds is not None:
        arrays[...] = nds.asnumpy()


class RMSProp:
    """``mxnet.optimizer.RMSProp`` on NumPy arrays, in place (SPEC §3 optimizer-level port)."""

    def __init__(self, **kwargs):
        mx = require()
        self._opt = mx.optimizer.RMSProp(**kwargs)

    def __getattr__(self, name):  # num_update, lr_mult, ... as MXNet keeps them
        return getattr(self.__dict__["_opt"], name)

    def set_lr_mult(self, args_lr_mult):
        self._opt.set_lr_mult(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        self._opt.set_wd_mult(args_wd_mult)

    def create_state(self, index, weight):
        return _tree(self._opt.create_state(index, _nd(weight)), lambda s: s.asnumpy())

    def create_state_multi_precision(self, index, weight):
        return _tree(self._opt.create_state_multi_precision(index, _nd(weight)), lambda s: s.asnumpy())

    def update(self, indices, weights, grads, states):
        self._run(self._opt.update, indices, weights, grads, states)

    def update_multi_precision(self, indices, weights, grads, states):
        self._run(self._opt.update_multi_precision, indices, weights, grads, states)

    @staticmethod
    def _run(method, indices, weights, grads, states):
        single = not isinstance(indices, (list, tuple))
        if single:
            indices, weights, grads, states = [indices], [weights], [grads], [states]
        nd_w = [_nd(w) for w in weights]
        nd_s = [_tree(s, _nd) for s in states]
        method(list(indices), nd_w, [_nd(g) for g in grads], nd_s)
        for n, w in zip(nd_w, weights):
            w[...] = n.asnumpy()
        for n, s in zip(nd_s, states):
            _copy_back(n, s)
