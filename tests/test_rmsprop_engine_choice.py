"""Choosing the engine: ``configure(engine=...)``, ``RMSPROP_ENGINE``, the fall-back of
``"auto"`` (numba missing or refusing this NumPy, a kernel that fails to compile or to
reproduce the NumPy engine), what ``settings()`` reports, numba's disk cache when the
package directory is not writable, forked children, and ``check numpy`` on both."""
import json
import multiprocessing
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import rmsprop
from conformance.cli import main
from rmsprop import _numba_probe, _settings
from tests.rmsprop_engines import ENGINES, needs_numba, use

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPDATE = """
import json, numpy as np, rmsprop
w, g, v = np.ones(1000, np.float32), np.full(1000, 0.5, np.float32), np.zeros(1000, np.float32)
try:
    with rmsprop.settings(min_parallel=0):
        rmsprop.rmsprop_update(w, g, v, lr=0.1)
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
s = rmsprop.settings()
print(json.dumps({"error": error, "w": float(w[0]), "v": float(v[0]), "use": s["engine_in_use"],
                  "why": s["engine_reason"], "cache": s.get("numba_cache"),
                  "compile": s.get("numba_compile")}))
"""


def python(code, path=(), **env):
    """Run ``code`` in a fresh interpreter (``path`` first on sys.path, and its first entry as
    the working directory); its last line, parsed."""
    e = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "RMSPROP_ENGINE")}
    e.update(env)
    e["PYTHONPATH"] = os.pathsep.join([*path, ROOT])
    r = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True,
                       timeout=600, cwd=path[0] if path else ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def arrays(n=1000):
    """Weight, gradient and var of a small update."""
    return np.ones(n, np.float32), np.full(n, 0.5, np.float32), np.zeros(n, np.float32)


def expected():
    w, g, v = arrays()
    with use("numpy"):
        rmsprop.rmsprop_update(w, g, v, lr=0.1)
    return float(w[0]), float(v[0])


def test_settings_says_which_engine_and_why():
    s = rmsprop.settings()
    assert isinstance(s, dict) and s["engine"] in _settings.ENGINES and s["engine_reason"]
    assert s["engine_in_use"] in ("numba", "numpy")
    before = rmsprop.get_config()
    with rmsprop.settings(engine="numpy", num_threads=1) as inner:
        assert inner["engine_in_use"] == "numpy" and "numpy" in inner["engine_reason"]
        assert rmsprop.get_config()["num_threads"] == 1
    assert rmsprop.get_config() == before
    with pytest.raises(ValueError, match="engine must be one of auto, numba, numpy"):
        rmsprop.configure(engine="fast")
    with pytest.raises(ValueError, match="engine"), rmsprop.settings(engine="NumPy"):
        pass
    assert rmsprop.get_config() == before


def test_auto_falls_back_when_numba_refuses_this_numpy(tmp_path):
    """A numba that refuses the installed NumPy at import (as numba does, with this very
    message): ``auto`` uses NumPy and says why; ``numba`` refuses before any write."""
    fake = tmp_path / "numba"
    fake.mkdir()
    (fake / "__init__.py").write_text('raise ImportError("Numba needs NumPy 2.5 or less. '
                                      'Got NumPy 2.6.")\n')
    out = python(UPDATE, path=[str(tmp_path)])
    assert out["error"] is None and out["use"] == "numpy"
    assert "Numba needs NumPy 2.5 or less" in out["why"] and "auto" in out["why"]
    assert (out["w"], out["v"]) == expected()
    out = python(UPDATE, path=[str(tmp_path)], RMSPROP_ENGINE="numba")
    assert out["use"] is None and out["error"].startswith("ImportError: engine='numba'")
    assert (out["w"], out["v"]) == (1.0, 0.0)                        # nothing was written
    refused = python("import json, rmsprop\ntry:\n    rmsprop.configure(engine='numba')\n"
                     "except ImportError as e:\n    print(json.dumps(str(e)))\n",
                     path=[str(tmp_path)])
    assert "Numba needs NumPy 2.5 or less" in refused


def test_rmsprop_engine_variable_sets_the_default():
    out = python(UPDATE, RMSPROP_ENGINE="numpy")
    assert out["use"] == "numpy" and (out["w"], out["v"]) == expected()
    e = {k: v for k, v in os.environ.items() if k != "RMSPROP_ENGINE"}
    r = subprocess.run([sys.executable, "-c", "import rmsprop"], capture_output=True, text=True,
                       env=dict(e, RMSPROP_ENGINE="fastest", PYTHONPATH=ROOT), timeout=120)
    assert r.returncode != 0 and "RMSPROP_ENGINE must be one of auto, numba, numpy" in r.stderr


@needs_numba
@pytest.mark.parametrize("failure", ["probe", "compile"])
def test_a_failing_kernel_makes_auto_fall_back_and_numba_refuse(monkeypatch, failure):
    from rmsprop import _numba_engine

    class Broken:
        stats = type("S", (), {"cache_hits": {}})()

        def compile(self, sig):
            raise RuntimeError("planted LLVM failure")

    monkeypatch.setattr(_numba_engine, "_ready", set())
    monkeypatch.setattr(_settings._numba, "error", None)
    if failure == "probe":
        monkeypatch.setattr(_numba_probe, "probe", lambda *a: "planted difference")
    else:
        monkeypatch.setattr(_numba_engine, "_kernel", lambda *a: Broken())
    w, g, v = arrays()
    with rmsprop.settings(engine="auto"):
        rmsprop.rmsprop_update(w, g, v, lr=0.1)
        s = rmsprop.settings()
    assert s["engine_in_use"] == "numpy" and "planted" in s["engine_reason"]
    assert (float(w[0]), float(v[0])) == expected()
    monkeypatch.setattr(_settings._numba, "error", None)
    w, v = np.ones(1000, np.float32), np.zeros(1000, np.float32)
    with rmsprop.settings(engine="numba"), pytest.raises(RuntimeError, match="planted"):
        rmsprop.rmsprop_update(w, g, v, lr=0.1)
    assert (w == 1).all() and (v == 0).all()


@needs_numba
def test_settings_reports_threads_layer_cache_and_compile_times():
    from rmsprop import _numba_engine
    w, g, v = arrays(1 << 12)
    with use("numba"), rmsprop.settings(min_parallel=0, num_threads=2):
        rmsprop.rmsprop_update(w, g, v, lr=0.1)
        s = rmsprop.settings()
    assert s["engine_in_use"] == "numba" and s["numba"]
    assert s["numba_threads"] == _numba_engine.threads(2)
    if "NUMBA_THREADING_LAYER" not in os.environ and _numba_engine.threads(2) > 1:
        assert s["numba_threading_layer"] == "workqueue"
    first = s["numba_compile"]["non-centered float32 contiguous " +
                               ("threaded" if _numba_engine.threads(2) > 1 else "serial")]
    assert first["seconds"] >= 0 and first["cache"] in ("hit", "miss")
    assert first["self_check_seconds"] >= 0
    assert s["numba_cache"]


@needs_numba
def test_disk_cache_when_the_package_directory_is_not_writable(tmp_path):
    """The package's ``__pycache__`` cannot be written (here: it is a file): numba caches in
    the user cache directory (``$XDG_CACHE_HOME/numba``), and a second process loads from
    there.  With no writable place at all, the kernels are compiled uncached and
    ``settings()`` says so."""
    pkg = tmp_path / "pkg"
    shutil.copytree(os.path.join(ROOT, "rmsprop"), pkg / "rmsprop",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "rmsprop" / "__pycache__").write_text("not a directory")
    xdg = tmp_path / "xdg"
    runs = [python(UPDATE, path=[str(pkg)], XDG_CACHE_HOME=str(xdg), RMSPROP_ENGINE="numba")
            for _ in range(2)]
    for out in runs:
        assert out["error"] is None and out["use"] == "numba"
        assert out["cache"].startswith(str(xdg / "numba"))
        assert (out["w"], out["v"]) == expected()
    assert [next(iter(r["compile"].values()))["cache"] for r in runs] == ["miss", "hit"]
    (tmp_path / "nowhere").write_text("not a directory either")
    out = python(UPDATE, path=[str(pkg)], XDG_CACHE_HOME=str(tmp_path / "nowhere"),
                 RMSPROP_ENGINE="numba")
    assert out["error"] is None and out["cache"].startswith("cannot cache function")
    assert (out["w"], out["v"]) == expected()


def _child(q):
    w, g, v = arrays(1 << 17)
    with rmsprop.settings(min_parallel=0):
        rmsprop.rmsprop_update(w, g, v, lr=0.1)
    q.put(float(w[0]))


@needs_numba
def test_a_forked_child_updates_after_the_parent_started_numba_threads():
    w, g, v = arrays(1 << 17)
    with use("numba"), rmsprop.settings(min_parallel=0):
        rmsprop.rmsprop_update(w, g, v, lr=0.1)
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=_child, args=(q,))
        p.start()
        p.join(120)
    assert p.exitcode == 0 and q.get(timeout=10) == float(w[0])


@pytest.mark.parametrize("name", ENGINES)
def test_check_numpy_passes_on_both_engines(name, monkeypatch, capsys):
    monkeypatch.setenv("RMSPROP_ENGINE", name)         # also for ports run in worker processes
    with use(name):
        code = main(["check", "numpy", "--samples", "60", "--seed", "1"])
    assert code == 0, capsys.readouterr().out[-3000:]
