"""Shared checks for the built-in adapters around third-party RMSProp implementations.

Each check runs the real library through the project's CLI (SPEC §3 contract) and
asserts the verdict; the test modules mark and skip them per library.
"""
import json
import shutil
from pathlib import Path

import numpy as np

from conformance.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# the golden files holding every non-MXNet dialect's kernel cases (the rest are MXNet-only)
DIALECT_FILES = ("centered.jsonl", "epsilon.jsonl", "special-values.jsonl", "denormals.jsonl")

BASE_HP = dict(lr=0.01, rho=0.9, momentum=0.0, epsilon=1e-3, wd=0.0, rescale_grad=1.0,
               clip_gradient=-1.0, clip_weights=-1.0, centered=False)


def dialect_fixtures(tmp_path) -> str:
    """A corpus of ``DIALECT_FILES`` only (its own manifest): loading skips the MXNet-only files."""
    src, dst = FIXTURES, tmp_path / "fixtures"
    dst.mkdir()
    manifest = json.loads((src / "MANIFEST.json").read_text())
    manifest["files"] = {n: manifest["files"][n] for n in DIALECT_FILES}
    manifest["total_cases"] = sum(f["cases"] for f in manifest["files"].values())
    (dst / "MANIFEST.json").write_text(json.dumps(manifest))
    for n in DIALECT_FILES:
        shutil.copy(src / n, dst / n)
    return str(dst)


def passes_its_dialect(port, dialect, tmp_path):
    """Every fixture case of the dialect plus a few sampled ones: exit 0, nothing failed."""
    out = tmp_path / "check.json"
    code = main(["check", port, "--level", "kernel", "--samples", "4", "--fixtures", dialect_fixtures(tmp_path),
                 "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["dialect"] == dialect
    assert code == 0, [c["id"] for c in report["cases"] if not c["passed"]]
    families = {f for c in report["cases"] if not c["id"].startswith("sampled/") for f in c["families"]}
    assert {"epsilon", "centered", "special-values", "denormals"} <= families  # the fixtures ran, not only samples
    return report


def fingerprint_is(port, dialect, tmp_path, flushes):
    """The port matches ``dialect`` alone, flushing denormals or keeping them as ``flushes`` says."""
    out = tmp_path / "fingerprint.json"
    code = main(["fingerprint", port, "--json", str(out)])
    fp = json.loads(out.read_text())
    assert (code, fp["matches"], fp["flushes"]) == (0, [dialect], {dialect: flushes})
    return fp


def caught_against(port, other_case, family, tmp_path, capsys):
    """Judged on one fixture case of a dialect it does not implement: exit 1, the case and
    its family reported as failed (a wrong value, not a refusal)."""
    out = tmp_path / "other.json"
    code = main(["check", port, "--dialect", other_case.split("/")[1], "--level", "kernel", "--case", other_case,
                 "--fixtures", dialect_fixtures(tmp_path), "--json", str(out)])
    [case] = json.loads(out.read_text())["cases"]
    assert code == 1 and f"FAILED {other_case}" in capsys.readouterr().out
    assert (case["id"], case["passed"], case["error"], family in case["families"]) == (other_case, False, None, True)
    assert any(o["failed"] for o in case["outputs"])


def one_step(step, dtype="float32", **hp):
    """A small ordinary update through ``step``: (new_weight, new_state)."""
    hp = dict(BASE_HP, **hp)
    w = np.array([0.5, -1.0, 2.0], dtype=dtype)
    g = np.array([0.25, 1.0, -3.0], dtype=dtype)
    state = {"var": np.array([1.0, 0.5, 0.0], dtype=dtype)}
    if hp["centered"]:
        state["mean"] = np.array([0.1, -0.1, 0.0], dtype=dtype)
    if hp["momentum"] != 0:
        state["mom"] = np.array([0.01, 0.0, -0.02], dtype=dtype)
    return step(w, g, state, hp)


def passes_in_bfloat16(port, dialect, tmp_path, samples=60):
    """The dialect's bfloat16 fixture cases and the sampled cases (some in bfloat16) through
    check: exit 0, bfloat16 cases from both ran, each passed, bfloat16 arrays came back."""
    from tests.fixture_subsets import cut_corpus

    corpus = tmp_path / "bf16"
    corpus.mkdir()
    cut_corpus(corpus, lambda name, case: case.get("dialect") == dialect and case["dtype"] == "bfloat16")
    out = tmp_path / "check-bf16.json"
    code = main(["check", port, "--level", "kernel", "--samples", str(samples), "--fixtures", str(corpus),
                 "--json", str(out)])
    report = json.loads(out.read_text())
    bf16 = [c for c in report["cases"] if c["dtype"] == "bfloat16"]
    assert code == 0, [c["id"] for c in report["cases"] if not c["passed"]]
    assert any(c["id"].startswith("sampled/") for c in bf16)
    assert {f for c in bf16 for f in c["families"]} >= {"epsilon", "centered", "special-values", "denormals"}
    assert all(c["passed"] and not c["error"] for c in bf16)
    assert all(o["dtype"] == "bfloat16" for c in bf16 for o in c["outputs"])
    return report


def keeps_bfloat16(step, **hp):
    """One ordinary bfloat16 update: ml_dtypes.bfloat16 arrays in, ml_dtypes.bfloat16 arrays out."""
    import ml_dtypes

    new_w, new_state = one_step(step, dtype=ml_dtypes.bfloat16, **hp)
    assert new_w.dtype == np.dtype(ml_dtypes.bfloat16) and new_w.shape == (3,)
    assert all(v.dtype == np.dtype(ml_dtypes.bfloat16) for v in new_state.values())
    return new_w, new_state
