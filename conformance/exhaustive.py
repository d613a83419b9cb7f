"""``check --exhaustive float16|bfloat16``: every 16-bit pattern through the kernel, TestFloat style.

For the run's dialect and one 16-bit format, each case sweeps one input X (grad,
weight, and each state array the config has: var, mean, mom): X holds all 65536 bit
patterns in bit-pattern order (±0, subnormals, normals, ±inf, NaNs with every payload),
every other input holds the value of one grid point (``POINTS``: a typical training
point, and a small one with a zero state; both consistent, var >= mean²).  The
hyperparameters are those of ``CONFIGS``; a config the dialect cannot express or
refuses (``oracle.inexpressible``) is skipped.  Ids ``exhaustive/<dtype>/<config>/<input>/<point>``,
families ``exhaustive:<input>``.  Each case is judged like a sampled one (``corpus.golden``,
``judge_output``): every element of every output.  Sweep cases are not shrunk; a failing
one keeps its failing elements (``report.exhaustive_failures``), printed by ``report_lines``
with a ``--replay`` line of just those elements.  A sweep case gets ``TIMEOUT_FACTOR`` times
the per-case timeout (it is 65536 elements, a fixture case a handful).
"""
from __future__ import annotations

import shlex

import numpy as np

from oracle import DIALECTS, normalize_hp
from oracle.formats import FORMATS, numpy_dtype
from oracle.kernel import NEUTRAL_HP, inexpressible

from .families import BASE_HP, kernel_spec

__all__ = ["FORMATS16", "CONFIGS", "POINTS", "sweep_specs", "exhaustive_phase", "require_format", "report_lines",
           "TIMEOUT_FACTOR"]

FORMATS16 = ("float16", "bfloat16")
TIMEOUT_FACTOR = 6  # a sweep case's timeout, in per-case timeouts
SHOWN = 8  # failing elements kept per failing case
# name -> hyperparameters over families.BASE_HP (lr 0.01, rho 0.9, momentum 0.9, epsilon 1e-8)
CONFIGS = {
    "default": {},
    "eps0": {"epsilon": 0.0},
    "clip0": {"clip_gradient": 0.0},
    "wd": {"wd": 0.1},
    "rho0": {"rho": 0.0},
    "rho1": {"rho": 1.0},
    "centered": {"centered": True, "momentum": 0.9},
    "clip1-centered": {"centered": True, "momentum": 0.5, "clip_gradient": 1.0},
}
# name -> the value of every input that is not swept (exact in both formats)
POINTS = {
    "typical": {"weight": 0.75, "grad": -0.046875, "var": 2.0 ** -6, "mean": 2.0 ** -7, "mom": 2.0 ** -9},
    "small": {"weight": 2.0 ** -10, "grad": 2.0 ** -12, "var": 0.0, "mean": 0.0, "mom": 0.0},
}


def require_format(fmt, dialect):
    """ValueError unless ``fmt`` is a 16-bit format that ``dialect``'s real system takes."""
    if fmt not in FORMATS16:
        raise ValueError(f"--exhaustive takes a 16-bit format ({', '.join(FORMATS16)}), not {fmt!r}")
    if fmt not in DIALECTS[dialect].dtypes:
        raise ValueError(f"--exhaustive {fmt}: dialect {dialect!r} has no {fmt} kernel (its real system takes "
                         f"{', '.join(DIALECTS[dialect].dtypes)})")
    numpy_dtype(FORMATS[fmt])  # bfloat16 without ml_dtypes: a ValueError saying so


def config_hp(dialect, name):
    """The config's hyperparameters for ``dialect``, or None when it cannot express them."""
    hp = dict(BASE_HP, centered=False)
    for k in DIALECTS[dialect].unsupported:
        hp[k] = NEUTRAL_HP[k]
    hp.update(CONFIGS[name])
    return None if inexpressible(dialect, normalize_hp(hp)) else hp


def _all_patterns(fmt):
    return np.arange(1 << 16, dtype=np.uint16).view(numpy_dtype(FORMATS[fmt]))


def sweep_specs(dialect, fmt, only=None):
    """The sweep's kernel case specs (``only``: just the case of that id); ids and families as above."""
    require_format(fmt, dialect)
    patterns, dt = _all_patterns(fmt), numpy_dtype(FORMATS[fmt])
    for cname in CONFIGS:
        hp = config_hp(dialect, cname)
        if hp is None:
            continue
        names = ("grad", "weight") + tuple(DIALECTS[dialect].state_names(normalize_hp(hp)))
        for x in names:
            for pname, point in POINTS.items():
                cid = f"exhaustive/{fmt}/{cname}/{x}/{pname}"
                if only and cid != only:
                    continue
                inputs = {k: (patterns.copy() if k == x else np.full(patterns.shape, point[k], dtype=dt))
                          for k in names}
                yield kernel_spec(cid, [f"exhaustive:{x}"], dialect, fmt, hp, inputs)


def exhaustive_phase(report, outputs, dialect, fmt, only=None, flush_denormals=None):
    """Run the sweep's cases into ``report`` (``outputs(case) -> (actual, verdicts)``, as for
    ``check.generated_phase``); ``report.exhaustive_failures``: id -> failing elements and inputs."""
    from .check import PortFailure, _judged
    from .corpus import golden

    failures = report.exhaustive_failures = {}
    for spec in sweep_specs(dialect, fmt, only):
        case = golden(spec, flush_denormals, other_mode=False)
        try:
            actual, verdicts = outputs(case)
        except PortFailure as exc:
            report.add_case(spec["id"], spec["families"], spec["dtype"], [], error=str(exc))
            continue
        judged, failure = _judged(actual, verdicts, limit=SHOWN)
        report.add_case(spec["id"], spec["families"], spec["dtype"], judged)
        if failure is not None:
            failed = sum(o.failed for o in judged)
            failures[spec["id"]] = dict(failure, spec=spec, failed=failed)


def _subset(spec, elements):
    """The spec restricted to the given element indices (a small case for ``--replay``)."""
    idx = np.array(sorted(set(elements)), dtype=np.intp)
    return dict(spec, shape=[len(idx)], inputs={k: v[idx] for k, v in spec["inputs"].items()})


def report_lines(report, target, dialect, limit=3):
    """The failing elements of the first ``limit`` failing sweep cases (known deviations left out),
    each with its swept input's bit pattern and a ``--replay`` line of just those elements."""
    from .generated import _show, element_verdict, replay_text

    failing = {c["id"] for c in report.failures()}
    shown = [(cid, f) for cid, f in getattr(report, "exhaustive_failures", {}).items() if cid in failing][:limit]
    lines = []
    for cid, f in shown:
        spec = f["spec"]
        swept = spec["families"][0].split(":", 1)[1]
        dt = spec["inputs"]["weight"].dtype
        lines.append(f"SWEEP CASE {cid}: {f['failed']} failing elements; the first (by output):")
        for r in f["elements"]:
            i = r["element"][0]
            lines.append(f"  {swept}[{i}] = {_show(spec['inputs'][swept][i], dt)}: {r['output']} {element_verdict(r)}")
        sub = _subset(spec, [r["element"][0] for r in f["elements"]])
        lines.append(f"  these elements alone: rmsprop-conformance check {target} --dialect {dialect} --replay "
                     + shlex.quote(replay_text(sub)))
    return lines
