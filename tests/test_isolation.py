"""Python ports run in a worker process: a crash, a hang (even holding the GIL), memory past
the limit or polluted global state fails only its own case, and a port failing every case
is given up after three.  The judge runs as the user runs it, ``rmsprop-conformance`` in a
process of its own (a subprocess timeout is only a safety net)."""
import json
import os
import subprocess
import sys

import pytest

import rmsprop
from conformance.check import run_optimizer_case
from conformance.corpus import load
from conformance.isolation import IsolatedPort
from conformance.reports import validate
from conformance.verify import default_fixture_dir
from tests.fixture_subsets import cut_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
P = "tests.ports.crashing_ports:"
SEVENS = [f"shapes/mxnet2/{d}/{v}/7" for d in ("float16", "float32", "float64") for v in ("plain", "centered")]
SAMPLES = 3
SAFETY_NET = 600  # seconds; the runs below take about 5 to 30


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The first four mxnet2 kernel cases of each file, the six 7-element cases each with the
    case after it (so no two are in a row), every optimizer case."""
    seen, after_seven = {}, []

    def keep(name, case):
        if case["level"] == "optimizer":
            return True
        if case["dialect"] != "mxnet2":
            return False
        seen[name] = seen.get(name, 0) + 1
        kept = seen[name] <= 4 or case["id"] in SEVENS or bool(after_seven)
        after_seven[:] = [True] if case["id"] in SEVENS else []
        return kept
    return cut_corpus(tmp_path_factory.mktemp("corpus"), keep)


def rmsprop_conformance(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "conformance.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=SAFETY_NET)


def check(target, corpus, tmp_path, *extra, level="kernel"):
    r = rmsprop_conformance("check", P + target, "--level", level, "--fixtures", corpus, "--samples", SAMPLES,
                            "--json", tmp_path / "r.json", *extra)
    doc = json.loads((tmp_path / "r.json").read_text())
    assert validate(doc) == []
    return r, doc["cases"]


def kernel_ids(corpus):
    return [c["id"] for _p, _n, c in load(corpus) if c["level"] == "kernel"]


@pytest.mark.parametrize("port,extra,message", [
    ("segfaults_on_seven", [], "worker was killed by SIGSEGV while running this case; stderr: Fatal Python error: "
                               "Segmentation fault | File "),
    ("aborts_on_seven", [], "worker was killed by SIGABRT while running this case"),
    ("exits_on_seven", [], "worker exited with status 3 while running this case"),
    ("holds_the_gil_on_seven", ["--timeout", "1"], "timed out after 1.0 s (worker killed)"),
    ("exhausts_memory_on_seven", ["--memory-limit", "300"], "used over 300 MiB of memory (worker killed)"),
])
def test_a_crash_or_hang_fails_only_its_case_and_the_rest_is_judged(port, extra, message, corpus, tmp_path):
    r, cases = check(port, corpus, tmp_path, *extra)
    assert r.returncode == 1, r.stderr[-2000:]
    assert len(cases) == len(kernel_ids(corpus)) + SAMPLES
    failed = {c["id"]: c["error"] for c in cases if not c["passed"]}
    assert sorted(failed) == sorted(SEVENS)
    assert all(e.startswith(message) for e in failed.values()), failed
    assert all(c["outputs"] for c in cases if c["passed"])  # judged element by element
    assert "FAILED shapes/mxnet2/float16/plain/7: " + message in r.stdout


def test_a_segfault_names_the_ports_own_frame(corpus, tmp_path):
    _r, cases = check("segfaults_on_seven", corpus, tmp_path, "--case", SEVENS[0])
    assert 'crashing_ports.py", line' in cases[0]["error"]


@pytest.mark.parametrize("port,first,kind", [
    ("sleeps_always", "timed out after 1.0 s (worker killed)", "hung"),
    ("exits_always", "worker exited with status 3 while running this case; stderr: port: cannot go on", "crashed"),
    ("segfaults_always", "worker was killed by SIGSEGV", "crashed"),
])
def test_a_port_failing_every_case_is_given_up_after_three(port, first, kind, corpus, tmp_path):
    r, cases = check(port, corpus, tmp_path, "--timeout", "1")
    assert r.returncode == 1
    errors = [c["error"] for c in cases]
    assert len(errors) == len(kernel_ids(corpus)) + SAMPLES
    assert all(e.startswith(first) for e in errors[:3]), errors[:3]
    assert set(errors[3:]) == {f"not run: port {kind} 3 times in a row"}
    assert f"GAVE UP on the port: {len(errors) - 3} cases not run" in r.stdout


def test_a_port_changing_global_state_cannot_reach_the_judge(corpus, tmp_path):
    """It changes the working directory, sys.stdout and NumPy's error handling in its process:
    the judge still prints its table and writes the report where it was asked to."""
    r = rmsprop_conformance("check", P + "pollutes", "--level", "kernel", "--fixtures", corpus, "--samples", SAMPLES,
                            "--json", "report.json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert f"{len(kernel_ids(corpus)) + SAMPLES} passed, 0 failed" in r.stdout
    assert json.loads((tmp_path / "report.json").read_text())["verdict"] == "conforms"


def test_a_port_that_crashes_on_import_is_unusable(tmp_path):
    r = rmsprop_conformance("check", "tests.ports.crashes_on_import:step")
    assert r.returncode == 2
    assert "target 'tests.ports.crashes_on_import:step' cannot be used: worker was killed by SIGSEGV while " \
           "importing the port" in r.stderr


def test_an_optimizer_port_crash_fails_only_its_sequence(corpus, tmp_path):
    r, cases = check("crashing_optimizer", corpus, tmp_path, level="optimizer")
    assert r.returncode == 1
    failed = {c["id"]: c["error"] for c in cases if not c["passed"]}
    crashing = [c["id"] for _p, _n, c in load(corpus) if c["level"] == "optimizer" and c["optimizer"].get("centered")
                and any(p["dtype"] == "float16" for p in c["params"])]
    sequences = sum(c["level"] == "optimizer" for _p, _n, c in load(corpus))
    assert sorted(failed) == sorted(crashing) and len(cases) == sequences
    assert all(e.startswith("worker was killed by SIGSEGV") for e in failed.values())


def test_the_timeout_counts_per_optimizer_call_not_per_sequence(corpus, tmp_path):
    """Ten updates of 0.5 s each (5 s) pass under a 2 s timeout: the worker announces each call."""
    r, cases = check("slow_optimizer", corpus, tmp_path, "--timeout", "2", "--case", "trajectory/10/float32/plain",
                     level="optimizer")
    assert r.returncode == 0 and [c["passed"] for c in cases] == [True], cases


def test_isolated_optimizer_verdicts_are_the_in_process_ones(corpus):
    """The worker re-synchronizes each step as check.run_optimizer_case does: the same verdicts."""
    with IsolatedPort("numpy", "optimizer") as port:
        for _p, _n, case in load(corpus):
            if case["level"] == "optimizer":
                isolated = [vars(v) for v in port.optimizer_verdicts(case, 10.0)]
                assert isolated == [vars(v) for v in run_optimizer_case(rmsprop.RMSProp, case, 10.0)], case["id"]


def test_fingerprint_survives_a_segfaulting_port(tmp_path):
    r = rmsprop_conformance("fingerprint", P + "segfaults_always", "--json", tmp_path / "f.json")
    assert r.returncode == 1 and "matches: no dialect" in r.stdout
    verdicts = [v for row in json.loads((tmp_path / "f.json").read_text())["dialects"].values() for v in row.values()]
    assert sum("SIGSEGV" in v for v in verdicts) == 3
    assert all(v in ("n/a", "error: not run: port crashed 3 times in a row") for v in verdicts if "SIGSEGV" not in v)


def test_the_pytest_plugin_runs_the_port_isolated(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"--rmsprop-port={P}segfaults_on_seven", "--rmsprop-level=kernel", "--rmsprop-samples=3"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=SAFETY_NET)
    assert r.returncode == 1
    kernel = sum(1 for _p, _n, c in load(default_fixture_dir()) if c["level"] == "kernel" and c["dialect"] == "mxnet2")
    assert f"6 failed, {kernel + 1 - 6} passed" in r.stdout
    assert r.stdout.count("worker was killed by SIGSEGV while running this case") >= 6
