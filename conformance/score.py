"""Score a port's answers (RESULTS.jsonl) against the golden fixtures.

RESULTS.jsonl, one JSON object per line (format in fixtures/README.md):
  kernel case:    {"id": ..., "outputs": {"weight": {"bits": [...]}, "var": {...}, ...}}
  optimizer case: {"id": ..., "steps": [[{"index": 0, "outputs": {...}}, ...], ...]}
  a port failure: {"id": ..., "error": "what went wrong"}   (the case fails)
An optional first line ``{"format": "rmsprop-conformance-results", ...}`` is allowed.
Every fixture case must be answered exactly once; anything else is bad input.
"""
from __future__ import annotations

import json

from .codec import CodecError, decode_array
from .corpus import FixtureError, kernel_arrays, load, optimizer_arrays
from .judge import Report, judge_output
from .validate import check_result

__all__ = ["score", "read_results", "judge_case", "decode_outputs"]


def read_results(path: str) -> dict:
    """id -> (line number, result object); FixtureError naming file:line on any defect."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise FixtureError(f"{path}: cannot read results: {exc}") from None
    if raw and not raw.endswith(b"\n"):
        last = raw.count(b"\n") + 1
        raise FixtureError(f"{path}:{last}: truncated (no final newline)")
    out = {}
    for no, text in enumerate(raw.split(b"\n")[:-1], 1):
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise FixtureError(f"{path}:{no}: not valid JSON ({exc})") from None
        if no == 1 and isinstance(obj, dict) and obj.get("format") == "rmsprop-conformance-results":
            continue
        check_result(obj, f"{path}:{no}")
        if obj["id"] in out:
            raise FixtureError(f"{path}:{no}: case {obj['id']!r} answered twice (first on line {out[obj['id']][0]})")
        out[obj["id"]] = (no, obj)
    return out


def decode_outputs(obj, verdicts, where):
    """The answer's output arrays, decoded against the case's verdict arrays (exact keys, dtype, shape)."""
    got = obj.get("outputs")
    if got is None:
        raise FixtureError(f"{where}: no 'outputs' and no 'error'")
    if set(got) != set(verdicts):
        raise FixtureError(f"{where}: outputs {sorted(got)}, expected exactly {sorted(verdicts)}")
    actual = {}
    for name, (expected, *_verdict) in verdicts.items():
        try:
            actual[name] = decode_array(got[name], expected.dtype.name, expected.shape)
        except CodecError as exc:
            raise FixtureError(f"{where}: output {name!r}: {exc}") from None
    return actual


def judge_case(case, answer, where, flush_denormals=None):
    """(list of OutputVerdicts, error text or None) for one case and its answer, judged in the
    denormal mode ``flush_denormals`` (None: the case's own)."""
    if "error" in answer:
        return [], answer["error"]
    if case["level"] == "kernel":
        _, verdicts = kernel_arrays(case, flush_denormals)
        actual = decode_outputs(answer, verdicts, where)
        return [judge_output(k, *verdicts[k], actual[k]) for k in verdicts], None
    _, steps = optimizer_arrays(case, flush_denormals)
    got = answer.get("steps")
    if not isinstance(got, list) or len(got) != len(steps):
        raise FixtureError(f"{where}: needs 'steps' with {len(steps)} entries")
    verdicts = []
    for k, ((indices, _, results), step) in enumerate(zip(steps, got)):
        by_index = {r.get("index"): r for r in step}
        if set(by_index) != set(results):
            raise FixtureError(f"{where}: step {k}: indices {sorted(by_index)}, expected {sorted(results)}")
        for i, res in results.items():
            actual = decode_outputs(by_index[i], res, f"{where}: step {k} index {i}")
            verdicts += [judge_output(f"{name}", *res[name], actual[name]) for name in res]
    return verdicts, None


def selected(case, dialect: str, level: str) -> bool:
    """Kernel cases of ``dialect``; optimizer cases (MXNet 2's optimizer API) go with mxnet2."""
    if level not in ("all", case["level"]):
        return False
    return case["dialect"] == dialect if case["level"] == "kernel" else dialect == "mxnet2"


def score(fixture_dir: str, results_path: str, dialect="mxnet2", level="all", flush_denormals=None) -> Report:
    """The Report of a results file; ``flush_denormals`` None takes the dialect's default mode."""
    from oracle import resolve_flush

    flush = resolve_flush(dialect, flush_denormals)
    answers = read_results(results_path)
    report, seen = Report(flush_denormals=flush), set()
    for _path, _no, case in load(fixture_dir):
        if not selected(case, dialect, level):
            continue
        cid = case["id"]
        if cid not in answers:
            raise FixtureError(f"{results_path}: no answer for case {cid!r} (every fixture case must be answered)")
        seen.add(cid)
        line, ans = answers[cid]
        try:
            outs, err = judge_case(case, ans, f"{results_path}:{line}", flush)
        except CodecError as exc:
            raise FixtureError(f"{fixture_dir}: case {cid!r} {exc}") from None
        report.add_case(cid, case["families"], case["dtype"], outs, err)
    extra = set(answers) - seen
    if extra:
        first = min(extra, key=lambda k: answers[k][0])
        raise FixtureError(f"{results_path}:{answers[first][0]}: case {first!r} is not in the fixtures "
                           f"({len(extra)} unknown ids)")
    if not report.cases:
        raise FixtureError(f"{fixture_dir}: no cases for dialect {dialect!r} at level {level!r}")
    return report
