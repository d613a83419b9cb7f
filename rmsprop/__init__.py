"""Production NumPy RMSProp with Apache MXNet 2 semantics.

* :func:`rmsprop_update`, :func:`rmspropalex_update` (and ``*_multi`` list
  versions): the fused operators, in place;
* :class:`RMSProp`: the ``mxnet.optimizer.RMSProp`` API;
* :mod:`rmsprop.lr_scheduler`: MXNet learning-rate schedules;
* :func:`rmsprop.port.step`: the conformance-suite port adapter;
* :func:`configure` / :func:`settings`: engine (compiled numba or NumPy ufuncs),
  block size and thread count.

This package is numerically independent of ``oracle``.
"""
from . import lr_scheduler, port
from ._settings import configure, get_config, settings
from .ops import rmsprop_update, rmsprop_update_multi, rmspropalex_update, rmspropalex_update_multi
from .optimizer import Optimizer, RMSProp

__all__ = ["RMSProp", "Optimizer", "rmsprop_update", "rmspropalex_update",
           "rmsprop_update_multi", "rmspropalex_update_multi", "lr_scheduler", "port",
           "configure", "get_config", "settings"]
