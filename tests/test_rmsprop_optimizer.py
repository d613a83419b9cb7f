"""The mxnet.optimizer.RMSProp (2.x) API of rmsprop.RMSProp.

Numerical expectations are produced by a second code path of the package (the
kernel functions with an explicitly computed learning rate, compared bit for
bit) or by Python-float transliterations written here.
"""
import math
import pickle
import warnings

import numpy as np
import pytest

import rmsprop
from rmsprop.lr_scheduler import FactorScheduler
from tests.rmsprop_engines import engine  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("engine")


class Recorder:
    """A scheduler that records the num_update it is called with: lr = base_lr / num_update."""

    def __init__(self, base_lr=1.0):
        self.base_lr = base_lr
        self.calls = []

    def __call__(self, num_update):
        self.calls.append(num_update)
        return self.base_lr / num_update


class Param:
    def __init__(self, lr_mult=1.0, wd_mult=1.0):
        self.lr_mult, self.wd_mult = lr_mult, wd_mult


def data(n=6, k=3, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(n).astype(dtype) for _ in range(k)]
    gs = [rng.standard_normal(n).astype(dtype) for _ in range(k)]
    return ws, gs


def kernel_update(opt, w, g, state, lr, wd):
    """The same update through the kernel API (fused semantics)."""
    kw = dict(lr=lr, wd=wd, rho=opt.rho, epsilon=opt.epsilon, rescale_grad=opt.rescale_grad,
              clip_gradient=opt.clip_gradient if opt.clip_gradient else -1.0,
              clip_weights=opt.clip_weights if opt.clip_weights else -1.0)
    if opt.centered:
        rmsprop.rmspropalex_update(w, g, *state, momentum=opt.momentum, **kw)
    else:
        rmsprop.rmsprop_update(w, g, state, **kw)


def test_learning_rate_resolution():
    assert rmsprop.RMSProp().learning_rate == 0.001
    assert rmsprop.RMSProp(learning_rate=None).learning_rate == 0.01
    sched = FactorScheduler(step=10, base_lr=0.5)
    assert rmsprop.RMSProp(learning_rate=None, lr_scheduler=sched).learning_rate == 0.5
    sched = FactorScheduler(step=10, base_lr=0.5)
    with pytest.warns(UserWarning):
        opt = rmsprop.RMSProp(learning_rate=0.2, lr_scheduler=sched)
    assert sched.base_lr == 0.2 and opt.learning_rate == 0.2
    with pytest.raises(UserWarning):
        opt.set_learning_rate(0.3)
    opt = rmsprop.RMSProp()
    opt.set_learning_rate(0.3)
    assert opt.learning_rate == 0.3


def test_defaults_match_mxnet():
    opt = rmsprop.RMSProp()
    assert (opt.rho, opt.momentum, opt.epsilon, opt.centered) == (0.9, 0.9, 1e-8, False)
    assert opt.clip_weights is None and opt.clip_gradient is None and opt.use_fused_step
    assert (opt.rescale_grad, opt.wd, opt.begin_num_update, opt.num_update) == (1.0, 0.0, 0, 0)
    assert opt.aggregate_num == 1 and opt.multi_precision is False


def test_update_counts_scheduler_and_partial_index_lists():
    sched = Recorder()
    opt = rmsprop.RMSProp(learning_rate=None, lr_scheduler=sched, begin_num_update=5)
    ws, gs = data(k=3)
    states = [opt.create_state(i, w) for i, w in enumerate(ws)]
    refs = [w.copy() for w in ws]
    ref_states = [s.copy() for s in states]
    # (indices of the call, expected num_update seen by each index's lr lookup)
    plan = [([0, 1], [6, 6]), ([0], [7]), ([2], [7]), ([2, 1], [7, 7]), ([2, 0, 1], [8, 8, 8])]
    for idx, seen in plan:
        sched.calls.clear()
        opt.update(idx, [ws[i] for i in idx], [gs[i] for i in idx], [states[i] for i in idx])
        assert sched.calls[-len(idx):] == seen
        for i, nu in zip(idx, seen):
            kernel_update(opt, refs[i], gs[i], ref_states[i], 1.0 / nu, 0.0)
    assert opt._index_update_count == {0: 8, 1: 8, 2: 8} and opt.num_update == 8
    for a, b in zip(refs + ref_states, ws + states):
        assert np.array_equal(a, b)


def test_num_update_follows_the_largest_count():
    opt = rmsprop.RMSProp(begin_num_update=2)
    ws, gs = data(k=2)
    states = [opt.create_state(i, w) for i, w in enumerate(ws)]
    for _ in range(3):
        opt.update([0], ws[:1], gs[:1], states[:1])
    assert opt.num_update == 5
    opt.update([1], ws[1:], gs[1:], states[1:])
    assert opt._index_update_count[1] == 3 and opt.num_update == 5



def test_update_counts_of_a_list_with_and_without_repeated_indices():
    """MXNet counts index after index: an index listed twice in one call is counted twice
    (the second count sees the first).  Distinct indices take a one-pass route; both must
    agree with counting one index at a time."""
    for indices in ([3, 0, 7, 1], [3, 0, 3, 1, 3]):
        listed = rmsprop.RMSProp(begin_num_update=2)
        listed._index_update_count[0] = 9
        listed._update_count(indices)
        single = rmsprop.RMSProp(begin_num_update=2)
        single._index_update_count[0] = 9
        for i in indices:
            single._update_count(i)
        assert listed._index_update_count == single._index_update_count
        assert listed.num_update == single.num_update
    assert listed._index_update_count == {0: 10, 1: 3, 3: 5} and listed.num_update == 10

def test_multiplier_precedence():
    opt = rmsprop.RMSProp(learning_rate=0.1, wd=0.01,
                          param_idx2name={0: "a_weight", 1: "b_bias", 2: "c_weight", 3: "d"},
                          param_dict={0: Param(lr_mult=2.0, wd_mult=3.0)})
    opt.set_lr_mult({0: 5.0, 1: 7.0, "b_bias": 11.0, "c_weight": 13.0})
    opt.set_wd_mult({1: 0.5, "c_weight": 0.25})
    assert opt._get_lr(0) == 0.1 * 2.0          # param_dict first
    assert opt._get_lr(1) == 0.1 * 7.0          # then the index
    assert opt._get_lr(2) == 0.1 * 13.0         # then the name
    assert opt._get_lr(3) == 0.1 and opt._get_lr(9) == 0.1
    assert opt._get_wd(0) == 0.01 * 3.0 and opt._get_wd(1) == 0.01 * 0.5
    assert opt._get_wd(2) == 0.01 * 0.25
    assert opt._get_wd(3) == 0.01                # 2.x keeps wd for names not *_weight


def test_multipliers_reach_the_update():
    opt = rmsprop.RMSProp(learning_rate=0.1, wd=0.01, param_idx2name={1: "x"})
    opt.set_lr_mult({0: 3.0, "x": 0.5})
    opt.set_wd_mult({"x": 2.0})
    ws, gs = data(k=2)
    states = [opt.create_state(i, w) for i, w in enumerate(ws)]
    refs, rst = [w.copy() for w in ws], [s.copy() for s in states]
    opt.update([0, 1], ws, gs, states)
    kernel_update(opt, refs[0], gs[0], rst[0], 0.1 * 3.0, 0.01)
    kernel_update(opt, refs[1], gs[1], rst[1], 0.1 * 0.5, 0.01 * 2.0)
    for a, b in zip(refs + rst, ws + states):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("centered", [False, True])
def test_multi_precision_state_layout_and_cast_back(centered):
    opt = rmsprop.RMSProp(learning_rate=0.05, centered=centered, multi_precision=True, wd=0.01)
    ws, gs = data(n=5000, k=2, dtype=np.float16)
    states = [opt.create_state_multi_precision(i, w) for i, w in enumerate(ws)]
    for w, st in zip(ws, states):
        master, inner = st
        assert master.dtype == np.float32 and np.array_equal(master, w.astype(np.float32))
        inner = inner if centered else (inner,)
        assert all(s.dtype == np.float32 and not s.any() for s in inner)
    ref_master = [st[0].copy() for st in states]
    ref_inner = [tuple(s.copy() for s in st[1]) if centered else st[1].copy() for st in states]
    g0 = [g.copy() for g in gs]
    for _ in range(3):
        opt.update_multi_precision([0, 1], ws, gs, states)
        for k in range(2):
            kernel_update(opt, ref_master[k], gs[k].astype(np.float32), ref_inner[k],
                          0.05, 0.01)
    for k in range(2):
        assert np.array_equal(states[k][0], ref_master[k])
        assert np.array_equal(ws[k], ref_master[k].astype(np.float16))
        assert np.array_equal(gs[k], g0[k])


def test_float16_without_multi_precision_warns_and_stays_float16():
    opt = rmsprop.RMSProp()
    w = np.ones(3, np.float16)
    with pytest.warns(UserWarning, match="multi_precision"):
        st = opt.create_state_multi_precision(0, w)
    assert isinstance(st, np.ndarray) and st.dtype == np.float16
    opt.update_multi_precision([0], [w], [np.ones(3, np.float16)], [st])
    assert w.dtype == np.float16 and (w < 1).all()
    opt = rmsprop.RMSProp(multi_precision=True)
    w32 = np.ones(3, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(opt.create_state_multi_precision(0, w32), np.ndarray)


def test_step_versus_fused_step_on_clip_gradient_zero():
    ws, gs = data(k=1)
    outs = {}
    for fused in (True, False):
        opt = rmsprop.RMSProp(learning_rate=0.1, clip_gradient=0.0, use_fused_step=fused)
        w, var = ws[0].copy(), np.full(6, 0.5, np.float32)
        opt.update([0], [w], [gs[0].copy()], [var])
        outs[fused] = (w, var)
    # step: clip_gradient is not None -> the gradient is clipped to zero
    assert np.array_equal(outs[False][0], ws[0])
    assert np.all(outs[False][1] == np.float32(0.5) * np.float32(0.9))
    # fused_step: clip_gradient=0 is falsy -> not passed -> the same as no clipping
    opt = rmsprop.RMSProp(learning_rate=0.1)
    w, var = ws[0].copy(), np.full(6, 0.5, np.float32)
    opt.update([0], [w], [gs[0].copy()], [var])
    assert np.array_equal(outs[True][0], w) and np.array_equal(outs[True][1], var)


def test_step_uses_python_float_hyperparameters():
    # values whose decimal text MXNet's double parser reads exactly ("0.001", "0.25", "1e-08")
    opt = rmsprop.RMSProp(learning_rate=0.001, rho=0.75, epsilon=1e-8, use_fused_step=False)
    w, g, var = np.zeros(1), np.ones(1), np.zeros(1)
    opt.step([0], [w], [g], [var])
    ev = 0.75 * 0.0 + (1 - 0.75) * (1.0 * 1.0)
    assert var[0] == ev
    assert w[0] == 0.0 - 0.001 * (1.0 / (math.sqrt(ev) + 1e-8))
    opt2 = rmsprop.RMSProp(learning_rate=0.001, rho=0.75, epsilon=1e-8)
    w2, var2 = np.zeros(1), np.zeros(1)
    opt2.fused_step([0], [w2], [g], [var2])
    assert w2[0] != w[0]                         # float32-rounded operator fields differ


@pytest.mark.parametrize("fused", [True, False])
def test_clip_weights_truthiness(fused):
    ws, gs = data(k=1)
    base = ws[0] * 10
    for cw, clipped in ((None, False), (0.0, False), (0.5, True)):
        opt = rmsprop.RMSProp(learning_rate=0.01, clip_weights=cw, use_fused_step=fused)
        w = base.copy()
        opt.update([0], [w], [gs[0]], [opt.create_state(0, w)])
        assert (np.abs(w).max() <= 0.5) == clipped


def test_single_index_form_and_centered_states():
    opt = rmsprop.RMSProp(centered=True)
    w = np.ones(4, np.float32)
    st = opt.create_state(0, w)
    assert isinstance(st, tuple) and len(st) == 3 and all(s.shape == (4,) for s in st)
    opt.update(0, w, np.ones(4, np.float32), st)
    assert opt.num_update == 1 and (w < 1).all()


def test_failed_update_changes_nothing_including_counts():
    sched = FactorScheduler(step=1, factor=0.5, base_lr=0.1)
    opt = rmsprop.RMSProp(learning_rate=None, lr_scheduler=sched)
    ws, gs = data(k=3)
    states = [opt.create_state(i, w) for i, w in enumerate(ws)]
    opt.update([0, 1, 2], ws, gs, states)
    counts, nu, sched_state = dict(opt._index_update_count), opt.num_update, dict(vars(sched))
    before = [x.copy() for x in ws + states]
    bad_states = states[:2] + [(states[2],)]                  # wrong structure
    with pytest.raises(TypeError, match=r"states\[2\]"):
        opt.update([0, 1, 2], ws, gs, bad_states)
    bad_grads = gs[:2] + [gs[2][:2]]                          # wrong shape, found late
    with pytest.raises(ValueError, match=r"weights\[2\]"):
        opt.update([0, 1, 2], ws, bad_grads, states)
    opt.lr_scheduler = lambda n: float("nan")                 # lr becomes NaN: rejected
    opt.lr_scheduler.base_lr = 0.1
    with pytest.raises(ValueError, match="lr"):
        opt.update([0, 1, 2], ws, gs, states)
    assert opt._index_update_count == counts and opt.num_update == nu
    assert dict(vars(sched)) == sched_state
    for a, b in zip(before, ws + states):
        assert np.array_equal(a, b)


def test_constructor_validation():
    with pytest.raises(ValueError, match="rho"):
        rmsprop.RMSProp(rho=1.2)
    with pytest.raises(ValueError, match="epsilon"):
        rmsprop.RMSProp(epsilon=-1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        rmsprop.RMSProp(learning_rate=float("nan"))
    with pytest.raises(TypeError, match="param_idx2name"):
        rmsprop.RMSProp(param_idx2name=[1])
    with pytest.raises(ValueError, match="aggregate_num"):
        rmsprop.RMSProp(aggregate_num=0)
    with pytest.raises(TypeError, match="weight"):
        rmsprop.RMSProp().create_state(0, np.ones(3, np.int32))


def test_pickle_drops_param_dict():
    opt = rmsprop.RMSProp(param_dict={0: Param(2.0)})
    opt.update([0], [np.ones(2, np.float32)], [np.ones(2, np.float32)], [np.zeros(2, np.float32)])
    clone = pickle.loads(pickle.dumps(opt))
    assert clone.param_dict == {} and clone.num_update == 1
