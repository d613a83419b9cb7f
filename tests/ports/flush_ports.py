"""A kernel-level port that flushes denormals as MXNet 2 does on CPU, written without the oracle.

``flushing_step`` is the ``mxnet2`` kernel in NumPy arithmetic of the storage dtype (MXNet's
operation order), with DAZ on every input read and FTZ on every operation's result: a value
whose rounded magnitude is below the smallest normal becomes a zero of its sign (x86 decides
tininess after rounding, and NumPy's result is already rounded).  float16 is left alone: the
real system computes it in float32, where no float16 value is subnormal.
"""
import numpy as np

from oracle.formats import FORMATS
from oracle.hyper import mxnet_field


def _ftz(x):
    x = np.asarray(x)
    if x.dtype == np.float16:
        return x
    tiny = np.finfo(x.dtype).tiny
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(x) < tiny, np.copysign(np.zeros((), x.dtype), x), x).astype(x.dtype)


def _clip(x, c):
    return np.where(x > c, c, np.where(x < -c, -c, x)).astype(x.dtype)


def flushing_step(weight, grad, state, hp):
    T = weight.dtype.type
    h = {k: T(mxnet_field(hp[k], FORMATS[weight.dtype.name])) for k in
         ("lr", "rho", "momentum", "epsilon", "wd", "rescale_grad", "clip_gradient", "clip_weights")}
    f = _ftz
    w, g = f(weight), f(grad)
    st = {k: f(v) for k, v in state.items()}
    with np.errstate(all="ignore"):
        g = f(h["rescale_grad"] * g)
        if h["clip_gradient"] >= 0:
            g = _clip(g, h["clip_gradient"])
        g = f(g + f(h["wd"] * w))
        omr = f(T(1) - h["rho"])
        var = f(f(omr * f(g * g)) + f(h["rho"] * st["var"]))
        if hp["centered"]:
            mean = f(f(omr * g) + f(h["rho"] * st["mean"]))
            rad = f(f(var - f(mean * mean)) + h["epsilon"])
            mom = f(f(h["momentum"] * st["mom"]) - f(f(h["lr"] * g) / f(np.sqrt(rad))))
            new_w, new = f(w + mom), {"mean": mean, "var": var, "mom": mom}
        else:
            new_w, new = f(w - f(f(h["lr"] * g) / f(f(np.sqrt(var)) + h["epsilon"]))), {"var": var}
        if h["clip_weights"] >= 0:
            new_w = _clip(new_w, h["clip_weights"])
    return new_w.astype(weight.dtype), {k: v.astype(weight.dtype) for k, v in new.items()}
