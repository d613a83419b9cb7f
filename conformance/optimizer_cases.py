"""Optimizer-level families (SPEC §2): multi-step sequences through the MXNet 2 API.

A spec holds the constructor keywords (a scheduler as ``{"type", "kwargs"}``), the
multiplier tables as ``[key, value]`` pairs (int keys are indices, str keys names),
the parameters with their initial weights, and the steps.  ``mp`` selects the
multi-precision API (``create_state_multi_precision`` / ``update_multi_precision``).

Judging re-synchronizes: before each step the port's weights and states are set
to the oracle's values after the previous step, so every step is judged as one
update with the kernel bound, and no error compounds across steps.
"""
from __future__ import annotations

import functools
import importlib
from types import SimpleNamespace

import numpy as np

from oracle import RMSPropOracle, schedulers
from oracle.formats import FORMATS

from .streams import Stream

__all__ = ["optimizer_families", "build_oracle", "run_oracle", "make_scheduler"]


def make_scheduler(spec, module=None):
    """The scheduler a case describes, from ``module`` (a module name; default ``oracle.schedulers``)."""
    if spec is None:
        return None
    cls = getattr(schedulers if module is None else importlib.import_module(module), spec["type"], None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"unknown scheduler {spec['type']!r}")
    return cls(**spec["kwargs"])


def build_oracle(spec, factory=RMSPropOracle, schedulers=None):
    """Construct ``factory`` (the oracle or a port, with its own ``schedulers`` module) as the case describes."""
    kw = dict(spec["optimizer"])
    kw["lr_scheduler"] = make_scheduler(kw.get("lr_scheduler"), schedulers)
    if kw.get("param_dict") is not None:
        kw["param_dict"] = {int(k): SimpleNamespace(**v) for k, v in kw["param_dict"].items()}
    if kw.get("param_idx2name") is not None:
        kw["param_idx2name"] = {int(k): v for k, v in kw["param_idx2name"].items()}
    opt = factory(**kw)
    if spec["lr_mult"]:
        opt.set_lr_mult(dict((k, v) for k, v in spec["lr_mult"]))
    if spec["wd_mult"]:
        opt.set_wd_mult(dict((k, v) for k, v in spec["wd_mult"]))
    return opt


def state_names(centered):
    return ("mean", "var", "mom") if centered else ("var",)


def flatten_state(state, centered, mp):
    """A state object as named arrays: master (multi-precision), then mean/var/mom."""
    out = {}
    if mp:
        out["master"], state = state
    parts = state if centered else (state,)
    out.update(zip(state_names(centered), parts))
    return out


def run_oracle(spec, flush_denormals=False):
    """Golden data: per step, per updated index, the Evaluation of its outputs."""
    opt = build_oracle(spec, functools.partial(RMSPropOracle, flush_denormals=flush_denormals))
    centered = bool(spec["optimizer"].get("centered", False))
    weights = {p["index"]: p["weight"].copy() for p in spec["params"]}
    mp = spec["mp"]
    create = opt.create_state_multi_precision if mp else opt.create_state
    states = {i: create(i, w) for i, w in weights.items()}
    results = []
    for st in spec["steps"]:
        idx = st["indices"]
        call = opt.update_multi_precision if mp else opt.update
        evs = call(idx, [weights[i] for i in idx], [g.copy() for g in st["grads"]], [states[i] for i in idx])
        step_out = []
        for i, ev in zip(idx, evs):
            is_mp = mp and opt.multi_precision and weights[i].dtype == np.float16
            outputs = dict(flatten_state(states[i], centered, is_mp), weight=weights[i])
            allowed, classes, faithful = dict(ev.allowed), dict(ev.classes), dict(ev.faithful)
            if is_mp:
                master = ev.meta["master"]
                allowed["master"] = ev.meta["master_allowed"]
                classes["master"] = ev.meta["master_classes"]
                if ev.meta["master_faithful"] is not None:
                    faithful["master"] = ev.meta["master_faithful"]
                outputs["master"] = master
            step_out.append(dict(index=i, outputs={k: v.copy() for k, v in outputs.items()},
                                 allowed=allowed, classes=classes, faithful=faithful))
        results.append(step_out)
    return results


def _ctor(**kw):
    base = dict(learning_rate=0.01, rho=0.9, momentum=0.9, epsilon=1e-8, centered=False, clip_weights=None,
                use_fused_step=True, rescale_grad=1.0, param_idx2name=None, wd=0.0, clip_gradient=None,
                lr_scheduler=None, begin_num_update=0, multi_precision=False, param_dict=None)
    base.update(kw)
    return base


def _spec(cid, families, ctor, dtypes, steps, indices=None, lr_mult=(), wd_mult=(), mp=False, n=4):
    s = Stream(cid)
    params = [dict(index=i, dtype=dt, shape=[n], weight=s.magnitudes(n, dt, -3, 1)) for i, dt in enumerate(dtypes)]
    all_idx = list(range(len(dtypes)))
    step_specs = []
    for k in range(steps):
        idx = indices[k % len(indices)] if indices else all_idx
        grads = [s.magnitudes(n, dtypes[i], -5, 2) for i in idx]
        step_specs.append(dict(indices=list(idx), grads=grads))
    return dict(id=cid, families=list(families), level="optimizer", dtype=dtypes[0], optimizer=ctor,
                lr_mult=[list(p) for p in lr_mult], wd_mult=[list(p) for p in wd_mult], params=params,
                steps=step_specs, mp=mp)


def multipliers():
    for dtype in ("float32", "float64"):
        for fused in (True, False):
            tag = f"{dtype}/{'fused' if fused else 'step'}"
            yield _spec(f"multipliers/by-index/{tag}", ["multipliers", "optimizer"],
                        _ctor(wd=0.01, use_fused_step=fused), [dtype] * 3, 2,
                        lr_mult=[(0, 2.0), (1, 0.0)], wd_mult=[(0, 10.0)])
            yield _spec(f"multipliers/by-name/{tag}", ["multipliers", "optimizer"],
                        _ctor(wd=0.01, use_fused_step=fused, param_idx2name={0: "fc1_weight", 1: "fc1_bias"}),
                        [dtype] * 3, 2, lr_mult=[("fc1_weight", 0.5), ("fc1_bias", 1e3)], wd_mult=[("fc1_bias", 0.0)])
            yield _spec(f"multipliers/precedence/{tag}", ["multipliers", "optimizer"],
                        _ctor(wd=0.01, use_fused_step=fused, param_idx2name={0: "a", 1: "b", 2: "c"},
                              param_dict={0: dict(lr_mult=3.0, wd_mult=0.0)}),
                        [dtype] * 3, 2, lr_mult=[(0, 100.0), (1, 4.0), ("b", 5.0), ("c", 6.0)],
                        wd_mult=[("a", 7.0), (2, 1e4)])


def scheduling():
    scheds = {
        "factor": dict(type="FactorScheduler", kwargs=dict(step=2, factor=0.5, base_lr=0.1)),
        "multifactor": dict(type="MultiFactorScheduler", kwargs=dict(step=[2, 3], factor=0.1, base_lr=0.1)),
        "poly-warmup": dict(type="PolyScheduler", kwargs=dict(max_update=5, base_lr=0.1, pwr=2, warmup_steps=1)),
        "cosine-warmup": dict(type="CosineScheduler",
                              kwargs=dict(max_update=6, base_lr=0.1, final_lr=0.001, warmup_steps=2)),
    }
    partial = [[0, 1], [0], [1], [0, 1], [2], [0, 1, 2]]
    for name, sched in scheds.items():
        for begin in (0, 3):
            yield _spec(f"scheduler/{name}/begin{begin}", ["scheduler", "optimizer"],
                        _ctor(learning_rate=None, lr_scheduler=sched, begin_num_update=begin),
                        ["float32"] * 3, 6, indices=partial)
    yield _spec("scheduler/default-learning-rate", ["scheduler", "optimizer"], _ctor(learning_rate=None),
                ["float32"] * 2, 2)
    yield _spec("scheduler/learning-rate-overrides-base", ["scheduler", "optimizer"],
                _ctor(learning_rate=0.05, lr_scheduler=scheds["factor"]), ["float32"] * 2, 4)


def multi_precision():
    for vname, centered in (("plain", False), ("centered", True)):
        for mp_flag, dtype in ((True, "float16"), (False, "float16"), (True, "float32")):
            yield _spec(f"multi-precision/{dtype}/mp-{str(mp_flag).lower()}/{vname}",
                        ["multi-precision", "optimizer"], _ctor(multi_precision=mp_flag, centered=centered),
                        [dtype, "float32"], 3, mp=True)


def step_versus_fused():
    for dtype in ("float16", "float32", "float64"):
        for fused in (True, False):
            for vname, centered in (("plain", False), ("centered", True)):
                yield _spec(f"step-vs-fused/{dtype}/{'fused' if fused else 'step'}/{vname}",
                            ["dialect-boundaries", "optimizer"],
                            _ctor(clip_gradient=0, clip_weights=0.0, use_fused_step=fused, centered=centered,
                                  learning_rate=0.001, wd=1e-4), [dtype], 2)


def trajectories():
    sched = dict(type="CosineScheduler", kwargs=dict(max_update=100, base_lr=0.05, final_lr=0.0005))
    for steps in (1, 10, 100):
        for vname, centered in (("plain", False), ("centered", True)):
            yield _spec(f"trajectory/{steps}/float32/{vname}", ["trajectory", "optimizer"],
                        _ctor(learning_rate=None, lr_scheduler=sched, centered=centered, wd=1e-3),
                        ["float32"], steps, n=3)
            yield _spec(f"trajectory/{steps}/float16-mp/{vname}", ["trajectory", "optimizer", "multi-precision"],
                        _ctor(learning_rate=None, lr_scheduler=sched, centered=centered, multi_precision=True),
                        ["float16"], steps, n=3, mp=True)


def denormal_steps():
    """Sequences where flushing (DAZ/FTZ) and IEEE subnormals part: from zero states, weights
    0-1 subnormal (their gradients 0), gradients 2-3 subnormal (weights 0), gradients 4-5 the
    smallest normal (the step is subnormal), 6-7 ordinary; the second step ordinary."""
    for dtype in ("float32", "float64"):
        fmt = FORMATS[dtype]
        sub, tiny = float(fmt.tiny) / 2, float(fmt.tiny)
        for fused in (True, False):
            for vname, centered in (("plain", False), ("centered", True)):
                spec = _spec(f"denormal-steps/{dtype}/{'fused' if fused else 'step'}/{vname}",
                             ["denormal-steps", "optimizer"],
                             _ctor(learning_rate=0.5, rho=0.5, momentum=0.5, centered=centered,
                                   use_fused_step=fused), [dtype], 2, n=8)
                w, g = spec["params"][0]["weight"], spec["steps"][0]["grads"][0]
                w[:6] = [sub, -sub, 0.0, 0.0, 0.0, 0.0]
                g[:6] = [0.0, 0.0, sub, -sub, tiny, -tiny]
                yield spec


def optimizer_families():
    return {"multipliers": multipliers, "scheduler": scheduling, "multi-precision": multi_precision,
            "step-vs-fused": step_versus_fused, "trajectory": trajectories, "denormal-steps": denormal_steps}
