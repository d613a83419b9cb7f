"""The real MXNet 2 with denormal flushing turned off: a user's wrapper of the built-in port.

    rmsprop-conformance check tests.ports.mxnet2_ieee:step               # judged as plain mxnet2
    rmsprop-conformance check tests.ports.mxnet2_ieee:RMSProp --level optimizer

Each call runs with ``mxnet.util.set_flush_denorms(False)`` (FTZ and DAZ cleared in MXCSR
of MXNet's engine thread) and puts the previous setting back after it, so the operators
keep IEEE subnormals.  As a ``module:attribute`` target the port has no flushing default
of its own and is judged in the dialect's (kept) mode.
"""
from contextlib import contextmanager

import mxnet

from conformance.adapters_mxnet2 import RMSProp as _RMSProp
from conformance.adapters_mxnet2 import step as _step


@contextmanager
def _ieee():
    previous = mxnet.util.set_flush_denorms(False)
    try:
        yield
    finally:
        mxnet.util.set_flush_denorms(previous)


def step(weight, grad, state, hp):
    with _ieee():
        return _step(weight, grad, state, hp)


class RMSProp(_RMSProp):
    """``mxnet.optimizer.RMSProp`` on NumPy arrays, updating with flushing off."""

    def update(self, indices, weights, grads, states):
        with _ieee():
            super().update(indices, weights, grads, states)

    def update_multi_precision(self, indices, weights, grads, states):
        with _ieee():
            super().update_multi_precision(indices, weights, grads, states)
