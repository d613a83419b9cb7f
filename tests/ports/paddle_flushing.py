"""The real Paddle with denormal flushing turned on: a user's wrapper of the built-in port.

    rmsprop-conformance check tests.ports.paddle_flushing:step --dialect paddle --flush-denormals

Paddle keeps subnormals on CPU and has no switch for it; its CPU kernels run on the
calling thread (Eigen's DefaultDevice).  Each call here sets FTZ and DAZ in the calling
thread's MXCSR (glibc ``fegetenv``/``fesetenv``, x86-64 only) and puts the previous value
back after it, so Paddle computes as a flushing system would.
"""
import ctypes
import ctypes.util
import platform
from contextlib import contextmanager

from conformance.adapters_paddle import paddle_step

__all__ = ["step", "flushing", "usable"]

FTZ, DAZ = 1 << 15, 1 << 6


class _FEnv(ctypes.Structure):  # glibc x86-64 fenv_t: the x87 environment (28 bytes), then MXCSR
    _fields_ = [("x87", ctypes.c_ubyte * 28), ("mxcsr", ctypes.c_uint32)]


def usable():
    """Whether MXCSR can be set here (x86-64 with glibc's libm)."""
    return platform.machine() in ("x86_64", "AMD64") and ctypes.util.find_library("m") is not None


@contextmanager
def flushing():
    """FTZ and DAZ on in this thread's MXCSR inside the block; the previous MXCSR after it."""
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    env = _FEnv()
    if libm.fegetenv(ctypes.byref(env)) != 0:
        raise OSError("fegetenv failed")
    previous = env.mxcsr
    env.mxcsr = previous | FTZ | DAZ
    libm.fesetenv(ctypes.byref(env))
    try:
        yield
    finally:
        env.mxcsr = previous
        libm.fesetenv(ctypes.byref(env))


def step(weight, grad, state, hp):
    with flushing():
        return paddle_step(weight, grad, state, hp)
