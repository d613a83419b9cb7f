"""The built-in ``mxnet2`` port (real MXNet 2.0.0b1) through the judge (``tox -e mxnet2``).

As MXNet ships it flushes denormals, and ``check mxnet2`` judges it so: it conforms, with
its optimizer's float32-state deviations listed.  Judged with subnormals kept it fails
exactly where subnormals matter; a wrapper that turns flushing off conforms to plain mxnet2.
"""
import json

import pytest

from tests.mxnet2_helpers import mx  # noqa: F401  (skips without MXNet 2)

from conformance.cli import main  # noqa: E402

pytestmark = pytest.mark.mxnet2
IEEE = "tests.ports.mxnet2_ieee:"


def _report(tmp_path, *args):
    path = tmp_path / "report.json"
    code = main([*map(str, args), "--json", str(path)])
    return code, json.loads(path.read_text())


def test_check_mxnet2_conforms_flushing_with_its_known_deviations(tmp_path, capsys):
    code, doc = _report(tmp_path, "check", "mxnet2", "--seed", 1)
    assert code == 0, capsys.readouterr().out[-3000:]
    assert doc["flush_denormals"] is True and doc["summary"]["failed"] == 0
    assert doc["summary"]["known_deviations"] == 20
    assert {c["id"].split("/")[0] for c in doc["cases"] if c["status"] == "known-deviation"} == {
        "multipliers", "step-vs-fused", "multi-precision", "denormal-steps"}
    assert "denormals flushed (DAZ/FTZ)" in capsys.readouterr().out


def test_check_mxnet2_without_flushing_fails_on_the_subnormal_cases(tmp_path):
    code, doc = _report(tmp_path, "check", "mxnet2", "--no-flush-denormals", "--seed", 1,
                        "--samples", 50)
    assert code == 1 and doc["flush_denormals"] is False
    failed = [c for c in doc["cases"] if c["status"] == "failed"]
    assert {c["id"] for c in failed if not c["id"].startswith("sampled/")} == {
        f"denormals/mxnet2/{dt}/{v}" for dt in ("float32", "float64") for v in ("plain", "centered")} | {
        f"denormal-steps/float32/{how}/{v}" for how in ("fused", "step") for v in ("plain", "centered")}
    # the same cases pass when judged flushing (the test above, same seed): only the mode parts them


def test_a_wrapper_that_turns_flushing_off_conforms_to_plain_mxnet2(tmp_path, capsys):
    code, doc = _report(tmp_path, "check", IEEE + "step", "--seed", 1, "--samples", 50)
    assert code == 0, capsys.readouterr().out[-3000:]
    assert doc["flush_denormals"] is False
    code, _ = _report(tmp_path, "check", IEEE + "step", "--flush-denormals", "--seed", 1, "--samples", 50)
    assert code == 1
    code, doc = _report(tmp_path, "check", IEEE + "RMSProp", "--level", "optimizer", "--expectations",
                        "conformance/expectations/mxnet-2.0.0b1.json")
    assert code == 0 and doc["summary"]["known_deviations"] == 20


def test_fingerprint_says_mxnet2_flushes(tmp_path, capsys):
    out = tmp_path / "fp.json"
    assert main(["fingerprint", "mxnet2", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["flushes"] == {"mxnet2": True}
    assert "matches: mxnet2 (flushes denormals: DAZ/FTZ)" in capsys.readouterr().out
    assert main(["fingerprint", IEEE + "step", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["flushes"] == {"mxnet2": False}
