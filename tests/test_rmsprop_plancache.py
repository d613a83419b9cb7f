"""The validated-jobs cache of ``RMSProp``: reused only while nothing it checked changed.

Every test first shows that the second call really is a cache hit (no job is
rebuilt), then changes one thing a user can change on the same objects and
expects exactly what a fresh optimizer does: the same error before any write, or
the same bits.
"""
import warnings

import numpy as np
import pytest

import rmsprop
from rmsprop import _validate
from rmsprop import optimizer as opt_mod
from tests.rmsprop_engines import engine  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("engine")


def make(centered=False, mp=False, n=(5, (1500, 2), 70000), seed=0, **kw):
    rng = np.random.default_rng(seed)
    dt = np.float16 if mp else np.float32
    ws = [rng.standard_normal(k).astype(dt) for k in n]
    gs = [rng.standard_normal(k).astype(dt) for k in n]
    opt = rmsprop.RMSProp(learning_rate=0.01, centered=centered, multi_precision=mp, **kw)
    states = [opt.create_state_multi_precision(i, w) for i, w in enumerate(ws)]
    return opt, list(range(len(ws))), ws, gs, states


def flat(x):
    if isinstance(x, np.ndarray):
        return [x]
    return [a for item in x for a in flat(item)]


def clone(x):
    return x.copy() if isinstance(x, np.ndarray) else tuple(clone(i) for i in x)


@pytest.fixture
def builds(monkeypatch):
    """Counts make_job calls (one per tensor on a full validation, none on a hit)."""
    count = [0]
    real = _validate.make_job

    def counting(*a, **k):
        count[0] += 1
        return real(*a, **k)

    monkeypatch.setattr(opt_mod, "make_job", counting)
    return count


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("mp", [False, True])
def test_hit_matches_fresh_validation_bit_for_bit(builds, centered, mp):
    """Same objects (cache hits) versus fresh copies each call (full validation), while the
    learning rate, a multiplier and wd change between calls."""
    a = make(centered, mp, wd=1e-3)
    b = make(centered, mp, wd=1e-3)
    for step in range(4):
        if step == 2:
            for o in (a[0], b[0]):
                o.set_learning_rate(0.05)
                o.set_lr_mult({1: 0.5})
                o.wd = 0.1
        before = builds[0]
        a[0].update_multi_precision(a[1], a[2], a[3], a[4])
        assert builds[0] - before == (3 if step == 0 else 0)
        ws, sts = [w.copy() for w in b[2]], [clone(st) for st in b[4]]
        b[0].update_multi_precision(b[1], ws, [g.copy() for g in b[3]], sts)
        b = (b[0], b[1], ws, b[3], sts)
        for x, y in zip(flat(a[2]) + flat(a[4]), flat(b[2]) + flat(b[4])):
            assert x.tobytes() == y.tobytes()


def _read_only_weight(ws, gs, states):
    ws[1].flags.writeable = False
    return ValueError, r"weights\[1\]: weight: array is read-only"


def _read_only_state(ws, gs, states):
    states[2].flags.writeable = False
    return ValueError, r"weights\[2\]: var: array is read-only"


def _grad_reshaped(ws, gs, states):
    gs[1].shape = (1000, 3)
    return ValueError, r"weights\[1\]: grad: shape \(1000, 3\) does not match weight shape \(1500, 2\)"


def _weight_retyped(ws, gs, states):
    ws[0].dtype = np.int32
    return TypeError, r"weights\[0\]"


def _grad_restrided(ws, gs, states):
    """The same (1500, 2) grad memory viewed column-major: valid input whose elements now
    pair differently with the weight's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # strides assignment (NumPy 2.4)
        gs[1].strides = (4, 6000)
    return None, None


CHANGES = [_read_only_weight, _read_only_state, _grad_reshaped, _weight_retyped, _grad_restrided]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_change_on_same_objects_is_seen(builds, change):
    opt, idx, ws, gs, states = make()
    opt.update(idx, ws, gs, states)
    opt.update(idx, ws, gs, states)
    hits_before = builds[0]
    opt.update(idx, ws, gs, states)
    assert builds[0] == hits_before                          # a hit so far
    ref = make()
    for _ in range(3):
        ref[0].update(ref[1], ref[2], ref[3], ref[4])
    exc, msg = change(ws, gs, states)
    change(ref[2], ref[3], ref[4])
    ref[0]._validated = None                                 # the reference validates afresh
    counts = dict(opt._index_update_count)
    before = [a.copy() for a in ws + states]
    if exc is None:
        opt.update(idx, ws, gs, states)
        ref[0].update(ref[1], ref[2], ref[3], ref[4])
        for x, y in zip(ws + states, ref[2] + ref[4]):
            assert x.tobytes() == y.tobytes()
        return
    with pytest.raises(exc, match=msg):
        opt.update(idx, ws, gs, states)
    assert all(np.array_equal(a, b) for a, b in zip(before, ws + states) if a.dtype == b.dtype)
    assert opt._index_update_count == counts                 # the failed call changed nothing


def test_states_in_lists_are_never_cached(builds):
    """A list's items can be swapped behind an unchanged id: always validated again."""
    opt, idx, ws, gs, _ = make(centered=True)
    states = [list(opt.create_state(i, w)) for i, w in enumerate(ws)]
    opt.update(idx, ws, gs, states)
    n = builds[0]
    states[0][1] = np.zeros(3, np.float32)                   # var of the wrong shape
    with pytest.raises(ValueError, match=r"weights\[0\]: var: shape \(3,\)"):
        opt.update(idx, ws, gs, states)
    assert builds[0] > n


def test_weight_subclasses_are_never_cached(builds):
    """A weight subclass is validated through a base-class view; a change to the subclass
    object itself (here read-only, then a new shape) must be seen as a fresh call sees it."""
    class Sub(np.ndarray):
        pass

    opt, idx, ws, gs, states = make()
    ws[1] = ws[1].view(Sub)
    opt.update(idx, ws, gs, states)
    n = builds[0]
    ws[1].flags.writeable = False
    with pytest.raises(ValueError, match=r"weights\[1\]: weight: array is read-only"):
        opt.update(idx, ws, gs, states)
    ws[1].flags.writeable = True
    ws[1].shape = (1000, 3)
    with pytest.raises(ValueError, match=r"weights\[1\]: grad: shape \(1500, 2\) does not match weight shape"):
        opt.update(idx, ws, gs, states)
    assert builds[0] > n


def test_a_replaced_state_tuple_never_inherits_the_old_ones_validation(builds):
    """The cache holds the state tuples it validated, so a new tuple put into the same list
    cannot take a freed one's id: a wrong-shaped state is refused as a fresh optimizer does."""
    opt, idx, ws, gs, states = make(centered=True)
    opt.update(idx, ws, gs, states)
    gone = id(states[0])
    a, b, c = (np.zeros(3, np.float32) for _ in range(3))
    states[0] = None
    states[0] = (a, b, c)
    assert id(states[0]) != gone                             # the validated tuple is still alive
    with pytest.raises(ValueError, match=r"weights\[0\]: mean: shape \(3,\) does not match weight shape"):
        opt.update(idx, ws, gs, states)


def test_new_objects_revalidate(builds):
    opt, idx, ws, gs, states = make()
    opt.update(idx, ws, gs, states)
    n = builds[0]
    gs2 = [g.copy() for g in gs]
    gs2[2] = gs2[2].astype(np.float64)
    with pytest.raises(TypeError, match=r"weights\[2\]: grad: dtype float64"):
        opt.update(idx, ws, gs2, states)
    assert builds[0] > n


def test_pickle_drops_the_cache():
    import pickle

    opt, idx, ws, gs, states = make()
    opt.update(idx, ws, gs, states)
    assert opt._validated is not None
    assert pickle.loads(pickle.dumps(opt))._validated is None


# -- the engine plan kept with the validated jobs --------------------------------------------
@pytest.fixture
def plans(monkeypatch):
    """Counts the engine plans made (one per call unless a kept one is reused)."""
    from rmsprop import _engine
    count = [0]
    real = _engine.make_plan

    def counting(jobs):
        count[0] += 1
        return real(jobs)

    monkeypatch.setattr(_engine, "make_plan", counting)
    return count


def _fresh_steps(n_steps, centered=False, mp=False, n=(5, (1500, 2), 70000), change=None, **kw):
    """Reference: a fresh optimizer on copies at every step (full validation, new plan)."""
    opt, idx, ws, gs, states = make(centered, mp, n=n, **kw)
    for step in range(n_steps):
        if change is not None:
            change(step, opt, gs)
        ws, states = [w.copy() for w in ws], [clone(s) for s in states]
        opt._validated = None
        opt.update_multi_precision(idx, ws, [g.copy() for g in gs], states)
    return ws, states


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("mp", [False, True])
def test_the_plan_is_reused_and_gives_the_same_bits(plans, centered, mp):
    """Staged groups (5 and 3000 elements) and a blocked tensor, four steps on the same
    objects: one plan, then reuses; the bits of a fresh optimizer at every step."""
    from rmsprop import _engine
    opt, idx, ws, gs, states = make(centered, mp)
    with _engine.settings(block_size=4096):                 # 70000 elements: 18 blocks
        for _ in range(4):
            opt.update_multi_precision(idx, ws, gs, states)
        assert plans[0] == 1
        ref_ws, ref_states = _fresh_steps(4, centered, mp)
    for x, y in zip(flat(ws) + flat(states), flat(ref_ws) + flat(ref_states)):
        assert x.tobytes() == y.tobytes()


def _shares(plan):
    """Threads a plan splits its contiguous work over (either engine)."""
    if hasattr(plan, "groups"):                  # the compiled engine: one table per group
        return max(grp.starts.size - 1 for grp in plan.groups if grp.chunks is not None)
    return len(plan.shares)


def test_the_plan_follows_engine_settings(plans):
    """A kept plan made under other engine settings is replaced, not run as it was: three
    steps (default, other block size / staging limit / thread count, default again) give
    the bits of a fresh optimizer taking the same steps."""
    from rmsprop import _engine
    other = dict(block_size=1000, small=100, num_threads=3)
    threads = 3
    if rmsprop.get_config()["engine"] == "numba":          # (set by the engine fixture)
        from rmsprop import _numba_engine
        threads = _numba_engine.threads(3)       # numba starts at most NUMBA_NUM_THREADS

    def steps(opt, idx, ws, gs, states, fresh):
        for k in range(3):
            if fresh:
                opt._validated = None
            with _engine.settings(**(other if k == 1 else {})):
                opt.update(idx, ws, gs, states)
                if k == 1 and not fresh:
                    assert opt._validated.plan.config == _engine._config_key()
                    assert _shares(opt._validated.plan) == threads   # the new thread count

    a, b = make(), make()
    steps(*a, fresh=False)
    assert plans[0] == 3
    steps(*b, fresh=True)
    for x, y in zip(a[2] + a[4], b[2] + b[4]):
        assert x.tobytes() == y.tobytes()


def test_rates_that_split_the_groups_are_not_run_with_the_old_plan(plans):
    """Uniform rates, then an lr multiplier on one staged tensor (its group must split),
    then uniform again: plans are made for the non-uniform call, the kept one is
    reused after it, and the bits are a fresh optimizer's throughout.  The compiled
    engine has no staged groups (its rates are a per-tensor table): one plan serves."""
    def change(step, opt, gs):
        if step == 2:
            opt.set_lr_mult({1: 0.5})
        if step == 3:
            opt.set_lr_mult({})

    opt, idx, ws, gs, states = make()
    for step in range(5):
        change(step, opt, gs)
        opt.update(idx, ws, gs, states)
    numba = rmsprop.get_config()["engine"] == "numba"
    assert plans[0] == (1 if numba else 2)                    # step 0 and the step-2 call
    ref_ws, ref_states = _fresh_steps(5, change=change)
    for x, y in zip(ws + states, ref_ws + ref_states):
        assert x.tobytes() == y.tobytes()


def test_strided_tensors_in_a_staged_group_are_gathered_afresh(plans):
    """A staged tensor that is not contiguous is gathered through a copy: the copy must be
    taken at every call, not kept with the plan.  The gradients change in place between
    steps and the results are compared with a fresh optimizer's."""
    rng = np.random.default_rng(3)
    base_w = rng.standard_normal((40, 6)).astype(np.float32)
    base_g = rng.standard_normal((40, 6)).astype(np.float32)

    def setup():
        opt = rmsprop.RMSProp(learning_rate=0.01)
        ws = [base_w[:, ::2].copy(order="F")[::2], rng_copy(0), base_w[::3, 1:4].copy()]
        gs = [base_g[:, ::2].copy()[::2], rng_copy(1), base_g[::3, 1:4].copy()]
        return opt, ws, gs, [opt.create_state(i, w) for i, w in enumerate(ws)]

    def rng_copy(k):
        return np.random.default_rng(10 + k).standard_normal(50).astype(np.float32)

    opt, ws, gs, states = setup()
    assert not ws[0].flags.c_contiguous and not ws[0].flags.f_contiguous
    ref = setup()
    for step in range(3):
        for g, gr in zip(gs, ref[2]):
            g *= np.float32(1.5)
            gr *= np.float32(1.5)
        opt.update([0, 1, 2], ws, gs, states)
        ref[0]._validated = None
        ref[0].update([0, 1, 2], ref[1], ref[2], ref[3])
    assert plans[0] == 4                                      # 1 kept + 3 for the reference
    for x, y in zip(ws + states, ref[1] + ref[3]):
        assert x.tobytes() == y.tobytes()
