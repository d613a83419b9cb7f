"""Report files for ``check`` and ``score``: JSON with provenance, and a self-contained HTML page.

The JSON document is ``Report.to_json()`` plus what produced it (port, dialect,
level, seed, samples, library versions, the fixtures manifest's sha256 and own
data, the expectations applied, wall time).  It is strict JSON: non-finite
numbers are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"``.  Its
shape is ``schema/report.schema.json``.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import platform
import shlex
import sys
import time
from functools import lru_cache

__all__ = ["preload", "apply", "provenance", "document", "write", "validate", "notes", "versions",
           "FORMAT", "SCHEMA_VERSION"]

FORMAT = "rmsprop-conformance-report"
SCHEMA_VERSION = 1
# distributions whose version describes a built-in port's own library
PORT_LIBRARIES = {"numpy": ["numpy"], "cupy": ["cupy"], "torch": ["torch"], "mxnet": ["mxnet"], "mxnet2": ["mxnet"],
                  "optax": ["optax", "jax"], "keras": ["keras", "jax"], "tensorflow": ["tensorflow"],
                  "keras-tf": ["keras", "tensorflow"], "paddle": ["paddlepaddle"]}


def _version(dist):
    """Installed version of a distribution or module, or None (never imports a library)."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return getattr(sys.modules.get(dist), "__version__", None)


def versions(port_name=None, target=None, port_libraries=None) -> dict:
    """python, numpy, mpmath, jsonschema, hypothesis (when installed), this project, the port's libraries
    (``port_libraries`` when given, as the worker that imported the port found them)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("numpy", "mpmath", "jsonschema", "hypothesis", "ml_dtypes", "rmsprop-conformance"):
        v = _version(dist)
        if v is not None:
            out[dist] = v
    libs = PORT_LIBRARIES.get(port_name, [])
    if not libs and target and ":" in target:  # module:attribute: its top-level package, where it has a version
        libs = [target.split(":", 1)[0].split(".")[0]]
    port = {lib: _version(lib) for lib in libs} if port_libraries is None else port_libraries
    out["port_libraries"] = {k: v for k, v in port.items() if v is not None}
    return out


def manifest_info(fixture_dir) -> dict:
    """sha256 of the fixtures' MANIFEST.json and what it records (format, seed, counts)."""
    path = os.path.join(fixture_dir, "MANIFEST.json")
    info = {"dir": os.path.abspath(fixture_dir), "manifest_sha256": None}
    try:
        with open(path, "rb") as f:
            raw = f.read()
        man = json.loads(raw)
    except (OSError, ValueError):
        return info
    info["manifest_sha256"] = hashlib.sha256(raw).hexdigest()
    for key in ("format", "schema_version", "seed", "total_cases"):
        info[key] = man.get(key)
    info["files"] = len(man.get("files", {}))
    return info


def provenance(command, *, fixture_dir, dialect, level, started, port_name=None, target=None, seed=None,
               samples=None, timeout=None, results=None, expectations=None, fixtures_arg=None,
               smallest_failing_case=None, dtypes=None, port_libraries=None, flush_denormals=False,
               exhaustive=None) -> dict:
    """Everything that says what produced a report; ``target`` as written on the command line
    (shell-quoted), ``started`` a ``time.time()`` taken before the run; ``smallest_failing_case``
    the text ``check`` prints for the shrunk (or replayed) case, with its ``--replay`` repro; ``dtypes``
    the ``--dtype`` choices of a ``--cmd`` run (they select the generated cases, so the repro keeps them);
    ``port_libraries`` the versions of the port's libraries as the process that imported the port saw them;
    ``flush_denormals`` the denormal mode of the verdicts (the report itself records it), for the repro;
    ``exhaustive`` the 16-bit format swept, if any (in the repro)."""
    meta = {"command": command, "dialect": dialect, "level": level, "seed": seed, "samples": samples,
            "timeout": timeout, "port": None if port_name is None else {"name": port_name, "target": target},
            "versions": versions(port_name, target, port_libraries), "fixtures": manifest_info(fixture_dir),
            "expectations": None if expectations is None else expectations.to_json(),
            "started": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(max(time.time() - started, 0.0), 3), "repro": None,
            "smallest_failing_case": smallest_failing_case}
    if command == "check":
        mode = "--flush-denormals" if flush_denormals else "--no-flush-denormals"
        meta["repro"] = (f"rmsprop-conformance check {target} --dialect {dialect} --level {level} {mode} --seed {seed} "
                         f"--samples {samples}" + "".join(f" --dtype {d}" for d in dtypes or ())
                         + (f" --exhaustive {exhaustive}" if exhaustive else "")
                         + (f" --fixtures {shlex.quote(fixtures_arg)}" if fixtures_arg else ""))
    if results is not None:
        with open(results, "rb") as f:
            meta["results"] = {"path": os.path.abspath(results), "sha256": hashlib.sha256(f.read()).hexdigest()}
    return meta


def document(report, meta) -> dict:
    """The JSON report: format header, verdict, provenance, then ``report.to_json()``."""
    doc = {"format": FORMAT, "schema_version": SCHEMA_VERSION,
           "verdict": "conforms" if report.passed else "does not conform"}
    doc.update(meta)
    doc.update(report.to_json())
    return _finite(doc)


def _finite(x):
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


@lru_cache(maxsize=None)
def _validator():
    from jsonschema import Draft202012Validator

    with open(os.path.join(os.path.dirname(__file__), "schema", "report.schema.json")) as f:
        return Draft202012Validator(json.load(f))


def validate(doc) -> list:
    """Schema violations of a report document, as 'path: message' strings (empty when valid)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}"
            for e in _validator().iter_errors(doc)]


def write(report, meta, json_path=None, html_path=None):
    """Write the JSON and/or HTML report (either path may be None)."""
    if not (json_path or html_path):
        return
    doc = document(report, meta)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(doc, f, indent=1, allow_nan=False)
    if html_path:
        from .html_report import render

        with open(html_path, "w", encoding="utf-8") as f:
            f.write(render(doc))


def preload(arg):
    """Load an ``--expectations`` path before the run (a bad file fails first); None and ``none`` pass through."""
    from .expectations import DISABLE, load

    return arg if arg is None or arg.lower() == DISABLE else load(arg)


def apply(report, arg, default=None):
    """Apply ``--expectations`` (``preload``'s result, a path, ``none``, or None for the port's ``default``)."""
    from .expectations import Expectations, select

    exp = arg if isinstance(arg, Expectations) else select(arg, default)
    if exp is not None:
        report.apply_expectations(exp)
    return exp


def notes(report, warn_unused=True):
    """Lines on known deviations, unexpected passes and (to stderr) entries that match no case."""
    exp = report.expectations
    if exp is None:
        return
    by_pattern = {}
    for c in report.known_deviations():
        by_pattern.setdefault(c["expectation"]["pattern"], []).append(c)
    for e in exp.entries:
        if e.pattern in by_pattern:
            print(f"known deviation ({len(by_pattern[e.pattern])} cases matching {e.pattern!r}): {e.reason}")
    for c in report.unexpected_passes():
        print(f"UNEXPECTED PASS {c['id']}: listed as a known deviation ({c['expectation']['reason']}) but passed; "
              f"remove or narrow the entry {c['expectation']['pattern']!r} in {exp.path}")
    if warn_unused:
        for e in exp.unused():
            print(f"rmsprop-conformance: warning: expectation {e.pattern!r} ({e.reason}) in {exp.path} "
                  f"matches no case", file=sys.stderr)
