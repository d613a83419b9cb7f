"""Kernel-level ports for testing the judge: one faithful, the rest each with one planted defect."""
import json
import os
import time

import numpy as np

from oracle.formats import FORMATS
from oracle.hyper import mxnet_field


def _h(hp, dtype):
    T = FORMATS[np.dtype(dtype).name]
    return {k: np.dtype(dtype).type(mxnet_field(hp[k], T)) for k in
            ("lr", "rho", "momentum", "epsilon", "wd", "rescale_grad", "clip_gradient", "clip_weights")}


def _clip(x, c):
    return np.where(x > c, c, np.where(x < -c, -c, x)).astype(x.dtype)


NUDGED = {"nudged": 0, "finite": 0}


def one_ulp_off(weight, grad, state, hp):
    """The correctly rounded answer moved one ulp (alternating up/down) wherever it is not
    exactly determined by the inputs (allowed >= one ulp: every computed, unclipped value).
    The running tally is ``NUDGED``, also written to the file $NUDGED_TALLY when set (the
    port runs in the judge's worker process)."""
    import oracle

    ev = oracle.evaluate(weight, grad, state, hp, "mxnet2")
    out = {}
    for name, v in ev.outputs.items():
        T = v.dtype.type
        finite = np.isfinite(v) & (ev.classes[name] == "finite")
        up = (np.arange(v.size).reshape(v.shape) % 2) == 0
        with np.errstate(all="ignore"):
            ulp = np.spacing(np.abs(v)).astype(np.float64)
            computed = finite & (ev.allowed[name] >= ulp)
            moved = np.where(up, np.nextafter(v, T(np.inf)), np.nextafter(v, T(-np.inf)))
        out[name] = np.where(computed, moved, v).astype(v.dtype)
        NUDGED["nudged"] += int(computed.sum())
        NUDGED["finite"] += int(finite.sum())
    if os.environ.get("NUDGED_TALLY"):
        with open(os.environ["NUDGED_TALLY"], "w") as f:
            json.dump(NUDGED, f)
    return out["weight"], {k: out[k] for k in state}


def make(eps_inside=False, wd_before_clip=False, ignore_clip_zero=False, swap_rho=False, skip_state=False):
    """mxnet2 in the storage dtype (MXNet's grouping), with optional planted bugs."""
    def step(weight, grad, state, hp):
        T = weight.dtype.type
        h = _h(hp, weight.dtype)
        rho = T(1) - h["rho"] if swap_rho else h["rho"]
        with np.errstate(all="ignore"):
            g = h["rescale_grad"] * grad
            if wd_before_clip:
                g = g + h["wd"] * weight
            if h["clip_gradient"] >= 0 and not (ignore_clip_zero and h["clip_gradient"] == 0):
                g = _clip(g, h["clip_gradient"])
            if not wd_before_clip:
                g = g + h["wd"] * weight
            omr = T(1) - rho
            var = omr * (g * g) + rho * state["var"]
            new = {"var": state["var"] if skip_state else var}
            if hp["centered"]:
                mean = omr * g + rho * state["mean"]
                mom = h["momentum"] * state["mom"] - (h["lr"] * g) / np.sqrt(var - mean * mean + h["epsilon"])
                w = weight + mom
                new.update(mean=mean, mom=mom)
            else:
                den = np.sqrt(var + h["epsilon"]) if eps_inside else np.sqrt(var) + h["epsilon"]
                w = weight - (h["lr"] * g) / den
            if h["clip_weights"] >= 0:
                w = _clip(w, h["clip_weights"])
        return np.asarray(w, dtype=weight.dtype), {k: np.asarray(v, dtype=weight.dtype) for k, v in new.items()}
    return step


faithful = make()
eps_inside = make(eps_inside=True)
wd_before_clip = make(wd_before_clip=True)
ignore_clip_zero = make(ignore_clip_zero=True)
swap_rho = make(swap_rho=True)
skip_state = make(skip_state=True)


def raises(weight, grad, state, hp):
    raise RuntimeError("boom")


def hangs(weight, grad, state, hp):
    time.sleep(30)


def wrong_shape(weight, grad, state, hp):
    return weight[..., None], dict(state)


def not_arrays(weight, grad, state, hp):
    return weight.tolist(), {k: v.tolist() for k, v in state.items()}
