"""The installed package works anywhere: sdist, then a wheel built from it, installed into a
fresh virtual environment and run from a directory that is not the checkout.

The build uses ``python -m build`` (its isolated build environment gets setuptools from
the package index); the fresh environment takes its dependencies from this one (a
``.pth`` line naming this environment's site directory), so nothing else is downloaded.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # about a minute: a build, a check numpy and a corpus regeneration
ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "oracle", "conformance", "rmsprop", "fixtures")
MANIFEST = json.loads((ROOT / "fixtures" / "MANIFEST.json").read_text())
CORPUS = sorted(MANIFEST["files"]) + ["MANIFEST.json"]


def _run(argv, cwd, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist and the wheel built from it, from a copy of the sources (the checkout stays clean)."""
    pytest.importorskip("build", reason="the wheel test needs the 'build' package (the test extra)")
    tmp = tmp_path_factory.mktemp("dist")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp / "src" / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            (tmp / "src").mkdir(exist_ok=True)
            shutil.copy(src, tmp / "src" / name)
    r = _run([sys.executable, "-m", "build", "--outdir", tmp / "out", tmp / "src"], cwd=tmp)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (sdist,), (wheel,) = (tmp / "out").glob("*.tar.gz"), (tmp / "out").glob("*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory):
    """A fresh virtual environment with the wheel installed (no editable link to this checkout)."""
    env = tmp_path_factory.mktemp("venv") / "env"
    r = _run([sys.executable, "-m", "venv", "--without-pip", env], cwd=env.parent)
    assert r.returncode == 0, r.stderr
    python = env / "bin" / "python"
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=env).stdout.strip()
    r = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", dist[1]],
             cwd=env.parent)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    # then numpy, mpmath, ... from here (added after the install: pip would take this environment's
    # editable install of the project for the wheel and install nothing)
    here = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    Path(site, "_test_dependencies.pth").write_text("\n".join(here) + "\n")
    return env, Path(site)


def test_the_sdist_and_the_wheel_carry_the_corpus(dist):
    sdist, wheel = dist
    with tarfile.open(sdist) as t:
        in_sdist = {Path(n).name for n in t.getnames() if Path(n).parent.name == "fixtures"}
    with zipfile.ZipFile(wheel) as z:
        in_wheel = {Path(n).name for n in z.namelist() if n.startswith("conformance/fixtures/")}
    assert set(CORPUS) <= in_sdist and set(CORPUS) <= in_wheel


def test_the_installed_package_checks_numpy_from_another_directory(venv, tmp_path):
    env, site = venv
    where = _run([env / "bin" / "python", "-c", "import conformance; print(conformance.__file__)"], cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout + where.stderr
    r = _run([env / "bin" / "rmsprop-conformance", "check", "numpy", "--json", "report.json"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert Path(report["fixtures"]["dir"]) == site / "conformance" / "fixtures"
    assert report["summary"]["cases"] > 400 and report["verdict"] == "conforms"


def test_the_installed_corpus_verifies(venv, tmp_path):
    env, site = venv
    r = _run([env / "bin" / "rmsprop-conformance", "verify-fixtures", "--quiet"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"{site / 'conformance' / 'fixtures'}: {MANIFEST['total_cases']} cases" in r.stdout
    assert "regenerated corpus is identical" in r.stdout
