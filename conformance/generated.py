"""``check``'s hypothesis phase: generated kernel cases, shrinking a failure, and replay.

* ``sampled_specs(dialect, seed, count)`` -- ``count`` cases drawn by hypothesis from
  ``strategies.kernel_cases`` with ``hypothesis.seed(seed)``: no example database, no
  deadline, generation only, so the same seed gives the same cases (for a given
  hypothesis version).  Ids ``sampled/<dialect>/seed<N>/<k>``, families ``sampled:<family>``.
* ``shrink(evaluate, dialect, seed, count, known)`` -- the same generation again, now with
  hypothesis' shrinker: the first failing case is shrunk to the smallest case that still
  fails.  ``evaluate(spec)`` returns None (passes) or a failure dict; outcomes are cached
  per case, so replaying the generation costs no port calls, and at most ``budget`` new
  cases (3 hangs, 20 crashes) are tried before the shrinker is refused further candidates.
* ``replay_text(spec)`` / ``replay_spec(text, dialect)`` -- one case as a line of JSON
  (bit patterns), for ``check --replay``; ``describe(shrunk, repro)`` prints a case.
"""
from __future__ import annotations

import copy
import json
import time

import numpy as np

from oracle.bounds import accept

from .codec import CodecError, decode_array, encode_array, hexfloat
from .families import kernel_spec
from .judge import describe_set

__all__ = ["sampled_specs", "shrink", "replay_text", "replay_spec", "failing_elements", "describe"]

HANGS = 3  # timed-out candidates the shrinker may try
CRASHES = 20  # candidates that crashed the port's process (each costs a restart)


def _settings(count, shrinking):
    from hypothesis import HealthCheck, Phase, Verbosity, settings

    return settings(settings.get_profile("default"), max_examples=count, database=None, deadline=None,
                    derandomize=False, phases=(Phase.generate, Phase.shrink) if shrinking else (Phase.generate,),
                    suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False,
                    verbosity=Verbosity.quiet)


def _run(body, dialect, seed, count, shrinking, dtypes):
    from hypothesis import given
    from hypothesis import seed as hseed

    from .strategies import kernel_cases

    hseed(seed)(_settings(count, shrinking)(given(kernel_cases(dialect, dtypes))(body)))()


def _label(spec, dialect, seed, k):
    return dict(spec, id=f"sampled/{dialect}/seed{seed}/{k}", families=[f"sampled:{f}" for f in spec["families"]])


_SAMPLED = {}  # (dialect, seed, count, dtypes) -> specs: generation is a function of these


def sampled_specs(dialect, seed, count, dtypes=None):
    """The ``count`` generated case specs of ``seed`` (a list, in generation order).  The
    generation runs once per process for given arguments; each call gets its own copy."""
    key = (dialect, seed, count, None if dtypes is None else tuple(dtypes))
    if key not in _SAMPLED:
        specs = []
        if count > 0:
            def body(spec):
                specs.append(spec)
            _run(body, dialect, seed, count, False, dtypes)
        _SAMPLED[key] = [_label(s, dialect, seed, k) for k, s in enumerate(specs)]
    return copy.deepcopy(_SAMPLED[key])


def case_key(spec):
    """What makes a case: dtype, hyperparameters, input bit patterns (not its id)."""
    return (spec["dtype"], json.dumps(spec["hp"], sort_keys=True),
            tuple((k, tuple(v.shape), v.tobytes()) for k, v in sorted(spec["inputs"].items())))


class _Fails(Exception):
    def __init__(self, spec, failure):
        super().__init__("case fails")
        self.spec, self.failure = spec, failure


def shrink(evaluate, dialect, seed, count, known=None, dtypes=None, budget=300):
    """The smallest failing case hypothesis finds from ``seed``'s generation, or None.

    Returns ``{"spec", "failure", "tried", "seconds"}`` (``tried``: new cases evaluated).
    """
    from hypothesis import reject

    outcomes = dict(known or {})
    tried = {"new": 0, "hung": 0, "crashed": 0}

    def body(spec):
        key = case_key(spec)
        if key not in outcomes:
            if tried["new"] >= budget or tried["hung"] >= HANGS or tried["crashed"] >= CRASHES:
                reject()  # out of budget: this candidate is not explored
            tried["new"] += 1
            outcomes[key] = evaluate(spec)
            strike = (outcomes[key] or {}).get("strike")
            if strike:
                tried[strike] += 1
        if outcomes[key] is not None:
            raise _Fails(spec, outcomes[key])

    start = time.perf_counter()
    try:
        _run(body, dialect, seed, count, True, dtypes)
    except _Fails as exc:
        return {"spec": _label(exc.spec, dialect, seed, "shrunk"), "failure": exc.failure,
                "tried": tried["new"], "seconds": time.perf_counter() - start}
    return None


# -- replay ---------------------------------------------------------------------------------
def replay_text(spec) -> str:
    """One line of JSON: dtype, shape, hp (exact decimal floats), inputs as bit patterns."""
    return json.dumps({"dtype": spec["dtype"], "shape": list(spec["shape"]), "hp": spec["hp"],
                       "inputs": {k: encode_array(v)["bits"] for k, v in spec["inputs"].items()}},
                      separators=(",", ":"), allow_nan=False)


def replay_spec(text, dialect):
    """The case spec of a ``replay_text`` line; ValueError naming what is wrong."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--replay is not valid JSON: {exc}") from None
    if not isinstance(obj, dict) or set(obj) != {"dtype", "shape", "hp", "inputs"}:
        raise ValueError("--replay must be a JSON object with keys dtype, shape, hp, inputs")
    if not isinstance(obj["hp"], dict) or not isinstance(obj["inputs"], dict) or not isinstance(obj["shape"], list):
        raise ValueError("--replay: hp and inputs must be objects, shape a list")
    if not all(type(n) is int and n >= 0 for n in obj["shape"]):
        raise ValueError(f"--replay: shape must list non-negative integers, got {obj['shape']!r}")
    if not isinstance(obj["dtype"], str):
        raise ValueError(f"--replay: dtype must be a dtype name, got {obj['dtype']!r}")
    for k, v in obj["hp"].items():
        try:
            float(v) if type(v) is int else None
        except OverflowError:
            raise ValueError(f"--replay: hyperparameter {k!r} = {str(v)[:20]}... is out of the float range") from None
    try:
        inputs = {k: decode_array({"bits": v}, obj["dtype"], obj["shape"]) for k, v in obj["inputs"].items()}
    except (CodecError, TypeError) as exc:
        raise ValueError(f"--replay inputs: {exc}") from None
    if "weight" not in inputs or "grad" not in inputs:
        raise ValueError("--replay inputs need weight and grad")
    return kernel_spec("replay", ["replay"], dialect, obj["dtype"], obj["hp"], inputs)


# -- describing a failing case --------------------------------------------------------------
def _bits(x, dtype):
    a = np.asarray([x], dtype=dtype)
    return "0x" + encode_array(a)["bits"][0]


def _show(x, dtype):
    return f"{float(x)!r} ({hexfloat(float(x))}, {_bits(x, dtype)})"


def failing_elements(verdicts, actual, limit=8):
    """Per failing output element: output, index, expected, actual, allowed, class (at most ``limit``)."""
    rows = []
    for name, (expected, allowed, classes, faithful) in verdicts.items():
        ok = accept(expected, allowed, classes, actual[name], faithful)
        for idx in np.argwhere(~ok)[:limit]:
            i = tuple(int(j) for j in idx)
            rows.append({"output": name, "element": list(i), "expected": _show(expected[i], expected.dtype),
                         "actual": _show(actual[name][i], expected.dtype), "allowed": float(allowed[i]),
                         "class": str(classes[i])})
            if classes[i] == "ill" and faithful is not None:
                rows[-1]["faithful"] = describe_set(faithful, i)
    return rows


def element_verdict(row) -> str:
    """``expected E, got A, <what a faithful port may give>`` of one ``failing_elements`` row."""
    allowed = (f"ill-conditioned: a faithful port gives {row['faithful']}" if row.get("faithful")
               else f"allowed |error| <= {row['allowed']!r} (class {row['class']})")
    return f"expected {row['expected']}, got {row['actual']}, {allowed}"


def describe(spec, failure, repro) -> str:
    """A failing case, readable: dtype, hp, every input element (value and bits), what failed, repro."""
    dt = spec["inputs"]["weight"].dtype
    hp = ", ".join(f"{k}={v!r}" for k, v in spec["hp"].items())
    lines = [f"  dialect {spec['dialect']}, dtype {spec['dtype']}, shape {list(spec['shape'])}, "
             f"family {', '.join(spec['families'])}", f"  hp: {hp}", "  inputs:"]
    for name, arr in spec["inputs"].items():
        for idx in np.ndindex(arr.shape):
            lines.append(f"    {name}{list(idx)} = {_show(arr[idx], dt)}")
    if failure.get("error"):
        lines.append(f"  port failure: {failure['error']}")
    for r in failure.get("elements", []):
        lines.append(f"  {r['output']}{r['element']}: {element_verdict(r)}")
    lines.append(f"  repro: {repro}")
    return "\n".join(lines)


def report_lines(report, target, dialect):
    """The smallest failing generated case (or the replayed case) of a ``check`` report, as text.

    Nothing when the case it was shrunk from is no longer a failure (a known deviation).
    """
    import shlex

    failing = {c["id"] for c in report.failures()}
    shrunk, replayed = getattr(report, "shrunk", None), getattr(report, "replayed", None)
    repro = f"rmsprop-conformance check {target} --dialect {dialect} --replay "
    if shrunk is not None and shrunk.get("from") in failing:
        head = (f"SMALLEST FAILING CASE (hypothesis shrank {shrunk['from']} in {shrunk['tried']} tries, "
                f"{shrunk['seconds']:.1f} s; not counted above):")
        return [head, describe(shrunk["spec"], shrunk["failure"], repro + shlex.quote(replay_text(shrunk["spec"])))]
    if replayed is not None and "replay" in failing:
        return ["REPLAYED CASE FAILS:", describe(replayed["spec"], replayed["failure"],
                                                 repro + shlex.quote(replay_text(replayed["spec"])))]
    return []
