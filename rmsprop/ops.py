"""Kernel-level API: the MXNet 2 operators ``rmsprop_update`` and
``rmspropalex_update`` on NumPy arrays, in place, single tensor or list.

Hyperparameters follow operator semantics (SPEC.md section 1, dialect
``mxnet2``): each is a C ``float`` field parsed from ``str(x)`` as MXNet does
(:mod:`rmsprop._hyper`), then converted to the weight dtype; a clip value < 0
switches clipping off, 0 clips to zero.  Everything is validated before the
first write, so a call that raises changes nothing.
"""
from collections.abc import Sequence

from . import _engine
from ._params import check_dtype, make_params
from ._validate import as_array, check_aliasing, make_job

__all__ = ["rmsprop_update", "rmspropalex_update",
           "rmsprop_update_multi", "rmspropalex_update_multi"]


def rmsprop_update(weight, grad, var, *, lr, rho=0.95, epsilon=1e-8, wd=0.0,
                   rescale_grad=1.0, clip_gradient=-1.0, clip_weights=-1.0):
    """Non-centered RMSProp (Tieleman & Hinton), updating ``weight`` and ``var`` in place::

        g   = clip(rescale_grad * grad, clip_gradient) + wd * weight
        var = (1 - rho) * (g * g) + rho * var
        weight = clip(weight - (lr * g) / (sqrt(var) + epsilon), clip_weights)

    Returns ``weight``.
    """
    w = as_array("weight", weight)
    p = make_params(w.dtype, centered=False, lr=lr, rho=rho, epsilon=epsilon, wd=wd,
                    rescale_grad=rescale_grad, clip_gradient=clip_gradient,
                    clip_weights=clip_weights)
    job = make_job(p, "", w, grad, [var], ["var"])
    check_aliasing([job])
    _engine.run([job])
    return weight


def rmspropalex_update(weight, grad, mean, var, mom, *, lr, rho=0.95, momentum=0.9,
                       epsilon=1e-8, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
                       clip_weights=-1.0):
    """Centered RMSProp (Graves 2013, eq. 38-45), updating weight and states in place::

        g    = clip(rescale_grad * grad, clip_gradient) + wd * weight
        var  = (1 - rho) * (g * g) + rho * var
        mean = (1 - rho) * g + rho * mean
        mom  = momentum * mom - (lr * g) / sqrt(var - mean * mean + epsilon)
        weight = clip(weight + mom, clip_weights)

    Returns ``weight``.
    """
    w = as_array("weight", weight)
    p = make_params(w.dtype, centered=True, lr=lr, rho=rho, momentum=momentum,
                    epsilon=epsilon, wd=wd, rescale_grad=rescale_grad,
                    clip_gradient=clip_gradient, clip_weights=clip_weights)
    job = make_job(p, "", w, grad, [mean, var, mom], ["mean", "var", "mom"])
    check_aliasing([job])
    _engine.run([job])
    return weight


def _per_tensor(name, value, n):
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(f"{name}: expected {n} values, got {len(value)}")
        return list(value)
    return [value] * n


def check_lists(weights, grads, states, state_names, lr, wd):
    """Validate the list arguments of a ``*_multi`` call: ``(n, per-tensor lrs, wds)``."""
    for nm, seq in (("weights", weights), ("grads", grads)):
        if not isinstance(seq, Sequence) or isinstance(seq, str):
            raise TypeError(f"{nm} must be a list of arrays, got {type(seq).__name__}")
    n = len(weights)
    if len(grads) != n:
        raise ValueError(f"grads: expected {n} arrays, got {len(grads)}")
    for sn, seq in zip(state_names, states):
        if not isinstance(seq, Sequence) or len(seq) != n:
            raise ValueError(f"{sn}s: expected a list of {n} arrays")
    return n, _per_tensor("lr", lr, n), _per_tensor("wd", wd, n)


def _multi(centered, weights, grads, states, state_names, lr, wd, hp):
    n, lrs, wds = check_lists(weights, grads, states, state_names, lr, wd)
    cache, jobs = {}, []
    for i in range(n):
        w = as_array(f"weights[{i}]", weights[i])
        key = (w.dtype, lrs[i], wds[i])
        p = cache.get(key)
        if p is None:
            check_dtype(f"weights[{i}]", w.dtype)
            p = cache[key] = make_params(w.dtype, centered=centered, lr=lrs[i], wd=wds[i], **hp)
        jobs.append(make_job(p, ("tensor {}:", i), w, grads[i], [s[i] for s in states],
                             state_names))
    check_aliasing(jobs, "tensor {}:")
    _engine.run(jobs)


def rmsprop_update_multi(weights, grads, vars, *, lr, rho=0.95, epsilon=1e-8, wd=0.0,
                         rescale_grad=1.0, clip_gradient=-1.0, clip_weights=-1.0):
    """:func:`rmsprop_update` on lists of tensors in one call (one validation pass,
    one threaded pass).  ``lr`` and ``wd`` may be a scalar or one value per tensor."""
    _multi(False, weights, grads, [vars], ["var"], lr, wd,
           dict(rho=rho, epsilon=epsilon, rescale_grad=rescale_grad,
                clip_gradient=clip_gradient, clip_weights=clip_weights))


def rmspropalex_update_multi(weights, grads, means, vars, moms, *, lr, rho=0.95,
                             momentum=0.9, epsilon=1e-8, wd=0.0, rescale_grad=1.0,
                             clip_gradient=-1.0, clip_weights=-1.0):
    """:func:`rmspropalex_update` on lists of tensors in one call."""
    _multi(True, weights, grads, [means, vars, moms], ["mean", "var", "mom"], lr, wd,
           dict(rho=rho, momentum=momentum, epsilon=epsilon, rescale_grad=rescale_grad,
                clip_gradient=clip_gradient, clip_weights=clip_weights))
