"""Built-in kernel-level adapters around third-party RMSProp implementations.

Each adapter is a SPEC §3 ``step(weight, grad, state, hp)`` working on copies,
refusing (ValueError) hyperparameters its system cannot express.

* ``torch``: ``torch.optim.RMSprop(foreach=True)`` on CPU; state ``square_avg``
  (var), ``grad_avg`` (mean, centered), ``momentum_buffer`` (mom, momentum > 0).
  ``torch.from_numpy`` does not know ml_dtypes' bfloat16: such arrays go in and come back
  through their 16-bit pattern (a uint16 view, ``Tensor.view(torch.bfloat16)``).
* ``mxnet``: the real ``mxnet.nd.rmsprop_update`` / ``rmspropalex_update``
  (MXNet 1.9.1 names: gamma1 = rho, gamma2 = momentum; centered states
  n = var, g = mean, delta = mom).
* ``optax``: ``optax.rmsprop`` (JAX on CPU); state ``nu`` (var), ``mu`` (mean,
  centered), the momentum ``trace`` (mom, momentum != 0).
* ``keras``: ``keras.optimizers.RMSprop``, Keras 3 on the JAX backend (CPU);
  state ``velocity`` (var), ``average_gradient`` (mean, centered), ``momentum``
  (mom, momentum > 0).

float16, float32, float64 and bfloat16 (ml_dtypes) arrays go in, arrays of the same
dtype come back (``mxnet``: not bfloat16, which its operators refuse).

Both JAX adapters run inside ``jax.enable_x64(True)``, scoped to the call: float64
stays float64, and a Python-float hyperparameter meets a float16/bfloat16/float32 array
as a weakly typed double, converted straight to the array's dtype.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from oracle.kernel import NEUTRAL_HP

__all__ = ["torch_step", "mxnet_step", "optax_step", "keras_step", "keras_update"]


def _refuse(hp, system, keys):
    """ValueError naming the first of ``keys`` set away from its neutral value (clip >= 0 is on)."""
    for k in keys:
        v = hp.get(k, NEUTRAL_HP[k])
        if (v >= 0) if k.startswith("clip") else v != NEUTRAL_HP[k]:
            raise ValueError(f"{system} has no {k!r}")


def _to_torch(torch, a):
    """A CPU tensor holding a copy of ``a``; bfloat16 through its bit pattern."""
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(a.copy())


def _from_torch(torch, t):
    """The NumPy array of a CPU tensor; bfloat16 as ml_dtypes.bfloat16, through its bit pattern."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def torch_step(weight, grad, state, hp):
    import torch

    _refuse(hp, "torch.optim.RMSprop", ("rescale_grad", "clip_gradient", "clip_weights"))
    p = torch.nn.Parameter(_to_torch(torch, weight))
    p.grad = _to_torch(torch, grad)
    opt = torch.optim.RMSprop([p], lr=hp["lr"], alpha=hp["rho"], eps=hp["epsilon"], weight_decay=hp["wd"],
                              momentum=hp["momentum"], centered=hp["centered"], foreach=True)
    st = opt.state[p]
    st["step"] = torch.tensor(0.0)
    st["square_avg"] = _to_torch(torch, state["var"])
    if hp["momentum"] > 0:
        st["momentum_buffer"] = _to_torch(torch, state["mom"])
    if hp["centered"]:
        st["grad_avg"] = _to_torch(torch, state["mean"])
    with torch.no_grad():
        opt.step()
    out = {"var": _from_torch(torch, st["square_avg"])}
    if hp["momentum"] > 0:
        out["mom"] = _from_torch(torch, st["momentum_buffer"])
    if hp["centered"]:
        out["mean"] = _from_torch(torch, st["grad_avg"])
    return _from_torch(torch, p), out


def mxnet_step(weight, grad, state, hp):
    import mxnet as mx

    kw = dict(lr=hp["lr"], gamma1=hp["rho"], epsilon=hp["epsilon"], wd=hp["wd"],
              rescale_grad=hp["rescale_grad"], clip_gradient=hp["clip_gradient"], clip_weights=hp["clip_weights"])
    nd = lambda a: mx.nd.array(a, dtype=a.dtype)  # noqa: E731
    w, g = nd(weight), nd(grad)
    if hp["centered"]:
        n, m, d = nd(state["var"]), nd(state["mean"]), nd(state["mom"])
        mx.nd.rmspropalex_update(w, g, n, m, d, out=w, gamma2=hp["momentum"], **kw)
        new = {"var": n, "mean": m, "mom": d}
    else:
        n = nd(state["var"])
        mx.nd.rmsprop_update(w, g, n, out=w, **kw)
        new = {"var": n}
    return w.asnumpy(), {k: np.asarray(v.asnumpy()) for k, v in new.items()}


def optax_step(weight, grad, state, hp):
    import jax
    import jax.numpy as jnp
    import optax

    _refuse(hp, "optax.rmsprop", ("wd", "rescale_grad", "clip_gradient", "clip_weights"))
    momentum = hp["momentum"] if hp["momentum"] != 0 else None  # None: no trace at all
    with jax.enable_x64(True):
        arr = lambda a: jnp.asarray(a.copy())  # noqa: E731
        w = arr(weight)
        opt = optax.rmsprop(hp["lr"], decay=hp["rho"], eps=hp["epsilon"], centered=hp["centered"],
                            momentum=momentum)
        scaling, lr_state, trace = opt.init(w)  # scale_by_rms | scale_by_stddev, scale, trace
        scaling = scaling._replace(nu=arr(state["var"]), **({"mu": arr(state["mean"])} if hp["centered"] else {}))
        if momentum is not None:
            trace = trace._replace(trace=arr(state["mom"]))
        updates, (scaling, _, trace) = opt.update(arr(grad), (scaling, lr_state, trace), w)
        new_w = optax.apply_updates(w, updates)
        out = {"var": scaling.nu}
        if hp["centered"]:
            out["mean"] = scaling.mu
        if momentum is not None:
            out["mom"] = trace.trace
        return np.array(new_w), {k: np.array(v) for k, v in out.items()}


_BACKENDS = {"jax": ("keras", "JAX"), "tensorflow": ("keras-tf", "TensorFlow")}


def import_keras(backend="jax"):
    """Keras 3 on ``backend`` (the ``keras`` port: JAX; ``keras-tf``: TensorFlow); ImportError
    saying why when keras runs another backend."""
    port, name = _BACKENDS[backend]
    if "keras" not in sys.modules:
        chosen = os.environ.get("KERAS_BACKEND", backend)
        if chosen != backend:
            raise ImportError(f"KERAS_BACKEND={chosen}: the {port} port runs Keras 3 on the {name} backend "
                              f"(set KERAS_BACKEND={backend})")
        os.environ["KERAS_BACKEND"] = backend
    import keras

    running = keras.backend.backend()
    if running != backend:
        raise ImportError(f"keras is already imported with the {running!r} backend; the {port} port needs "
                          f"KERAS_BACKEND={backend} set before keras is first imported")
    return keras


def keras_update(keras, weight, grad, state, hp, as_tensor, to_numpy=np.array):
    """One ``keras.optimizers.RMSprop`` update (either backend) of a fresh variable holding
    ``weight``, its slots set from ``state``; the gradient through ``as_tensor``.  Returns
    (new_weight, new_state), each a backend tensor through ``to_numpy``."""
    _refuse(hp, "keras.optimizers.RMSprop", ("rescale_grad", "clip_weights"))
    if hp["momentum"] < 0:
        raise ValueError("keras.optimizers.RMSprop has no negative 'momentum' (it tracks momentum only when > 0)")
    clip = hp["clip_gradient"]
    var = keras.Variable(weight.copy(), dtype=weight.dtype.name)
    opt = keras.optimizers.RMSprop(learning_rate=hp["lr"], rho=hp["rho"], momentum=hp["momentum"],
                                   epsilon=hp["epsilon"], centered=hp["centered"],
                                   weight_decay=hp["wd"] if hp["wd"] != 0 else None,
                                   clipvalue=clip if clip >= 0 else None)
    opt.build([var])
    slots = {"var": opt._velocities}
    if hp["centered"]:
        slots["mean"] = opt._average_gradients
    if hp["momentum"] > 0:
        slots["mom"] = opt._momentums
    for k, s in slots.items():
        s[0].assign(state[k].copy())
    opt.apply_gradients([(as_tensor(grad.copy()), var)])
    return to_numpy(var.value), {k: to_numpy(s[0].value) for k, s in slots.items()}


def keras_step(weight, grad, state, hp):
    import jax

    keras = import_keras()
    with jax.enable_x64(True):
        return keras_update(keras, weight, grad, state, hp, jax.numpy.asarray)
