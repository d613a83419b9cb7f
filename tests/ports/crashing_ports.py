"""Ports that take their process down, never return or change global state (the judge runs
each in a worker process).  The ``*_on_seven`` ports misbehave on the six kernel fixture
cases of 7 elements (``shapes/mxnet2/<dtype>/<variant>/7``, never two in a row) and are
faithful everywhere else; the ``*_always`` ones misbehave on every case."""
import ctypes
import os
import signal
import sys

import numpy as np

from tests.ports.kernel_ports import faithful

TARGET_SIZE = 7


def _segfault():
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def _hold_the_gil_forever():
    """C code that never returns and holds the GIL (PyDLL), with SIGALRM blocked, so no
    alarm, Python signal handler or other thread in this process can interrupt it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGINT})
    libc = ctypes.PyDLL(None)
    while True:
        libc.sleep(3600)


def _exhaust_memory():
    hoard = []
    while True:
        hoard.append(np.ones(1 << 22))  # 32 MiB a step, touched


def _on_seven(misbehave):
    def step(weight, grad, state, hp):
        if weight.size == TARGET_SIZE:
            misbehave()
        return faithful(weight, grad, state, hp)
    step.__doc__ = f"faithful, except on 7-element cases: {misbehave.__name__.strip('_')}"
    return step


segfaults_on_seven = _on_seven(_segfault)
holds_the_gil_on_seven = _on_seven(_hold_the_gil_forever)
exits_on_seven = _on_seven(lambda: os._exit(3))
aborts_on_seven = _on_seven(os.abort)
exhausts_memory_on_seven = _on_seven(_exhaust_memory)


def sleeps_always(weight, grad, state, hp):
    import time

    time.sleep(3600)


def exits_always(weight, grad, state, hp):
    sys.stderr.write("port: cannot go on\n")
    sys.stderr.flush()
    os._exit(3)


def segfaults_always(weight, grad, state, hp):
    _segfault()


def pollutes(weight, grad, state, hp):
    """Faithful, but changes its process's global state on every call: the working
    directory, sys.stdout, NumPy's error handling."""
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    sys.stdout = open(os.devnull, "w")
    np.seterr(all="raise")
    with np.errstate(all="ignore"):
        return faithful(weight, grad, state, hp)


class crashing_optimizer:  # noqa: N801 - a factory, named as ports are
    """rmsprop.RMSProp, except that updating a centered float16 parameter segfaults (never
    two optimizer fixture cases in a row)."""

    def __init__(self, **kwargs):
        import rmsprop

        self._opt, self._centered = rmsprop.RMSProp(**kwargs), kwargs.get("centered", False)

    def __getattr__(self, name):
        return getattr(self._opt, name)

    def _check(self, weights):
        if self._centered and any(w.dtype == np.float16 for w in weights):
            _segfault()

    def update(self, indices, weights, grads, states):
        self._check(weights)
        return self._opt.update(indices, weights, grads, states)

    def update_multi_precision(self, indices, weights, grads, states):
        self._check(weights)
        return self._opt.update_multi_precision(indices, weights, grads, states)


class slow_optimizer:  # noqa: N801
    """rmsprop.RMSProp on the NumPy engine, each update taking ``DELAY`` seconds more."""

    DELAY = 0.5

    def __init__(self, **kwargs):
        import rmsprop

        self._opt = rmsprop.RMSProp(**kwargs)

    def __getattr__(self, name):
        return getattr(self._opt, name)

    def update(self, *args):
        import time

        import rmsprop

        time.sleep(self.DELAY)
        with rmsprop.settings(engine="numpy"):  # no compilation inside a timed call
            return self._opt.update(*args)
