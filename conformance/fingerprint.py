"""``matrix`` and ``fingerprint``: which dialects agree, and which one a port implements.

Probe cases: for each family, a fixed set of kernel inputs (the same for every
dialect, derived from the family name) with hyperparameters every dialect can
express (no clipping, no rescale, no weight decay, except in the families that
exist to probe them).  Dialect B *agrees* with dialect A on a family when B's
correctly rounded outputs are faithful under A's verdict on every probe case.

``fingerprint`` runs a kernel-level port on the probes of every dialect and
reports, per dialect, whether every family passes, and where it departs.
"""
from __future__ import annotations

import numpy as np

import oracle
from oracle.kernel import inexpressible

from .check import PortFailure, as_runner
from .families import DTYPES, _dtype_specials, state_inputs
from .judge import judge_output
from .streams import Stream

__all__ = ["PROBE_FAMILIES", "probes", "matrix", "fingerprint", "format_matrix"]

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
}


def probes(family, dialect, n=8):
    """(dtype, weight, grad, state, hp) probe cases of ``family`` for ``dialect``; None where the
    dialect cannot express the family's hyperparameters."""
    d = oracle.DIALECTS[dialect]
    hp = dict(NEUTRAL, **PROBE_FAMILIES[family])
    if inexpressible(dialect, hp):
        return None
    out = []
    for dtype in (("float16",) if family == "float16-overflow" else DTYPES):
        s = Stream(f"probe/{family}/{dtype}")
        inp = state_inputs(s, "torch", dtype, dict(hp, momentum=0.9), n)  # mean, var, mom for every dialect
        if family == "float16-overflow":
            inp["grad"][:4] = np.array([300.0, -300.0, 1000.0, 255.0], dtype=dtype)
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


def _agree(ev_a, outputs_b, names):
    return all(judge_output(k, ev_a.outputs[k], ev_a.allowed[k], ev_a.classes[k], outputs_b[k]).failed == 0
               for k in names)


def matrix():
    """{family: {(a, b): set of dtypes where they agree, or None}} (None: not expressible)."""
    dialects = list(oracle.DIALECTS)
    table = {}
    for fam in PROBE_FAMILIES:
        evs = {}
        for d in dialects:
            cases = probes(fam, d)
            evs[d] = None if cases is None else [(c[0], oracle.evaluate(*c[1:], d)) for c in cases]
        row = {}
        for a in dialects:
            for b in dialects:
                if evs[a] is None or evs[b] is None:
                    row[(a, b)] = None
                    continue
                row[(a, b)] = {dt for (dt, ea), (_, eb) in zip(evs[a], evs[b])
                               if _agree(ea, eb.outputs, set(ea.outputs) & set(eb.outputs))
                               and _agree(eb, ea.outputs, set(ea.outputs) & set(eb.outputs))}
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
                n_dtypes = 1 if fam == "float16-overflow" else len(DTYPES)
                if got is None:
                    na.append(fam)
                elif len(got) == n_dtypes:
                    full.append(fam)
                elif got:
                    part.append(f"{fam} ({'/'.join(short[d] for d in DTYPES if d in got)})")
                else:
                    differ.append(fam)
            lines.append(f"| {a} ~ {b} | {', '.join(full) or '-'} | {', '.join(part) or '-'} | "
                         f"{', '.join(differ) or '-'} | {', '.join(na) or '-'} |")
    return "\n".join(lines)


def fingerprint(port, timeout=10.0):
    """{dialect: {family: 'match' | 'departs' | 'n/a' | 'error: ...'}} for a kernel-level port:
    a ``check.Runner`` (``isolation.IsolatedPort``: run in a worker) or a step callable (run here)."""
    from .ports import Port

    runner = as_runner(port if not callable(port) else Port("callable", kernel=port))
    result = {}
    for d in oracle.DIALECTS:
        row = {}
        for fam in PROBE_FAMILIES:
            cases = probes(fam, d)
            if cases is None:
                row[fam] = "n/a"
                continue
            verdict = "match"
            for _dtype, w, g, st, hp in cases:
                ev = oracle.evaluate(w, g, st, hp, d)
                try:
                    got = runner.outputs(w, g, st, hp, sorted(set(ev.outputs) - {"weight"}), timeout)
                    if not _agree(ev, got, set(got)):
                        verdict = "departs"
                except (PortFailure, ValueError, TypeError) as exc:
                    verdict = f"error: {str(exc)[:80]}"
                if verdict != "match":
                    break
            row[fam] = verdict
        result[d] = row
    return result
