"""Schema and consistency checks for fixture files and results (messages name file:line)."""
from __future__ import annotations

import json
import os
from functools import lru_cache

__all__ = ["check_case", "check_header", "check_manifest", "check_result", "SUPPORTED_SCHEMA_VERSIONS"]

SUPPORTED_SCHEMA_VERSIONS = (2,)
_HERE = os.path.join(os.path.dirname(__file__), "schema")


@lru_cache(maxsize=None)
def _validator(name):
    from jsonschema import Draft202012Validator

    with open(os.path.join(_HERE, name)) as f:
        return Draft202012Validator(json.load(f))


def _check(name, obj, where):
    from .corpus import FixtureError

    from jsonschema.exceptions import best_match

    err = best_match(_validator(name).iter_errors(obj))  # into a oneOf, the branch that fits best
    if err is not None:
        path = "/".join(str(p) for p in err.absolute_path) or "(top)"
        raise FixtureError(f"{where}: does not match {name} at {path}: {err.message[:300]}")


def check_header(hdr, where):
    from .corpus import FixtureError

    if isinstance(hdr, dict) and hdr.get("schema_version") not in SUPPORTED_SCHEMA_VERSIONS:
        raise FixtureError(f"{where}:1: unknown schema_version {hdr.get('schema_version')!r} "
                           f"(this tool reads {list(SUPPORTED_SCHEMA_VERSIONS)})")
    _check("header.schema.json", hdr, f"{where}:1")


def check_manifest(man, where):
    from .corpus import FixtureError

    if isinstance(man, dict) and man.get("schema_version") not in SUPPORTED_SCHEMA_VERSIONS:
        raise FixtureError(f"{where}: unknown schema_version {man.get('schema_version')!r}")
    _check("manifest.schema.json", man, where)


def check_case(case, where):
    """Schema, then every bit pattern decodes with the right count."""
    from .codec import CodecError
    from .corpus import FixtureError, kernel_arrays, optimizer_arrays

    _check("case.schema.json", case, where)
    try:
        for mode in (False, True):  # the verdicts of both denormal modes decode
            kernel_arrays(case, mode) if case["level"] == "kernel" else optimizer_arrays(case, mode)
    except CodecError as exc:
        raise FixtureError(f"{where}: {case.get('id')}: {exc}") from None


def check_result(obj, where):
    _check("results.schema.json", obj, where)
