"""check's hypothesis phase: planted bugs are caught and shrunk, the repro replays them, faithful ports pass."""
import json
import shlex

import pytest

from conformance.check import generated_phase, kernel_outputs
from conformance.cli import main
from conformance.generated import replay_text
from conformance.judge import Report
from tests.ports import kernel_ports

P = "tests.ports.kernel_ports:"


def phase(port, seed=0, samples=30, dialect="mxnet2"):
    report = Report()
    report.shrunk = None
    generated_phase(report, lambda case: kernel_outputs(port, case, 10.0), dialect, seed, samples)
    return report


@pytest.mark.parametrize("port", ["eps_inside", "swap_rho", "ignore_clip_zero"])
def test_a_planted_bug_is_shrunk_to_a_single_element(port):
    report = phase(getattr(kernel_ports, port), samples=40)
    assert report.failures() and len(report.cases) == 40  # shrink attempts are not counted as cases
    shrunk = report.shrunk
    assert shrunk["spec"]["shape"] == [1] and shrunk["from"] == report.failures()[0]["id"]
    assert shrunk["failure"]["elements"] and shrunk["tried"] > 0


def test_a_port_failure_shrinks_the_same_way():
    report = phase(kernel_ports.raises, samples=10)
    assert len(report.failures()) == 10
    assert "raised RuntimeError: boom" in report.shrunk["failure"]["error"] and report.shrunk["spec"]["shape"] == [1]


def test_the_shrunk_case_is_the_same_every_run():
    a, b = (phase(kernel_ports.eps_inside, samples=40).shrunk for _ in range(2))
    assert replay_text(a["spec"]) == replay_text(b["spec"])


def test_a_faithful_port_passes_under_several_seeds():
    for seed in (5, 6, 7):
        report = phase(kernel_ports.faithful, seed=seed, samples=40)
        assert report.passed and report.shrunk is None, report.failures()[:2]


def test_check_prints_the_smallest_case_and_its_repro_reproduces(capsys):
    assert main(["check", P + "eps_inside", "--level", "kernel", "--samples", "40"]) == 1
    out = capsys.readouterr().out
    block = out.split("SMALLEST FAILING CASE")[1]
    assert "shape [1]" in block and "inputs:" in block and "expected" in block and "allowed" in block
    repro = next(line for line in block.splitlines() if line.strip().startswith("repro:")).split("repro: ")[1]
    argv = shlex.split(repro)[1:]
    assert argv[:2] == ["check", P + "eps_inside"] and "--replay" in argv
    assert main(argv) == 1
    again = capsys.readouterr().out
    assert "1 cases, 0 passed, 1 failed" in again and "REPLAYED CASE FAILS" in again
    assert main([a.replace("eps_inside", "faithful") for a in argv]) == 0  # the case itself is valid
    assert json.loads(argv[argv.index("--replay") + 1])["shape"] == [1]


@pytest.mark.parametrize("text,message", [
    ("{", "not valid JSON"), ('{"dtype": "float32"}', "keys dtype, shape, hp, inputs"),
    ('{"dtype":"float32","shape":[1],"hp":{},"inputs":{"weight":["zz"],"grad":["3f800000"]}}', "hex bit pattern"),
    ('{"dtype":"float32","shape":["a"],"hp":{},"inputs":{"weight":["3f800000"],"grad":["3f800000"]}}',
     "shape must list non-negative integers, got ['a']"),
    ('{"dtype":"float32","shape":[true],"hp":{},"inputs":{"weight":["3f800000"],"grad":["3f800000"]}}',
     "shape must list non-negative integers"),
    ('{"dtype":"float32","shape":[-1],"hp":{},"inputs":{"weight":["3f800000"],"grad":["3f800000"]}}',
     "shape must list non-negative integers"),
    ('{"dtype":["float32"],"shape":[1],"hp":{},"inputs":{"weight":["3f800000"],"grad":["3f800000"]}}',
     "dtype must be a dtype name, got ['float32']"),
    ('{"dtype":"float32","shape":[1],"hp":{"lr":1' + "0" * 400 + '},"inputs":{"weight":["3f800000"],'
     '"grad":["3f800000"]}}', "hyperparameter 'lr' = 10000000000000000000... is out of the float range"),
])
def test_a_malformed_replay_exits_2(text, message, capsys):
    assert main(["check", P + "faithful", "--replay", text]) == 2
    assert message in capsys.readouterr().err


def test_the_pytest_plugin_fails_the_generated_item_with_the_shrunk_case(tmp_path):
    from tests.test_pytest_plugin import run_pytest

    r = run_pytest(tmp_path, f"--rmsprop-port={P}eps_inside", "--rmsprop-samples=30", "-k", "seed0")
    assert r.returncode == 1
    assert "sampled/mxnet2/seed0" in r.stdout and "SMALLEST FAILING CASE" in r.stdout and "--replay" in r.stdout
