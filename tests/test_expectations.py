"""Known deviations in ``check``/``score`` (--expectations): strict, counted apart, bad files refused."""
import json
import os

import pytest

from conformance import ports
from conformance.cli import main
from conformance.corpus import kernel_arrays, load
from conformance.expectations import ExpectationsError, builtin_path, load as load_expectations, parse
from conformance.verify import default_fixture_dir

P = "tests.ports.kernel_ports:"
FAST = ["--level", "kernel", "--samples", "0"]


def run(target, tmp_path, *extra, name="r.json"):
    code = main(["check", P + target, *FAST, "--json", str(tmp_path / name), *map(str, extra)])
    return code, json.loads((tmp_path / name).read_text())


@pytest.fixture(scope="module")
def eps_inside_ids(tmp_path_factory):
    """The planted-bug port's failing and passing case ids, from a run without expectations."""
    code, report = run("eps_inside", tmp_path_factory.mktemp("plain"))
    assert code == 1
    failing = [c["id"] for c in report["cases"] if not c["passed"]]
    passing = [c["id"] for c in report["cases"] if c["passed"]]
    assert failing and passing
    return failing, passing, len(report["cases"])


def write(tmp_path, entries, name="known.json"):
    path = tmp_path / name
    path.write_text(json.dumps(entries) if not isinstance(entries, str) else entries)
    return path


def test_covering_exactly_the_failures_conforms_and_counts_them(eps_inside_ids, tmp_path, capsys):
    failing, _, total = eps_inside_ids
    stale = {"pattern": "no/such/case/*", "reason": "stale entry"}
    exp = write(tmp_path, [{"pattern": cid, "reason": "epsilon inside the root"} for cid in failing] + [stale])
    capsys.readouterr()
    code, report = run("eps_inside", tmp_path, "--expectations", exp)
    out, err = capsys.readouterr()
    assert code == 0, out[-2000:]
    assert f"{total} cases, {total - len(failing)} passed, {len(failing)} known deviations, 0 failed" in out
    assert "FAILED" not in out and "known deviation (1 cases matching" in out
    assert "'no/such/case/*' (stale entry)" in err and "matches no case" in err  # warns, does not fail
    s = report["summary"]
    assert (s["known_deviations"], s["failed"], s["passed"]) == (len(failing), 0, total - len(failing))
    assert sorted(c["id"] for c in report["cases"] if c["status"] == "known-deviation") == sorted(failing)
    assert report["passed"] and report["verdict"] == "conforms"
    assert sum(r["known_cases"] for r in report["rows"]) >= len(failing) and not any(r["failed_cases"]
                                                                                     for r in report["rows"])


def test_covering_only_some_failures_does_not_conform(eps_inside_ids, tmp_path, capsys):
    failing, _, total = eps_inside_ids
    exp = write(tmp_path, [{"pattern": cid, "reason": "known"} for cid in failing[1:]])
    code, report = run("eps_inside", tmp_path, "--expectations", exp)
    out = capsys.readouterr().out
    assert code == 1
    assert f"{len(failing) - 1} known deviations, 1 failed" in out and f"FAILED {failing[0]}:" in out
    assert [c["id"] for c in report["cases"] if c["status"] == "failed"] == [failing[0]]


def test_a_matched_case_that_passes_fails_the_run(eps_inside_ids, tmp_path, capsys):
    failing, passing, _ = eps_inside_ids
    exp = write(tmp_path, [{"pattern": cid, "reason": "known"} for cid in failing]
                + [{"pattern": passing[0], "reason": "thought to be broken"}])
    code, report = run("eps_inside", tmp_path, "--expectations", exp)
    out = capsys.readouterr().out
    assert code == 1
    assert f"UNEXPECTED PASS {passing[0]}: listed as a known deviation (thought to be broken)" in out
    assert "1 passed but expected to fail, 0 failed" in out
    assert [c["id"] for c in report["cases"] if c["status"] == "unexpected-pass"] == [passing[0]]
    assert report["summary"]["unexpected_passes"] == 1 and not report["passed"]


def test_a_ports_default_file_applies_and_none_turns_it_off(eps_inside_ids, tmp_path, monkeypatch, capsys):
    failing, _, _ = eps_inside_ids
    exp = write(tmp_path, [{"pattern": cid, "reason": "known"} for cid in failing])
    # a built-in port "planted" with a default file, registered where the port runs: the worker
    # process, at its start (sitecustomize)
    (tmp_path / "sitecustomize.py").write_text(
        "from conformance import ports\nfrom tests.ports.kernel_ports import eps_inside\n"
        f"ports.BUILTINS['planted'] = lambda: ports.Port('planted', kernel=eps_inside, expectations={str(exp)!r})\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), root, os.environ.get("PYTHONPATH", "")]))
    assert main(["check", "planted", *FAST]) == 0
    assert f"{len(failing)} known deviations, 0 failed" in capsys.readouterr().out
    assert main(["check", "planted", *FAST, "--expectations", "none"]) == 1
    out = capsys.readouterr().out
    assert "known deviations" not in out and f"{len(failing)} failed" in out


@pytest.mark.parametrize("content,message", [
    ("[{", "not valid JSON"),
    ({"pattern": "x", "reason": "y"}, "expectations must be a JSON list"),
    (["shapes/*"], "entry 0: expectations must be a JSON list of {pattern, reason} objects"),
    ([{"pattern": "a", "reason": "r"}, {"pattern": "b"}], "entry 1: missing ['reason']"),
    ([{"pattern": "a", "reasn": "r", "reason": "r"}], "entry 0: unknown keys ['reasn']"),
    ([{"pattern": "", "reason": "r"}], "entry 0: 'pattern' must be a non-empty string"),
    ([{"pattern": "a", "reason": 3}], "entry 0: 'reason' must be a non-empty string"),
    ([{"pattern": "a", "reason": "r"}, {"pattern": "a", "reason": "s"}], "entry 1: pattern 'a' repeats entry 0"),
])
def test_a_malformed_file_exits_2_naming_file_and_entry(content, message, tmp_path, capsys):
    exp = write(tmp_path, content)
    assert main(["check", P + "faithful", *FAST, "--expectations", str(exp)]) == 2
    err = capsys.readouterr().err
    assert f"{exp}: " in err and message in err


def test_an_unreadable_file_exits_2(tmp_path, capsys):
    assert main(["check", P + "faithful", *FAST, "--expectations", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: cannot read expectations" in capsys.readouterr().err
    with pytest.raises(ExpectationsError, match="entry 0"):
        parse([None], "inline")


def test_the_mxnet_1_9_1_file_covers_exactly_the_empty_array_cases():
    """Its patterns match the mxnet1 kernel fixtures whose arrays are empty, and no other case."""
    exp = load_expectations(builtin_path("mxnet-1.9.1.json"))
    empty, matched = set(), set()
    for _p, _n, case in load(default_fixture_dir()):
        if case["level"] == "kernel":
            if case["dialect"] == "mxnet1" and kernel_arrays(case)[0]["weight"].size == 0:
                empty.add(case["id"])
            if exp.match(case["id"]):
                matched.add(case["id"])
    assert empty and matched == empty
    assert ports.Port("x").expectations is None


def test_the_mxnet_2_file_covers_exactly_the_cases_its_float32_states_break():
    """Its patterns match the optimizer sequences with a float64 weight, or a float16 weight
    without multi_precision (MXNet 2 makes float32 states for both), and no other case."""
    exp = load_expectations(builtin_path("mxnet-2.0.0b1.json"))
    broken, matched = set(), set()
    for _p, _n, case in load(default_fixture_dir()):
        if case["level"] == "optimizer":
            master = case["mp"] and case["optimizer"].get("multi_precision")
            if any(p["dtype"] == "float64" or (p["dtype"] == "float16" and not master) for p in case["params"]):
                broken.add(case["id"])
        if exp.match(case["id"]):
            matched.add(case["id"])
    assert broken and matched == broken


def test_the_pytest_plugin_refuses_the_same_malformed_file(tmp_path):
    from tests.test_pytest_plugin import PORTS, run_pytest

    exp = write(tmp_path, [{"pattern": "a", "reason": "r", "why": "?"}])
    r = run_pytest(tmp_path, f"--rmsprop-port={PORTS}faithful", f"--rmsprop-expectations={exp}")
    assert r.returncode == 4 and "entry 0: unknown keys ['why']" in r.stderr


@pytest.mark.mxnet
@pytest.mark.parametrize("dialect,code", [("mxnet1", 0), ("mxnet2", 1)])
def test_real_mxnet_conforms_to_mxnet1_with_its_known_deviations(dialect, code, capsys):
    pytest.importorskip("mxnet")
    assert main(["check", "mxnet", "--dialect", dialect]) == code
    out = capsys.readouterr().out
    if code == 0:
        assert "12 known deviations, 0 failed" in out
    else:
        assert "failing families: " in out and "epsilon" in out.split("failing families: ")[1].split("\n")[0]
