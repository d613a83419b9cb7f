"""``matrix`` and ``fingerprint``: which dialects agree, and which one a port implements.

Probe cases: for each family, a fixed set of kernel inputs (the same for every
dialect, derived from the family name) with hyperparameters every dialect can
express (no clipping, no rescale, no weight decay, except in the families that
exist to probe them).  Dialect B *agrees* with dialect A on a family when B's
correctly rounded outputs are faithful under A's verdict on every probe case.

``fingerprint`` runs a kernel-level port on the probes of every dialect and
reports, per dialect and denormal mode, whether every family passes, and where it
departs; the ``denormals`` probes tell whether the port flushes subnormals.
"""
from __future__ import annotations

import numpy as np

import oracle
from oracle.kernel import inexpressible

from .check import PortFailure, as_runner
from .families import MXNET_DTYPES, _dtype_specials, dtypes_of, plant_denormals, state_inputs
from .judge import judge_output
from .streams import Stream

__all__ = ["PROBE_FAMILIES", "MODES", "probes", "matrix", "fingerprint", "matches", "format_matrix"]

NEUTRAL = dict(lr=0.01, rho=0.9, momentum=0.0, epsilon=1e-3, wd=0.0, rescale_grad=1.0,
               clip_gradient=-1.0, clip_weights=-1.0)
PROBE_FAMILIES = {
    "plain": dict(centered=False),
    "centered": dict(centered=True, momentum=0.9),
    "epsilon-large": dict(centered=False, epsilon=0.5),
    "epsilon-zero": dict(centered=False, epsilon=0.0),
    "weight-decay": dict(centered=False, wd=0.1),
    "clip-gradient": dict(centered=False, clip_gradient=0.5),
    "weight-decay-and-clip": dict(centered=False, wd=0.5, clip_gradient=0.5),
    "clip-zero": dict(centered=False, clip_gradient=0.0),
    "momentum-plain": dict(centered=False, momentum=0.9),
    "float16-overflow": dict(centered=False, rho=0.95, epsilon=1e-8),
    "special-values": dict(centered=False),
    "denormals": dict(centered=False, lr=0.5, rho=0.5),
}
PROBE_DTYPES = MXNET_DTYPES  # float16, float32, float64
MODES = (False, True)  # flush_denormals: IEEE subnormals, DAZ/FTZ


def probes(family, dialect, n=None):
    """(dtype, weight, grad, state, hp) probe cases of ``family`` for ``dialect``, in the dtypes
    its real system computes; None where the dialect cannot express the family."""
    d = oracle.DIALECTS[dialect]
    hp = dict(NEUTRAL, **PROBE_FAMILIES[family])
    dtypes = [t for t in family_dtypes(family) if t in dtypes_of(dialect)]
    if inexpressible(dialect, hp) or not dtypes:
        return None
    n = n or (24 if family == "denormals" else 8)  # plant_denormals needs 20
    out = []
    for dtype in dtypes:
        s = Stream(f"probe/{family}/{dtype}")
        inp = state_inputs(s, "torch", dtype, dict(hp, momentum=0.9), n)  # mean, var, mom for every dialect
        if family == "float16-overflow":
            inp["grad"][:4] = np.array([300.0, -300.0, 1000.0, 255.0], dtype=dtype)
        if family == "denormals":
            plant_denormals(s, inp, dtype)
        if family == "special-values":
            pal = _dtype_specials(dtype)
            for name, arr in inp.items():
                for j in range(n):
                    if s.integer(0, 2) == 0:
                        v = s.choice(pal)
                        arr[j] = abs(v) if name == "var" else v
        names = d.state_names(oracle.normalize_hp(dict(hp, centered=hp["centered"])))
        state = {}
        for k in names:
            state[k] = inp[k] if k in inp else np.zeros(n, dtype)
        out.append((dtype, inp["weight"], inp["grad"], state, dict(hp)))
    return out


def family_dtypes(family):
    """The dtypes a probe family runs in (float16-overflow: float16 alone).  The probes stay in
    the dtypes every dialect but Paddle computes, MXNet's, so bfloat16 is not probed."""
    return ("float16",) if family == "float16-overflow" else PROBE_DTYPES


def _agree(ev_a, outputs_b, names):
    return all(judge_output(k, ev_a.outputs[k], ev_a.allowed[k], ev_a.classes[k], ev_a.faithful.get(k), outputs_b[k]).failed == 0
               for k in names)


def matrix(flush_denormals=None):
    """{family: {(a, b): set of dtypes where they agree, or None}} (None: not expressible); each
    dialect evaluated with ``flush_denormals`` (None: its own default)."""
    dialects = list(oracle.DIALECTS)
    table = {}
    for fam in PROBE_FAMILIES:
        evs = {}
        for d in dialects:
            cases = probes(fam, d)
            evs[d] = None if cases is None else [(c[0], oracle.evaluate(*c[1:], d, flush_denormals=flush_denormals))
                                                 for c in cases]
        row = {}
        for a in dialects:
            for b in dialects:
                if evs[a] is None or evs[b] is None:
                    row[(a, b)] = None
                    continue
                by_dtype = dict(evs[b])
                row[(a, b)] = {dt for dt, ea in evs[a] if dt in by_dtype
                               and _agree(ea, by_dtype[dt].outputs, set(ea.outputs) & set(by_dtype[dt].outputs))
                               and _agree(by_dtype[dt], ea.outputs, set(ea.outputs) & set(by_dtype[dt].outputs))}
        table[fam] = row
    return table


def format_matrix(table) -> str:
    """Markdown: one row per dialect pair; a family is listed with the dtypes where both agree."""
    dialects = list(oracle.DIALECTS)
    lines = ["| dialects | agree (all dtypes) | agree in some dtypes | differ | not expressible |",
             "|---|---|---|---|---|"]
    short = {"float16": "f16", "float32": "f32", "float64": "f64"}
    for i, a in enumerate(dialects):
        for b in dialects[i + 1:]:
            full, part, differ, na = [], [], [], []
            for fam, row in table.items():
                got = row[(a, b)]
                n_dtypes = len(set(family_dtypes(fam)) & set(dtypes_of(a)) & set(dtypes_of(b)))
                if got is None:
                    na.append(fam)
                elif len(got) == n_dtypes:
                    full.append(fam)
                elif got:
                    part.append(f"{fam} ({'/'.join(short[d] for d in PROBE_DTYPES if d in got)})")
                else:
                    differ.append(fam)
            lines.append(f"| {a} ~ {b} | {', '.join(full) or '-'} | {', '.join(part) or '-'} | "
                         f"{', '.join(differ) or '-'} | {', '.join(na) or '-'} |")
    return "\n".join(lines)


def fingerprint(port, timeout=10.0, modes=MODES):
    """{flush_denormals: {dialect: {family: 'match' | 'departs' | 'n/a' | 'error: ...'}}} for a
    kernel-level port, for each denormal mode in ``modes``: a ``check.Runner``
    (``isolation.IsolatedPort``: run in a worker) or a step callable (run here).  The port runs
    once per probe, and its outputs are judged in every mode."""
    from .ports import Port

    runner = as_runner(port if not callable(port) else Port("callable", kernel=port))
    result = {m: {} for m in modes}
    for d in oracle.DIALECTS:
        rows = {m: {} for m in modes}
        for fam in PROBE_FAMILIES:
            cases = probes(fam, d)
            for m in modes:
                rows[m][fam] = "n/a" if cases is None else "match"
            for _dtype, w, g, st, hp in cases or ():
                evs = {m: oracle.evaluate(w, g, st, hp, d, flush_denormals=m) for m in modes
                       if rows[m][fam] == "match"}
                if not evs:
                    break
                names = sorted(set(next(iter(evs.values())).outputs) - {"weight"})
                try:
                    got = runner.outputs(w, g, st, hp, names, timeout)
                except (PortFailure, ValueError, TypeError) as exc:
                    for m in evs:
                        rows[m][fam] = f"error: {str(exc)[:80]}"
                    break
                for m, ev in evs.items():
                    if not _agree(ev, got, set(got)):
                        rows[m][fam] = "departs"
        for m in modes:
            result[m][d] = rows[m]
    return result


def matches(result):
    """[(dialect, [modes in which every expressible family matches])] for the dialects matched in
    some mode, from ``fingerprint``'s result."""
    out = []
    for d in oracle.DIALECTS:
        ok = [m for m, by_dialect in result.items()
              if all(v in ("match", "n/a") for v in by_dialect[d].values())
              and any(v == "match" for v in by_dialect[d].values())]
        if ok:
            out.append((d, ok))
    return out
