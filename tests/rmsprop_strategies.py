"""Hypothesis strategies for RMSProp kernel cases, and the test profiles.

A case is ``(weight, grad, state, hp)`` in the kernel-level port signature of
SPEC.md section 3.  Families:

* ``smooth``   -- magnitudes in [1/8, 3], clipping off: the update is well
                  conditioned and never underflows, even in float16 (used
                  against the float64 transliteration);
* ``clipping`` -- clip_gradient / clip_weights drawn from {off, 0, tiny, moderate, huge};
* ``epsilon``  -- epsilon from {0, subnormal, 1e-8, 1e-3, 1}, small var;
* ``special``  -- arrays mixing NaN, +-inf, +-0, subnormals, extremes
                  (``conformance.strategies.special_values``).

Hyperparameters are decimal values MXNet's parser accepts (no exponent beyond
the float32 range); those of ``smooth`` are below 1 without an exponent, powers
of ten or integers, for which dmlc's ``stof(str(x))`` equals ``float32(x)``.
Every draw is labelled.  Profiles: ``ci`` (derandomized, ~60 examples) and
``long`` (2000 examples); ``ci`` is loaded unless ``HYPOTHESIS_PROFILE`` names
another registered profile.
"""
import os

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

settings.register_profile("ci", derandomize=True, max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

DTYPES = (np.float16, np.float32, np.float64)
FAMILIES = ("smooth", "clipping", "epsilon", "special")
STATE_NAMES = {False: ("var",), True: ("mean", "var", "mom")}


def bits(a):
    """The array's bit patterns as unsigned integers (NaN payloads and -0.0 compare)."""
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


# NaN, infinities, signed zeros, subnormals, extremes, squares that overflow / underflow
from conformance.strategies import special_values  # noqa: E402 - the exported strategies' palette


def shapes():
    return st.sampled_from([(1,), (3,), (7,), (2, 3), (16,)])


def _values(dtype, family, nonneg=False):
    width = np.dtype(dtype).itemsize * 8
    if family == "special":
        vals = special_values(dtype)
        if nonneg:
            vals = [v for v in vals if not v < 0]
        normal = st.floats(0 if nonneg else -4, 4, width=width)
        return st.one_of(st.sampled_from(vals), normal)
    if family == "smooth":       # bounded away from 0: no underflow even in float16
        mag = st.floats(0.125, 3.0, width=width)
        return mag if nonneg else st.one_of(mag, mag.map(lambda x: -x))
    lo = 0.0 if nonneg else -3.0
    return st.floats(lo, 3.0, width=width, allow_subnormal=False)


@st.composite
def hyperparameters(draw, dtype, family, centered):
    """The hp dict of the port signature for ``family``."""
    hp = {
        "lr": draw(st.floats(1e-4, 0.5), label="lr"),
        "rho": draw(st.floats(0.5, 0.99 if family == "smooth" else 0.999), label="rho"),
        "momentum": draw(st.one_of(st.just(0.0), st.floats(1e-3, 0.95)), label="momentum"),
        "epsilon": draw(st.sampled_from([1e-8, 1e-6, 1e-3]), label="epsilon"),
        "wd": draw(st.sampled_from([0.0, 1e-4, 0.01, 0.1]), label="wd"),
        "rescale_grad": draw(st.sampled_from([1.0, 0.5, 1 / 3, 2.0]), label="rescale_grad"),
        "clip_gradient": -1.0,
        "clip_weights": -1.0,
        "centered": centered,
    }
    if family == "clipping":
        choices = [-1.0, 0.0, 1e-3, 0.1, 1.0, 1e30]
        hp["clip_gradient"] = draw(st.sampled_from(choices), label="clip_gradient")
        hp["clip_weights"] = draw(st.sampled_from(choices), label="clip_weights")
    if family == "epsilon":           # 6e-8 is subnormal in float16, 1e-30 in none
        hp["epsilon"] = draw(st.sampled_from([0.0, 6e-8, 1e-30, 1e-8, 1e-3, 1.0]),
                             label="epsilon")
    if family == "special":
        hp["clip_gradient"] = draw(st.sampled_from([-1.0, 0.0, 1.0]), label="clip_gradient")
        hp["clip_weights"] = draw(st.sampled_from([-1.0, 0.0, 2.0]), label="clip_weights")
    return hp


@st.composite
def cases(draw, family=None, centered=None, dtype=None):
    """``(weight, grad, state, hp)`` for a kernel-level port."""
    dtype = dtype or draw(st.sampled_from(DTYPES), label="dtype")
    family = family or draw(st.sampled_from(FAMILIES), label="family")
    centered = draw(st.booleans(), label="centered") if centered is None else centered
    shape = draw(shapes(), label="shape")
    weight = draw(arrays(dtype, shape, elements=_values(dtype, family)), label="weight")
    grad = draw(arrays(dtype, shape, elements=_values(dtype, family)), label="grad")
    state = {}
    if family == "epsilon":
        small = st.floats(0, float(dtype(1e-6)), width=np.dtype(dtype).itemsize * 8)
        state["var"] = draw(arrays(dtype, shape, elements=small), label="var")
    else:
        state["var"] = draw(arrays(dtype, shape, elements=_values(dtype, family, True)),
                            label="var")
    if centered:
        mean = draw(arrays(dtype, shape, elements=_values(dtype, family)), label="mean")
        if family != "special":       # keep var >= mean^2 so var - mean^2 stays positive
            with np.errstate(over="ignore"):
                state["var"] = (state["var"] + 2 * mean.astype(np.float64) ** 2).astype(dtype)
        state["mean"] = mean
        state["mom"] = draw(arrays(dtype, shape, elements=_values(dtype, family)), label="mom")
    hp = draw(hyperparameters(dtype, family, centered), label="hp")
    return weight, grad, state, hp


# -- optimizer level ----------------------------------------------------------------------
SCHEDULERS = {
    "none": None,
    "factor": {"type": "FactorScheduler", "kwargs": {"step": 2, "factor": 0.5, "base_lr": 0.1}},
    "multifactor": {"type": "MultiFactorScheduler", "kwargs": {"step": [1, 3], "factor": 0.25, "base_lr": 0.1}},
    "poly": {"type": "PolyScheduler", "kwargs": {"max_update": 6, "base_lr": 0.1, "pwr": 2, "warmup_steps": 2}},
    "cosine": {"type": "CosineScheduler", "kwargs": {"max_update": 5, "base_lr": 0.1, "final_lr": 0.01}},
}


@st.composite
def optimizer_specs(draw):
    """An optimizer-level case spec (conformance.optimizer_cases format): constructor keywords,
    multiplier tables by index / name / param_dict, a scheduler, partial index lists, and
    float16 parameters with or without multi_precision."""
    n_params = draw(st.integers(1, 3), label="n_params")
    dtypes = draw(st.lists(st.sampled_from(["float16", "float32", "float64"]), min_size=n_params,
                           max_size=n_params), label="dtypes")
    mult = st.sampled_from([0.0, 0.5, 2.0, 1000.0])
    names = {i: f"p{i}_weight" for i in range(n_params)}
    ctor = dict(learning_rate=draw(st.sampled_from([None, 0.01, 0.5]), label="learning_rate"),
                rho=draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]), label="rho"),
                momentum=draw(st.sampled_from([0.0, 0.9, 1.0]), label="momentum"),
                epsilon=draw(st.sampled_from([0.0, 1e-8, 1e-3]), label="epsilon"),
                centered=draw(st.booleans(), label="centered"),
                clip_weights=draw(st.sampled_from([None, 0.0, 1.5]), label="clip_weights"),
                use_fused_step=draw(st.booleans(), label="use_fused_step"),
                rescale_grad=draw(st.sampled_from([1.0, 0.5]), label="rescale_grad"),
                wd=draw(st.sampled_from([0.0, 0.01]), label="wd"),
                clip_gradient=draw(st.sampled_from([None, 0.0, 1.0]), label="clip_gradient"),
                lr_scheduler=SCHEDULERS[draw(st.sampled_from(sorted(SCHEDULERS)), label="scheduler")],
                begin_num_update=draw(st.sampled_from([0, 3]), label="begin_num_update"),
                multi_precision=draw(st.booleans(), label="multi_precision"),
                param_idx2name=names if draw(st.booleans(), label="with_names") else None,
                param_dict={0: {"lr_mult": draw(mult, label="pd_lr"), "wd_mult": draw(mult, label="pd_wd")}}
                if draw(st.booleans(), label="with_param_dict") else None)
    keys = list(range(n_params)) + list(names.values())
    lr_mult = draw(st.lists(st.tuples(st.sampled_from(keys), mult), max_size=3), label="lr_mult")
    wd_mult = draw(st.lists(st.tuples(st.sampled_from(keys), mult), max_size=3), label="wd_mult")
    steps = draw(st.lists(st.lists(st.integers(0, n_params - 1), min_size=1, max_size=n_params, unique=True),
                          min_size=1, max_size=5), label="step_indices")
    n = draw(st.integers(1, 4), label="size")
    elems = lambda dt: arrays(np.dtype(dt), (n,), elements=_values(np.dtype(dt).type, "smooth"))  # noqa: E731
    params = [dict(index=i, dtype=dt, shape=[n], weight=draw(elems(dt), label=f"weight{i}"))
              for i, dt in enumerate(dtypes)]
    step_specs = [dict(indices=idx, grads=[draw(elems(dtypes[i]), label="grad") for i in idx]) for idx in steps]
    return dict(id="hypothesis/optimizer", families=["optimizer"], level="optimizer", dtype=dtypes[0],
                optimizer=ctor, lr_mult=[list(p) for p in lr_mult], wd_mult=[list(p) for p in wd_mult],
                params=params, steps=step_specs, mp=draw(st.booleans(), label="multi_precision_api"))
