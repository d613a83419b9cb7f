"""Kernel-level ports that are the built-in numpy port (``rmsprop.port.step``) plus one bug
confined to a narrow band of float16 values, for ``tests/test_exhaustive.py``.

* ``subnormal_grad_zero``: a subnormal gradient is read as zero;
* ``top_binade``: a finite gradient with |g| in the top binade [32768, 65504] is read as ±inf;
* ``square_ftz``: where g*g is subnormal, the var update sees it flushed to zero
  (the weight update does not: a separate state kernel);
* ``nan_payload``: the NaN gradient of bit pattern 0x7e01 is read as zero;
* ``one_binade_halved``: gradients with 32 <= |g| < 64 are halved.

Other dtypes go through unchanged.  ``clean`` is the numpy port itself.
"""
import numpy as np

from rmsprop.port import step as clean

__all__ = ["clean", "subnormal_grad_zero", "top_binade", "square_ftz", "nan_payload", "one_binade_halved", "BUGS"]

TINY16 = float(np.finfo(np.float16).tiny)  # 2**-14


def _with_grad(band):
    """A port whose float16 gradient is ``band(g)`` (a modified copy) before the numpy port runs."""
    def port(weight, grad, state, hp):
        if grad.dtype == np.float16:
            with np.errstate(all="ignore"):
                grad = band(grad.copy())
        return clean(weight, grad, state, hp)
    port.__name__ = band.__name__
    return port


def _subnormal(g):
    g[(g != 0) & (np.abs(g) < TINY16)] = 0
    return g


def _top(g):
    band = np.isfinite(g) & (np.abs(g) >= 32768)
    g[band] = np.copysign(np.inf, g[band])
    return g


def _payload(g):
    g[g.view(np.uint16) == 0x7E01] = 0
    return g


def _halved(g):
    band = (np.abs(g) >= 32) & (np.abs(g) < 64)
    g[band] = g[band] / 2
    return g


subnormal_grad_zero = _with_grad(_subnormal)
top_binade = _with_grad(_top)
nan_payload = _with_grad(_payload)
one_binade_halved = _with_grad(_halved)


def square_ftz(weight, grad, state, hp):
    new_w, new_state = clean(weight, grad, state, hp)
    if grad.dtype != np.float16:
        return new_w, new_state
    with np.errstate(all="ignore"):
        sq = grad * grad  # float16: correctly rounded (the product is exact in float32)
    band = (sq != 0) & (sq < TINY16)
    if band.any():
        _, flushed = clean(weight, np.zeros_like(grad), state, hp)  # var as if g*g were 0
        new_state["var"][band] = flushed["var"][band]
    return new_w, new_state


BUGS = ("subnormal_grad_zero", "top_binade", "square_ftz", "nan_payload", "one_binade_halved")
