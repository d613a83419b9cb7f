"""``check``: run a Python port through the golden fixtures and generated cases, judge every element.

Kernel level: every fixture case of the dialect, plus ``samples`` cases drawn by
hypothesis from ``conformance.strategies`` with ``--seed`` (``generated.py``: every
edge-case family and dtype; the same seed, the same cases).  The first failing
generated case is shrunk by hypothesis to the smallest case that still fails
(``report.shrunk``; not counted in the report's cases).  Optimizer level (mxnet2): every
optimizer fixture sequence, re-synchronized to the oracle before each step.
A port that raises, hangs past ``timeout`` seconds, or returns the wrong kind of
object, shape, dtype or state keys fails that case; the run goes on.

``check`` takes a ``Runner``: ``isolation.IsolatedPort`` runs a port given by its target in
a worker process (what the CLI and the pytest plugin use: a crash fails only its case);
a ``ports.Port`` of callables runs here (``InProcess``, the Python API).
"""
from __future__ import annotations

import signal
import threading
import traceback
import warnings
from abc import ABC, abstractmethod
from contextlib import contextmanager

import numpy as np

import oracle

from .codec import decode_scalar
from .corpus import golden, hp_of, kernel_arrays, load, optimizer_arrays
from .generated import case_key, failing_elements, replay_spec, sampled_specs, shrink
from .judge import Report, judge_output
from .optimizer_cases import build_oracle, flatten_state

__all__ = ["check", "sampled_specs", "PortFailure", "PortNotRun", "run_kernel_case", "kernel_outputs",
           "port_outputs", "optimizer_outputs", "Runner", "InProcess"]


class PortFailure(Exception):
    """The port misbehaved on one case (raised, hung, or returned the wrong thing);
    ``strike`` is "hung" or "crashed" when it cost a timeout or a restart."""

    def __init__(self, message, strike=None):
        super().__init__(message)
        self.strike = strike


class PortNotRun(PortFailure):
    """The case was not sent: the port was given up after hanging or crashing repeatedly."""


@contextmanager
def _deadline(seconds):
    usable = seconds and hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def fire(_sig, _frame):
        raise PortFailure(f"timed out after {seconds} s", strike="hung")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _call(fn, timeout, *args):
    try:
        with _deadline(timeout), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a port's advisories (e.g. float16 without master weights)
            return fn(*args)
    except PortFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - the port's own failure is a verdict, not a crash
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        raise PortFailure(f"raised {type(exc).__name__}: {exc} (at {tb.filename}:{tb.lineno})") from None


def _as_array(x, what, like):
    if not isinstance(x, np.ndarray):
        raise PortFailure(f"{what} is a {type(x).__name__}, not a numpy array")
    if x.shape != like.shape or x.dtype != like.dtype:
        raise PortFailure(f"{what} is {x.dtype}{list(x.shape)}, expected {like.dtype}{list(like.shape)}")
    return x


def port_outputs(port_step, weight, grad, state, hp, names, timeout):
    """The port's outputs on one kernel update of copies of the inputs, checked to be
    ``(new_weight, new_state)`` with state keys ``names``, arrays like ``weight``; PortFailure if not."""
    out = _call(port_step, timeout, weight.copy(), grad.copy(), {k: v.copy() for k, v in state.items()}, dict(hp))
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        raise PortFailure(f"returned {type(out).__name__}, expected (new_weight, new_state dict)")
    new_w, new_state = out
    if set(new_state) != set(names):
        raise PortFailure(f"new_state keys {sorted(new_state)}, expected {sorted(names)}")
    actual = {"weight": _as_array(new_w, "new_weight", weight)}
    actual.update({k: _as_array(v, f"new_state[{k!r}]", weight) for k, v in new_state.items()})
    return actual


def kernel_request(case, flush_denormals=None):
    """``(weight, grad, state, hp, state names)`` of a kernel case, and its verdict arrays in the
    denormal mode ``flush_denormals`` (None: the case's own)."""
    inputs, verdicts = kernel_arrays(case, flush_denormals)
    state = {k: v for k, v in inputs.items() if k not in ("weight", "grad")}
    return (inputs["weight"], inputs["grad"], state, hp_of(case), sorted(set(verdicts) - {"weight"})), verdicts


def kernel_outputs(port_step, case, timeout, flush_denormals=None):
    """The port's outputs on one kernel case (PortFailure if it misbehaves), and the verdict arrays
    of the denormal mode ``flush_denormals``."""
    request, verdicts = kernel_request(case, flush_denormals)
    return port_outputs(port_step, *request, timeout), verdicts


def run_kernel_case(port_step, case, timeout, flush_denormals=None):
    actual, verdicts = kernel_outputs(port_step, case, timeout, flush_denormals)
    return [judge_output(k, *verdicts[k], actual[k]) for k in verdicts]


def optimizer_outputs(factory, case, timeout, flush_denormals=None, schedulers=None):
    """The port's outputs on an optimizer case, re-synchronized before each step to the oracle's
    state in the denormal mode ``flush_denormals``: per step, ``{index: {output name: array}}``
    (copies).  ``schedulers``: the module whose scheduler classes the port takes (None: the oracle's)."""
    spec = dict(case, optimizer=_decode(case["optimizer"], decode_scalar),
                lr_mult=_decode(case["lr_mult"], decode_scalar), wd_mult=_decode(case["wd_mult"], decode_scalar))
    params, steps = optimizer_arrays(case, flush_denormals)
    opt = _call(build_oracle, timeout, spec, factory, schedulers)
    centered, mp = bool(spec["optimizer"].get("centered")), case["mp"]
    weights = {i: p[2].copy() for i, p in params.items()}
    create = opt.create_state_multi_precision if mp else opt.create_state
    states = {i: _call(create, timeout, i, weights[i]) for i in weights}
    current = {}
    outputs = []
    for k, (indices, grads, results) in enumerate(steps):
        for i in indices:
            _resync(weights[i], states[i], current.get(i), centered, mp and spec["optimizer"].get("multi_precision")
                    and weights[i].dtype == np.float16)
        call = opt.update_multi_precision if mp else opt.update
        _call(call, timeout, list(indices), [weights[i] for i in indices], [g.copy() for g in grads],
              [states[i] for i in indices])
        step = {}
        for i, res in results.items():
            got = dict(_flat(states[i], centered, "master" in res), weight=weights[i])
            step[i] = {name: _as_array(got.get(name), f"step {k} index {i} {name}", expected).copy()
                       for name, (expected, *_verdict) in res.items()}
            current[i] = {name: v[0] for name, v in res.items()}
        outputs.append(step)
    return outputs


def judge_optimizer(case, outputs, flush_denormals=None):
    """The verdicts of ``optimizer_outputs``: every output of every updated index at every step."""
    _params, steps = optimizer_arrays(case, flush_denormals)
    return [judge_output(name, *verdict, outputs[k][i][name])
            for k, (_indices, _grads, results) in enumerate(steps) for i, res in results.items()
            for name, verdict in res.items()]


def run_optimizer_case(factory, case, timeout, flush_denormals=None, schedulers=None):
    return judge_optimizer(case, optimizer_outputs(factory, case, timeout, flush_denormals, schedulers),
                           flush_denormals)


class Runner(ABC):
    """Runs one port's cases: ``name``, ``dialect``, ``expectations`` (a path or None), its own
    denormal mode ``flush_denormals`` (None: the dialect's), whether it has a ``kernel`` /
    ``optimizer`` level, and the calls below (PortFailure when it misbehaves)."""

    name, dialect, expectations, has_kernel, has_optimizer = "port", "mxnet2", None, False, False
    flush_denormals = None

    @abstractmethod
    def outputs(self, weight, grad, state, hp, names, timeout, counted=True):
        """``port_outputs`` of one kernel update (``counted``: see ``process.Child.exchange``)."""

    @abstractmethod
    def optimizer_outputs(self, case, timeout, flush_denormals=None):
        """``optimizer_outputs`` of one optimizer case (resynchronized in that denormal mode)."""

    def kernel_outputs(self, case, timeout, counted=True, flush_denormals=None):
        request, verdicts = kernel_request(case, flush_denormals)
        return self.outputs(*request, timeout, counted=counted), verdicts

    def kernel_verdicts(self, case, timeout, flush_denormals=None):
        actual, verdicts = self.kernel_outputs(case, timeout, flush_denormals=flush_denormals)
        return [judge_output(k, *verdicts[k], actual[k]) for k in verdicts]

    def optimizer_verdicts(self, case, timeout, flush_denormals=None):
        return judge_optimizer(case, self.optimizer_outputs(case, timeout, flush_denormals), flush_denormals)

    def close(self):
        pass


class InProcess(Runner):
    """A ``ports.Port``'s callables, called in this process (a deadline only by SIGALRM, in the
    main thread; a crash ends this process).  For the Python API: a callable has no target
    that a worker could import."""

    def __init__(self, port):
        self.port, self.name, self.dialect, self.expectations = port, port.name, port.dialect, port.expectations
        self.has_kernel, self.has_optimizer = port.kernel is not None, port.optimizer is not None
        self.flush_denormals = port.flush_denormals

    def outputs(self, weight, grad, state, hp, names, timeout, counted=True):
        return port_outputs(self.port.kernel, weight, grad, state, hp, names, timeout)

    def optimizer_outputs(self, case, timeout, flush_denormals=None):
        return optimizer_outputs(self.port.optimizer, case, timeout, flush_denormals, self.port.schedulers)


def as_runner(port) -> Runner:
    """``port`` itself if it is a Runner, else an InProcess runner of a ``ports.Port``."""
    return port if isinstance(port, Runner) else InProcess(port)


def _flat(state, centered, mp):
    try:
        return flatten_state(state, centered, mp)
    except (TypeError, ValueError) as exc:
        raise PortFailure(f"state has the wrong structure: {exc}") from None


def _resync(weight, state, expected, centered, mp):
    if expected is None:
        return
    weight[...] = expected["weight"]
    for name, arr in _flat(state, centered, mp).items():
        arr[...] = expected[name]


def _decode(v, scalar):
    if isinstance(v, dict) and set(v) == {"bits", "hex"}:
        return scalar(v)
    if isinstance(v, dict):
        return {k: _decode(x, scalar) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x, scalar) for x in v]
    return v


def _judged(actual, verdicts, limit=8):
    """The per-output verdicts, and the failing elements in detail (None when all pass;
    at most ``limit`` per output)."""
    judged = [judge_output(k, *verdicts[k], actual[k]) for k in verdicts]
    if not any(v.failed for v in judged):
        return judged, None
    return judged, {"elements": failing_elements(verdicts, actual, limit)}


def generated_phase(report, outputs, dialect, seed, samples, only=None, dtypes=None, trial=None,
                    flush_denormals=None):
    """Hypothesis-generated cases into ``report``; the first failure is shrunk unless ``only``.

    ``outputs(case) -> (actual, verdicts)`` runs one case through the port (PortFailure
    if it misbehaves); ``trial`` (default ``outputs``) runs the shrinker's candidates;
    ``dtypes`` restricts the generated cases to those dtypes; the oracle judges them in the
    denormal mode ``flush_denormals``.  No shrinking once the port is given up (PortNotRun).
    """
    outcomes, given_up = {}, []

    def evaluate(spec, record=False):
        case = golden(spec, flush_denormals, other_mode=False)
        try:
            actual, verdicts = (outputs if record else trial or outputs)(case)
        except PortFailure as exc:
            if record:
                report.add_case(spec["id"], spec["families"], spec["dtype"], [], error=str(exc))
            if isinstance(exc, PortNotRun):
                given_up.append(spec["id"])
            return {"error": str(exc), "strike": exc.strike}
        judged, failure = _judged(actual, verdicts)
        if record:
            report.add_case(spec["id"], spec["families"], spec["dtype"], judged)
        return failure

    first = None
    for spec in sampled_specs(dialect, seed, samples, dtypes):
        if not only or spec["id"] == only:
            outcome = evaluate(spec, record=True)
            if not given_up:
                outcomes[case_key(spec)] = outcome
                first = first or (outcome and spec["id"])
    if first and not only and not given_up:
        report.shrunk = shrink(evaluate, dialect, seed, samples, known=outcomes, dtypes=dtypes)
        if report.shrunk is not None:
            report.shrunk["from"] = first


def replay_into(report, outputs, replay, dialect, flush_denormals=None):
    """Run the one ``--replay`` case (a ``generated.replay_text`` line) into ``report``;
    ``report.replayed`` is its failure detail, or None when it passes."""
    spec = replay_spec(replay, dialect)
    try:
        case = golden(spec, flush_denormals, other_mode=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--replay: the oracle refuses this case: {exc}") from None
    try:
        judged, failure = _judged(*outputs(case))
        report.add_case("replay", ["replay"], spec["dtype"], judged)
        report.replayed = None if failure is None else {"spec": spec, "failure": failure}
    except PortFailure as exc:
        report.add_case("replay", ["replay"], spec["dtype"], [], error=str(exc))
        report.replayed = {"spec": spec, "failure": {"error": str(exc)}}


def check(port, dialect, level, fixture_dir, seed=0, samples=200, timeout=10.0, only=None, replay=None,
          flush_denormals=None, exhaustive=None) -> Report:
    """The Report of ``port`` (a Runner, or a ``ports.Port`` run in this process);
    ``report.shrunk`` is the smallest failing generated case (or None).

    ``replay``: run only this case (a ``generated.replay_text`` line); ``report.replayed`` is
    its failure detail.  ``flush_denormals``: judge with denormals flushed (True) or kept
    (False); None takes the port's own default, else the dialect's (``report.flush_denormals``).
    ``exhaustive``: a 16-bit format whose sweep (``conformance.exhaustive``) runs after the sampled cases.
    """
    if exhaustive:
        from .exhaustive import require_format

        require_format(exhaustive, dialect)
    runner = as_runner(port)
    flush = oracle.resolve_flush(dialect, runner.flush_denormals if flush_denormals is None else flush_denormals)
    report = Report(flush_denormals=flush)
    report.shrunk = report.replayed = None

    def run(case, fn):
        if only and case["id"] != only:
            return
        try:
            report.add_case(case["id"], case["families"], case["dtype"], fn(case, timeout, flush))
        except PortFailure as exc:
            report.add_case(case["id"], case["families"], case["dtype"], [], error=str(exc))

    def outputs(case):
        return runner.kernel_outputs(case, timeout, flush_denormals=flush)

    if replay is not None:
        if not runner.has_kernel:
            raise ValueError("--replay needs a kernel-level port")
        replay_into(report, outputs, replay, dialect, flush)
        return report
    if level in ("kernel", "all") and runner.has_kernel:
        for _p, _n, case in load(fixture_dir):
            if case["level"] == "kernel" and case["dialect"] == dialect:
                run(case, runner.kernel_verdicts)
        generated_phase(report, outputs, dialect, seed, samples, only, flush_denormals=flush,
                        trial=lambda case: runner.kernel_outputs(case, timeout, counted=False, flush_denormals=flush))
        if exhaustive:
            from .exhaustive import TIMEOUT_FACTOR, exhaustive_phase

            exhaustive_phase(report, lambda case: runner.kernel_outputs(case, timeout * TIMEOUT_FACTOR,
                                                                        flush_denormals=flush),
                             dialect, exhaustive, only, flush)
    if level in ("optimizer", "all") and runner.has_optimizer and dialect == "mxnet2":
        for _p, _n, case in load(fixture_dir):
            if case["level"] == "optimizer":
                run(case, runner.optimizer_verdicts)
    return report
