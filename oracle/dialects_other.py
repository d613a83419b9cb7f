"""The other systems' RMSProp dialects (torch, Keras, optax, TensorFlow, Paddle): their
hyperparameter conversions and rules, against the same abstract ``ops`` as MXNet's
(``dialects.py``, which holds the registry).  Each follows its system's own operation order.
"""
from __future__ import annotations

from fractions import Fraction

from .formats import FORMATS, Format
from .hyper import HP_KEYS, python_double, to_format

__all__ = ["hp_direct", "opmath", "hp_torch", "hp_keras", "hp_keras_tf", "hp_tensorflow", "hp_paddle", "hp_paddle_flushed",
           "rule_torch", "rule_keras", "rule_optax", "rule_tensorflow", "rule_paddle"]

F32 = FORMATS["float32"]


def hp_direct(hp, T):
    """Python floats converted straight to the tensor dtype; 1 - rho is a Python float."""
    h = {k: to_format(hp[k], T) for k in HP_KEYS}
    h["one_minus_rho"] = to_format(python_double(1 - Fraction(hp["rho"])), T)
    return h


def opmath(T: Format) -> Format:
    """torch's CPU opmath type: float32 for 16-bit storage (float16 and bfloat16), else the storage type."""
    return F32 if T.bits == 16 else T


def hp_torch(hp, T):
    """Scalars in opmath; but a 16-bit tensor's add(alpha=) takes alpha in the tensor dtype.

    Measured for both 16-bit dtypes, torch CPU: bfloat16 ``add(0, 3, alpha=1 + 2**-8)`` gives 3
    (alpha rounded to 1), not 3.015625; float16 with ``alpha=1 + 2**-11`` likewise gives 3."""
    h = hp_direct(hp, opmath(T))
    h["wd_alpha"] = to_format(hp["wd"], T)
    h["neg_lr_alpha"] = to_format(-hp["lr"], T)
    h["one_minus_rho"] = to_format(python_double(1 - Fraction(hp["rho"])), opmath(T))
    return h


def hp_keras(hp, T):
    h = hp_direct(hp, T)
    h["lr"] = to_format(hp["lr"], F32, T)  # the learning rate is a float32 variable
    return h


def hp_tensorflow(hp, T):
    """A Python float becomes a tensor of the variable's dtype.  TF builds a half from a
    float, so a 16-bit dtype sees the value rounded to float32 first (measured: the double
    1 + 2**-11 + 2**-40 gives half 1.0, not 1.001); float32 and float64 take it directly."""
    via = (F32, T) if T.bits == 16 else (T,)
    return {k: to_format(hp[k], *via) for k in HP_KEYS}


def hp_keras_tf(hp, T):
    """Keras 3 on TensorFlow: every Python float reaches its op as ``hp_tensorflow`` says;
    the learning rate is a float32 variable, and ``tf.cast(weight_decay, dtype)`` makes a
    float32 tensor first, so weight decay is float32-rounded in every dtype."""
    h = hp_tensorflow(hp, T)
    h["one_minus_rho"] = hp_tensorflow(dict(hp, rho=python_double(1 - Fraction(hp["rho"]))), T)["rho"]
    h["lr"] = to_format(hp["lr"], F32, T)
    h["wd"] = to_format(hp["wd"], F32, T)
    return h


def hp_paddle(hp, T):
    """rmsprop_'s epsilon, decay (rho) and momentum are C float attributes: float32, then T.
    The learning rate is a tensor of the parameter's dtype filled from the double; the
    weight decay (``scale``) and the clip bounds are double scalars converted to T."""
    h = {k: to_format(hp[k], T) for k in HP_KEYS}
    for k in ("rho", "epsilon", "momentum"):
        h[k] = to_format(hp[k], F32, T)
    return h


def hp_paddle_flushed(hp, T):
    """``hp_paddle`` under DAZ: the kernel converts each float attribute to T itself, so a
    float32-subnormal attribute (epsilon=1e-40) reads as a zero of its sign."""
    h = hp_paddle(hp, T)
    for k in ("rho", "epsilon", "momentum"):
        if 0 < abs(h[k]) < F32.tiny:
            h[k] = 0.0 if h[k] > 0 else -0.0
    return h


def rule_torch(ops, w, g, st, h, hp, T):
    """torch.optim.RMSprop: eps outside the root, lr outside the momentum buffer.

    Each foreach/in-place op computes in opmath C and materializes a T tensor; on CPU
    ``add(alpha=)``, ``addcmul`` (as fma(RN(value*t1), t2, self)) and ``lerp`` are fused
    multiply-adds, and ``addcdiv`` is self + (value*t1)/t2.
    """
    if h["wd"] != 0:                                                         # grad.add(param, alpha=wd):
        if T.bits == 16:                                                     # half: alpha*param rounded to T
            g = ops.stage(ops.add(g, ops.stage(ops.mul(ops.const(h["wd_alpha"]), w), T)), T)
        else:                                                                # fused in opmath
            g = ops.stage(ops.fma(ops.const(h["wd"]), w, g), T)
    omr = ops.const(h["one_minus_rho"])
    var = ops.stage(ops.mul(st["var"], ops.const(h["rho"])), T)              # square_avg.mul_(alpha)
    var = ops.store(ops.fma(ops.mul(omr, g), g, var), T)                     # .addcmul_(g, g, value=1-alpha)
    out = {"var": var}
    if hp["centered"]:
        diff = ops.sub(g, st["mean"])                                        # grad_avg.lerp_(g, 1-alpha):
        if abs(h["one_minus_rho"]) < 0.5:                                    # self + w*(end - self)
            mean = ops.store(ops.fma(omr, diff, st["mean"]), T)
        else:                                                                # end - (end - self)*(1 - w)
            one_minus_w = ops.sub(ops.const(1.0), omr)
            mean = ops.store(ops.fma(ops.neg(diff), one_minus_w, g), T)
        out["mean"] = mean
        rad = ops.stage(ops.fma(ops.neg(mean), mean, var), T)               # addcmul(mean, mean, value=-1)
        avg = ops.stage(ops.sqrt(rad), T)
    else:
        avg = ops.stage(ops.sqrt(var), T)
    avg = ops.stage(ops.add(avg, ops.const(h["epsilon"])), T)
    neg_lr = ops.neg(ops.const(h["lr"]))
    if hp["momentum"] != 0:
        buf = ops.stage(ops.mul(st["mom"], ops.const(h["momentum"])), T)
        buf = ops.store(ops.add(buf, ops.div(g, avg)), T)                    # buf.addcdiv_(g, avg)
        out["mom"] = buf
        if T.bits == 16:                                                     # param.add_(buf, alpha=-lr)
            w_new = ops.add(w, ops.stage(ops.mul(ops.const(h["neg_lr_alpha"]), buf), T))
        else:
            w_new = ops.fma(neg_lr, buf, w)
    else:
        w_new = ops.add(w, ops.div(ops.mul(neg_lr, g), avg))                 # param.addcdiv_(g, avg, value=-lr)
    out["weight"] = ops.store(w_new, T)
    return out


def rule_keras(ops, w, g, st, h, hp, T):
    """Keras 3: decoupled decay w -= w*wd*lr first; eps inside the root; m = momentum*m + inc.

    Decay runs whenever ``weight_decay`` is set (not None), even where it rounds to 0 in T;
    ``clipvalue`` clips only when it is > 0 (``if self.clipvalue and self.clipvalue > 0``):
    0 and negative values are off.
    """
    lr = ops.const(h["lr"])
    if hp["wd"] != 0:
        w = ops.store(ops.sub(w, ops.mul(ops.mul(w, ops.const(h["wd"])), lr)), T)
    if hp["clip_gradient"] > 0:
        g = ops.clip(g, ops.const(h["clip_gradient"]))
    rho, omr = ops.const(h["rho"]), ops.const(h["one_minus_rho"])
    var = ops.store(ops.add(ops.mul(rho, st["var"]), ops.mul(omr, ops.mul(g, g))), T)
    out = {"var": var}
    if hp["centered"]:
        mean = ops.store(ops.add(ops.mul(rho, st["mean"]), ops.mul(omr, g)), T)
        out["mean"] = mean
        den = ops.add(ops.sub(var, ops.mul(mean, mean)), ops.const(h["epsilon"]))
    else:
        den = ops.add(var, ops.const(h["epsilon"]))
    inc = ops.div(ops.mul(lr, g), ops.sqrt(den))
    if hp["momentum"] != 0:
        mom = ops.store(ops.add(ops.mul(ops.const(h["momentum"]), st["mom"]), inc), T)
        out["mom"] = mom
        inc = mom
    out["weight"] = ops.store(ops.sub(w, inc), T)
    return out


def rule_optax(ops, w, g, st, h, hp, T):
    """optax.rmsprop: nu = (1-d) g² + d nu; g * rsqrt(nu [- mu²] + eps); * -lr; trace t = u + m t."""
    rho, omr = ops.const(h["rho"]), ops.const(h["one_minus_rho"])
    var = ops.store(ops.add(ops.mul(omr, ops.mul(g, g)), ops.mul(rho, st["var"])), T)
    out = {"var": var}
    if hp["centered"]:
        mean = ops.store(ops.add(ops.mul(omr, g), ops.mul(rho, st["mean"])), T)
        out["mean"] = mean
        rad = ops.add(ops.sub(var, ops.mul(mean, mean)), ops.const(h["epsilon"]))
    else:
        rad = ops.add(var, ops.const(h["epsilon"]))
    u = ops.mul(g, ops.div(ops.const(1.0), ops.sqrt(rad)))
    u = ops.mul(u, ops.neg(ops.const(h["lr"])))
    if hp["momentum"] != 0:
        u = ops.store(ops.add(u, ops.mul(ops.const(h["momentum"]), st["mom"])), T)
        out["mom"] = u
    out["weight"] = ops.store(ops.add(w, u), T)
    return out


def rule_tensorflow(ops, w, g, st, h, hp, T):
    """training_ops.cc ApplyRMSProp / ApplyCenteredRMSProp (Eigen, no fused multiply-add):
    ms += (g² - ms)(1 - rho); [mg += (g - mg)(1 - rho)]; mom = mom*momentum + g*lr/sqrt(ms [- mg²] + eps);
    var -= mom.  Momentum always applies; 1 - rho is computed in T; float16 rounds each op to half."""
    omr = ops.sub(ops.const(1.0), ops.const(h["rho"]))
    var = ops.store(ops.add(st["var"], ops.mul(ops.sub(ops.mul(g, g), st["var"]), omr)), T)
    out = {"var": var}
    if hp["centered"]:
        mean = ops.store(ops.add(st["mean"], ops.mul(ops.sub(g, st["mean"]), omr)), T)
        out["mean"] = mean
        rad = ops.add(ops.sub(var, ops.mul(mean, mean)), ops.const(h["epsilon"]))
    else:
        rad = ops.add(var, ops.const(h["epsilon"]))
    step = ops.div(ops.mul(g, ops.const(h["lr"])), ops.sqrt(rad))
    mom = ops.store(ops.add(ops.mul(st["mom"], ops.const(h["momentum"])), step), T)
    out["mom"] = mom
    out["weight"] = ops.store(ops.sub(w, mom), T)
    return out


def rule_paddle(ops, w, g, st, h, hp, T):
    """paddle.optimizer.RMSProp on CPU (phi rmsprop kernel, Eigen expressions):
    g' = clip(g, c) (ClipGradByValue), then L2 decay g' + (wd*w + 0) (scale, add_n);
    ms = rho*ms + ((1-rho)*g')*g'; [mg = rho*mg + (1-rho)*g'];
    mom = momentum*mom + lr*g'/sqrt(ms [- mg²] + eps); w -= mom.  Momentum always applies.

    float32 roots are Eigen's fast-math packet sqrt (``ops.fast_sqrt``): measured, up to
    2**-22.2 relative error in 1/sqrt, sqrt(inf) = NaN, and a radicand below the smallest
    normal gives +0 (so g/0); float64 roots are correctly rounded.
    """
    if hp["clip_gradient"] > 0:  # ClipGradByValue(max=c) needs c > 0; clip 0 is refused
        g = ops.clip(g, ops.const(h["clip_gradient"]))
    if hp["wd"] != 0:  # weight_decay=float: L2Decay, scale(w, wd, bias=0) then add_n
        g = ops.add(g, ops.add(ops.mul(ops.const(h["wd"]), w), ops.const(0.0)))
    rho = ops.const(h["rho"])
    omr = ops.sub(ops.const(1.0), rho)
    var = ops.store(ops.add(ops.mul(rho, st["var"]), ops.mul(ops.mul(omr, g), g)), T)
    out = {"var": var}
    if hp["centered"]:
        mean = ops.store(ops.add(ops.mul(rho, st["mean"]), ops.mul(omr, g)), T)
        out["mean"] = mean
        rad = ops.add(ops.sub(var, ops.mul(mean, mean)), ops.const(h["epsilon"]))
    else:
        rad = ops.add(var, ops.const(h["epsilon"]))
    root = ops.fast_sqrt(rad) if T.name == "float32" else ops.sqrt(rad)
    mom = ops.add(ops.mul(ops.const(h["momentum"]), st["mom"]), ops.div(ops.mul(ops.const(h["lr"]), g), root))
    out["mom"] = ops.store(mom, T)
    out["weight"] = ops.store(ops.sub(w, out["mom"]), T)
    return out
