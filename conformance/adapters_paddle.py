"""The built-in ``paddle`` port: ``paddle.optimizer.RMSProp`` (PaddlePaddle 3, dynamic graph, CPU).

What a user calls: the optimizer over one parameter, ``opt.step()`` with the parameter's
gradient set.  Its states are the optimizer's own accumulators, written before the step:
``mean_square`` (var), ``mean_grad`` (mean, centered), ``momentum`` (mom, always: the
kernel applies momentum whatever its value).  ``weight_decay`` (L2Decay, added to the
gradient) and ``grad_clip=ClipGradByValue(c)`` (clipping first) are Paddle's own; a weight
decay of 0 is no decay, as in the other ports.

Paddle's CPU kernel takes float32 and float64 only.  Its float32 square root is Eigen's
fast-math packet sqrt on every full packet, and the correctly rounded one on the
``n mod 8`` elements at a tensor's end (the scalar loop), where sqrt(inf) and subnormal
radicands part.  The port pads each tensor to a multiple of ``PACKET`` elements so that
every element takes the packet path the ``paddle`` dialect states, and drops the padding.

Paddle keeps subnormals on CPU (no DAZ/FTZ, eager or static), and has no switch for it.
"""
from __future__ import annotations

import warnings

import numpy as np

from .adapters import _refuse

__all__ = ["import_paddle", "paddle_step", "PACKET"]

PACKET = 16  # a multiple of every x86 float32 packet width (SSE 4, AVX 8, AVX-512 16)
# the padding's elements: an ordinary update (w = g = 0, var = 1) whatever the hyperparameters
_PAD = {"weight": 0.0, "grad": 0.0, "var": 1.0, "mean": 0.0, "mom": 0.0}


def import_paddle():
    """PaddlePaddle on its CPU device (ImportError when it is not installed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its start-up advisories (ccache, ...)
        import paddle
    paddle.set_device("cpu")
    return paddle


def _refusals(hp, dtype, state):
    _refuse(hp, "paddle.optimizer.RMSProp", ("rescale_grad", "clip_weights"))
    if dtype not in ("float32", "float64"):
        raise ValueError(f"paddle.optimizer.RMSProp has no {dtype} on CPU (its rmsprop kernel takes float32, float64)")
    for k in ("momentum", "rho", "epsilon", "wd"):
        if hp[k] < 0:
            raise ValueError(f"paddle.optimizer.RMSProp has no negative {k!r}")
    if "mom" not in state:
        raise ValueError("paddle.optimizer.RMSProp always keeps a momentum accumulator: the state needs 'mom'")
    if hp["clip_gradient"] == 0:
        raise ValueError("paddle.nn.ClipGradByValue has no 'clip_gradient' 0 (it needs max > 0)")


def _padded(a, key):
    n = a.size
    pad = (-n) % PACKET
    return np.concatenate([a.ravel(), np.full(pad, _PAD[key], a.dtype)]) if pad else a.ravel().copy()


def paddle_step(weight, grad, state, hp):
    paddle = import_paddle()
    _refusals(hp, weight.dtype.name, state)
    shape, n = weight.shape, weight.size
    w = _padded(weight, "weight")
    p = paddle.create_parameter(shape=[w.size], dtype=weight.dtype.name,
                                default_initializer=paddle.nn.initializer.Assign(w))
    clip = hp["clip_gradient"]
    opt = paddle.optimizer.RMSProp(learning_rate=hp["lr"], rho=hp["rho"], epsilon=hp["epsilon"],
                                   momentum=hp["momentum"], centered=hp["centered"], parameters=[p],
                                   weight_decay=hp["wd"] if hp["wd"] != 0 else None,
                                   grad_clip=paddle.nn.ClipGradByValue(clip) if clip > 0 else None)
    opt._create_accumulators(paddle.static.default_main_program().global_block(), [p])
    acc = {"var": opt._mean_square_acc_str, "mom": opt._momentum_acc_str, "mean": opt._mean_grad_acc_str}
    acc = {k: opt._get_accumulator_master(name, p) for k, name in acc.items() if k in state}
    for k, a in acc.items():
        a.set_value(_padded(state[k], k))
    p.grad = paddle.to_tensor(_padded(grad, "grad"))
    opt.step()
    out = {k: a.numpy()[:n].reshape(shape) for k, a in acc.items()}
    return p.numpy()[:n].reshape(shape), out
