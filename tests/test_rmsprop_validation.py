"""Bad input raises a clear error naming the argument, before any array is written."""
import numpy as np
import pytest

import rmsprop
from tests.rmsprop_engines import engine  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("engine")


def arrays(n=4, dtype=np.float32, centered=False, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    states = [np.abs(rng.standard_normal(n)).astype(dtype) for _ in range(3 if centered else 1)]
    return w, g, states


def snapshot(*xs):
    return [x.copy() for x in xs]


def unchanged(before, after):
    return all(np.array_equal(a, b, equal_nan=True) for a, b in zip(before, after))


def call(w, g, states, **hp):
    hp.setdefault("lr", 0.1)
    if len(states) == 3:
        return rmsprop.rmspropalex_update(w, g, *states, **hp)
    return rmsprop.rmsprop_update(w, g, *states, **hp)


BAD_HP = [
    ({"rho": 1.5}, ValueError, "rho"), ({"rho": -0.1}, ValueError, "rho"),
    ({"epsilon": -1e-8}, ValueError, "epsilon"), ({"lr": float("nan")}, ValueError, "lr"),
    ({"lr": float("inf")}, ValueError, "lr"), ({"wd": float("nan")}, ValueError, "wd"),
    ({"rescale_grad": float("-inf")}, ValueError, "rescale_grad"),
    ({"clip_gradient": float("inf")}, ValueError, "clip_gradient"),
    ({"clip_weights": float("nan")}, ValueError, "clip_weights"),
    ({"lr": "0.1"}, TypeError, "lr"), ({"lr": True}, TypeError, "lr"),
    ({"rho": 1 + 0j}, TypeError, "rho"), ({"clip_gradient": 1e39}, ValueError, "clip_gradient"),
    ({"epsilon": 1e-50}, ValueError, "epsilon"),        # MXNet's float parser refuses both
]


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("hp,exc,name", BAD_HP + [({"momentum": 1.5}, ValueError, "momentum")])
def test_bad_hyperparameters(centered, hp, exc, name):
    if name == "momentum" and not centered:       # an operator field of the centered rule only
        centered = True
    w, g, states = arrays(centered=centered)
    before = snapshot(w, g, *states)
    with pytest.raises(exc, match=name):
        call(w, g, states, **hp)
    assert unchanged(before, [w, g, *states])


def _bad_arrays(centered):
    """(description, mutate(w, g, states) -> (w, g, states), exception, name in message)"""
    def ro(a):
        a = a.copy()
        a.flags.writeable = False
        return a
    st_name = "mean" if centered else "var"
    return [
        ("list weight", lambda w, g, s: (list(w), g, s), TypeError, "weight"),
        ("int grad", lambda w, g, s: (w, g.astype(np.int32), s), TypeError, "grad"),
        ("int weight", lambda w, g, s: (w.astype(np.int64), g.astype(np.int64),
                                        [x.astype(np.int64) for x in s]), TypeError, "weight"),
        ("grad dtype", lambda w, g, s: (w, g.astype(np.float64), s), TypeError, "grad"),
        ("state dtype", lambda w, g, s: (w, g, [s[0].astype(np.float16)] + s[1:]), TypeError,
         st_name),
        ("grad shape", lambda w, g, s: (w, g[:3], s), ValueError, "grad"),
        ("state shape", lambda w, g, s: (w, g, [s[0].reshape(2, 2)] + s[1:]), ValueError,
         st_name),
        ("read-only weight", lambda w, g, s: (ro(w), g, s), ValueError, "weight"),
        ("read-only state", lambda w, g, s: (w, g, s[:-1] + [ro(s[-1])]), ValueError,
         "mom" if centered else "var"),
        ("state is weight", lambda w, g, s: (w, g, s[:-1] + [w]), ValueError, "shares memory"),
        ("grad is state", lambda w, g, s: (w, s[0], s), ValueError, "shares memory"),
        ("masked", lambda w, g, s: (np.ma.masked_array(w), g, s), TypeError, "weight"),
    ]


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("case", range(12))
def test_bad_arrays_change_nothing(centered, case):
    desc, mutate, exc, name = _bad_arrays(centered)[case]
    w, g, states = arrays(centered=centered)
    w, g, states = mutate(w, g, states)
    keep = [x for x in [w, g, *states] if isinstance(x, np.ndarray)]
    before = snapshot(*keep)
    with pytest.raises(exc, match=name):
        call(w, g, states)
    assert unchanged(before, keep), desc


def test_partial_overlap_is_rejected():
    buf = np.ones(20, np.float32)
    w, var = buf[:10], buf[5:15]
    with pytest.raises(ValueError, match="shares memory"):
        rmsprop.rmsprop_update(w, np.ones(10, np.float32), var, lr=0.1)
    assert (buf == 1).all()
    # interleaved views do not overlap and are accepted
    w, var = buf[0::2], buf[1::2]
    rmsprop.rmsprop_update(w, np.ones(10, np.float32), var, lr=0.1)


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("bad", ["shape", "alias", "dtype", "readonly"])
def test_failing_list_update_changes_no_tensor(centered, bad):
    rng = np.random.default_rng(1)
    sizes = [3, 5000, 70_000, 7, 1]
    ws = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    gs = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    nst = 3 if centered else 1
    sts = [[np.abs(rng.standard_normal(n)).astype(np.float32) for n in sizes]
           for _ in range(nst)]
    if bad == "shape":
        gs[3] = gs[3][:2]
    elif bad == "alias":
        sts[0][4] = ws[1][:1]
    elif bad == "dtype":
        ws[3] = ws[3].astype(np.float64)
    else:
        sts[-1][3].flags.writeable = False
    multi_call_fails_and_changes_nothing(centered, ws, gs, sts, (ValueError, TypeError), "tensor (3|4)")


def multi_call_fails_and_changes_nothing(centered, ws, gs, sts, exc, match):
    """The list update raises ``exc`` matching ``match``, and no array of the lists changed."""
    before = [snapshot(*xs) for xs in [ws, gs] + sts]
    with pytest.raises(exc, match=match):
        if centered:
            rmsprop.rmspropalex_update_multi(ws, gs, *sts, lr=0.1)
        else:
            rmsprop.rmsprop_update_multi(ws, gs, sts[0], lr=0.1)
    for b, xs in zip(before, [ws, gs] + sts):
        assert unchanged(b, xs)


def test_cross_tensor_alias_in_list_is_rejected():
    w = np.ones(8, np.float32)
    with pytest.raises(ValueError, match="shares memory"):
        rmsprop.rmsprop_update_multi([w, w], [np.ones(8, np.float32)] * 2,
                                     [np.ones(8, np.float32), np.ones(8, np.float32)], lr=0.1)
    assert (w == 1).all()


def test_views_of_one_buffer_are_accepted_when_disjoint():
    buf = np.zeros(100, np.float32)
    ws = [buf[i * 10:(i + 1) * 10] for i in range(10)]
    vs = [np.zeros(10, np.float32) for _ in range(10)]
    rmsprop.rmsprop_update_multi(ws, [np.ones(10, np.float32)] * 10, vs, lr=0.1, epsilon=1e-3)
    assert (buf < 0).all()
    ws[3] = buf[35:45]                          # overlaps ws[4]
    with pytest.raises(ValueError, match="shares memory"):
        rmsprop.rmsprop_update_multi(ws, [np.ones(10, np.float32)] * 10, vs, lr=0.1)


def test_list_arguments_must_match():
    w, g, (v,) = arrays()
    with pytest.raises(ValueError, match="grads"):
        rmsprop.rmsprop_update_multi([w], [g, g], [v], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        rmsprop.rmsprop_update_multi([w], [g], [v], lr=[0.1, 0.2])
    with pytest.raises(TypeError, match="weights"):
        rmsprop.rmsprop_update_multi(w, [g], [v], lr=0.1)


BF16_MESSAGE = "dtype bfloat16 is not float16, float32 or float64"


@pytest.mark.parametrize("centered", [False, True])
def test_bfloat16_is_refused_and_changes_nothing(centered):
    """No backend has a bfloat16 kernel: a bfloat16 weight is refused, naming it, before any write."""
    import ml_dtypes

    w, g, states = arrays(centered=centered)
    w, g, states = w.astype(ml_dtypes.bfloat16), g.astype(ml_dtypes.bfloat16), [s.astype(ml_dtypes.bfloat16)
                                                                               for s in states]
    before = snapshot(w, g, *states)
    with pytest.raises(TypeError, match="weight: " + BF16_MESSAGE):
        call(w, g, states)
    assert unchanged(before, [w, g, *states])


@pytest.mark.parametrize("centered", [False, True])
def test_bfloat16_in_a_list_update_is_refused_and_changes_no_tensor(centered):
    import ml_dtypes

    ws, gs, sts = [], [], [[] for _ in range(3 if centered else 1)]
    for i, dt in enumerate((np.float32, ml_dtypes.bfloat16)):
        w, g, states = arrays(centered=centered, seed=i)
        ws.append(w.astype(dt))
        gs.append(g.astype(dt))
        for k, s in enumerate(states):
            sts[k].append(s.astype(dt))
    multi_call_fails_and_changes_nothing(centered, ws, gs, sts, TypeError, r"weights\[1\]: " + BF16_MESSAGE)


def test_bfloat16_optimizer_refuses_state_and_update():
    import ml_dtypes

    opt = rmsprop.RMSProp(learning_rate=0.1)
    w = np.ones(4, ml_dtypes.bfloat16)
    g = np.full(4, 0.5, ml_dtypes.bfloat16)
    with pytest.raises(TypeError, match="weight: " + BF16_MESSAGE):
        opt.create_state(0, w)
    state = opt.create_state(0, np.ones(4, np.float32))
    before = snapshot(w, g, state)
    with pytest.raises(TypeError, match=BF16_MESSAGE):
        opt.update(0, w, g, state)
    assert unchanged(before, [w, g, state])
