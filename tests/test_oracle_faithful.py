"""Faithful sets (``oracle.faithful``): sound for every operation and every dialect, tight
enough that almost no sampled element is left unconstrained, and judged by ``check``.

Soundness is tested by an independent route: the hardware's own IEEE arithmetic (NumPy in
the compute dtype, every operation rounded once, fused and unfused), run on members of
the operand sets, must land in the operation's set; and whole updates computed that way
(``HardwareOps``: each dialect's operations in NumPy arithmetic) must land in the sets of
every ill element of sampled cases.
"""
import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oracle
from conformance.codec import CodecError
from conformance.generated import sampled_specs
from conformance.judge import judge_output
from conformance.sets import decode_sets, encode_sets
from oracle.faithful import MAY_NAN, REASONS, FaithfulSet, SetOps
from oracle.formats import FORMATS

F32, F16 = FORMATS["float32"], FORMATS["float16"]
NP = {"float16": np.float16, "float32": np.float32, "float64": np.float64,
      "bfloat16": ml_dtypes.bfloat16}  # ml_dtypes rounds each bfloat16 operation once, from float32


# -- one operation at a time ------------------------------------------------------------------
def _point_sets(draw, dtype, label):
    """A set given by a few members (specials included); returns (members, set)."""
    t = NP[dtype]
    fin = st.floats(width=32 if dtype == "float32" else 16, allow_nan=False, allow_infinity=False)
    special = st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, float(np.finfo(t).tiny),
                               float(np.finfo(t).max), float(np.finfo(t).smallest_subnormal)])
    members = draw(st.lists(st.one_of(fin, fin, special), min_size=1, max_size=4), label=label)
    members = np.array(members, dtype=t)
    return members


def _set_of(ops, members):
    """The smallest set (of ``SetOps``) holding ``members``: hull of the finite ones, flags."""
    m = members.astype(np.float64)
    fin = m[np.isfinite(m)]
    s = ops.lift(np.zeros(1))
    s.fin = np.array([fin.size > 0])
    s.lo = np.array([fin.min() if fin.size else 0.0])
    s.hi = np.array([fin.max() if fin.size else 0.0])
    s.nan, s.pinf, s.ninf = np.array([np.isnan(m).any()]), np.array([(m == np.inf).any()]), \
        np.array([(m == -np.inf).any()])
    return s


def _inside(ops, s, values):
    fs = ops.result(s)
    return FaithfulSet(np.repeat(fs.lo, values.size), np.repeat(fs.hi, values.size), np.repeat(fs.may, values.size),
                       np.repeat(fs.why, values.size)).contains(values.astype(np.float64))


def _interior(members, rng_values):
    """Members plus points inside the finite hull (the set holds those too)."""
    m = members[np.isfinite(members)]
    if m.size < 2:
        return members
    lo, hi = m.astype(np.float64).min(), m.astype(np.float64).max()
    return np.concatenate([members, (lo + (hi - lo) * rng_values).astype(members.dtype)])


OPS = ["add", "sub", "mul", "div", "sqrt", "fma", "clip"]


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("op", OPS)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_every_operation_is_sound(op, dtype, data):
    t, fmt = NP[dtype], FORMATS[dtype]
    ops = SetOps(fmt, (1,))
    cuts = np.linspace(0, 1, 7)
    a = _interior(_point_sets(data.draw, dtype, "a"), cuts)
    b = _interior(_point_sets(data.draw, dtype, "b"), cuts)
    c = _interior(_point_sets(data.draw, dtype, "c"), cuts)
    A, B, Cs = _set_of(ops, a), _set_of(ops, b), _set_of(ops, c)
    x, y, z = np.meshgrid(a, b, c, indexing="ij")
    with np.errstate(all="ignore"):
        if op == "sqrt":
            got, s = np.sqrt(a), ops.sqrt(A)
        elif op == "clip":
            cv = abs(float(b[np.isfinite(b)][0])) if np.isfinite(b).any() else 1.0
            got, s = np.clip(a, t(-cv), t(cv)), ops.clip(A, ops.const(cv))
            got = np.where(np.isnan(a), a, got)
        elif op == "fma":
            fused = (x.astype(np.float64) * y.astype(np.float64) + z.astype(np.float64)).astype(t)
            got, s = np.concatenate([fused.ravel(), (x * y + z).ravel()]), ops.fma(A, B, Cs)
        else:
            fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[op]
            got, s = fn(x[..., 0], y[..., 0]).ravel(), getattr(ops, op)(A, B)
    ok = _inside(ops, s, np.asarray(got).ravel())
    assert ok.all(), (op, a, b, c, np.asarray(got).ravel()[~ok], ops.result(s))


def test_a_divisor_reaching_zero_from_one_side_keeps_the_other_side_bounded():
    ops = SetOps(F32, (1,))
    num = _set_of(ops, np.array([1.0, 2.0], dtype=np.float32))
    q = ops.result(ops.div(num, _set_of(ops, np.array([0.0, 4.0], dtype=np.float32))))
    assert q.lo[0] == 0.25 and q.hi[0] == float(F32.max) and not q.may[0] & MAY_NAN  # 1/4 is exact
    q = ops.result(ops.div(_set_of(ops, np.array([0.0, 1.0], dtype=np.float32)),
                           _set_of(ops, np.array([0.0, 4.0], dtype=np.float32))))
    assert q.may[0] & MAY_NAN and q.lo[0] == 0  # 0/0, and no negative quotient


# -- whole updates in hardware arithmetic -------------------------------------------------------
class HardwareOps:
    """The dialect rules' operations in NumPy's IEEE arithmetic of the compute dtype: one
    rounding per operation; ``fused`` chooses fma as one rounding (via binary64 for 16/32-bit
    compute formats) or two."""

    def __init__(self, fmt, fused):
        self.fmt, self.t, self.fused = fmt, NP[fmt.name], fused

    def const(self, x):
        return self.t(x)

    def neg(self, a):
        return -a

    def add(self, a, b):
        return self.t(a) + self.t(b)

    def sub(self, a, b):
        return self.t(a) - self.t(b)

    def mul(self, a, b):
        return self.t(a) * self.t(b)

    def div(self, a, b):
        return self.t(a) / self.t(b)

    def sqrt(self, a):
        return np.sqrt(self.t(a))

    def fast_sqrt(self, a, ftz=False):
        a = self.t(a)  # Eigen's masked root: below the smallest normal +0, +inf gives NaN
        root = np.where(a == np.inf, np.nan, np.sqrt(a))
        return np.where(a < 0, np.nan, np.where(a < self.t(float(self.fmt.tiny)), 0, root)).astype(self.t)

    def fma(self, a, b, c):
        if not self.fused or self.fmt.bits == 64:
            return self.t(a) * self.t(b) + self.t(c)
        return (np.float64(a) * np.float64(b) + np.float64(c)).astype(self.t)

    def clip(self, x, c):
        x = self.t(x)
        return np.where(np.isnan(x), x, np.clip(x, -self.t(c), self.t(c))).astype(self.t)

    def stage(self, x, fmt):
        return np.asarray(x).astype(NP[fmt.name]).astype(self.t)

    def store(self, x, fmt):
        return np.asarray(x).astype(NP[fmt.name])

    def flush_subnormal(self, x):
        x = np.asarray(x)
        return np.where(np.abs(x) < self.t(float(self.fmt.tiny)), x * 0, x).astype(x.dtype)


def _hardware_update(spec, fused, flush):
    d = oracle.DIALECTS[spec["dialect"]]
    inp = spec["inputs"]
    T = oracle.format_of(inp["weight"].dtype)
    C = d.compute(T)
    hp = oracle.normalize_hp(spec["hp"])
    h = d.hyper_for(flush)(hp, T)
    ops = HardwareOps(C, fused)
    lift = lambda a: a.astype(NP[C.name])  # noqa: E731
    st_ = {k: lift(v) for k, v in inp.items() if k not in ("weight", "grad")}
    with np.errstate(all="ignore"):
        out = d.rule_for(flush)(ops, lift(inp["weight"]), lift(inp["grad"]), st_, h, hp, T)
    return {k: np.broadcast_to(v, inp["weight"].shape).astype(NP[T.name]) for k, v in out.items()}


HARDWARE_DIALECTS = ["mxnet2", "mxnet2-step", "mxnet1", "torch", "keras", "optax", "tensorflow"]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("dialect", HARDWARE_DIALECTS)
def test_hardware_arithmetic_lands_in_every_faithful_set(dialect, fused):
    judged = 0
    for spec in sampled_specs(dialect, 1, 100) + sampled_specs(dialect, 2, 50):
        inp = spec["inputs"]
        state = {k: v for k, v in inp.items() if k not in ("weight", "grad")}
        for flush in (False, True):
            ev = oracle.evaluate(inp["weight"], inp["grad"], state, spec["hp"], dialect, flush_denormals=flush)
            got = _hardware_update(spec, fused, flush)
            for name, fs in ev.faithful.items():
                ill = ev.classes[name] == "ill"
                ok = fs.contains(got[name].astype(np.float64))
                judged += int(ill.sum())
                assert ok[ill].all(), (spec["id"], flush, name, got[name][ill & ~ok], ev.outputs[name][ill & ~ok])
    assert judged > 0, "no ill element was judged: the test judged nothing"


# -- tightness ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dialect", list(oracle.DIALECTS))
def test_almost_no_sampled_element_is_left_unconstrained(dialect):
    """At most 0.1% of the sampled elements unconstrained (here: seed 0, 200 cases)."""
    elements = free = ill = 0
    for spec in sampled_specs(dialect, 0, 200):
        inp = spec["inputs"]
        ev = oracle.evaluate(inp["weight"], inp["grad"], {k: v for k, v in inp.items() if k not in ("weight", "grad")},
                             spec["hp"], dialect)
        T = oracle.format_of(inp["weight"].dtype)
        for name, cls in ev.classes.items():
            elements += cls.size
            ill += int((cls == "ill").sum())
            if name in ev.faithful:
                free += int((ev.faithful[name].unconstrained(T) & (cls == "ill")).sum())
    assert ill > 0
    assert free <= 0.001 * elements, (dialect, free, elements)


# -- judging and the fixture encoding -----------------------------------------------------------
def _ill_case():
    """A float32 mxnet2 update with ill elements: epsilon = 0, var = 0 and g² near the
    underflow threshold (a port's var may round to zero: the divisor may be zero)."""
    g = np.array([2.0 ** -73, 1.5 * 2.0 ** -74, 0.5], dtype=np.float32)
    w = np.ones(3, dtype=np.float32)
    hp = dict(lr=0.01, rho=0.9, momentum=0.0, epsilon=0.0, wd=0.0, rescale_grad=1.0, clip_gradient=-1.0,
              clip_weights=-1.0, centered=False)
    return oracle.evaluate(w, g, {"var": np.zeros(3, dtype=np.float32)}, hp, "mxnet2", flush_denormals=False)


def test_an_ill_element_outside_its_set_fails_and_says_what_was_allowed():
    ev = _ill_case()
    ill = ev.classes["weight"] == "ill"
    assert ill.any()
    i = int(np.nonzero(ill)[0][0])
    fs = ev.faithful["weight"]
    assert not fs.unconstrained(F32)[i]
    bad = ev.outputs["weight"].copy()
    # a value outside the set: beyond its finite hull on the free side, or NaN where NaN is not in it
    bad[i] = np.float32(np.nan) if not fs.may[i] & MAY_NAN else np.float32(fs.hi[i] * 2 + 1)
    v = judge_output("weight", ev.outputs["weight"], ev.allowed["weight"], ev.classes["weight"], fs, bad)
    assert v.failed == 1 and "faithful" in v.first_failure
    v = judge_output("weight", ev.outputs["weight"], ev.allowed["weight"], ev.classes["weight"], None, bad)
    assert v.failed == 0 and v.free == int(ill.sum())  # without sets: any value goes, and it is counted


def test_sets_round_trip_through_the_fixture_encoding_and_bad_blocks_are_named():
    ev = _ill_case()
    block = encode_sets(ev.classes, ev.faithful)
    back = decode_sets(block, ev.classes, ev.classes["weight"].shape)
    for name, fs in ev.faithful.items():
        ill = ev.classes[name] == "ill"
        for part in ("lo", "hi", "may", "why"):
            assert np.array_equal(getattr(back[name], part)[ill], getattr(fs, part)[ill]), (name, part)
    name = next(iter(block))
    broken = {name: dict(block[name], index=block[name]["index"][1:] + [99])}
    with pytest.raises(CodecError, match="index"):
        decode_sets(broken, ev.classes, ev.classes["weight"].shape)
    with pytest.raises(CodecError, match="no faithful sets"):
        decode_sets({}, ev.classes, ev.classes["weight"].shape)
    broken = {name: dict(block[name], why=["gremlins"] * len(block[name]["why"]))}
    with pytest.raises(CodecError, match="known reason"):
        decode_sets(broken, ev.classes, ev.classes["weight"].shape)
    assert set(REASONS) >= {r for w in block[name]["why"] for r in w.split(",") if r}
    assert all(m and set(m) <= set("nf+-") for m in block[name]["may"])


def test_the_membership_check_refuses_what_a_narrower_set_leaves_out():
    """The harness has teeth: x/0 = inf is in the real division's set, not in the quotient hull
    of the divisor's nonzero part alone."""
    ops = SetOps(F32, (1,))
    a = np.array([1.0, 2.0], dtype=np.float32)
    b = np.array([0.0, 4.0], dtype=np.float32)
    with np.errstate(divide="ignore"):
        got = np.divide.outer(a, b).ravel()
    assert _inside(ops, ops.div(_set_of(ops, a), _set_of(ops, b)), got).all()
    hull_only = ops.div(_set_of(ops, a), _set_of(ops, np.array([0.25, 4.0], dtype=np.float32)))
    assert not _inside(ops, hull_only, got).all()
