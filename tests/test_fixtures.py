"""The golden corpus: current, byte-reproducible, strict about bad input, usable out of process."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conformance.cli import main
from conformance.corpus import SCHEMA_VERSION, FixtureError, build_manifest, generate, sha256_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")
PORT = os.path.join(ROOT, "tests", "ports", "mxnet2_kernel_port.py")


def run_cli(*args):
    return main([str(a) for a in args])


def test_committed_corpus_verifies_and_is_current():
    assert run_cli("verify-fixtures", FIXTURES, "--quiet") == 0


def test_regeneration_is_byte_identical(tmp_path):
    for d in ("a", "b"):
        generate(str(tmp_path / d), families=["shapes", "scheduler"], processes=2, progress=False)
    for name in os.listdir(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_corpus_budget():
    man = json.loads(open(os.path.join(FIXTURES, "MANIFEST.json")).read())
    assert sum(f["bytes"] for f in man["files"].values()) <= 10 * 2 ** 20


@pytest.fixture
def corpus(tmp_path):
    dst = tmp_path / "fx"
    shutil.copytree(FIXTURES, dst)
    return dst


def _reseal(d):
    """Recompute MANIFEST.json so a deliberate edit reaches the deeper checks."""
    (d / "MANIFEST.json").write_text(json.dumps(build_manifest(str(d)), indent=1, sort_keys=True) + "\n")


def _edit_line(path, lineno, fn):
    lines = path.read_text().split("\n")
    lines[lineno - 1] = fn(lines[lineno - 1])
    path.write_text("\n".join(lines))


def test_checksum_mismatch_is_refused(corpus, capsys):
    _edit_line(corpus / "shapes.jsonl", 3, lambda s: s.replace('"0000', '"0001', 1))
    assert run_cli("verify-fixtures", corpus, "--no-regenerate") == 2
    assert "shapes.jsonl: sha256 does not match" in capsys.readouterr().err


def test_truncated_file_is_refused(corpus, capsys):
    p = corpus / "centered.jsonl"
    p.write_bytes(p.read_bytes()[:-5000])
    _reseal(corpus)
    assert run_cli("verify-fixtures", corpus, "--no-regenerate") == 2
    assert "centered.jsonl:" in capsys.readouterr().err


def test_dropped_case_is_refused(corpus, capsys):
    p = corpus / "clipping.jsonl"
    lines = p.read_text().split("\n")
    p.write_text("\n".join(lines[:5] + lines[6:]))
    _reseal(corpus)
    assert run_cli("verify-fixtures", corpus, "--no-regenerate") == 2
    assert "cases, header says" in capsys.readouterr().err


def test_unknown_schema_version_is_refused(corpus, capsys):
    current = f'"schema_version":{SCHEMA_VERSION}'
    _edit_line(corpus / "epsilon.jsonl", 1, lambda s: s.replace(current, '"schema_version":99'))
    _reseal(corpus)
    assert run_cli("verify-fixtures", corpus, "--no-regenerate") == 2
    assert "epsilon.jsonl:1: unknown schema_version 99" in capsys.readouterr().err


def test_malformed_bit_pattern_is_refused_with_file_and_line(corpus, capsys):
    p = corpus / "special-values.jsonl"
    case = json.loads(p.read_text().split("\n")[4])
    case["inputs"]["grad"]["bits"][0] = "zz" + case["inputs"]["grad"]["bits"][0][2:]
    _edit_line(p, 5, lambda s: json.dumps(case, sort_keys=True, separators=(",", ":")))
    _reseal(corpus)
    assert run_cli("verify-fixtures", corpus, "--no-regenerate") == 2
    assert "special-values.jsonl:5:" in capsys.readouterr().err


def test_stale_case_is_reported(corpus, capsys):
    """A well-formed edit with a resealed manifest still differs from a fresh generation."""
    p = corpus / "shapes.jsonl"
    case = json.loads(p.read_text().split("\n")[3])
    case["allowed"]["weight"]["bits"][0] = "3ff0000000000000"
    _edit_line(p, 4, lambda s: json.dumps(case, sort_keys=True, separators=(",", ":")))
    _reseal(corpus)
    assert run_cli("verify-fixtures", corpus, "--quiet") == 1
    assert "shapes.jsonl:4:" in capsys.readouterr().out


def test_unlisted_file_is_refused(corpus, capsys):
    (corpus / "extra.jsonl").write_text("{}\n")
    assert run_cli("verify-fixtures", corpus, "--no-regenerate") == 2
    assert "not in MANIFEST.json" in capsys.readouterr().err


def _port(tmp_path, *flags):
    out = tmp_path / "results.jsonl"
    subprocess.run([sys.executable, PORT, FIXTURES, str(out), *flags], check=True)
    return out


def test_round_trip_faithful_port_scores_everything(tmp_path, capsys):
    res = _port(tmp_path)
    assert run_cli("score", FIXTURES, res, "--level", "kernel", "--json", tmp_path / "r.json") == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] and all(c["passed"] for c in report["cases"]) and len(report["cases"]) > 100
    assert "0 failed" in capsys.readouterr().out


def test_round_trip_misplaced_epsilon_fails(tmp_path, capsys):
    res = _port(tmp_path, "--eps-inside")
    assert run_cli("score", FIXTURES, res, "--level", "kernel") == 1
    assert "FAILED" in capsys.readouterr().out


def test_results_with_missing_or_extra_cases_are_refused(tmp_path, capsys):
    res = _port(tmp_path)
    lines = res.read_text().split("\n")
    (tmp_path / "missing.jsonl").write_text("\n".join(lines[:3] + lines[4:]))
    assert run_cli("score", FIXTURES, tmp_path / "missing.jsonl", "--level", "kernel") == 2
    assert "no answer for case" in capsys.readouterr().err
    extra = json.loads(lines[2])
    extra["id"] = "no/such/case"
    (tmp_path / "extra.jsonl").write_text("\n".join(lines[:-1] + [json.dumps(extra), ""]))
    assert run_cli("score", FIXTURES, tmp_path / "extra.jsonl", "--level", "kernel") == 2
    assert "is not in the fixtures" in capsys.readouterr().err
    (tmp_path / "dup.jsonl").write_text("\n".join(lines[:-1] + [lines[2], ""]))
    assert run_cli("score", FIXTURES, tmp_path / "dup.jsonl", "--level", "kernel") == 2
    assert "answered twice" in capsys.readouterr().err


def test_results_with_a_malformed_pattern_are_refused(tmp_path, capsys):
    res = _port(tmp_path)
    lines = res.read_text().split("\n")
    obj = json.loads(lines[1])
    obj["outputs"]["weight"]["bits"][0] = "12"
    lines[1] = json.dumps(obj)
    (tmp_path / "bad.jsonl").write_text("\n".join(lines))
    assert run_cli("score", FIXTURES, tmp_path / "bad.jsonl", "--level", "kernel") == 2
    assert "bad.jsonl:2:" in capsys.readouterr().err


def test_manifest_sha_matches_files():
    man = json.loads(open(os.path.join(FIXTURES, "MANIFEST.json")).read())
    for name, entry in man["files"].items():
        assert sha256_file(os.path.join(FIXTURES, name)) == entry["sha256"]


def test_the_default_corpus_is_found_through_the_package():
    import conformance.verify as verify_mod

    assert verify_mod.default_fixture_dir() in verify_mod.fixture_dirs()
    assert os.path.samefile(verify_mod.default_fixture_dir(), FIXTURES)  # this checkout's, one copy


def test_missing_default_fixtures_say_how_to_get_them(monkeypatch, tmp_path):
    """An installation without its corpus: say where it looked, and how to fix it."""
    import conformance.verify as verify_mod

    dirs = [str(tmp_path / "conformance" / "fixtures"), str(tmp_path / "fixtures")]
    monkeypatch.setattr(verify_mod, "fixture_dirs", lambda: dirs)
    with pytest.raises(FixtureError, match=r"no golden fixtures in .*conformance/fixtures or .*reinstall it.*"
                                           r"or pass --fixtures DIR"):
        verify_mod.default_fixture_dir()
    assert verify_mod.default_fixture_dir(must_exist=False) == str(tmp_path / "fixtures")


@pytest.mark.parametrize("where,bad", [
    (("inputs", "grad", "bits", 0), "3F80"),        # upper case
    (("inputs", "grad", "bits", 0), 7),             # not a string
    (("inputs", "grad", "hex", 0), 1.5),            # a hex item that is not a string
    (("class", "weight", 0), "subnormal"),          # not an element class
], ids=["bits-upper-case", "bits-not-a-string", "hex-not-a-string", "unknown-class"])
def test_the_element_lists_the_fast_schema_skips_are_still_checked(where, bad):
    """check_case validates with the schema less its per-element lists, and checks those itself:
    each such defect is refused, as the full schema refuses it."""
    from jsonschema import Draft202012Validator

    from conformance.corpus import FixtureError
    from conformance.validate import check_case

    with open(os.path.join(ROOT, "fixtures", "special-values.jsonl")) as f:
        text = f.read().split("\n")[1]
    case = json.loads(text)
    check_case(json.loads(text), "x")  # the case as it is passes
    obj = case
    for k in where[:-1]:
        obj = obj[k]
    obj[where[-1]] = bad
    with open(os.path.join(ROOT, "conformance", "schema", "case.schema.json")) as f:
        schema = json.load(f)
    assert not Draft202012Validator(schema).is_valid(case)
    with pytest.raises(FixtureError, match="x: "):
        check_case(case, "x")
