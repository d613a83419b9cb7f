"""``check --cmd``: ports in other languages over JSON lines; each misbehaviour fails only its case."""
import json
import os
import shlex
import time
import shutil
import subprocess
import sys

import pytest

from conformance.cli import main
from conformance.cmdport import case_line
from conformance.corpus import load
from tests.fixture_subsets import cut_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORTS = os.path.join(ROOT, "tests", "ports")
PY = shlex.quote(sys.executable)
with open(os.path.join(ROOT, "conformance", "schema", "case.schema.json")) as _f:
    # expected, allowed, class, the faithful sets, and the other denormal mode's verdict
    VERDICT_KEYS = set(json.load(_f)["$defs"]["verdict"]["properties"]) | {"flush_denormals", "other_mode"}
FAITHFUL = f"{PY} {shlex.quote(os.path.join(PORTS, 'mxnet2_kernel_port.py'))} --serve"
MISBEHAVING = f"{PY} {shlex.quote(os.path.join(PORTS, 'misbehaving_cmd_port.py'))}"


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """A small corpus cut from the committed one: per kernel family the first mxnet2 case of each
    dtype, plus the epsilon-placement boundary cases."""
    seen = set()

    def keep(name, case):
        if case["level"] != "kernel" or case["dialect"] != "mxnet2":
            return False
        first = (name, case["dtype"]) not in seen
        seen.add((name, case["dtype"]))
        return first or "epsilon-placement" in case["id"]
    return cut_corpus(tmp_path_factory.mktemp("mini"), keep)


def check(*args, json_path=None):
    extra = ["--json", str(json_path)] if json_path else []
    return main(["check", *map(str, args), *extra])


def test_faithful_program_passes(mini, tmp_path):
    assert check("--cmd", FAITHFUL, "--fixtures", mini, "--samples", 10, json_path=tmp_path / "r.json") == 0
    report = json.loads((tmp_path / "r.json").read_text())
    ids = [c["id"] for c in report["cases"]]
    assert len(ids) > 20 and sum(i.startswith("sampled/") for i in ids) == 10
    assert {"centered", "special-values", "shapes"} <= {f for c in report["cases"] for f in c["families"]}


def test_planted_bug_program_is_caught(mini, tmp_path, capsys):
    assert check("--cmd", FAITHFUL + " --eps-inside", "--fixtures", mini, "--samples", 0,
                 json_path=tmp_path / "r.json") == 1
    failed = [c for c in json.loads((tmp_path / "r.json").read_text())["cases"] if not c["passed"]]
    assert failed and all(c["error"] is None for c in failed)  # judged wrong, not misbehaving
    assert "dialect-boundaries" in {f for c in failed for f in c["families"]}
    out = capsys.readouterr().out
    assert "FAILED boundary/epsilon-placement/" in out and "repro: rmsprop-conformance check --cmd" in out


def test_a_programs_first_generated_failure_is_shrunk_and_its_replay_reproduces(mini, capsys):
    """As for a Python port: the smallest failing case, then its --replay repro run with --cmd."""
    bug = FAITHFUL + " --eps-inside"
    assert check("--cmd", bug, "--fixtures", mini, "--samples", 30, "--dtype", "float32") == 1
    out = capsys.readouterr().out
    assert "SMALLEST FAILING CASE (hypothesis shrank sampled/mxnet2/seed0/" in out
    repro = next(line for line in out.splitlines() if " --replay " in line).split("repro: ", 1)[1]
    argv = shlex.split(repro)
    assert argv[:4] == ["rmsprop-conformance", "check", "--cmd", bug] and "dtype float32, shape [1]" in out
    replay = argv[argv.index("--replay") + 1]
    assert check("--cmd", bug, "--replay", replay) == 1
    assert "REPLAYED CASE FAILS" in capsys.readouterr().out
    assert check("--cmd", FAITHFUL, "--replay", replay) == 0


def test_dtype_filter_runs_only_that_dtype(mini, tmp_path):
    assert check("--cmd", FAITHFUL + " --eps-inside", "--fixtures", mini, "--samples", 20, "--dtype", "float64",
                 json_path=tmp_path / "r.json") == 1
    cases = json.loads((tmp_path / "r.json").read_text())["cases"]
    assert cases and {c["dtype"] for c in cases} == {"float64"} and not all(c["passed"] for c in cases)


def test_the_port_is_never_sent_the_answer(mini, tmp_path):
    case = next(c for _p, _n, c in load(mini))
    assert set(json.loads(case_line(case))) == set(case) - VERDICT_KEYS
    assert check("--cmd", f"{MISBEHAVING} keys {case['id']}", "--fixtures", mini, "--samples", 0,
                 "--case", case["id"], json_path=tmp_path / "r.json") == 1
    error = json.loads((tmp_path / "r.json").read_text())["cases"][0]["error"]
    assert error.startswith("answered error: received keys") and "inputs" in error
    assert not set(error.split()) & VERDICT_KEYS


@pytest.mark.parametrize("mode,message", [
    ("exit", "exited with status 3 before answering; stderr: port: fatal: cannot handle"),
    ("abort", "was killed by SIGABRT before answering"),
    ("error", "answered error: not implemented here"),
    ("wrong-id", "/other', expected"),
    ("not-json", "answer is not valid JSON"),
    ("garbage", "not an answer on stdout: 'loading weights...'"),
    ("wrong-bits", "output 'weight':"),
    ("wrong-width", "is not a"),
    ("wrong-keys", "outputs ['variance', 'weight'], expected exactly ['var', 'weight']"),
])
def test_misbehaviour_fails_only_its_case_and_the_run_goes_on(mode, message, mini, tmp_path):
    cases = [c for _p, _n, c in load(mini)]
    target = next(c["id"] for c in cases[1:] if not c["hp"]["centered"] and c["shape"] and 0 not in c["shape"])
    assert check("--cmd", f"{MISBEHAVING} {mode} {target}", "--fixtures", mini, "--samples", 2,
                 json_path=tmp_path / "r.json") == 1
    report = json.loads((tmp_path / "r.json").read_text())["cases"]
    assert [c["id"] for c in report if not c["passed"]] == [target]
    assert message in report[[c["id"] for c in report].index(target)]["error"]
    assert len(report) == len(cases) + 2  # every later case was still asked and answered


def test_a_hanging_program_is_killed_and_restarted(mini, tmp_path):
    ids = [c["id"] for _p, _n, c in load(mini)]
    assert check("--cmd", f"{MISBEHAVING} hang {ids[1]}", "--fixtures", mini, "--samples", 0, "--timeout", 2,
                 json_path=tmp_path / "r.json") == 1
    report = json.loads((tmp_path / "r.json").read_text())["cases"]
    assert [(c["id"], "timed out after 2.0 s" in c["error"]) for c in report if not c["passed"]] == [(ids[1], True)]
    assert len(report) == len(ids)


def test_a_program_flooding_stdout_without_a_newline_fails_its_case(mini, tmp_path):
    """Endless output with no newline is no answer: the case fails (not a hang, not memory
    without bound), the program is restarted and the run goes on."""
    ids = [c["id"] for _p, _n, c in load(mini)]
    flood = tmp_path / "flood.py"
    flood.write_text(f"import json, os, sys\nsys.path.insert(0, {PORTS!r})\n"
                     "from mxnet2_kernel_port import answer\n"
                     "for line in sys.stdin:\n    case = json.loads(line)\n"
                     f"    while case['id'] == {ids[1]!r}:\n        os.write(1, b'x' * 65536)\n"
                     "    sys.stdout.write(json.dumps(answer(case)) + '\\n'); sys.stdout.flush()\n")
    assert check("--cmd", f"{PY} {shlex.quote(str(flood))}", "--fixtures", mini, "--samples", 0,
                 json_path=tmp_path / "r.json") == 1
    report = json.loads((tmp_path / "r.json").read_text())["cases"]
    assert [c["id"] for c in report if not c["passed"]] == [ids[1]] and len(report) == len(ids)
    assert "bytes on stdout without a newline" in report[1]["error"]


def test_nothing_the_program_started_outlives_the_run(mini, tmp_path):
    """A helper process the port left in its process group is killed with it."""
    pidfile = tmp_path / "child.pid"
    wrapper = f"sh -c {shlex.quote(f'sleep 60 & echo $! > {pidfile}; exec {FAITHFUL}')}"
    case = next(c for _p, _n, c in load(mini))
    assert check("--cmd", wrapper, "--fixtures", mini, "--samples", 0, "--case", case["id"]) == 0
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:   # killed but not reaped (no init to reap it)
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except (ProcessLookupError, FileNotFoundError):
            return
        time.sleep(0.05)
    raise AssertionError(f"the port's child {pid} is still running after the check")


def test_a_program_flooding_stderr_does_not_deadlock(mini):
    assert check("--cmd", f"{MISBEHAVING} stderr-flood none", "--fixtures", mini, "--samples", 0,
                 "--dtype", "float32") == 0


def test_repro_reruns_the_one_failing_case(mini, capsys):
    ids = [c["id"] for _p, _n, c in load(mini)]
    assert check("--cmd", f"{MISBEHAVING} error {ids[2]}", "--fixtures", mini, "--samples", 0) == 1
    repro = next(line for line in capsys.readouterr().out.splitlines() if "repro:" in line)
    argv = shlex.split(repro.split("repro: ", 1)[1])
    assert argv[:3] == ["rmsprop-conformance", "check", "--cmd"]
    assert main(argv[1:]) == 1
    assert "1 cases, 0 passed, 1 failed" in capsys.readouterr().out


@pytest.fixture(scope="module")
def c_port(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc, gcc or clang) on PATH to build tests/ports/mxnet2_kernel_port.c")
    exe = str(tmp_path_factory.mktemp("cport") / "port")
    subprocess.run([cc, "-O2", "-ffp-contract=off", "-o", exe, os.path.join(PORTS, "mxnet2_kernel_port.c"), "-lm"],
                   check=True)
    return exe


def test_c_port_passes_float32_and_float64_cases(c_port, mini, tmp_path):
    assert check("--cmd", c_port, "--fixtures", mini, "--samples", 60, "--dtype", "float32", "--dtype", "float64",
                 json_path=tmp_path / "r.json") == 0
    cases = json.loads((tmp_path / "r.json").read_text())["cases"]
    assert {c["dtype"] for c in cases} == {"float32", "float64"} and any(c["id"].startswith("sampled/") for c in cases)
    assert {"centered", "special-values", "shapes"} <= {f for c in cases for f in c["families"]}


def test_c_port_refusals_and_planted_bug_fail(c_port, mini, tmp_path):
    assert check("--cmd", c_port + " --eps-inside", "--fixtures", mini, "--samples", 0,
                 json_path=tmp_path / "r.json") == 1
    failed = [c for c in json.loads((tmp_path / "r.json").read_text())["cases"] if not c["passed"]]
    refused = {c["id"] for c in failed if c["error"] == "answered error: this port implements float32 and float64 only"}
    assert {c["id"] for c in failed if c["dtype"] == "float16"} == refused and refused
    assert any(c["error"] is None and "epsilon-placement/float32" in c["id"] for c in failed)


@pytest.mark.parametrize("args,message", [
    (["tests.ports.kernel_ports:faithful", "--cmd", "true"], "exactly one port"),
    ([], "exactly one port"),
    (["--cmd", "no-such-program-xyz"], "cannot be started"),
    (["--cmd", "'unbalanced"], "--cmd"),
    (["--cmd", FAITHFUL, "--level", "optimizer"], "kernel cases only"),
    (["--cmd", FAITHFUL, "--dialect", "mxnet3"], "invalid choice: 'mxnet3'"),
    (["tests.ports.kernel_ports:faithful", "--dtype", "float32"], "--cmd PROGRAM only"),
    (["--cmd", FAITHFUL, "--dtype", "bfloat16"],
     "--dtype bfloat16: dialect mxnet2 has no bfloat16 kernel (its real system takes float16, float32, float64)"),
    (["--cmd", FAITHFUL, "--dialect", "paddle", "--dtype", "float32", "--dtype", "float16"],
     "--dtype float16: dialect paddle has no float16 kernel"),
    (["--cmd", FAITHFUL, "--timeout", "0"], "--timeout: must be a positive, finite number of seconds, not '0'"),
    (["--cmd", FAITHFUL, "--timeout", "-1"], "--timeout: must be a positive, finite"),
    (["tests.ports.kernel_ports:faithful", "--timeout", "inf"], "--timeout: must be a positive, finite"),
    (["tests.ports.kernel_ports:faithful", "--timeout", "nan"], "--timeout: must be a positive, finite"),
])
def test_usage_errors_exit_2(args, message, capsys):
    assert main(["check", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_program_that_is_not_executable_exits_2(tmp_path, capsys):
    script = tmp_path / "port.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    assert main(["check", "--cmd", str(script)]) == 2
    assert "cannot be started: Permission denied" in capsys.readouterr().err


def test_a_program_crashing_on_every_case_is_given_up_after_three(mini, tmp_path, capsys):
    """The shared process handling (conformance.process): three crashes in a row, then the rest
    of the cases fail at once as not run, and the report is still written."""
    ids = [c["id"] for _p, _n, c in load(mini)]
    assert check("--cmd", f"{MISBEHAVING} exit '*'", "--fixtures", mini, "--samples", 5,
                 json_path=tmp_path / "r.json") == 1
    errors = [c["error"] for c in json.loads((tmp_path / "r.json").read_text())["cases"]]
    assert len(errors) == len(ids) + 5
    assert all(e.startswith("exited with status 3 before answering") for e in errors[:3])
    assert set(errors[3:]) == {"not run: port crashed 3 times in a row"}
    assert "GAVE UP" in capsys.readouterr().out


def test_a_program_past_the_memory_limit_is_killed(mini, tmp_path):
    hog = f"{PY} -c " + shlex.quote("hoard = []\nwhile True:\n    hoard.append(b'x' * (1 << 25))\n")
    ids = [c["id"] for _p, _n, c in load(mini)]
    assert check("--cmd", hog, "--fixtures", mini, "--samples", 0, "--memory-limit", 200,
                 json_path=tmp_path / "r.json") == 1
    errors = [c["error"] for c in json.loads((tmp_path / "r.json").read_text())["cases"]]
    assert len(errors) == len(ids) and all(e.startswith("used over 200 MiB of memory (killed)") for e in errors[:3])
    assert set(errors[3:]) == {"not run: port crashed 3 times in a row"}
