"""Denormal flushing as a judged mode: the oracle's DAZ/FTZ model, the fixtures' two verdicts,
and the judge's ``--flush-denormals`` / ``--no-flush-denormals``.

The flushing port used here (``tests/ports/flush_ports.py``) is NumPy arithmetic with
inputs and results flushed by hand, written without the oracle; the real systems' flushing
is checked in ``tox -e mxnet2`` (``test_oracle_vs_mxnet2.py``).
"""
import json

import numpy as np
import pytest

import oracle
from conformance.cli import main
from conformance.codec import CodecError
from conformance.corpus import FixtureError, golden, kernel_arrays, load
from conformance.families import denormals
from conformance.validate import check_case
from conformance.verify import default_fixture_dir
from oracle.bounds import accept

FLUSHING = "tests.ports.flush_ports:flushing_step"
WIDE = ("float32", "float64")


def _plain(dtype, w, g, var, **hp):
    hp = dict(dict(lr=0.5, rho=0.5, momentum=0.9, epsilon=0.0, centered=False), **hp)
    return (np.array(w, dtype), np.array(g, dtype), {"var": np.array(var, dtype)}, hp)


@pytest.mark.parametrize("dtype", WIDE)
def test_daz_reads_a_subnormal_weight_as_a_zero_of_its_sign(dtype):
    sub = float(np.finfo(dtype).tiny) / 4
    args = _plain(dtype, [sub, -sub], [0.0, 0.0], [1.0, 1.0])
    kept = oracle.evaluate(*args, flush_denormals=False).outputs["weight"]
    flushed = oracle.evaluate(*args, flush_denormals=True).outputs["weight"]
    assert kept.tolist() == [sub, -sub]  # w - lr*0/(sqrt(var) + eps) = w
    assert flushed.tolist() == [0.0, 0.0] and np.signbit(flushed).tolist() == [False, True]


@pytest.mark.parametrize("dtype", WIDE)
def test_ftz_flushes_a_subnormal_result_of_normal_inputs(dtype):
    tiny = float(np.finfo(dtype).tiny)
    args = _plain(dtype, [0.0], [tiny], [1.0], rho=1.0)  # var stays 1: step = 0.5 * tiny
    assert oracle.evaluate(*args, flush_denormals=False).outputs["weight"].tolist() == [-tiny / 2]
    assert oracle.evaluate(*args, flush_denormals=True).outputs["weight"].tolist() == [0.0]


def test_tininess_is_decided_after_rounding_and_both_platforms_are_faithful():
    """lr*g = tiny*(1 - 2**-46) exactly: x86 rounds first (tiny, kept), ARM flushes it (-0)."""
    g = np.float32(2.0 ** -126) * np.float32(1 + 2 ** -23)
    args = _plain("float32", [0.0], [g], [1.0], lr=1 - 2 ** -23, rho=1.0)
    ev = oracle.evaluate(*args, flush_denormals=True)
    assert ev.outputs["weight"].tolist() == [-2.0 ** -126] and ev.classes["weight"].tolist() == ["ill"]
    assert ev.check({"weight": np.array([-0.0], np.float32), "var": ev.outputs["var"]})["weight"].all()


@pytest.mark.parametrize("dialect", list(oracle.DIALECTS))
def test_float16_never_flushes(dialect):
    """float16 is computed in float32 on CPU, where no float16 value is subnormal: one verdict."""
    for spec in denormals():
        if spec["dialect"] == dialect and spec["dtype"] == "float16":
            line = golden(spec)
            assert line["other_mode"] == {"flush_denormals": not line["flush_denormals"], "same": True}


def test_each_dialect_takes_its_real_systems_default():
    assert {d: oracle.resolve_flush(d) for d in oracle.DIALECTS} == {
        # JAX (XLA) and TensorFlow's eager ops flush on CPU; MXNet 2's own default is a port's
        d: d in ("keras", "keras-tf", "optax", "tensorflow") for d in oracle.DIALECTS}
    assert oracle.resolve_flush("keras", False) is False and oracle.resolve_flush("mxnet2", True) is True
    with pytest.raises(TypeError, match="flush_denormals must be True, False or None"):
        oracle.resolve_flush("mxnet2", "yes")


def _rejects(verdicts, outputs):
    """Elements of ``outputs`` that ``verdicts`` does not accept."""
    return sum(int((~accept(e, a, c, outputs[k][0], f)).sum()) for k, (e, a, c, f) in verdicts.items())


def test_the_denormals_fixtures_tell_the_two_modes_apart():
    """In float32 and float64, every dialect's denormals case: each mode's correctly rounded
    outputs are refused by the other mode's verdict, both ways."""
    seen = set()
    for _p, _n, case in load(default_fixture_dir()):
        if case["id"].startswith("denormals/") and case["dtype"] in WIDE:
            _, own = kernel_arrays(case)
            _, other = kernel_arrays(case, not case["flush_denormals"])
            assert _rejects(own, other) and _rejects(other, own), case["id"]
            seen.add((case["dialect"], case["dtype"]))
    assert seen == {(d, dt) for d in oracle.DIALECTS for dt in WIDE}


def test_every_fixture_holds_both_verdicts_and_the_schema_requires_them(tmp_path):
    for _p, _n, case in load(default_fixture_dir()):
        blocks = [case] if case["level"] == "kernel" else [r for st in case["steps"] for r in st["results"]]
        for b in blocks:
            assert b["other_mode"]["flush_denormals"] is (not case["flush_denormals"])
    spec = next(iter(denormals()))
    line = golden(spec)
    del line["other_mode"]
    with pytest.raises(FixtureError, match="other_mode"):
        check_case(line, "inline")
    with pytest.raises(CodecError, match="holds no verdict with flush_denormals=True"):
        kernel_arrays(golden(spec, other_mode=False), True)


def _check(tmp_path, *args):
    path = tmp_path / "r.json"
    code = main([*args, "--json", str(path)])
    return code, json.loads(path.read_text())


def test_a_flushing_port_fails_plain_mxnet2_and_conforms_flushing(tmp_path):
    code, doc = _check(tmp_path, "check", FLUSHING, "--level", "kernel", "--samples", "50")
    assert code == 1 and doc["flush_denormals"] is False
    assert {c["id"] for c in doc["cases"] if not c["passed"] and not c["id"].startswith("sampled/")} == {
        f"denormals/mxnet2/{dt}/{v}" for dt in WIDE for v in ("plain", "centered")}
    code, doc = _check(tmp_path, "check", FLUSHING, "--level", "kernel", "--samples", "50", "--flush-denormals")
    assert code == 0 and doc["flush_denormals"] is True
    assert "--flush-denormals" in doc["repro"]


def test_the_production_backend_conforms_kept_and_fails_flushed(tmp_path, capsys):
    code, doc = _check(tmp_path, "check", "numpy", "--samples", "50", "--flush-denormals")
    assert code == 1 and set(doc["summary"]["failing_families"]) == {"denormals", "denormal-steps", "optimizer"}
    out = capsys.readouterr().out
    assert "denormals flushed (DAZ/FTZ)" in out and "--flush-denormals --seed 0" in out  # the repro keeps the mode


def test_score_and_cmd_ports_are_judged_in_the_chosen_mode(tmp_path):
    import subprocess
    import sys

    results = tmp_path / "RESULTS.jsonl"
    port = "tests/ports/mxnet2_kernel_port.py"
    subprocess.run([sys.executable, port, default_fixture_dir(), str(results)], check=True)
    fx = default_fixture_dir()
    assert main(["score", fx, str(results), "--level", "kernel"]) == 0
    assert main(["score", fx, str(results), "--level", "kernel", "--flush-denormals"]) == 1
    cmd = f"{sys.executable} {port} --serve"
    assert main(["check", "--cmd", cmd, "--dtype", "float32", "--samples", "20", "--flush-denormals"]) == 1


def test_fingerprint_says_whether_a_port_flushes(tmp_path):
    out = tmp_path / "fp.json"
    for target, flushes in (("numpy", False), (FLUSHING, True)):
        assert main(["fingerprint", target, "--json", str(out)]) == 0
        fp = json.loads(out.read_text())
        assert (fp["matches"], fp["flushes"]) == (["mxnet2"], {"mxnet2": flushes})


def test_the_html_report_shows_the_mode(tmp_path):
    html = tmp_path / "r.html"
    assert main(["check", "numpy", "--samples", "10", "--level", "kernel", "--html", str(html)]) == 0
    assert "<dt>denormals</dt><dd>kept (IEEE subnormals)</dd>" in html.read_text()
