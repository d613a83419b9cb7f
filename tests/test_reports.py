"""--json and --html reports: provenance, schema, a well-formed self-contained page, escaped text."""
import hashlib
import json
import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from importlib import metadata

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from conformance.cli import main
from conformance.html_report import COLOURS, render
from conformance.judge import OutputVerdict, Report
from conformance.reports import document, provenance, validate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")
SCHEMA = os.path.join(ROOT, "conformance", "schema", "report.schema.json")
P = "tests.ports.kernel_ports:"
HOSTILE = "<img src=x onerror=alert(1)> & \"quotes\" 'too'"


def hostile(weight, grad, state, hp):
    """A port whose error message is markup."""
    raise RuntimeError(HOSTILE)


def _no_constants(name):
    raise AssertionError(f"non-standard JSON constant {name}")


@pytest.fixture(scope="module")
def check_reports(tmp_path_factory):
    d = tmp_path_factory.mktemp("check")
    code = main(["check", P + "eps_inside", "--level", "kernel", "--samples", "2", "--seed", "3",
                 "--json", str(d / "r.json"), "--html", str(d / "r.html")])
    text = (d / "r.json").read_text()
    return code, json.loads(text, parse_constant=_no_constants), (d / "r.html").read_text()


def test_check_json_validates_and_carries_provenance(check_reports):
    code, doc, _ = check_reports
    assert code == 1 and doc["verdict"] == "does not conform" and not doc["passed"]
    with open(SCHEMA) as f:
        Draft202012Validator(json.load(f)).validate(doc)
    assert validate(doc) == []
    assert doc["port"] == {"name": P + "eps_inside", "target": P + "eps_inside"}
    assert (doc["command"], doc["dialect"], doc["level"], doc["seed"], doc["samples"]) == \
        ("check", "mxnet2", "kernel", 3, 2)
    v = doc["versions"]
    assert v["numpy"] == np.__version__ and v["mpmath"] == metadata.version("mpmath")
    assert v["rmsprop-conformance"] == metadata.version("rmsprop-conformance")
    assert v["python"] == ".".join(map(str, sys.version_info[:3]))
    with open(os.path.join(FIXTURES, "MANIFEST.json"), "rb") as f:
        raw = f.read()
    assert doc["fixtures"]["manifest_sha256"] == hashlib.sha256(raw).hexdigest()
    assert doc["fixtures"]["total_cases"] == json.loads(raw)["total_cases"]
    assert doc["expectations"] is None and doc["wall_time_s"] >= 0
    assert doc["repro"].startswith(f"rmsprop-conformance check {P}eps_inside --dialect mxnet2 --level kernel "
                                   f"--no-flush-denormals --seed 3")
    assert doc["flush_denormals"] is False
    s = doc["summary"]
    statuses = [c["status"] for c in doc["cases"]]
    assert s["cases"] == len(statuses) and s["failed"] == statuses.count("failed") > 0
    assert s["passed"] == statuses.count("passed") and s["known_deviations"] == 0
    assert "epsilon" in s["failing_families"]


def test_the_schema_rejects_a_report_missing_provenance(check_reports):
    _, doc, _ = check_reports
    assert validate({k: v for k, v in doc.items() if k != "versions"})
    assert validate(dict(doc, fixtures=dict(doc["fixtures"], manifest_sha256="not-a-hash")))


def test_non_finite_numbers_are_written_as_strings(tmp_path):
    rep = Report()
    rep.add_case("c/inf", ["fam"], "float32", [OutputVerdict("weight", "float32", 1, 1, 0, float("inf"),
                                                             float("inf"), None)])
    doc = document(rep, provenance("score", fixture_dir=FIXTURES, dialect="mxnet2", level="kernel",
                                   started=time.time()))
    text = json.dumps(doc, allow_nan=False)  # raises on a bare inf or nan
    assert doc["cases"][0]["outputs"][0]["worst_ratio"] == "inf" and validate(json.loads(text)) == []


def test_score_writes_both_reports(tmp_path, capsys):
    res, exp = tmp_path / "results.jsonl", tmp_path / "known.json"
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "ports", "mxnet2_kernel_port.py"), FIXTURES,
                    str(res)], check=True)
    exp.write_text(json.dumps([{"pattern": "shapes/mxnet1/*", "reason": "not an mxnet2 case"}]))
    assert main(["score", FIXTURES, str(res), "--level", "kernel", "--json", str(tmp_path / "s.json"),
                 "--html", str(tmp_path / "s.html"), "--expectations", str(exp)]) == 0
    assert "'shapes/mxnet1/*' (not an mxnet2 case)" in capsys.readouterr().err  # matches nothing: a warning
    doc = json.loads((tmp_path / "s.json").read_text())
    assert validate(doc) == [] and doc["command"] == "score" and doc["port"] is None
    assert doc["expectations"]["entries"] == [{"pattern": "shapes/mxnet1/*", "reason": "not an mxnet2 case",
                                               "matched": 0}]
    assert doc["results"]["sha256"] == hashlib.sha256(res.read_bytes()).hexdigest()
    assert doc["verdict"] == "conforms" and doc["summary"]["failed"] == 0
    assert Page.of((tmp_path / "s.html").read_text()).tags["svg"] == 1


class Page(HTMLParser):
    """Tag counts, text, and nesting errors of an HTML page."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "line", "rect", "circle"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.text, self.attrs = [], [], {}, [], []

    @classmethod
    def of(cls, html):
        p = cls()
        p.feed(html)
        p.close()
        assert not p.stack and not p.errors, (p.stack, p.errors[:5])
        return p

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.attrs.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.attrs.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_well_formed_and_plots_every_case(check_reports):
    _, doc, html = check_reports
    page = Page.of(html)
    assert page.tags.get("script", 0) == 0 and page.tags.get("link", 0) == 0 and page.tags["svg"] == 1
    urls = [v for _, a in page.attrs for k, v in a.items() if k in ("src", "href")]
    assert urls == [] and "url(" not in html and "@import" not in html
    text = "".join(page.text)
    for fam in {f for c in doc["cases"] for f in c["families"]}:
        assert fam in text
    assert doc["fixtures"]["manifest_sha256"] in text and doc["versions"]["numpy"] in text
    # one mark per (case, family), coloured by the case's status
    circles = [a for t, a in page.attrs if t == "circle"]
    assert len(circles) == sum(len(c["families"]) for c in doc["cases"])
    failed_marks = sum(len(c["families"]) for c in doc["cases"] if c["status"] == "failed")
    assert sum(a["fill"] == COLOURS["failed"] for a in circles) == failed_marks > 0
    first_failed = next(c["id"] for c in doc["cases"] if c["status"] == "failed")
    assert f"{doc['repro']} --case {first_failed}" in text


def test_html_escapes_hostile_case_ids_and_errors(tmp_path):
    rep = Report()
    evil_id = "shapes/<script>alert('id')</script>&amp;"
    evil_error = "raised ValueError: <marquee>bad</marquee> </div> & more"
    rep.add_case(evil_id, ["fam<ily>"], "float32", [], error=evil_error)
    html = render(document(rep, provenance("check", fixture_dir=FIXTURES, dialect="mxnet2", level="kernel",
                                           started=time.time(), port_name="p<o>rt", target="m:<x>", seed=0,
                                           samples=0)))
    page = Page.of(html)
    assert page.tags.get("script", 0) == 0 and page.tags.get("marquee", 0) == 0
    text = "".join(page.text)
    assert evil_id in text and evil_error in text and "fam<ily>" in text and "p<o>rt" in text


def test_a_ports_markup_error_reaches_the_page_escaped(tmp_path):
    out = tmp_path / "h.html"
    assert main(["check", "tests.test_reports:hostile", "--level", "kernel", "--samples", "0",
                 "--case", "boundary/epsilon-placement/float32/plain/mxnet2", "--html", str(out)]) == 1
    page = Page.of(out.read_text())
    assert page.tags.get("img", 0) == 0 and HOSTILE in "".join(page.text)


def test_both_reports_carry_the_smallest_failing_case(tmp_path, capsys):
    """What check prints for the hypothesis-shrunk case is in the JSON and on the page."""
    j, h = tmp_path / "r.json", tmp_path / "r.html"
    assert main(["check", P + "eps_inside", "--level", "kernel", "--samples", "40", "--seed", "0",
                 "--json", str(j), "--html", str(h)]) == 1
    out = capsys.readouterr().out
    doc = json.loads(j.read_text(), parse_constant=_no_constants)
    assert validate(doc) == []
    assert any(c["id"].startswith("sampled/") and c["status"] == "failed" for c in doc["cases"])
    block = doc["smallest_failing_case"]
    assert block.startswith("SMALLEST FAILING CASE") and block in out and " --replay '" in block
    assert block in "".join(Page.of(h.read_text()).text)


def test_a_cmd_reports_repro_keeps_its_dtype_choice(tmp_path):
    """--dtype selects which cases a --cmd run generates: the report's repro, run with a case id,
    must judge the very same case (same dtype and element count)."""
    import shlex

    cmd = f"{shlex.quote(sys.executable)} {shlex.quote(os.path.join(ROOT, 'tests', 'ports', 'mxnet2_kernel_port.py'))}" \
          " --serve"
    cid = "sampled/mxnet2/seed0/2"
    assert main(["check", "--cmd", cmd, "--dtype", "float64", "--samples", "3", "--case", cid,
                 "--json", str(tmp_path / "a.json")]) == 0
    first = json.loads((tmp_path / "a.json").read_text())
    argv = shlex.split(first["repro"])[1:] + ["--case", cid, "--json", str(tmp_path / "b.json")]
    assert main(argv) == 0
    again = json.loads((tmp_path / "b.json").read_text())
    assert [(c["id"], c["dtype"], [o["elements"] for o in c["outputs"]]) for c in again["cases"]] == \
           [(c["id"], c["dtype"], [o["elements"] for o in c["outputs"]]) for c in first["cases"]]
    assert first["cases"][0]["dtype"] == "float64"
