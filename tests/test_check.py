"""``check`` catches single planted bugs, accepts faithful ports, survives misbehaving ones."""
import json

import pytest

from conformance.cli import main

P = "tests.ports.kernel_ports:"
FAST = ["--level", "kernel", "--samples", "60"]


def check(target, *extra):
    return main(["check", P + target, *FAST, *map(str, extra)])


def test_faithful_port_passes(capsys):
    assert check("faithful") == 0, capsys.readouterr().out[-3000:]


def test_one_ulp_from_the_truth_is_not_caught(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NUDGED_TALLY", str(tmp_path / "tally.json"))  # the port runs in the worker
    assert check("one_ulp_off") == 0, capsys.readouterr().out[-3000:]
    tally = json.loads((tmp_path / "tally.json").read_text())
    assert tally["nudged"] > 0.9 * tally["finite"]  # nearly every finite element was moved


@pytest.mark.parametrize("port", ["eps_inside", "wd_before_clip", "ignore_clip_zero", "swap_rho", "skip_state"])
def test_single_planted_bugs_are_caught(port, capsys):
    assert check(port) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "repro: rmsprop-conformance check" in out


@pytest.mark.parametrize("port,message", [
    ("raises", "raised RuntimeError: boom"),
    ("wrong_shape", "new_weight is"),
    ("not_arrays", "not a numpy array"),
])
def test_misbehaving_ports_fail_per_case_and_the_run_goes_on(port, message, tmp_path):
    assert check(port, "--json", tmp_path / "r.json") == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["cases"] and all(not c["passed"] and message in c["error"] for c in report["cases"])


def test_a_hanging_port_times_out(tmp_path):
    assert main(["check", P + "hangs", "--level", "kernel", "--samples", "1", "--timeout", "0.2",
                 "--case", "sampled/mxnet2/seed0/0", "--json", str(tmp_path / "r.json")]) == 1
    assert "timed out" in json.loads((tmp_path / "r.json").read_text())["cases"][0]["error"]


def test_repro_runs_exactly_one_case(capsys):
    assert check("eps_inside", "--case", "boundary/epsilon-placement/float32/plain/mxnet2") == 1
    assert "1 cases, 0 passed, 1 failed" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["no.such.module:step", "caffe", "tests.ports.kernel_ports:nothing"])
def test_unusable_targets_exit_2(target, capsys):
    assert main(["check", target]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["check", "numpy"], ["score", "fixtures", "RESULTS.jsonl"]])
def test_unknown_dialect_exits_2_naming_the_known_ones(command, capsys):
    assert main(command + ["--dialect", "mxnet3"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'mxnet3'" in err and "'mxnet1'" in err and "'optax'" in err


def test_other_seeds_never_fail_a_faithful_port():
    for seed in (1, 2, 3):
        assert check("faithful", "--seed", str(seed)) == 0


@pytest.mark.parametrize("command", ["check", "fingerprint"])
def test_help_lists_every_builtin_port_and_dialect_from_the_registries(command, monkeypatch, capsys):
    from conformance import ports
    from oracle.dialects import DIALECTS

    monkeypatch.setitem(ports.BUILTINS, "zzport", lambda: None)  # a port added later is listed too
    assert main([command, "--help"]) == 0
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, at hyphens too
    assert all(f"{name}," in text or f"{name})" in text for name in ports.BUILTINS)
    if command == "check":
        assert all(f"{name}," in text or f"{name}(" in text for name in DIALECTS)

