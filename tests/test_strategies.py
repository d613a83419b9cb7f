"""conformance.strategies: only expressible, oracle-accepted cases; the edge values really occur; seeded."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from conformance import strategies as cs
from conformance.corpus import golden
from conformance.families import ALL_DIALECTS, DTYPES, dtypes_of
from conformance.generated import case_key, sampled_specs
from oracle import DIALECTS, normalize_hp
from oracle.kernel import inexpressible

FIND = settings(database=None, max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("dialect", ALL_DIALECTS)
def test_generated_cases_are_expressible_and_the_oracle_accepts_them(dialect):
    specs = sampled_specs(dialect, 0, 25)
    assert len(specs) == 25
    for spec in specs:
        assert not inexpressible(dialect, spec["hp"]), spec["hp"]
        assert spec["dtype"] in DTYPES and spec["families"][0].split(":")[1] in cs.families_for(dialect)
        names = DIALECTS[dialect].state_names(normalize_hp(spec["hp"]))
        assert set(spec["inputs"]) == {"weight", "grad", *names}
        assert not (spec["inputs"]["var"] < 0).any()  # var >= 0 (or NaN)
        case = golden(spec)
        assert set(case["expected"]) == {"weight", *names}


def test_families_are_those_the_dialect_can_express():
    assert "clipping" in cs.families_for("mxnet2") and "clipping" in cs.families_for("keras")
    for d in ("torch", "optax", "tensorflow"):
        assert "clipping" not in cs.families_for(d)
    assert "wd-rescale" not in cs.families_for("optax") and "overflow" in cs.families_for("optax")
    with pytest.raises(ValueError, match="not expressible"):
        _draws(cs.kernel_cases("torch", families=["clipping"]), 1)


@pytest.mark.parametrize("strategy,exc,message", [
    (lambda: cs.kernel_cases("mxnet9"), ValueError, "unknown dialect 'mxnet9'"),
    (lambda: cs.kernel_cases("mxnet2", dtypes="float32"), TypeError, "dtypes must be a list of names"),
    (lambda: cs.kernel_cases("mxnet2", families="plain"), TypeError, "families must be a list of names"),
    (lambda: cs.kernel_cases("mxnet1", dtypes=["bfloat16"]), ValueError, r"dtypes \['bfloat16'\] not computed"),
    (lambda: cs.hyperparameters("mxnet2", "bogus"), ValueError, "unknown family 'bogus'"),
])
def test_bad_arguments_are_named(strategy, exc, message):
    with pytest.raises(exc, match=message):
        _draws(strategy(), 1)


def _draws(strategy, n, seed=0):
    """n examples of ``strategy`` from a seeded hypothesis run (generation only, no shrinking)."""
    from hypothesis import Phase, given
    from hypothesis import seed as hseed

    out = []
    run = settings(FIND, max_examples=n, phases=[Phase.generate])(given(strategy)(lambda x: out.append(x)))
    hseed(seed)(run)()
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_special_value_occurs(dtype):
    import ml_dtypes

    fi = ml_dtypes.finfo(dtype)  # np.finfo knows no bfloat16
    root = math.sqrt(float(fi.max))
    preds = {"nan": math.isnan, "+inf": lambda x: x == math.inf, "-inf": lambda x: x == -math.inf,
             "+0": lambda x: x == 0 and math.copysign(1, x) > 0, "-0": lambda x: x == 0 and math.copysign(1, x) < 0,
             "subnormal": lambda x: 0 < abs(x) < fi.tiny, "max": lambda x: abs(x) == fi.max,
             "square overflows": lambda x: root < abs(x) < math.inf}
    dialect = "mxnet2" if dtype in dtypes_of("mxnet2") else "torch"  # MXNet has no bfloat16
    specs = sampled_specs(dialect, 0, 120, dtypes=[dtype])
    values = [float(x) for s in specs for a in s["inputs"].values() for x in a.ravel()]
    counts = {k: sum(map(p, values)) for k, p in preds.items()}
    assert all(counts.values()), counts
    assert {s["dtype"] for s in specs} == {dtype}


def test_hyperparameter_edges_occur():
    edges = [("mxnet2", "clip_gradient", 0.0), ("mxnet2", "clip_weights", 0.0), ("keras", "clip_gradient", 0.0),
             ("mxnet2", "epsilon", 0.0), ("mxnet1", "epsilon", 2e-38), ("torch", "epsilon", 1e-40),
             ("mxnet2", "rho", 0.0), ("torch", "rho", 1.0), ("mxnet2", "momentum", 1.0), ("torch", "momentum", 0.0),
             ("mxnet2", "wd", 0.5), ("mxnet2", "rescale_grad", 128.0), ("tensorflow", "lr", 100.0)]
    drawn = {d: _draws(cs.hyperparameters(d), 300) for d in {d for d, _, _ in edges}}
    for d, hps in drawn.items():
        assert not any(inexpressible(d, hp) for hp in hps)
    missing = [(d, k, v) for d, k, v in edges if not any(hp[k] == v for hp in drawn[d])]
    assert not missing


def test_the_same_seed_gives_the_same_cases():
    a, b, c = (sampled_specs("mxnet2", s, 20) for s in (3, 3, 4))
    assert [case_key(x) for x in a] == [case_key(x) for x in b]
    assert [x["id"] for x in a] == [f"sampled/mxnet2/seed3/{k}" for k in range(20)]
    assert [case_key(x) for x in a] != [case_key(x) for x in c]


def test_tensors_and_states_strategies():
    ts = _draws(cs.tensors("float32", (2, 3), odds=2), 60)
    assert all(t.shape == (2, 3) and t.dtype == np.float32 for t in ts)
    assert any((~np.isfinite(t)).any() for t in ts) and any((t == 0).any() for t in ts)
    hp = dict(_draws(cs.hyperparameters("torch", centered=True), 1)[0], momentum=0.5)
    sts = _draws(cs.states("torch", "float16", hp), 10)
    assert all(set(s) == {"mean", "var", "mom"} and all(v.dtype == np.float16 for v in s.values()) for s in sts)
    assert all(not (v < 0 or math.copysign(1, v) < 0) for v in cs.special_values("float16", nonneg=True))


def test_bfloat16_is_drawn_and_fixed_exactly_where_the_real_system_takes_it():
    """Generated cases and golden cases have bfloat16 for torch, keras, keras-tf, optax and
    tensorflow; none for MXNet (its operators raise "Unknown type enum 12") or Paddle."""
    from conformance.corpus import load
    from conformance.verify import default_fixture_dir

    takes = {d for d in ALL_DIALECTS if "bfloat16" in DIALECTS[d].dtypes}
    assert takes == {"torch", "keras", "keras-tf", "optax", "tensorflow"}
    drawn = {d for d in ALL_DIALECTS if any(s["dtype"] == "bfloat16" for s in sampled_specs(d, 0, 60))}
    assert drawn == takes
    fixed = {c["dialect"] for _p, _n, c in load(default_fixture_dir()) if c["dtype"] == "bfloat16"}
    assert fixed == takes
