"""The golden-case families, as executable source: each yields case specs whose inputs
derive from the case id; the oracle turns a spec into golden data.

A kernel spec: ``{id, families, level: "kernel", dialect, dtype, shape, hp, inputs}``
with ``inputs = {"weight", "grad", **state}`` as NumPy arrays.  An optimizer spec:
``{id, families, level: "optimizer", dtype, optimizer, lr_mult, wd_mult, params, steps}``
(see ``optimizer_cases.py``).  Ids are stable: never renumber, only add.
"""
from __future__ import annotations

import numpy as np

from oracle import DIALECTS, normalize_hp
from oracle.kernel import NEUTRAL_HP
from oracle.formats import FORMATS, numpy_dtype

from .streams import Stream

__all__ = ["kernel_families", "DTYPES", "ALL_DIALECTS", "MXNET_DIALECTS", "MXNET_DTYPES", "state_inputs", "kernel_spec",
           "plant_denormals", "dtypes_of"]

DTYPES = ("float16", "float32", "float64", "bfloat16")
MXNET_DIALECTS = ("mxnet2", "mxnet2-step", "mxnet1")
MXNET_DTYPES = DIALECTS["mxnet2"].dtypes  # float16, float32, float64: MXNet's operators refuse bfloat16
ALL_DIALECTS = tuple(DIALECTS)
BASE_HP = dict(lr=0.01, rho=0.9, momentum=0.9, epsilon=1e-8, wd=0.0, rescale_grad=1.0,
               clip_gradient=-1.0, clip_weights=-1.0)
VARIANTS = (("plain", False), ("centered", True))


def dtypes_of(dialect):
    """The dtypes of ``DTYPES`` that ``dialect``'s real system computes (MXNet: no bfloat16;
    Paddle's CPU kernel: float32 and float64 only)."""
    return tuple(d for d in DTYPES if d in DIALECTS[dialect].dtypes)


def kernel_spec(cid, families, dialect, dtype, hp, inputs):
    shape = list(inputs["weight"].shape)
    return dict(id=cid, families=list(families), level="kernel", dialect=dialect, dtype=dtype,
                shape=shape, hp=dict(hp), inputs=inputs)


def state_inputs(s: Stream, dialect, dtype, hp, n, shape=None):
    """Ordinary weight, gradient and a consistent state (var >= mean², positive var)."""
    shape = (n,) if shape is None else shape
    size = int(np.prod(shape))
    names = DIALECTS[dialect].state_names(normalize_hp(hp))
    w = s.magnitudes(size, dtype, -4, 2).reshape(shape)
    g = s.magnitudes(size, dtype, -6, 3).reshape(shape)
    out = {"weight": w, "grad": g}
    mean = s.magnitudes(size, dtype, -7, -2).reshape(shape)
    if "mean" in names:
        out["mean"] = mean
    if "var" in names:
        extra = s.magnitudes(size, dtype, -8, 3, signed=False).reshape(shape).astype(np.float64)
        out["var"] = (mean.astype(np.float64) ** 2 * 2 + extra).astype(numpy_dtype(dtype))
    if "mom" in names:
        out["mom"] = s.magnitudes(size, dtype, -10, -4).reshape(shape)
    return out


def _hp_for(dialect, **kw):
    hp = dict(BASE_HP, **kw)
    for k in DIALECTS[dialect].unsupported:
        hp[k] = NEUTRAL_HP[k]
    return hp


def _dtype_specials(dtype):
    fmt = FORMATS[dtype]
    big = float(fmt.max)
    eta = float(fmt.eta)
    root_max = float(np.sqrt(big)) * 2  # its square overflows
    root_eta = float(np.sqrt(eta)) / 4  # its square rounds to zero
    return [0.0, -0.0, eta, -eta, big, -big, np.inf, -np.inf, np.nan, root_max, -root_max,
            root_eta, -root_eta, float(fmt.tiny), 1.0, -1.0]


def clipping():
    combos = [(-1.0, -1.0), (0.0, -1.0), (0.5, -1.0), (1e30, -1.0), (-1.0, 0.0), (-1.0, 1.5),
              (0.5, 1.5), (0.0, 0.0)]
    for dialect in MXNET_DIALECTS:
        for dtype in MXNET_DTYPES:
            for vname, centered in VARIANTS:
                for cg, cw in combos:
                    cid = f"clipping/{dialect}/{dtype}/{vname}/g{cg:g}-w{cw:g}"
                    s = Stream(cid)
                    hp = _hp_for(dialect, clip_gradient=cg, clip_weights=cw, centered=centered, wd=0.01)
                    inp = state_inputs(s, dialect, dtype, hp, 12)
                    palette = [cg, -cg, 0.25, -3.0, 700.0, np.nan, np.inf, -np.inf, -0.0, 1e30, -1e30]
                    inp["grad"][:8] = s.pick(8, dtype, palette)
                    inp["weight"][:3] = s.pick(3, dtype, [cw, -cw, 2.0, -2.0, np.nan])
                    yield kernel_spec(cid, ["clipping"], dialect, dtype, hp, inp)


def epsilon():
    for dialect in ALL_DIALECTS:
        for dtype in dtypes_of(dialect):
            for vname, centered in VARIANTS:
                # MXNet refuses float fields past 1e±38 (dmlc::stof), so its "subnormal" is 2e-38
                tiny = 2e-38 if dialect.startswith("mxnet") else 1e-40
                for eps in (0.0, tiny, 1e-7, 1e-8, 1e-3, 1e30):
                    cid = f"epsilon/{dialect}/{dtype}/{vname}/eps{eps:g}"
                    s = Stream(cid)
                    hp = _hp_for(dialect, epsilon=eps, centered=centered)
                    inp = state_inputs(s, dialect, dtype, hp, 8)
                    inp["grad"][0] = 0.0  # with var = 0 below: 0/(0 + eps)
                    for k in ("var", "mean"):
                        if k in inp:
                            inp[k][0] = 0.0
                    yield kernel_spec(cid, ["epsilon"], dialect, dtype, hp, inp)


def centered():
    for dialect in ALL_DIALECTS:
        for dtype in dtypes_of(dialect):
            for momentum in (0.0, 0.9, 1.0):
                for rho in (0.0, 0.9, 1.0):
                    cid = f"centered/{dialect}/{dtype}/m{momentum:g}-rho{rho:g}"
                    s = Stream(cid)
                    hp = _hp_for(dialect, momentum=momentum, rho=rho, centered=True)
                    yield kernel_spec(cid, ["centered"], dialect, dtype, hp, state_inputs(s, dialect, dtype, hp, 8))
            cid = f"centered/{dialect}/{dtype}/radicand-near-zero"
            s = Stream(cid)
            hp = _hp_for(dialect, rho=0.5, epsilon=0.0, centered=True)
            inp = state_inputs(s, dialect, dtype, hp, 8)
            inp["grad"] = inp["mean"].copy()  # var_new - mean_new² = rho (var - mean²) -> set var = mean²
            inp["var"] = (inp["mean"].astype(np.float64) ** 2).astype(numpy_dtype(dtype))
            yield kernel_spec(cid, ["centered", "ill-conditioned"], dialect, dtype, hp, inp)


def special_values():
    for dialect in ALL_DIALECTS:
        for dtype in dtypes_of(dialect):
            for vname, is_centered in VARIANTS:
                cid = f"special/{dialect}/{dtype}/{vname}"
                s = Stream(cid)
                hp = _hp_for(dialect, centered=is_centered, wd=0.01, epsilon=1e-6)
                inp = state_inputs(s, dialect, dtype, hp, 32)
                palette = _dtype_specials(dtype)
                for k in inp:
                    mask = [s.integer(0, 2) == 0 for _ in range(32)]
                    vals = s.pick(32, dtype, palette)
                    if k == "var":
                        vals = np.abs(vals)
                    inp[k][mask] = vals[mask]
                yield kernel_spec(cid, ["special-values"], dialect, dtype, hp, inp)


def shapes():
    for dialect in ("mxnet2", "mxnet1"):
        for dtype in MXNET_DTYPES:
            for vname, is_centered in VARIANTS:
                for shape in ((0,), (1,), (7,), (33,), (3, 5), (2, 3, 4), (0, 3)):
                    cid = f"shapes/{dialect}/{dtype}/{vname}/{'x'.join(map(str, shape))}"
                    hp = _hp_for(dialect, centered=is_centered)
                    inp = state_inputs(Stream(cid), dialect, dtype, hp, 0, shape=shape)
                    yield kernel_spec(cid, ["shapes"], dialect, dtype, hp, inp)


def dialect_boundaries():
    scenarios = {
        "epsilon-placement": dict(epsilon=0.25),
        "wd-versus-clip": dict(wd=0.5, clip_gradient=0.75),
        "clip-zero": dict(clip_gradient=0.0, clip_weights=0.0),
        "hyperparameter-rounding": dict(lr=0.001, rho=0.9, epsilon=1e-8, wd=1e-4, rescale_grad=0.1),
    }
    for name, kw in scenarios.items():
        for dtype in MXNET_DTYPES:
            for vname, is_centered in VARIANTS:
                key = f"boundary/{name}/{dtype}/{vname}"
                hp = dict(BASE_HP, centered=is_centered, **kw)
                inp = state_inputs(Stream(key), "mxnet2", dtype, hp, 10)
                for dialect in MXNET_DIALECTS:  # the same inputs under each dialect
                    yield kernel_spec(f"{key}/{dialect}", ["dialect-boundaries"], dialect, dtype, hp,
                                      {k: v.copy() for k, v in inp.items()})


def _subnormals(dtype):
    """Subnormal magnitudes of ``dtype``: the smallest, a middle one, the largest."""
    fmt = FORMATS[dtype]
    return [float(fmt.eta), float(fmt.tiny) / 2, float(fmt.tiny - fmt.eta)]


def plant_denormals(s: Stream, inp, dtype):
    """Where flushing (DAZ/FTZ) and IEEE subnormals part, one situation per element of ``inp``
    (at least 20 elements; ``mean``/``var``/``mom`` where present):

    0-5 a subnormal weight (g = 0); 6-9 a subnormal gradient (w = 0); 10-13 a subnormal
    var (g = 0); 14-17 normal inputs whose step ``lr*g/den`` is subnormal (g = tiny, w = 0);
    18-19 a subnormal mean and mom; the rest as they were.
    """
    sub, tiny = _subnormals(dtype), float(FORMATS[dtype].tiny)
    signed = sub + [-x for x in sub]
    inp["weight"][:6] = s.pick(6, dtype, signed)
    inp["grad"][:6] = 0.0
    inp["weight"][6:10], inp["grad"][6:10] = 0.0, s.pick(4, dtype, signed)
    inp["grad"][10:14], inp["weight"][10:14] = 0.0, 1.0
    inp["weight"][14:18], inp["grad"][14:18] = 0.0, s.pick(4, dtype, [tiny, -tiny])
    for k in ("var", "mean", "mom"):
        if k in inp:
            inp[k][:10], inp[k][14:18] = (1.0 if k == "var" else 0.0), (1.0 if k == "var" else 0.0)
    if "var" in inp:
        inp["var"][10:14] = s.pick(4, dtype, sub)
    for k, at in (("mean", 18), ("mom", 19)):
        if k in inp:
            inp[k][at] = s.pick(1, dtype, signed)[0]
    return inp


def denormals():
    """``plant_denormals`` in every dialect, dtype and variant.  In float32 and float64 the two
    modes' verdicts differ; float16 is computed in float32 and keeps its subnormals."""
    for dialect in ALL_DIALECTS:
        for dtype in dtypes_of(dialect):
            for vname, centered in VARIANTS:
                cid = f"denormals/{dialect}/{dtype}/{vname}"
                s = Stream(cid)
                hp = _hp_for(dialect, centered=centered, lr=0.5, rho=0.5, momentum=0.5, epsilon=1e-8)
                inp = plant_denormals(s, state_inputs(s, dialect, dtype, hp, 24), dtype)
                yield kernel_spec(cid, ["denormals"], dialect, dtype, hp, inp)


def kernel_families():
    return {"clipping": clipping, "epsilon": epsilon, "centered": centered,
            "special-values": special_values, "shapes": shapes, "dialect-boundaries": dialect_boundaries,
            "denormals": denormals}
