"""``check --exhaustive``: the 16-bit sweep's design, a clean port passing it, the planted
band bugs (``tests/ports/band_bugs.py``) it catches and what the default check finds of them,
its repro lines, the CLI's errors, and a ``--cmd`` port on a 65536-element case.

The sweep's golden cases are built once per module (the one full sweep of the suite) and
every port is judged against them with the functions ``check`` judges with.
"""
import json
import shlex

import numpy as np
import pytest

from conformance.check import _judged, check, kernel_request, port_outputs
from conformance.cli import main
from conformance.corpus import golden
from conformance.exhaustive import CONFIGS, POINTS, sweep_specs
from conformance.ports import Port
from conformance.verify import default_fixture_dir
from oracle import DIALECTS
from tests.ports import band_bugs
from tests.test_cmd_port import FAITHFUL

# bug -> the families the sweep fails (README: Exhaustive 16-bit sweep)
SWEEP_FINDS = {
    "subnormal_grad_zero": {"exhaustive:grad"},
    "top_binade": {"exhaustive:grad"},
    "square_ftz": {"exhaustive:grad", "exhaustive:weight"},
    "nan_payload": {"exhaustive:grad"},
    "one_binade_halved": {"exhaustive:grad"},
}
# bug -> the families `check` without --exhaustive fails at seed 0, 200 samples (empty: missed)
DEFAULT_CHECK_FINDS = {
    "subnormal_grad_zero": {"denormals"},
    "top_binade": {"sampled:overflow", "special-values"},  # ill elements, refused by their faithful sets
    "square_ftz": set(),
    "nan_payload": set(),
    "one_binade_halved": set(),
}
CASE = "exhaustive/float16/default/grad/small"


@pytest.fixture(scope="module")
def sweep():
    """Every mxnet2 float16 sweep case: (spec, port request, verdict arrays)."""
    out = []
    for spec in sweep_specs("mxnet2", "float16"):
        request, verdicts = kernel_request(golden(spec, other_mode=False))
        out.append((spec, request, verdicts))
    return out


def _failing(kernel, sweep):
    """Failing families of ``kernel`` over the sweep, and the elements judged."""
    families, elements = set(), 0
    for spec, request, verdicts in sweep:
        judged, failure = _judged(port_outputs(kernel, *request, 10.0), verdicts)
        elements += sum(o.elements for o in judged)
        if failure is not None:
            families.update(spec["families"])
    return families, elements


def test_sweep_design():
    specs = list(sweep_specs("mxnet2", "float16"))
    ids = [s["id"] for s in specs]
    assert len(ids) == len(set(ids)) == 56  # 6 plain configs x 3 inputs + 2 centered x 5, x 2 points
    patterns = np.arange(1 << 16, dtype=np.uint16)
    for s in specs:
        _, fmt, config, swept, point = s["id"].split("/")
        assert fmt == "float16" and config in CONFIGS and point in POINTS and s["families"] == [f"exhaustive:{swept}"]
        for k, v in s["inputs"].items():
            if k == swept:
                assert (v.view(np.uint16) == patterns).all()
            else:
                assert (v == np.float16(POINTS[point][k])).all()
    for p in POINTS.values():
        assert p["var"] >= p["mean"] ** 2


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_every_dialect_sweeps_what_it_can_express(dialect):
    for fmt in ("float16", "bfloat16"):
        if fmt not in DIALECTS[dialect].dtypes:
            with pytest.raises(ValueError, match=f"no {fmt} kernel"):
                list(sweep_specs(dialect, fmt))
            continue
        specs = list(sweep_specs(dialect, fmt))
        assert {s["id"].split("/")[2] for s in specs} >= {"default", "eps0", "rho0", "rho1", "centered"}
        assert all(s["inputs"]["weight"].size == 1 << 16 for s in specs)


def test_a_clean_port_passes_every_element(sweep):
    families, elements = _failing(band_bugs.clean, sweep)
    assert families == set()
    assert elements == sum(len(v) for _s, _r, v in sweep) << 16


@pytest.mark.parametrize("bug", band_bugs.BUGS)
def test_the_sweep_catches_each_band_bug(bug, sweep):
    assert _failing(getattr(band_bugs, bug), sweep)[0] == SWEEP_FINDS[bug]


@pytest.mark.parametrize("bug", band_bugs.BUGS)
def test_what_the_default_check_finds(bug):
    report = check(Port(bug, kernel=getattr(band_bugs, bug)), "mxnet2", "kernel", default_fixture_dir())
    assert {f for c in report.failures() for f in c["families"]} == DEFAULT_CHECK_FINDS[bug]


def test_a_failing_sweep_case_prints_its_repro_and_elements(capsys, tmp_path):
    target = "tests.ports.band_bugs:subnormal_grad_zero"
    assert main(["check", target, "--exhaustive", "float16", "--case", CASE, "--json", str(tmp_path / "r.json")]) == 1
    assert json.loads((tmp_path / "r.json").read_text())["repro"].endswith(" --exhaustive float16")
    out = capsys.readouterr().out
    assert f"--exhaustive float16 --case {CASE}" in out and "SMALLEST FAILING CASE" not in out
    assert f"SWEEP CASE {CASE}: " in out and "grad[51] = " in out
    replay = next(line for line in out.splitlines() if "these elements alone:" in line)
    argv = shlex.split(replay.split("these elements alone: ", 1)[1])
    assert argv[:3] == ["rmsprop-conformance", "check", target]
    assert main(argv[1:]) == 1
    assert main(["check", "tests.ports.band_bugs:clean", *argv[3:]]) == 0


def test_cli_errors(capsys):
    assert main(["check", "numpy", "--dialect", "paddle", "--exhaustive", "float16"]) == 2
    assert "--exhaustive float16: dialect 'paddle' has no float16 kernel" in capsys.readouterr().err
    assert main(["check", "numpy", "--exhaustive", "float32"]) == 2
    assert "invalid choice: 'float32'" in capsys.readouterr().err
    assert main(["check", "numpy", "--case", CASE]) == 2
    assert "sweep cases need --exhaustive FORMAT" in capsys.readouterr().err


def test_a_cmd_port_answers_a_sweep_case():
    assert main(["check", "--cmd", FAITHFUL, "--exhaustive", "float16", "--case",
                 "exhaustive/float16/centered/grad/typical"]) == 0


def test_a_bfloat16_sweep_case_round_trips():
    """The oracle as a torch-dialect port on one bfloat16 case: encoding, decoding and judging of
    every pattern (NaN payloads included) agree with themselves."""
    import oracle
    from conformance.check import InProcess
    from conformance.exhaustive import exhaustive_phase
    from conformance.judge import Report

    runner = InProcess(Port("oracle", kernel=lambda w, g, s, hp: oracle.step(w, g, s, hp, "torch"), dialect="torch"))
    report = Report()
    exhaustive_phase(report, lambda case: runner.kernel_outputs(case, 60.0), "torch", "bfloat16",
                     only="exhaustive/bfloat16/centered/grad/small")
    assert [c["id"] for c in report.cases] == ["exhaustive/bfloat16/centered/grad/small"] and report.passed
    assert sum(o["elements"] for o in report.cases[0]["outputs"]) == 4 << 16  # weight, mean, var, mom
