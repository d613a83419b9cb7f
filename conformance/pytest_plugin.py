"""pytest plugin: ``pytest --rmsprop-port=TARGET`` runs the conformance checks as tests.

One test per golden case, plus one test ``sampled/<dialect>/seed<N>`` running
``check``'s hypothesis-generated cases (failing with the smallest failing case and
its ``--replay`` repro), so pytest's reporting (``--junitxml`` included) applies.  Options:

    --rmsprop-port=TARGET          built-in port or module:attribute (nothing runs without it)
    --rmsprop-dialect=NAME         dialect to judge against (default mxnet2)
    --rmsprop-level=kernel|optimizer|all
    --rmsprop-seed=N, --rmsprop-samples=N
    --rmsprop-expectations=FILE    known deviations: JSON list of
                                   {"pattern": "<fnmatch on case id>", "reason": "..."}
                                   (default: the built-in port's own file; "none" for none)
    --rmsprop-flush-denormals=on|off   judge with subnormals flushed (DAZ/FTZ) or kept
                                   (default: the port's own mode, else the dialect's)

A case matching an expectation is an expected failure (xfail, strict: it must
fail); an expectation that matches no case, or a matched case that passes,
is reported.  Loading and matching are ``conformance.expectations``, as in
``check``.  As with ``check``, the port runs in a worker process
(``conformance.isolation``): a crash or hang fails only its test, and after
three in a row the rest fail as not run.  The plugin is inert unless
``--rmsprop-port`` is given.
"""
from __future__ import annotations

import json
import warnings

import pytest

__all__ = ["pytest_addoption", "pytest_configure", "pytest_collection_modifyitems", "pytest_unconfigure"]


def pytest_addoption(parser):
    from oracle.dialects import DIALECTS

    from .ports import BUILTINS

    g = parser.getgroup("rmsprop", "RMSProp conformance")
    g.addoption("--rmsprop-port", default=None,
                help=f"port to check: a built-in name ({', '.join(BUILTINS)}) or module:attribute")
    g.addoption("--rmsprop-dialect", default=None,
                help=f"dialect to judge against: {', '.join(DIALECTS)} (default: the port's)")
    g.addoption("--rmsprop-level", default="all", choices=["kernel", "optimizer", "all"])
    g.addoption("--rmsprop-seed", type=int, default=0)
    g.addoption("--rmsprop-samples", type=int, default=200)
    g.addoption("--rmsprop-expectations", default=None, help="JSON file of known deviations")
    g.addoption("--rmsprop-flush-denormals", default=None, choices=["on", "off"],
                help="judge with subnormals flushed (DAZ/FTZ) or kept; default: the port's own, else the dialect's")


TIMEOUT = 10.0  # seconds per case


class ConformanceCase(pytest.Item):
    def __init__(self, *, case, runner, expectation=None, **kw):
        super().__init__(**kw)
        self.case, self.runner, self.expectation = case, runner, expectation
        if expectation is not None:
            self.add_marker(pytest.mark.xfail(reason=expectation.reason, strict=True))

    def runtest(self):
        from .check import PortFailure

        try:
            verdicts = self.runner(self.case)
        except PortFailure as exc:
            raise CaseFailed(f"port failure: {exc}") from None
        bad = [v for v in verdicts if v.failed]
        if bad:
            raise CaseFailed("; ".join(f"{v.name}: {v.failed}/{v.elements} elements unfaithful, first "
                                       f"{json.dumps(v.first_failure)}" for v in bad[:3]))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CaseFailed):
            return f"{self.case['id']}: {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"rmsprop case {self.case['id']}"


class CaseFailed(AssertionError):
    pass


def _generated(port, target, dialect, seed, samples, flush):
    """``check``'s hypothesis phase as one test: fails with the smallest failing case and its repro."""
    import shlex

    from .check import generated_phase
    from .generated import report_lines
    from .judge import Report

    report = Report(flush_denormals=flush)
    generated_phase(report, lambda case: port.kernel_outputs(case, TIMEOUT, flush_denormals=flush), dialect, seed,
                    samples, flush_denormals=flush,
                    trial=lambda case: port.kernel_outputs(case, TIMEOUT, counted=False, flush_denormals=flush))
    bad = report.failures()
    if bad:
        raise CaseFailed(f"{len(bad)} of {len(report.cases)} generated cases fail ("
                         + ", ".join(c["id"] for c in bad[:5]) + (", ..." if len(bad) > 5 else "") + ")\n"
                         + "\n".join(report_lines(report, shlex.quote(target), dialect)))
    return []


class ConformanceFile(pytest.File):
    def collect(self):
        from oracle import resolve_flush

        from .corpus import load
        from .expectations import load as load_expectations
        from .isolation import IsolatedPort
        from .verify import default_fixture_dir

        cfg = self.config
        level = cfg.getoption("rmsprop_level")
        port = cfg._rmsprop_port = IsolatedPort(cfg.getoption("rmsprop_port"), level)  # stopped at unconfigure
        dialect = cfg.getoption("rmsprop_dialect") or port.dialect
        chosen = {"on": True, "off": False, None: port.flush_denormals}[cfg.getoption("rmsprop_flush_denormals")]
        flush = resolve_flush(dialect, chosen)
        if cfg.getoption("rmsprop_expectations") is None and port.expectations:
            cfg._rmsprop_expectations = load_expectations(port.expectations)
        expectations = cfg._rmsprop_expectations
        cases = []
        if level in ("kernel", "all") and port.has_kernel:
            cases += [(c, lambda c: port.kernel_verdicts(c, TIMEOUT, flush)) for _, _, c in load(default_fixture_dir())
                      if c["level"] == "kernel" and c["dialect"] == dialect]
            seed, samples = cfg.getoption("rmsprop_seed"), cfg.getoption("rmsprop_samples")
            if samples > 0:
                cases.append(({"id": f"sampled/{dialect}/seed{seed}"},
                              lambda c: _generated(port, cfg.getoption("rmsprop_port"), dialect, seed, samples,
                                                   flush)))
        if level in ("optimizer", "all") and port.has_optimizer and dialect == "mxnet2":
            cases += [(c, lambda c: port.optimizer_verdicts(c, TIMEOUT, flush))
                      for _, _, c in load(default_fixture_dir()) if c["level"] == "optimizer"]
        for case, runner in cases:
            match = expectations.match(case["id"]) if expectations is not None else None
            yield ConformanceCase.from_parent(self, name=case["id"], case=case, runner=runner, expectation=match)


def pytest_configure(config):
    from .expectations import ExpectationsError, select

    config._rmsprop_expectations = config._rmsprop_port = None
    path = config.getoption("rmsprop_expectations", None)
    if path:
        try:
            config._rmsprop_expectations = select(path, None)
        except ExpectationsError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(session, config, items):
    """Append one item per conformance case when ``--rmsprop-port`` is given."""
    if not config.getoption("rmsprop_port", None):
        return
    from pathlib import Path

    from .verify import default_fixture_dir

    node = ConformanceFile.from_parent(session, path=Path(default_fixture_dir()) / "MANIFEST.json")
    items.extend(node.collect())
    expectations = config._rmsprop_expectations
    for e in expectations.unused() if expectations is not None else []:
        warnings.warn(pytest.PytestWarning(f"rmsprop expectation {e.pattern!r} ({e.reason}) in {expectations.path} "
                                           f"matches no case"))


def pytest_unconfigure(config):
    """Stop the port's worker process."""
    port = getattr(config, "_rmsprop_port", None)
    if port is not None:
        port.close()
