"""The RMSProp dialects: one update of one tensor, as each system writes it.

Each rule is written once against an abstract ``ops`` object and is interpreted
three ways: exactly (``exact.ExactOps``), by the certified binary64 fast path and
by the port-error bound model (``propagate.Propagator``).  The operation order and
association follow each system's source, because that order decides where an
intermediate leaves the compute format's range.  ``ops.store`` is a write to
memory in the storage format: later reads see the rounded value, as in every
real implementation (the state is a tensor).

MXNet's own dialects are here; the other systems' rules are in ``dialects_other``.
``DIALECTS`` is the registry of both.

Notation: ``w`` weight, ``g`` gradient, ``var`` mean of g², ``mean`` mean of g,
``mom`` momentum buffer, ``T`` storage format, ``C`` compute format.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from . import dialects_other as other
from .hyper import HP_KEYS, dmlc_stof, mxnet_field, mxnet_scalar, python_double

__all__ = ["Dialect", "DIALECTS", "HP_KEYS"]

ALL_DTYPES = ("float16", "float32", "float64", "bfloat16")
# MXNet builds a bfloat16 NDArray (type enum 12), but rmsprop_update and rmspropalex_update
# raise "MXNetError: Unknown type enum 12" for it, in 2.0.0b1 and 1.9.1 alike
# (tests/test_oracle_vs_mxnet2.py, tests/test_oracle_vs_mxnet191.py)
IEEE_DTYPES = ("float16", "float32", "float64")
_OPTIONAL_MOMENTUM = ("torch", "keras", "keras-tf", "optax")  # a mom buffer only when momentum != 0
_ALWAYS_MOMENTUM = ("tensorflow", "paddle")  # mom always (centered or not)


@dataclass(frozen=True)
class Dialect:
    name: str
    summary: str
    hyper: Callable  # (hp, T) -> dict of exact hyperparameter values (Python floats)
    rule: Callable  # (ops, w, g, state, h, hp, T) -> dict of stored outputs
    compute: Callable = lambda T: T  # compute format of the arithmetic
    unsupported: tuple = ()  # hyperparameters this system has no equivalent of
    flushes: bool = False  # the real system flushes subnormals by default (DAZ/FTZ, see ``flushing``)
    dtypes: tuple = ALL_DTYPES  # storage dtypes the real system's kernel takes
    refuses: tuple = ()  # (hyperparameter, value) pairs the real system refuses
    hyper_flushed: Callable = None  # the conversion as it runs under DAZ, where that differs

    def rule_for(self, flush_denormals: bool) -> Callable:
        """The rule as the hardware runs it with denormal flushing on or off."""
        return flushing(self.rule) if flush_denormals else self.rule

    def hyper_for(self, flush_denormals: bool) -> Callable:
        """The hyperparameter conversion with denormal flushing on or off."""
        return self.hyper_flushed if flush_denormals and self.hyper_flushed else self.hyper

    def state_names(self, hp) -> tuple:
        if self.name in _OPTIONAL_MOMENTUM:
            names = ("mean", "var") if hp["centered"] else ("var",)
            return names + (("mom",) if hp["momentum"] != 0 else ())
        if self.name in _ALWAYS_MOMENTUM:
            return ("mean", "var", "mom") if hp["centered"] else ("var", "mom")
        return ("mean", "var", "mom") if hp["centered"] else ("var",)


# -- hyperparameter conversion ------------------------------------------------------
def _hp_mxnet(hp, T):
    """Operator fields are C floats parsed from str(x) by dmlc::stof, then cast to T."""
    return {k: mxnet_field(hp[k], T) for k in HP_KEYS}


def _hp_mxnet_step(hp, T):
    """NDArray scalars: T(dmlc::stod(str(x))); nd.clip bounds are float fields (dmlc::stof)."""
    h = {k: mxnet_scalar(hp[k], T) for k in HP_KEYS}
    h["clip_gradient"] = dmlc_stof(str(hp["clip_gradient"]))
    h["clip_weights"] = dmlc_stof(str(hp["clip_weights"]))
    h["one_minus_rho"] = mxnet_scalar(python_double(1 - Fraction(hp["rho"])), T)
    return h


# -- shared pieces ------------------------------------------------------------------------
def _grad_mxnet2(ops, w, g, h, hp):
    """g' = clip(rescale * g) + wd * w  (weight decay after clipping).

    The kernel tests ``clip >= 0`` on the converted value: a float16 -1e-8 is -0.0, which
    turns clipping on (and clip(x, -0.0) maps positive x to -0.0, negative x to +0.0).
    """
    g = ops.mul(ops.const(h["rescale_grad"]), g)
    if h["clip_gradient"] >= 0:
        g = ops.clip(g, ops.const(h["clip_gradient"]))
    return ops.add(g, ops.mul(ops.const(h["wd"]), w))


def _grad_mxnet1(ops, w, g, h, hp):
    """g' = clip(rescale * g + wd * w)  (weight decay before clipping)."""
    g = ops.add(ops.mul(ops.const(h["rescale_grad"]), g), ops.mul(ops.const(h["wd"]), w))
    if h["clip_gradient"] >= 0:
        g = ops.clip(g, ops.const(h["clip_gradient"]))
    return g


def _finish_weight(ops, w_new, h, hp, T, converted=True):
    if (h["clip_weights"] if converted else hp["clip_weights"]) >= 0:
        w_new = ops.clip(w_new, ops.const(h["clip_weights"]))
    return ops.store(w_new, T)


def _centered_mxnet(ops, w, g, st, h, hp, T, omr, square_first):
    """Graves: var, mean running moments; mom = momentum*mom - lr*g/sqrt(var - mean² + eps).

    MXNet 1.9.1 forms ((1-rho)*g)*g, MXNet 2 (1-rho)*square(g): they differ at overflow.
    """
    rho = ops.const(h["rho"])
    g2 = ops.mul(omr, ops.mul(g, g)) if square_first else ops.mul(ops.mul(omr, g), g)
    var = ops.store(ops.add(g2, ops.mul(rho, st["var"])), T)
    mean = ops.store(ops.add(ops.mul(omr, g), ops.mul(rho, st["mean"])), T)
    rad = ops.add(ops.sub(var, ops.mul(mean, mean)), ops.const(h["epsilon"]))
    step = ops.div(ops.mul(ops.const(h["lr"]), g), ops.sqrt(rad))
    mom = ops.store(ops.sub(ops.mul(ops.const(h["momentum"]), st["mom"]), step), T)
    return {"mean": mean, "var": var, "mom": mom, "weight": _finish_weight(ops, ops.add(w, mom), h, hp, T)}


# -- the rules -----------------------------------------------------------------------------
def _rule_mxnet_fused(version):
    """mxnet1: w - lr*(g/sqrt(var + eps)); mxnet2: w - (lr*g)/(sqrt(var) + eps)."""
    grad_fn = _grad_mxnet1 if version == 1 else _grad_mxnet2

    def rule(ops, w, g, st, h, hp, T):
        g = grad_fn(ops, w, g, h, hp)
        omr = ops.sub(ops.const(1.0), ops.const(h["rho"]))
        if hp["centered"]:
            return _centered_mxnet(ops, w, g, st, h, hp, T, omr, square_first=version == 2)
        var = ops.store(ops.add(ops.mul(omr, ops.mul(g, g)), ops.mul(ops.const(h["rho"]), st["var"])), T)
        eps, lr = ops.const(h["epsilon"]), ops.const(h["lr"])
        if version == 1:
            w_new = ops.sub(w, ops.mul(lr, ops.div(g, ops.sqrt(ops.add(var, eps)))))
        else:
            w_new = ops.sub(w, ops.div(ops.mul(lr, g), ops.add(ops.sqrt(var), eps)))
        return {"var": var, "weight": _finish_weight(ops, w_new, h, hp, T)}

    return rule


def _rule_mxnet2_step(ops, w, g, st, h, hp, T):
    """MXNet 2 ``RMSProp.step``: NDArray ops with Python-float scalars."""
    g = ops.mul(g, ops.const(h["rescale_grad"]))
    if hp["clip_gradient"] >= 0:  # the optimizer passes -1 here when clip_gradient is None
        g = ops.clip(g, ops.const(h["clip_gradient"]))
    g = ops.add(g, ops.mul(ops.const(h["wd"]), w))
    omr, rho = ops.const(h["one_minus_rho"]), ops.const(h["rho"])
    if hp["centered"]:
        mean = ops.store(ops.add(ops.mul(st["mean"], rho), ops.mul(omr, g)), T)
        var = ops.store(ops.add(ops.mul(st["var"], rho), ops.mul(omr, ops.mul(g, g))), T)
        rad = ops.add(ops.sub(var, ops.mul(mean, mean)), ops.const(h["epsilon"]))
        step = ops.div(ops.mul(ops.const(h["lr"]), g), ops.sqrt(rad))
        mom = ops.store(ops.sub(ops.mul(st["mom"], ops.const(h["momentum"])), step), T)
        out = {"mean": mean, "var": var, "mom": mom}
        w_new = ops.add(w, mom)
    else:
        var = ops.store(ops.add(ops.mul(st["var"], rho), ops.mul(omr, ops.mul(g, g))), T)
        d = ops.div(g, ops.add(ops.sqrt(var), ops.const(h["epsilon"])))
        out = {"var": var}
        w_new = ops.sub(w, ops.mul(ops.const(h["lr"]), d))
    out["weight"] = _finish_weight(ops, w_new, h, hp, T, converted=False)
    return out


class _FlushingOps:
    """Arithmetic under DAZ/FTZ: operands and results that are subnormal in the compute
    format read and write as zeros of their sign (x86 MXCSR flushing, tininess after
    rounding: see ``ExactOps.flush_subnormal``)."""

    def __init__(self, ops):
        self._ops = ops

    def __getattr__(self, name):  # store, stage, neg, round, ... unchanged
        return getattr(self._ops, name)

    def _f(self, x):
        return self._ops.flush_subnormal(x)

    def const(self, x):
        return self._f(self._ops.const(x))

    def add(self, a, b):
        return self._f(self._ops.add(a, b))

    def sub(self, a, b):
        return self._f(self._ops.sub(a, b))

    def mul(self, a, b):
        return self._f(self._ops.mul(a, b))

    def fma(self, a, b, c):
        return self._f(self._ops.fma(a, b, c))

    def div(self, a, b):
        return self._f(self._ops.div(a, b))

    def sqrt(self, a):
        return self._f(self._ops.sqrt(a))

    def clip(self, x, c):
        return self._f(self._ops.clip(x, c))

    def fast_sqrt(self, a):
        return self._f(self._ops.fast_sqrt(a, ftz=True))


def flushing(rule):
    """``rule`` with denormals flushed: inputs read with DAZ, every operation's result with FTZ.

    This is what the CPU does with FTZ and DAZ set in MXCSR (MXNet 2 sets both from import,
    ``mxnet.util.set_flush_denorms``; XLA sets both for every computation).  Measured on the
    real systems: float32 and float64 flush.  float16 never does: it is computed in float32,
    where no float16 value, nor any result of one operation on float16 values, is subnormal,
    and the conversions to and from half ignore MXCSR.  bfloat16 shares float32's exponent
    range, so its subnormals are float32 subnormals: it flushes.
    """
    def flushing_rule(ops, w, g, st, h, hp, T):
        if T.name == "float16":
            return rule(ops, w, g, st, h, hp, T)
        f = _FlushingOps(ops)
        flush = ops.flush_subnormal
        return rule(f, flush(w), flush(g), {k: flush(v) for k, v in st.items()}, h, hp, T)

    flushing_rule.__doc__ = rule.__doc__
    return flushing_rule


DIALECTS = {
    d.name: d
    for d in (
        Dialect("mxnet2", "MXNet 2.x fused rmsprop_update / rmspropalex_update",
                _hp_mxnet, _rule_mxnet_fused(2), dtypes=IEEE_DTYPES),
        Dialect("mxnet2-step", "MXNet 2.x RMSProp.step (use_fused_step=False)",
                _hp_mxnet_step, _rule_mxnet2_step, dtypes=IEEE_DTYPES),
        Dialect("mxnet1", "MXNet 1.9.1 rmsprop_update / rmspropalex_update",
                _hp_mxnet, _rule_mxnet_fused(1), dtypes=IEEE_DTYPES),
        Dialect("torch", "torch.optim.RMSprop (for-loop and foreach)", other.hp_torch, other.rule_torch,
                compute=other.opmath, unsupported=("rescale_grad", "clip_gradient", "clip_weights")),
        Dialect("keras", "Keras 3 RMSprop (JAX backend: DAZ/FTZ)", other.hp_keras, other.rule_keras,
                unsupported=("rescale_grad", "clip_weights"), flushes=True),
        Dialect("keras-tf", "Keras 3 RMSprop on the TensorFlow backend (eager: DAZ/FTZ)", other.hp_keras_tf,
                other.rule_keras, unsupported=("rescale_grad", "clip_weights"), flushes=True),
        Dialect("optax", "optax.rmsprop (eps inside the root; XLA: DAZ/FTZ)", other.hp_direct, other.rule_optax,
                unsupported=("wd", "rescale_grad", "clip_gradient", "clip_weights"), flushes=True),
        Dialect("tensorflow", "tf.raw_ops.ResourceApplyRMSProp / ResourceApplyCenteredRMSProp (eager: DAZ/FTZ)",
                other.hp_tensorflow, other.rule_tensorflow,
                unsupported=("wd", "rescale_grad", "clip_gradient", "clip_weights"), flushes=True),
        Dialect("paddle", "paddle.optimizer.RMSProp, CPU rmsprop_ kernel (float32 roots: fast packet sqrt)",
                other.hp_paddle, other.rule_paddle, unsupported=("rescale_grad", "clip_weights"),
                dtypes=("float32", "float64"), refuses=(("clip_gradient", 0.0),),
                hyper_flushed=other.hp_paddle_flushed),
    )
}
