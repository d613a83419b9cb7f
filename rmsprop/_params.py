"""Hyperparameter checking and conversion into the weight dtype ``T``.

MXNet passes each hyperparameter to C++ as the text ``str(x)`` and parses it with
dmlc-core (see :mod:`rmsprop._hyper`).  Two flavours (SPEC.md sections 1 and 2):

* ``fused`` -- the operators ``rmsprop_update`` / ``rmspropalex_update``: every
  hyperparameter is a C ``float`` field, ``T(stof(str(x)))``; ``1 - rho`` is
  computed in ``T``; a clip threshold is active when ``T(c) >= 0`` (so -1 is
  off and 0 clips to zero) and clips to ``[-T(c), T(c)]``.
* ``step`` -- ``RMSProp.step`` (NDArray arithmetic): every hyperparameter is a
  double scalar, ``T(stod(str(x)))``; ``1 - rho`` is a Python float; gradient
  clipping is on when ``clip_gradient is not None`` and weight clipping when
  ``clip_weights`` is truthy, with ``nd.clip`` bounds ``-c, c`` (float fields).

Both clip with the C++ rule ``x > hi ? hi : (x < lo ? lo : x)``.
"""
import math
import numbers

import numpy as np

from ._hyper import mxnet_double, mxnet_float

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def check_real(name, value, *, allow_none=False):
    """Return ``value`` as a finite Python float or raise TypeError/ValueError naming it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out!r}")
    return out


def check_unit(name, value):
    """A finite real in [0, 1] (rho, momentum)."""
    out = check_real(name, value)
    if not 0.0 <= out <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {out!r}")
    return out


def check_epsilon(value, name="epsilon"):
    out = check_real(name, value)
    if out < 0.0:
        raise ValueError(f"{name} must be >= 0, got {out!r}")
    return out


class Params:
    """Hyperparameters of one update, already converted to the compute dtype
    (stored as 0-d arrays: the cheapest scalar operand for a ufunc call).

    ``rescale``/``eps`` are None when the operation is an exact identity
    (multiplication by 1, addition of a zero epsilon); ``gclip``/``wclip`` are
    None or ``(lo, hi, fast)`` where ``fast`` says that ``np.clip`` implements
    the C++ clip rule exactly (``lo == -hi`` and ``hi > 0``).
    """

    __slots__ = ("dtype", "centered", "lr", "rho", "omr", "momentum", "eps", "wd",
                 "rescale", "gclip", "wclip", "lr_first")


def _clip_bounds(lo, hi):
    return lo, hi, bool(hi > 0 and lo == -hi)


def _field(name, x, t):
    """An operator field: dmlc::stof(str(x)), then converted to ``t``."""
    try:
        v = mxnet_float(x)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    with np.errstate(over="ignore"):
        return t(np.float32(v))


def _scalar(name, x, t):
    """An NDArray scalar: dmlc::stod(str(x)), then converted to ``t`` (through float32
    for float16, as mshadow converts a double to half)."""
    try:
        v = mxnet_double(x)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    with np.errstate(over="ignore"):
        return t(np.float32(v)) if t is np.float16 else t(v)


def check_dtype(name, dtype):
    """``np.dtype(dtype)``; TypeError naming ``name`` for any other than float16, float32, float64
    (bfloat16 included: no backend has a bfloat16 kernel)."""
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: dtype {dtype} is not float16, float32 or float64")
    return dtype


def make_params(dtype, *, centered, lr, rho=0.95, momentum=0.9, epsilon=1e-8, wd=0.0,
                rescale_grad=1.0, clip_gradient=-1.0, clip_weights=-1.0, flavour="fused"):
    """Validate hyperparameters and build a :class:`Params` for weights of ``dtype``.

    ``flavour`` is ``"fused"`` (operator semantics; clip < 0 or None is off) or
    ``"step"`` (NDArray-scalar semantics; clip_gradient None is off, clip_weights
    falsy is off).
    """
    dtype = check_dtype("weight", dtype)
    hp = {"lr": check_real("lr", lr), "rho": check_unit("rho", rho),
          "momentum": check_unit("momentum", momentum), "epsilon": check_epsilon(epsilon),
          "wd": check_real("wd", wd), "rescale_grad": check_real("rescale_grad", rescale_grad)}
    clip_gradient = check_real("clip_gradient", clip_gradient, allow_none=True)
    clip_weights = check_real("clip_weights", clip_weights, allow_none=True)
    if flavour not in ("fused", "step"):
        raise ValueError(f"flavour must be 'fused' or 'step', got {flavour!r}")
    t = dtype.type
    conv = _field if flavour == "fused" else _scalar
    h = {k: conv(k, v, t) for k, v in hp.items()}
    p = Params()
    p.dtype = dtype
    p.centered = bool(centered)
    p.lr, p.rho, p.momentum, p.wd = h["lr"], h["rho"], h["momentum"], h["wd"]
    p.rescale = None if h["rescale_grad"] == 1 else h["rescale_grad"]
    p.eps = None if h["epsilon"] == 0 else h["epsilon"]
    p.gclip = p.wclip = None
    if flavour == "fused":
        with np.errstate(all="ignore"):
            p.omr = t(t(1) - p.rho)               # 1 - rho in the weight dtype
        p.lr_first = True                         # (lr * g) / (sqrt(var) + eps)
        for name, c in (("gclip", clip_gradient), ("wclip", clip_weights)):
            if c is not None:
                ct = _field("clip_" + ("gradient" if name == "gclip" else "weights"), c, t)
                if ct >= 0:                       # C++: DType(clip) >= 0.0f
                    setattr(p, name, _clip_bounds(-ct, ct))
    else:
        p.omr = _scalar("rho", 1.0 - hp["rho"], t)    # (1 - rho) is a Python float
        p.lr_first = False                        # lr * (g / (sqrt(var) + eps))
        # nd.clip bounds are float fields: -c and c parsed by dmlc::stof
        if clip_gradient is not None:
            c = _field("clip_gradient", clip_gradient, t)
            p.gclip = _clip_bounds(-c, c)
        if clip_weights:
            c = _field("clip_weights", clip_weights, t)
            p.wclip = _clip_bounds(-c, c)
    for name in ("lr", "rho", "omr", "momentum", "eps", "wd", "rescale"):
        v = getattr(p, name)
        if v is not None:
            setattr(p, name, np.array(v, dtype))
    for name in ("gclip", "wclip"):
        v = getattr(p, name)
        if v is not None:
            setattr(p, name, (np.array(v[0], dtype), np.array(v[1], dtype), v[2]))
    return p
