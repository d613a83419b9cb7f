"""The golden corpus on disk: generation, manifest, and loading with strict checks.

Layout: ``fixtures/<family>.jsonl`` (a header line, then one case per line, keys
sorted, no spaces) and ``fixtures/MANIFEST.json`` (sha256, byte size and case
count of every file).  Generation is deterministic, parallel over the cores, and
each file is written to a temporary name and renamed into place.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from multiprocessing import get_context

import mpmath
import numpy as np

import oracle
from oracle.kernel import WORKING_PRECISION

from .codec import CodecError, decode_array, decode_scalar, dtype_name, encode_array, encode_scalar
from .families import kernel_families
from .optimizer_cases import optimizer_families, run_oracle
from .sets import decode_sets, encode_sets

__all__ = ["SCHEMA_VERSION", "SEED", "FixtureError", "generate", "load", "golden", "dumps", "all_families"]

SCHEMA_VERSION = 3  # 2: verdicts in both denormal modes (flush_denormals, other_mode); 3: faithful sets
SEED = "rmsprop-conformance/cases/v1"  # case inputs are SHA-256 streams of the case ids
FORMAT = "rmsprop-conformance-fixtures"


class FixtureError(Exception):
    """A fixture or results file is unusable; the message names the file and line."""


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def all_families():
    fams = dict(kernel_families())
    fams.update(optimizer_families())
    return fams


# -- spec + oracle -> golden line ---------------------------------------------------------------
def _encode_value(v):
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return encode_scalar(v)
    if isinstance(v, dict):
        return {str(k): _encode_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_encode_value(x) for x in v]
    raise TypeError(f"cannot encode {v!r}")


def _verdict(outputs, allowed, classes, faithful):
    out = {"expected": {k: encode_array(v) for k, v in outputs.items()},
           "allowed": {k: encode_array(np.asarray(allowed[k], dtype=np.float64)) for k in outputs},
           "class": {k: np.asarray(classes[k]).ravel().tolist() for k in outputs}}
    sets = encode_sets({k: classes[k] for k in outputs}, faithful)
    if sets:
        out["faithful"] = sets
    return out


def _other_mode(flush, verdict, other_verdict):
    """The verdict in the other denormal mode: ``same`` when nothing changes, else the block."""
    if other_verdict == verdict:
        return {"flush_denormals": not flush, "same": True}
    return dict(other_verdict, flush_denormals=not flush)


def golden(spec, flush_denormals=None, other_mode=True) -> dict:
    """The fixture line of one case spec.

    The verdict is for ``flush_denormals`` (None: the dialect's default, ``oracle.resolve_flush``);
    with ``other_mode`` the line also holds the verdict in the other denormal mode.
    """
    dialect = spec.get("dialect", "mxnet2")
    flush = oracle.resolve_flush(dialect, flush_denormals)
    if spec["level"] == "kernel":
        inp = spec["inputs"]
        state = {k: v for k, v in inp.items() if k not in ("weight", "grad")}

        def verdict(mode):
            ev = oracle.evaluate(inp["weight"], inp["grad"], state, spec["hp"], dialect, flush_denormals=mode)
            return _verdict(ev.outputs, ev.allowed, ev.classes, ev.faithful)

        line = {k: spec[k] for k in ("id", "families", "level", "dialect", "dtype", "shape")}
        line["hp"] = {k: (v if k == "centered" else encode_scalar(v)) for k, v in spec["hp"].items()}
        d = oracle.DIALECTS[spec["dialect"]]
        T = oracle.format_of(inp["weight"].dtype)
        line["hp_kernel"] = {k: encode_scalar(v) for k, v in d.hyper_for(flush)(oracle.normalize_hp(spec["hp"]), T).items()}
        line["inputs"] = {k: encode_array(v) for k, v in inp.items()}
        own = verdict(flush)
        line.update(own, flush_denormals=flush)
        if other_mode:
            line["other_mode"] = _other_mode(flush, own, verdict(not flush))
        return line
    steps = run_oracle(spec, flush)
    others = run_oracle(spec, not flush) if other_mode else [[None] * len(res) for res in steps]
    line = {k: spec[k] for k in ("id", "families", "level", "dtype", "mp")}
    line["flush_denormals"] = flush
    line["optimizer"] = _encode_value(spec["optimizer"])
    line["lr_mult"] = _encode_value(spec["lr_mult"])
    line["wd_mult"] = _encode_value(spec["wd_mult"])
    line["params"] = [dict(index=p["index"], dtype=p["dtype"], shape=p["shape"], weight=encode_array(p["weight"]))
                      for p in spec["params"]]
    line["steps"] = []
    for st, res, other in zip(spec["steps"], steps, others):
        results = []
        for r, o in zip(res, other):
            v = _verdict(r["outputs"], r["allowed"], r["classes"], r["faithful"])
            entry = dict(index=r["index"], dtypes={k: dtype_name(x) for k, x in r["outputs"].items()}, **v)
            if o is not None:
                entry["other_mode"] = _other_mode(flush, v, _verdict(o["outputs"], o["allowed"], o["classes"], o["faithful"]))
            results.append(entry)
        line["steps"].append({"indices": st["indices"], "grads": [encode_array(g) for g in st["grads"]],
                              "results": results})
    return line


def header(family: str, count: int) -> dict:
    return {"format": FORMAT, "schema_version": SCHEMA_VERSION, "family": family, "cases": count,
            "oracle_version": oracle.__version__, "mpmath_version": mpmath.__version__,
            "working_precision": WORKING_PRECISION, "seed": SEED}


def _golden_text(spec) -> str:
    return dumps(golden(spec))


def _progress(done, total, width=40):
    """A bar redrawn in place on a terminal; a line per quarter in a log."""
    tty = sys.stderr.isatty()
    if not tty and done not in {total * k // 4 for k in range(1, 5)}:
        return
    filled = width * done // total
    end = "" if tty and done < total else "\n"
    cr = "\r" if tty else ""
    sys.stderr.write(f"{cr}generating [{'#' * filled}{'.' * (width - filled)}] {done}/{total} cases{end}")
    sys.stderr.flush()


def generate(out_dir: str, families=None, processes=None, progress=True) -> dict:
    """Write the corpus (or the named families) to ``out_dir``; returns the manifest."""
    fams = all_families()
    names = list(fams) if families is None else list(families)
    unknown = set(names) - set(fams)
    if unknown:
        raise ValueError(f"unknown families: {sorted(unknown)}; known: {', '.join(fams)}")
    specs = {name: list(fams[name]()) for name in names}
    jobs = [s for name in names for s in specs[name]]
    total, texts = len(jobs), []
    processes = processes or os.cpu_count() or 1
    # never fork this process: it may hold threads (a port's library, our thread pool)
    ctx = get_context("spawn" if sys.platform == "darwin" else "forkserver")
    with ctx.Pool(processes) as pool:
        for i, text in enumerate(pool.imap(_golden_text, jobs, chunksize=4), 1):
            texts.append(text)
            if progress:
                _progress(i, total)
    os.makedirs(out_dir, exist_ok=True)
    pos = 0
    for name in names:
        n = len(specs[name])
        body = "\n".join([dumps(header(name, n))] + texts[pos:pos + n]) + "\n"
        pos += n
        atomic_write(os.path.join(out_dir, f"{name}.jsonl"), body.encode())
    manifest = build_manifest(out_dir)
    atomic_write(os.path.join(out_dir, "MANIFEST.json"), (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return manifest


def atomic_write(path: str, data: bytes):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_manifest(out_dir: str) -> dict:
    files = {}
    for name in sorted(os.listdir(out_dir)):
        if name.endswith(".jsonl"):
            path = os.path.join(out_dir, name)
            with open(path, "rb") as f:
                cases = sum(1 for _ in f) - 1
            files[name] = {"sha256": sha256_file(path), "bytes": os.path.getsize(path), "cases": cases}
    return {"format": FORMAT + "-manifest", "schema_version": SCHEMA_VERSION, "seed": SEED,
            "files": files, "total_cases": sum(f["cases"] for f in files.values())}


# -- loading --------------------------------------------------------------------------------------
_CHECKED = set()  # digests of the case lines check_case passed in this process


def load(fixture_dir: str, check_sha=True):
    """Yield ``(path, line_number, case)`` for every case; FixtureError on any defect."""
    from .validate import check_case, check_header, check_manifest

    mpath = os.path.join(fixture_dir, "MANIFEST.json")
    try:
        with open(mpath, "rb") as f:
            manifest = json.loads(f.read())
    except (OSError, ValueError) as exc:
        raise FixtureError(f"{mpath}: unreadable manifest: {exc}") from None
    check_manifest(manifest, mpath)
    listed = set(manifest["files"])
    present = {n for n in os.listdir(fixture_dir) if n.endswith(".jsonl")}
    if present - listed:
        raise FixtureError(f"{fixture_dir}: files not in MANIFEST.json: {sorted(present - listed)}")
    for name in sorted(listed):
        path = os.path.join(fixture_dir, name)
        entry = manifest["files"][name]
        if not os.path.exists(path):
            raise FixtureError(f"{path}: listed in MANIFEST.json but missing")
        if check_sha and sha256_file(path) != entry["sha256"]:
            raise FixtureError(f"{path}: sha256 does not match MANIFEST.json (edited or corrupted)")
        with open(path, "rb") as f:
            raw = f.read()
        if raw and not raw.endswith(b"\n"):
            last = raw.count(b"\n") + 1
            raise FixtureError(f"{path}:{last}: truncated (no final newline)")
        lines = raw.split(b"\n")[:-1]
        if not lines:
            raise FixtureError(f"{path}:1: empty file (no header)")
        hdr = _parse(path, 1, lines[0])
        check_header(hdr, path)
        if hdr["cases"] != len(lines) - 1 or entry["cases"] != len(lines) - 1:
            raise FixtureError(f"{path}:{len(lines)}: {len(lines) - 1} cases, header says {hdr['cases']}, "
                               f"manifest says {entry['cases']} (truncated?)")
        for no, text in enumerate(lines[1:], 2):
            case = _parse(path, no, text)
            key = hashlib.blake2b(text, digest_size=16).digest()
            if key not in _CHECKED:  # a line that passed once in this process passes again
                check_case(case, f"{path}:{no}")
                _CHECKED.add(key)
            yield path, no, case


def _parse(path, no, text):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FixtureError(f"{path}:{no}: not valid JSON ({exc})") from None


def kernel_arrays(case, flush_denormals=None):
    """Decoded inputs and verdict arrays of a kernel case, in the denormal mode ``flush_denormals``
    (None: the mode of the case's own verdict)."""
    shape, dt = case["shape"], case["dtype"]
    inputs = {k: decode_array(v, dt, shape) for k, v in case["inputs"].items()}
    return inputs, verdict_arrays(case, dt, shape, flush_denormals=flush_denormals, mode=case.get("flush_denormals"))


def _in_mode(block, flush_denormals, mode):
    """The verdict block for ``flush_denormals``: the block itself or its ``other_mode``."""
    if flush_denormals is None or flush_denormals == mode:
        return block
    other = block.get("other_mode")
    if other is None or other.get("flush_denormals") != flush_denormals:
        raise CodecError(f"holds no verdict with flush_denormals={flush_denormals} (its own is {mode})")
    return block if other.get("same") else other


def verdict_arrays(block, dtype, shape, dtypes=None, flush_denormals=None, mode=None):
    block = _in_mode(block, flush_denormals, mode)
    out = {}
    classes = {k: np.array(block["class"][k], dtype="<U6").reshape(shape) for k in block["expected"]}
    sets = decode_sets(block.get("faithful"), classes, shape)
    for k, v in block["expected"].items():
        dt = (dtypes or {}).get(k, dtype)
        out[k] = (decode_array(v, dt, shape), decode_array(block["allowed"][k], "float64", shape), classes[k],
                  sets.get(k))
    return out


def optimizer_arrays(case, flush_denormals=None):
    """Decoded params, and per step the grads and per-index verdict arrays (in the denormal
    mode ``flush_denormals``; None: the case's own)."""
    params = {p["index"]: (p["dtype"], p["shape"], decode_array(p["weight"], p["dtype"], p["shape"]))
              for p in case["params"]}
    steps = []
    for st in case["steps"]:
        for i in st["indices"]:
            if i not in params:
                raise CodecError(f"step updates index {i}, which is not a parameter")
        grads = [decode_array(g, params[i][0], params[i][1]) for i, g in zip(st["indices"], st["grads"])]
        results = {r["index"]: verdict_arrays(r, params[r["index"]][0], params[r["index"]][1], r["dtypes"],
                                              flush_denormals, case.get("flush_denormals"))
                   for r in st["results"]}
        steps.append((st["indices"], grads, results))
    return params, steps


def hp_of(case):
    return {k: (v if k == "centered" else decode_scalar(v)) for k, v in case["hp"].items()}
