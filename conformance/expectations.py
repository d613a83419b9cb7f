"""Known deviations: a JSON list of ``{"pattern": "<fnmatch on case id>", "reason": "..."}``.

Used by ``check``/``score`` (``--expectations``) and the pytest plugin
(``--rmsprop-expectations``).  Semantics are strict, as a strict xfail: a case
matching an entry must fail (it is then a known deviation, not a failure); a
matched case that passes fails the run; an entry matching no case is reported
by the caller as a warning.  The first matching entry wins.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from dataclasses import dataclass

__all__ = ["Expectation", "Expectations", "ExpectationsError", "load", "select", "builtin_path", "DISABLE"]

DISABLE = "none"  # ``--expectations none`` turns a port's default file off
_DIR = os.path.join(os.path.dirname(__file__), "expectations")


class ExpectationsError(ValueError):
    """The expectations file is unreadable or malformed (exit 2); the message names file and entry."""


@dataclass
class Expectation:
    pattern: str
    reason: str
    matched: int = 0  # cases matched so far


class Expectations:
    """The entries of one file, matched against case ids in order."""

    def __init__(self, entries, path=None, sha256=None):
        self.entries, self.path, self.sha256 = list(entries), path, sha256

    def match(self, case_id: str):
        """The first entry whose pattern matches ``case_id`` (its count goes up), else None."""
        for e in self.entries:
            if fnmatch.fnmatchcase(case_id, e.pattern):
                e.matched += 1
                return e
        return None

    def unused(self):
        return [e for e in self.entries if not e.matched]

    def to_json(self) -> dict:
        return {"path": self.path, "sha256": self.sha256,
                "entries": [{"pattern": e.pattern, "reason": e.reason, "matched": e.matched} for e in self.entries]}


def builtin_path(name: str) -> str:
    """A file shipped in ``conformance/expectations/`` (e.g. ``mxnet-1.9.1.json``)."""
    return os.path.join(_DIR, name)


def select(arg, default):
    """What to apply: ``arg`` (a path, or ``none`` for nothing), else the port's ``default`` path."""
    path = default if arg is None else (None if arg.lower() == DISABLE else arg)
    return None if path is None else load(path)


def load(path: str) -> Expectations:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ExpectationsError(f"{path}: cannot read expectations: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ExpectationsError(f"{path}: expectations are not valid JSON ({exc})") from None
    return Expectations(parse(data, path), path, hashlib.sha256(raw).hexdigest())


def parse(data, where: str) -> list:
    """Validated entries; ExpectationsError naming ``where`` and the entry on any defect."""
    if not isinstance(data, list):
        raise ExpectationsError(f"{where}: expectations must be a JSON list of {{pattern, reason}} objects, "
                                f"not a {type(data).__name__}")
    out, seen = [], {}
    for i, e in enumerate(data):
        at = f"{where}: entry {i}"
        if not isinstance(e, dict):
            raise ExpectationsError(f"{at}: expectations must be a JSON list of {{pattern, reason}} objects, "
                                    f"this entry is a {type(e).__name__}")
        missing = {"pattern", "reason"} - set(e)
        extra = set(e) - {"pattern", "reason"}
        if missing or extra:
            problems = [f"missing {sorted(missing)}"] * bool(missing) + [f"unknown keys {sorted(extra)}"] * bool(extra)
            raise ExpectationsError(f"{at}: {'; '.join(problems)} (each entry is exactly {{pattern, reason}})")
        for key in ("pattern", "reason"):
            if not isinstance(e[key], str) or not e[key].strip():
                raise ExpectationsError(f"{at}: {key!r} must be a non-empty string, got {e[key]!r}")
        if e["pattern"] in seen:
            raise ExpectationsError(f"{at}: pattern {e['pattern']!r} repeats entry {seen[e['pattern']]}")
        seen[e["pattern"]] = i
        out.append(Expectation(e["pattern"], e["reason"]))
    return out
