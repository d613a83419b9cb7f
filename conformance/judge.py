"""Judging outputs against golden verdicts, and the summary report.

An element passes when ``oracle.bounds.accept`` says it is faithful (its class and
``|actual - expected| <= allowed``).  An element of class ``ill`` passes when the port's
value is in its faithful set (``oracle.faithful``); ill elements are counted, and those
whose set holds every value (unconstrained: nothing a port returns there can fail) are
counted apart with the reasons, never silently folded into the passes.  Nor are known
deviations (``Report.apply_expectations``): a failing case matching an expectation
is counted as a known deviation, a matching case that passes fails the run.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from oracle.bounds import accept
from oracle.faithful import MAY_FINITE, MAY_NAN, MAY_NINF, MAY_PINF, reason_names
from oracle.formats import format_of

__all__ = ["OutputVerdict", "judge_output", "Report", "describe_set", "unconstrained"]


@dataclass
class OutputVerdict:
    name: str
    dtype: str
    elements: int
    failed: int
    ill: int
    worst_ulps: float
    worst_ratio: float  # |actual - expected| / allowed over the compared finite elements
    first_failure: dict | None = None
    free: int = 0  # ill elements whose faithful set is every value (unconstrained)
    free_why: dict = field(default_factory=dict)  # reason -> unconstrained elements it widened


def unconstrained(classes, faithful, fmt):
    """(mask, reason -> count) of the ill elements left unconstrained by their faithful sets."""
    ill = classes == "ill"
    if faithful is None:
        return ill, ({"no faithful set": int(ill.sum())} if ill.any() else {})
    free = ill & faithful.unconstrained(fmt)
    why = defaultdict(int)
    for bits in faithful.why[free]:
        for r in reason_names(int(bits)) or ["(none)"]:
            why[r] += 1
    return free, dict(sorted(why.items()))


def judge_output(name, expected, allowed, classes, faithful, actual) -> OutputVerdict:
    """Per-element verdict of one output array (shapes must match); ``faithful``: the
    ``FaithfulSet`` of its ill elements (None: there are none, or any value goes)."""
    ok = accept(expected, allowed, classes, actual, faithful)
    a = np.asarray(actual).astype(expected.dtype)
    e64, a64 = expected.astype(np.float64), a.astype(np.float64)
    with np.errstate(all="ignore"):
        diff = np.abs(a64 - e64)
        comparable = (classes == "finite") & np.isfinite(a64) & np.isfinite(e64)
        ulp = np.spacing(np.abs(expected)).astype(np.float64)
        ulps = np.where(comparable, diff / ulp, 0)
        ratio = np.where(comparable, np.where(allowed > 0, diff / allowed, np.where(diff > 0, np.inf, 0)), 0)
    failed = ~ok
    first = None
    if failed.any():
        i = tuple(int(j) for j in np.argwhere(failed)[0])
        first = {"element": list(i), "expected": float(e64[i]).hex(), "actual": float(a64[i]).hex(),
                 "allowed": float(allowed[i]), "class": str(classes[i])}
        if classes[i] == "ill" and faithful is not None:
            first["faithful"] = describe_set(faithful, i)
    free, why = unconstrained(classes, faithful, format_of(expected.dtype))
    return OutputVerdict(name, str(expected.dtype), int(expected.size), int(failed.sum()),
                         int((classes == "ill").sum()), float(ulps.max(initial=0)), float(ratio.max(initial=0)), first,
                         int(free.sum()), why)


def describe_set(faithful, i) -> str:
    """One element's faithful set as text, e.g. ``NaN, +inf or [-0x1p-3, 0x1.8p+2]``."""
    may = int(faithful.may[i])
    parts = [t for b, t in ((MAY_NAN, "NaN"), (MAY_PINF, "+inf"), (MAY_NINF, "-inf")) if may & b]
    if may & MAY_FINITE:
        parts.append(f"[{float(faithful.lo[i]).hex()}, {float(faithful.hi[i]).hex()}]")
    text = " or ".join(parts) if parts else "(empty)"
    why = reason_names(int(faithful.why[i]))
    return text + (f" (widened by: {', '.join(why)})" if why else "")


@dataclass
class _Row:
    cases: int = 0
    failed_cases: int = 0
    elements: int = 0
    failed: int = 0
    ill: int = 0
    free: int = 0  # unconstrained ill elements
    worst_ulps: float = 0.0
    worst_ratio: float = 0.0
    known_cases: int = 0  # failing cases that are known deviations (not counted in failed_cases)


@dataclass
class Report:
    """Accumulates case verdicts; rows per (family, dtype, output)."""

    rows: dict = field(default_factory=lambda: defaultdict(_Row))
    cases: list = field(default_factory=list)
    expectations: object = None  # the conformance.expectations.Expectations applied, if any
    flush_denormals: bool = False  # the denormal mode the verdicts were taken in

    def add_case(self, case_id, families, dtype, outputs: list, error: str | None = None):
        failed = error is not None or any(o.failed for o in outputs)
        self.cases.append({"id": case_id, "families": list(families), "dtype": dtype, "passed": not failed,
                           "error": error, "outputs": [vars(o) for o in outputs]})
        names = {o.name for o in outputs} or {"(error)"}
        for fam in families:
            for name in sorted(names):
                row = self.rows[(fam, dtype, name)]
                row.cases += 1
                mine = [o for o in outputs if o.name == name]
                row.failed_cases += int(error is not None or any(o.failed for o in mine))
                for o in mine:
                    row.elements += o.elements
                    row.failed += o.failed
                    row.ill += o.ill
                    row.free += o.free
                    row.worst_ulps = max(row.worst_ulps, o.worst_ulps)
                    row.worst_ratio = max(row.worst_ratio, o.worst_ratio)

    def apply_expectations(self, expectations):
        """Match every case against ``expectations`` (call once, after the last ``add_case``).

        A failing match becomes a known deviation (moved from a row's failed cases to its
        known cases); a passing match is an unexpected pass, which fails the run (strict).
        """
        self.expectations = expectations
        for c in self.cases:
            e = expectations.match(c["id"])
            c["expectation"] = None if e is None else {"pattern": e.pattern, "reason": e.reason}
            if e is not None and not c["passed"]:
                for key in _failed_rows(c):
                    self.rows[key].failed_cases -= 1
                    self.rows[key].known_cases += 1

    @staticmethod
    def status(case) -> str:
        """passed, failed, known-deviation (failed as expected) or unexpected-pass."""
        if case.get("expectation"):
            return "unexpected-pass" if case["passed"] else "known-deviation"
        return "passed" if case["passed"] else "failed"

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(self.status(c) in ("passed", "known-deviation") for c in self.cases)

    def failures(self):
        """Failing cases that no expectation covers."""
        return [c for c in self.cases if self.status(c) == "failed"]

    def known_deviations(self):
        return [c for c in self.cases if self.status(c) == "known-deviation"]

    def unexpected_passes(self):
        return [c for c in self.cases if self.status(c) == "unexpected-pass"]

    def summary(self) -> dict:
        counts = {s: 0 for s in ("passed", "known-deviation", "unexpected-pass", "failed")}
        for c in self.cases:
            counts[self.status(c)] += 1
        return {"cases": len(self.cases), "passed": counts["passed"], "known_deviations": counts["known-deviation"],
                "unexpected_passes": counts["unexpected-pass"], "failed": counts["failed"],
                "ill_elements": sum(o["ill"] for c in self.cases for o in c["outputs"]),
                "unconstrained_elements": sum(o["free"] for c in self.cases for o in c["outputs"]),
                "unconstrained_reasons": _reasons(self.cases),
                "failing_families": _families(self.failures()),
                "known_deviation_families": _families(self.known_deviations())}

    def table(self) -> str:
        known = self.expectations is not None  # a "known" column only when expectations are in use
        head = f"{'family':22s} {'dtype':8s} {'output':7s} {'cases':>6s} {'failed':>6s} " \
               + (f"{'known':>6s} " if known else "") + f"{'elements':>9s} " \
               f"{'bad el.':>8s} {'ill':>5s} {'free':>5s} {'worst ulps':>11s} {'worst err/bound':>15s}"
        lines = [head, "-" * len(head)]
        for (fam, dt, name), r in sorted(self.rows.items()):
            lines.append(f"{fam:22s} {dt:8s} {name:7s} {r.cases:6d} {r.failed_cases:6d} "
                         + (f"{r.known_cases:6d} " if known else "") + f"{r.elements:9d} "
                         f"{r.failed:8d} {r.ill:5d} {r.free:5d} {_num(r.worst_ulps):>11s} {_num(r.worst_ratio):>15s}")
        s = self.summary()
        counts = f"{s['cases']} cases, {s['passed']} passed, "
        if known:
            counts += f"{s['known_deviations']} known deviations, "
        if s["unexpected_passes"]:
            counts += f"{s['unexpected_passes']} passed but expected to fail, "
        free = s["unconstrained_elements"]
        why = ", ".join(f"{r} {n}" for r, n in s["unconstrained_reasons"].items())
        lines.append(f"\n{counts}{s['failed']} failed; {s['ill_elements']} ill-conditioned elements judged by their "
                     "faithful sets, " + (f"{free} of them unconstrained (any value accepted; widened by {why})"
                                          if free else "none unconstrained") + " (see fixtures/README.md)")
        for label, fams in (("failing families", s["failing_families"]),
                            ("known deviations in", s["known_deviation_families"])):
            if fams:
                lines.append(f"{label}: " + ", ".join(f"{f} ({n})" for f, n in fams.items()))
        return "\n".join(lines)

    def to_json(self) -> dict:
        cases = [dict(c, status=self.status(c), expectation=c.get("expectation")) for c in self.cases]
        return {"passed": self.passed, "flush_denormals": self.flush_denormals, "summary": self.summary(),
                "cases": cases,
                "rows": [dict(family=f, dtype=d, output=o, **vars(r)) for (f, d, o), r in sorted(self.rows.items())]}


def _failed_rows(case):
    """The (family, dtype, output) rows in which ``add_case`` counted this case as failed."""
    names = {o["name"] for o in case["outputs"]} or {"(error)"}
    return [(fam, case["dtype"], name) for fam in case["families"] for name in sorted(names)
            if case["error"] is not None or any(o["failed"] for o in case["outputs"] if o["name"] == name)]


def _reasons(cases) -> dict:
    out = defaultdict(int)
    for c in cases:
        for o in c["outputs"]:
            for r, n in o.get("free_why", {}).items():
                out[r] += n
    return dict(sorted(out.items()))


def _families(cases) -> dict:
    out = defaultdict(int)
    for c in cases:
        for fam in c["families"]:
            out[fam] += 1
    return dict(sorted(out.items()))


def _num(x):
    if x == np.inf:
        return "inf"
    return f"{x:.3g}"
