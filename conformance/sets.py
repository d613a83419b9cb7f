"""Faithful sets in fixture lines: the ``faithful`` block of a verdict.

Per output with ill elements, in the row-major order of its ``ill`` classes::

    "faithful": {"var": {"index": [3, 17], "lo": <float64 array>, "hi": <float64 array>,
                         "may": ["nf+-", "f"], "why": ["divisor,overflow", ""]}}

``may`` lists what a faithful port may store there: ``n`` NaN, ``f`` a finite value in
``[lo, hi]`` (either sign of zero where the interval holds 0), ``+`` / ``-`` an infinity;
``why`` names the events that widened the set (``oracle.faithful.REASONS``).
"""
from __future__ import annotations

import numpy as np

from oracle.faithful import MAY_FINITE, MAY_NAN, MAY_NINF, MAY_PINF, REASONS, FaithfulSet, reason_names

from .codec import CodecError, decode_array, encode_array

__all__ = ["encode_sets", "decode_sets"]

_LETTERS = (("n", MAY_NAN), ("f", MAY_FINITE), ("+", MAY_PINF), ("-", MAY_NINF))


def _may_text(bits):
    return "".join(c for c, b in _LETTERS if bits & b)


def encode_sets(classes: dict, faithful: dict) -> dict:
    """The ``faithful`` block for the outputs of ``classes`` that have ill elements."""
    out = {}
    for name, cls in classes.items():
        ill = np.asarray(cls).ravel() == "ill"
        if not ill.any():
            continue
        fs = faithful[name]
        idx = np.nonzero(ill)[0]
        out[name] = {"index": [int(i) for i in idx],
                     "lo": encode_array(np.ascontiguousarray(fs.lo.ravel()[idx], dtype=np.float64)),
                     "hi": encode_array(np.ascontiguousarray(fs.hi.ravel()[idx], dtype=np.float64)),
                     "may": [_may_text(int(b)) for b in fs.may.ravel()[idx]],
                     "why": [",".join(reason_names(int(b))) for b in fs.why.ravel()[idx]]}
    return out


def decode_sets(block, classes: dict, shape) -> dict:
    """name -> ``FaithfulSet`` (full shape) for every output of ``classes`` with ill elements;
    CodecError when the block does not match the ill elements."""
    block = block or {}
    out = {}
    for name, cls in classes.items():
        ill = np.nonzero(np.asarray(cls).ravel() == "ill")[0]
        entry = block.get(name)
        if not len(ill):
            if entry is not None:
                raise CodecError(f"faithful set for output {name!r}, which has no ill element")
            continue
        if entry is None:
            raise CodecError(f"output {name!r} has {len(ill)} ill elements but no faithful sets")
        if entry.get("index") != [int(i) for i in ill]:
            raise CodecError(f"faithful sets of output {name!r}: index {entry.get('index')} is not the ill "
                             f"elements {[int(i) for i in ill]}")
        n = len(ill)
        lo, hi = decode_array(entry["lo"], "float64", (n,)), decode_array(entry["hi"], "float64", (n,))
        may, why = entry.get("may"), entry.get("why")
        if not (isinstance(may, list) and isinstance(why, list) and len(may) == n and len(why) == n):
            raise CodecError(f"faithful sets of output {name!r}: 'may' and 'why' must be lists of {n}")
        size = int(np.prod(shape)) if len(shape) else 1
        fs = FaithfulSet(np.zeros(size), np.zeros(size), np.zeros(size, np.uint8), np.zeros(size, np.uint8))
        fs.lo[ill], fs.hi[ill] = lo, hi
        for j, (m, w) in enumerate(zip(may, why)):
            if not isinstance(m, str) or set(m) - set("nf+-"):
                raise CodecError(f"faithful sets of output {name!r}, element {ill[j]}: may {m!r} is not of 'nf+-'")
            names = [r for r in str(w).split(",") if r] if isinstance(w, str) else None
            if names is None or set(names) - set(REASONS):
                raise CodecError(f"faithful sets of output {name!r}, element {ill[j]}: why {w!r} names no "
                                 f"known reason ({', '.join(REASONS)})")
            fs.may[ill[j]] = sum(b for c, b in _LETTERS if c in m)
            fs.why[ill[j]] = sum(1 << REASONS.index(r) for r in set(names))
        for part in ("lo", "hi", "may", "why"):
            setattr(fs, part, getattr(fs, part).reshape(shape))
        out[name] = fs
    return out
