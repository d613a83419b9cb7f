"""Finding a port: a built-in name or ``module:attribute``.

A kernel-level port is ``step(weight, grad, state, hp) -> (new_weight, new_state)``
(SPEC §3); an optimizer-level port is a factory taking MXNet 2's RMSProp
constructor keywords.  Built-in ports name both.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["Port", "resolve", "PortError", "BUILTINS"]


class PortError(Exception):
    """The target cannot be used (does not import, wrong kind of object); exit 2."""


@dataclass
class Port:
    name: str
    kernel: Optional[Callable] = None
    optimizer: Optional[Callable] = None
    dialect: str = "mxnet2"
    expectations: Optional[str] = None  # default known-deviations file (conformance.expectations)
    flush_denormals: Optional[bool] = None  # the real system's denormal mode; None: the dialect's default
    schedulers: Optional[str] = None  # module of the scheduler classes its optimizer takes (None: the oracle's)


def _numpy():
    import rmsprop

    return Port("numpy", kernel=rmsprop.port.step, optimizer=rmsprop.RMSProp, dialect="mxnet2")


def _cupy():
    from rmsprop.cupy_backend import port

    port.require()              # an ImportError saying why (no CuPy, no CUDA device)
    port.warm_up()              # compile before the first timed case
    return Port("cupy", kernel=port.step, optimizer=port.HostRMSProp, dialect="mxnet2")


def _torch():
    import torch  # noqa: F401 - the ImportError says what is missing

    from .adapters import torch_step

    return Port("torch", kernel=torch_step, dialect="torch")


def _mxnet():
    import mxnet  # noqa: F401

    from .adapters import mxnet_step
    from .expectations import builtin_path

    return Port("mxnet", kernel=mxnet_step, dialect="mxnet1", expectations=builtin_path("mxnet-1.9.1.json"))


def _mxnet2():
    from .adapters_mxnet2 import RMSProp, require, step
    from .expectations import builtin_path

    require()  # an ImportError naming the installed version when it is not MXNet 2
    return Port("mxnet2", kernel=step, optimizer=RMSProp, dialect="mxnet2", flush_denormals=True,
                expectations=builtin_path("mxnet-2.0.0b1.json"), schedulers="mxnet.lr_scheduler")


def _optax():
    import optax  # noqa: F401

    from .adapters import optax_step

    return Port("optax", kernel=optax_step, dialect="optax")


def _keras():
    from .adapters import import_keras, keras_step

    import_keras()  # an ImportError when keras is missing or runs another backend
    return Port("keras", kernel=keras_step, dialect="keras")


def _tensorflow():
    from .adapters_tensorflow import import_tensorflow, tensorflow_step

    import_tensorflow()
    return Port("tensorflow", kernel=tensorflow_step, dialect="tensorflow", flush_denormals=True)


def _keras_tf():
    from .adapters_tensorflow import import_keras_tf, keras_tf_step

    import_keras_tf()  # an ImportError when keras is missing or runs another backend
    return Port("keras-tf", kernel=keras_tf_step, dialect="keras-tf", flush_denormals=True)


def _paddle():
    from .adapters_paddle import import_paddle, paddle_step

    import_paddle()
    return Port("paddle", kernel=paddle_step, dialect="paddle", flush_denormals=False)


BUILTINS = {"numpy": _numpy, "cupy": _cupy, "torch": _torch, "mxnet": _mxnet, "mxnet2": _mxnet2, "optax": _optax,
            "keras": _keras, "tensorflow": _tensorflow, "keras-tf": _keras_tf, "paddle": _paddle}


def resolve(target: str, level: str) -> Port:
    if target in BUILTINS:
        try:
            return BUILTINS[target]()
        except ImportError as exc:
            raise PortError(f"built-in port {target!r} does not import: {exc}") from None
    if ":" not in target:
        raise PortError(f"unknown target {target!r}: use a built-in name ({', '.join(BUILTINS)}) "
                        f"or module:attribute")
    mod_name, attr = target.split(":", 1)
    try:
        obj = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001 - any import-time failure of the user's module
        raise PortError(f"target {target!r} does not import: {type(exc).__name__}: {exc}") from None
    if not callable(obj):
        raise PortError(f"target {target!r} is not callable")
    if level == "optimizer":
        return Port(target, optimizer=obj)
    return Port(target, kernel=obj)
