"""The built-in ``tensorflow`` and ``keras-tf`` ports: TensorFlow 2 eager on CPU (``tensorflow-cpu``).

* ``tensorflow_step`` -- the raw training ops ``tf.raw_ops.ResourceApplyRMSProp`` and
  ``ResourceApplyCenteredRMSProp`` on resource variables (what ``tf.compat.v1.train.
  RMSPropOptimizer`` runs).  Hyperparameters go in as Python floats: TF makes tensors of
  the variable's dtype from them (float16 through float32).  State: ``ms`` (var), ``mg``
  (mean, centered), ``mom`` (always: the op applies momentum whatever its value).
* ``keras_tf_step`` -- ``keras.optimizers.RMSprop``, Keras 3 on the TensorFlow backend
  (``KERAS_BACKEND=tensorflow`` before keras is first imported); state ``velocity`` (var),
  ``average_gradient`` (mean, centered), ``momentum`` (mom, momentum > 0).

TensorFlow flushes denormals for every eager op it runs on CPU (``ScopedFlushDenormal``
around each kernel, FTZ and DAZ in MXCSR, and put back after it), with no switch to turn
that off: both ports are judged with ``flush_denormals`` on.  float16 is computed in
float32 per operation and keeps its subnormals.  Both ports take float16, float32, float64
and bfloat16 (``ml_dtypes.bfloat16``: TensorFlow's own NumPy bfloat16) arrays and return
arrays of the same dtype.
"""
from __future__ import annotations

import os

import numpy as np

from .adapters import _refuse, import_keras, keras_update

__all__ = ["import_tensorflow", "import_keras_tf", "tensorflow_step", "keras_tf_step"]


def import_tensorflow():
    """TensorFlow with its C++ start-up log quiet (ImportError when it is not installed)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def tensorflow_step(weight, grad, state, hp):
    tf = import_tensorflow()
    _refuse(hp, "tf.raw_ops.ApplyRMSProp", ("wd", "rescale_grad", "clip_gradient", "clip_weights"))
    if "mom" not in state:
        raise ValueError("tf.raw_ops.ApplyRMSProp always keeps a momentum buffer: the state needs 'mom'")
    with tf.device("/CPU:0"):
        var = {k: tf.Variable(np.array(state[k])) for k in state}
        w = tf.Variable(np.array(weight))
        kw = dict(var=w.handle, ms=var["var"].handle, mom=var["mom"].handle, lr=hp["lr"], rho=hp["rho"],
                  momentum=hp["momentum"], epsilon=hp["epsilon"], grad=tf.constant(np.array(grad)))
        if hp["centered"]:
            tf.raw_ops.ResourceApplyCenteredRMSProp(mg=var["mean"].handle, **kw)
        else:
            tf.raw_ops.ResourceApplyRMSProp(**kw)
        return w.numpy(), {k: v.numpy() for k, v in var.items()}


def import_keras_tf():
    """Keras 3 on the TensorFlow backend; ImportError saying why when keras runs another backend."""
    import_tensorflow()
    return import_keras("tensorflow")


def keras_tf_step(weight, grad, state, hp):
    keras = import_keras_tf()
    import tensorflow as tf

    with tf.device("/CPU:0"):
        return keras_update(keras, weight, grad, state, hp, tf.constant, lambda t: t.numpy())
