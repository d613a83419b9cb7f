"""``verify-fixtures``: the committed corpus is intact, well-formed and current.

1. every file matches MANIFEST.json (sha256, case count), parses, follows the
   schema and decodes (FixtureError, exit 2, naming file:line);
2. the corpus regenerated into a temporary directory is byte-identical (exit 1
   naming the first differing file and line if not).  Headers may differ only in
   ``mpmath_version``: correct rounding does not depend on it, so the case lines
   must still be identical.
"""
from __future__ import annotations

import json
import os
import tempfile

from .corpus import FixtureError, generate, load

__all__ = ["verify", "default_fixture_dir", "fixture_dirs"]


def fixture_dirs() -> list:
    """Where the golden corpus may be, found through the package: ``conformance/fixtures/``
    (package data of a wheel, an sdist build or a strict editable install), then the
    ``fixtures/`` beside the package (the checkout, in a default editable install)."""
    from importlib.resources import files

    package = str(files("conformance"))
    return [os.path.join(package, "fixtures"), os.path.join(os.path.dirname(package), "fixtures")]


def default_fixture_dir(must_exist=True) -> str:
    """The corpus that came with this package (the first of ``fixture_dirs`` holding a manifest);
    without ``must_exist``, where ``generate`` writes it (the checkout's, if no corpus is found)."""
    dirs = fixture_dirs()
    for path in dirs:
        if os.path.isfile(os.path.join(path, "MANIFEST.json")):
            return path
    if must_exist:
        raise FixtureError(f"no golden fixtures in {' or '.join(dirs)}: this installation of rmsprop-conformance "
                           f"lacks its corpus; reinstall it (`pip install rmsprop-conformance`, or `pip install .` "
                           f"from a checkout), or pass --fixtures DIR")
    return dirs[-1]


def verify(fixture_dir: str, regenerate=True, progress=False):
    """(ok, messages); raises FixtureError for unusable input."""
    cases = sum(1 for _ in load(fixture_dir))
    messages = [f"{fixture_dir}: {cases} cases, checksums, schema and bit patterns OK"]
    if not regenerate:
        return True, messages
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp, progress=progress)
        for name in sorted(os.listdir(tmp)):
            ok, msg = _compare(os.path.join(fixture_dir, name), os.path.join(tmp, name), name)
            if msg:
                messages.append(msg)
            if not ok:
                messages.append("the committed corpus is stale: run `rmsprop-conformance generate`")
                return False, messages
    messages.append("regenerated corpus is identical to the committed one")
    return True, messages


def _compare(committed, fresh, name):
    if not os.path.exists(committed):
        return False, f"{committed}: missing (the generator writes it)"
    with open(committed, "rb") as f:
        a = f.read()
    with open(fresh, "rb") as f:
        b = f.read()
    if a == b:
        return True, None
    if name == "MANIFEST.json":
        return _compare_manifest(a, b, committed)
    la, lb = a.split(b"\n"), b.split(b"\n")
    ha, hb = json.loads(la[0]), json.loads(lb[0])
    note = None
    if ha.get("mpmath_version") != hb.get("mpmath_version"):
        note = (f"{committed}: generated with mpmath {ha.get('mpmath_version')}, this machine has "
                f"{hb.get('mpmath_version')}; comparing the cases only")
        ha.pop("mpmath_version", None)
        hb.pop("mpmath_version", None)
    if ha != hb:
        return False, f"{committed}:1: header differs from a fresh generation: {ha} != {hb}"
    for no, (x, y) in enumerate(zip(la[1:], lb[1:]), 2):
        if x != y:
            cid = json.loads(y).get("id") if y else None
            return False, f"{committed}:{no}: case {cid!r} differs from a fresh generation"
    if len(la) != len(lb):
        return False, f"{committed}: {len(la) - 2} cases, a fresh generation has {len(lb) - 2}"
    return True, note


def _compare_manifest(a, b, path):
    ma, mb = json.loads(a), json.loads(b)
    # checksums legitimately differ when only the mpmath_version header field does
    strip = lambda m: {k: {f: v for f, v in e.items() if f in ("cases",)} for k, e in m["files"].items()}  # noqa: E731
    if strip(ma) != strip(mb) or ma["total_cases"] != mb["total_cases"]:
        return False, f"{path}: lists different files or counts than a fresh generation"
    return True, None
