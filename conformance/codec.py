"""Floats as text, losslessly: fixed-width bit patterns with a readable hex-float beside them.

An array of dtype T is ``{"bits": ["3f800000", ...], "hex": ["0x1.0p+0", ...]}``: the
bit patterns are lowercase hex of exactly width/4 digits (the truth), the hex
floats only help a reader (``nan``, ``inf``, ``-inf``, ``-0x0.0p+0`` included).
A scalar hyperparameter is a binary64 ``{"bits": "3f50624dd2f1a9fc", "hex": "0x1.0624dd2f1a9fcp-10"}``.
"""
from __future__ import annotations

import math
import re

import numpy as np

from oracle.formats import format_of, numpy_dtype, FORMATS

__all__ = ["encode_array", "decode_array", "encode_scalar", "decode_scalar", "hexfloat", "CodecError"]

_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


class CodecError(ValueError):
    """A value in a fixture or results file is not a valid bit pattern."""


def hexfloat(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(x).hex()


_TABLES16 = {}  # 16-bit dtype -> (bits, hex) of every pattern, as object arrays indexed by the pattern


def _table16(dt):
    if dt.name not in _TABLES16:
        with np.errstate(invalid="ignore"):
            wide = np.arange(1 << 16, dtype=np.uint16).view(dt).astype(np.float64)
        _TABLES16[dt.name] = (np.array([f"{i:04x}" for i in range(1 << 16)], dtype=object),
                              np.array([hexfloat(v) for v in wide.tolist()], dtype=object))
    return _TABLES16[dt.name]


def encode_array(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    width = a.dtype.itemsize * 2
    raw = a.view(_UINT[a.dtype.itemsize]).ravel()
    if width == 4:
        bits, hexes = _table16(a.dtype)
        return {"bits": bits[raw].tolist(), "hex": hexes[raw].tolist()}
    wide = a.astype(np.float64).ravel()  # exact for every supported format
    text = raw.astype(f">u{a.dtype.itemsize}").tobytes().hex()  # all patterns at once, then cut
    hexes = [v.hex() for v in wide.tolist()]
    for i in np.flatnonzero(~np.isfinite(wide)).tolist():
        hexes[i] = hexfloat(wide[i])
    return {"bits": [text[i:i + width] for i in range(0, len(text), width)], "hex": hexes}


_HEX = {n: re.compile(rf"^[0-9a-f]{{{n}}}$") for n in (4, 8, 16)}
_LOWER_HEX = re.compile(r"[0-9a-f]*\Z")


def decode_array(obj, dtype: str, shape) -> np.ndarray:
    """The array encoded in ``obj``; CodecError naming the first malformed pattern."""
    fmt = FORMATS.get(dtype)
    if fmt is None:
        raise CodecError(f"unknown dtype {dtype!r}")
    if not isinstance(obj, dict) or not isinstance(obj.get("bits"), list):
        raise CodecError("an array must be an object with a 'bits' list")
    bits = obj["bits"]
    n = int(np.prod(shape)) if len(shape) else 1
    if len(bits) != n:
        raise CodecError(f"{len(bits)} bit patterns for shape {list(shape)} ({n} elements)")
    k = fmt.hex_digits
    try:
        text = "".join(bits)  # checked whole; the loop below names a bad pattern
    except TypeError:
        text = None
    if text is not None and len(text) == n * k and _LOWER_HEX.match(text) and (not bits or set(map(len, bits)) == {k}):
        raw = np.frombuffer(bytes.fromhex(text), dtype=f">u{fmt.bits // 8}").astype(_UINT[fmt.bits // 8])
    else:
        pat = _HEX[k]
        for i, b in enumerate(bits):
            if not isinstance(b, str) or not pat.match(b):
                raise CodecError(f"element {i}: {b!r} is not a {k}-digit lowercase hex bit pattern")
        raw = np.array([int(b, 16) for b in bits], dtype=_UINT[fmt.bits // 8])
    return raw.view(numpy_dtype(fmt)).reshape(shape)


def encode_scalar(x: float) -> dict:
    return {"bits": format(int(np.array(float(x)).view(np.uint64)), "016x"), "hex": hexfloat(float(x))}


def decode_scalar(obj) -> float:
    if not isinstance(obj, dict) or not isinstance(obj.get("bits"), str) or not _HEX[16].match(obj["bits"]):
        raise CodecError(f"a scalar must be {{'bits': 16 lowercase hex digits}}, got {obj!r}")
    return float(np.array(int(obj["bits"], 16), dtype=np.uint64).view(np.float64))


def dtype_name(a: np.ndarray) -> str:
    return format_of(a.dtype).name
