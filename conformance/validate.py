"""Schema and consistency checks for fixture files and results (messages name file:line)."""
from __future__ import annotations

import json
import os
import re
from functools import lru_cache

__all__ = ["check_case", "check_header", "check_manifest", "check_result", "SUPPORTED_SCHEMA_VERSIONS"]

SUPPORTED_SCHEMA_VERSIONS = (3,)
_HERE = os.path.join(os.path.dirname(__file__), "schema")
_BITS = re.compile(r"[0-9a-f]{4}|[0-9a-f]{8}|[0-9a-f]{16}")  # case.schema.json's $defs/array bits items
_CLASSES = frozenset(("finite", "nan", "+inf", "-inf", "ill"))  # and its $defs/verdict class items


@lru_cache(maxsize=None)
def _validator(name):
    from jsonschema import Draft202012Validator

    with open(os.path.join(_HERE, name)) as f:
        return Draft202012Validator(json.load(f))


@lru_cache(maxsize=None)
def _structure_validator(name):
    """The schema ``name`` with the element lists of arrays (``bits``, ``hex``) checked only as
    lists, and the element classes of verdicts likewise: ``check_case`` checks those items
    itself (``_element_lists``) and decodes every bit pattern (stricter than the schema: the
    digit count of the dtype).  Two to three times faster on the corpus."""
    from jsonschema import Draft202012Validator

    with open(os.path.join(_HERE, name)) as f:
        schema = json.load(f)
    defs = schema.get("$defs", {})
    props = defs.get("array", {}).get("properties", {})
    for key in ("bits", "hex"):
        if key in props:
            props[key] = {"type": "array"}
    if "class" in defs.get("verdict", {}).get("properties", {}):
        defs["verdict"]["properties"]["class"] = {"type": "object", "additionalProperties": {"type": "array"}}
    return Draft202012Validator(schema)


def _check(name, obj, where, fast=False):
    from .corpus import FixtureError

    from jsonschema.exceptions import best_match

    if fast and _structure_validator(name).is_valid(obj):
        return
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
    """Schema, then every bit pattern decodes with the right count.  The element lists of
    arrays are checked here rather than by the schema (the same rules; see
    ``_structure_validator``); a case the schema refuses gets the full schema's message."""
    from .codec import CodecError
    from .corpus import FixtureError, kernel_arrays, optimizer_arrays

    _check("case.schema.json", case, where, fast=True)
    for name, items, ok in _element_lists(case):
        bad = [x for x in items if not ok(x)]
        if bad:
            raise FixtureError(f"{where}: {case.get('id')}: {name}: {bad[0]!r} is not a valid item")
    try:
        for mode in (False, True):  # the verdicts of both denormal modes decode
            kernel_arrays(case, mode) if case["level"] == "kernel" else optimizer_arrays(case, mode)
    except CodecError as exc:
        raise FixtureError(f"{where}: {case.get('id')}: {exc}") from None


def _bits_ok(x):
    return isinstance(x, str) and _BITS.fullmatch(x) is not None


def _element_lists(obj, path=""):
    """``(path, items, test)`` of every element list the fast schema leaves unchecked: ``bits``
    and ``hex`` of encoded arrays, the lists of a verdict's ``class``."""
    if isinstance(obj, dict):
        if isinstance(obj.get("bits"), list):
            yield f"{path}/bits", obj["bits"], _bits_ok
            yield f"{path}/hex", obj.get("hex", ()), lambda x: isinstance(x, str)
            return
        for k, v in obj.items():
            sub = f"{path}/{k}" if path else k
            if k == "class" and isinstance(v, dict):
                for name, items in v.items():
                    yield f"{sub}/{name}", items, lambda x: isinstance(x, str) and x in _CLASSES
            else:
                yield from _element_lists(v, sub)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _element_lists(v, f"{path}/{i}")


def check_result(obj, where):
    _check("results.schema.json", obj, where)
