"""Small tensors updated in place: arena-allocated states and adjacent caller arrays.

The in-place group path is compared bit for bit with the staged path (states that
each own their memory) and with one update per tensor; tests also check that the
in-place path is really taken, so a silent fall-back to staging would fail them.
Groups are the NumPy engine's: those tests pin it (``numpy_engine``); the compiled
engine updates arena states in place like any contiguous array.
"""
import numpy as np
import pytest

import rmsprop
from rmsprop import _engine
from rmsprop._arena import CHUNK_BLOCKS, Arena
from tests import rmsprop_strategies as rs
from tests.rmsprop_engines import engine, numpy_engine  # noqa: F401 - fixtures

SIZES = [1, 7, 300, 2, 5000, 90_000, 0, 64, 1, 12_000, 3]


def _special(rng, n, dtype):
    """Normal values with NaN, +-inf, +-0 and subnormals mixed in."""
    x = rng.standard_normal(n).astype(dtype)
    tiny = np.finfo(dtype).smallest_subnormal
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny, 3 * tiny], dtype)
    if n:
        idx = rng.integers(0, n, size=max(1, n // 50))
        x[idx] = specials[rng.integers(0, specials.size, size=idx.size)]
    return x


def test_consecutive_small_states_are_adjacent_views():
    arena = Arena()
    block, small = _engine.group_limits(np.float32)
    a = arena.zeros((3, 4), np.float32, kind=1)
    b = arena.zeros((5,), np.float32, kind=1)
    other = arena.zeros((5,), np.float32, kind=2)
    big = arena.zeros((small + 1,), np.float32, kind=1)
    c = arena.zeros((2,), np.float32, kind=1)
    for x in (a, b, other, c):
        assert x.base is not None and x.flags.c_contiguous and x.flags.writeable
        assert not x.any()
    ptr = _engine._ptr
    assert a.shape == (3, 4) and b.base is a.base and ptr(b) == ptr(a) + a.nbytes
    assert ptr(c) == ptr(b) + b.nbytes              # the large one did not take arena room
    assert other.base is not a.base                 # each kind has its own chunks
    assert big.base is None and big.shape == (small + 1,)
    assert arena.zeros((0,), np.float32).base is None
    assert arena.zeros((), np.float64).shape == ()
    assert a.base.size == block * CHUNK_BLOCKS


def test_a_full_chunk_starts_a_new_one():
    with rmsprop.settings(block_size=1024, small=300):
        arena = Arena()
        xs = [arena.zeros((300,), np.float32) for _ in range(1024 * CHUNK_BLOCKS // 300 + 2)]
    bases = {id(x.base) for x in xs}
    assert len(bases) == 2
    assert all(x.base.size == 1024 * CHUNK_BLOCKS for x in xs)


def _group_views(opt):
    """The whole-group arrays of the kept plan's staged groups, by name."""
    out = []
    for unit in opt._validated.plan.serial:
        if unit[0] == 1:
            for lay in unit[3].values():
                out.append(lay[1])
    return out


def _run(centered, mp, own, steps=3, cfg=None, order=None, weights_in_one_buffer=False,
         sizes=SIZES):
    """Weights, states (and masters) after ``steps`` updates of tensors of ``sizes``
    (states made and updates run under the engine settings ``cfg``)."""
    with rmsprop.settings(min_parallel=0, **(cfg or {})):
        return _run_here(centered, mp, own, steps, order, weights_in_one_buffer, sizes)


def _run_here(centered, mp, own, steps, order, weights_in_one_buffer, sizes):
    rng = np.random.default_rng(7)
    dt = np.float16 if mp else np.float32
    if weights_in_one_buffer:
        buf = np.empty(sum(sizes), dt)
        ws, at = [], 0
        for n in sizes:
            ws.append(buf[at:at + n])
            at += n
        for w in ws:
            w[...] = _special(rng, w.size, dt)
    else:
        ws = [_special(rng, n, dt) for n in sizes]
    gs = [_special(rng, n, dt) for n in sizes]
    opt = rmsprop.RMSProp(learning_rate=0.01, rho=0.9, momentum=0.8, epsilon=1e-6, wd=0.01,
                          centered=centered, multi_precision=mp, clip_gradient=2.0)
    if own:                                   # every state owns its memory: staged path
        opt._arena = type("Plain", (), {
            "zeros": staticmethod(lambda shape, dtype, kind=0: np.zeros(shape, dtype)),
            "copy": staticmethod(lambda a, dtype, kind=0: a.astype(dtype))})()
    states = [opt.create_state_multi_precision(i, w) for i, w in enumerate(ws)]
    idx = list(range(len(ws))) if order is None else order
    for _ in range(steps):
        opt.update_multi_precision(idx, [ws[k] for k in idx], [gs[k] for k in idx],
                                   [states[k] for k in idx])
    flat = []
    for w, s in zip(ws, states):
        flat.append(w)
        if mp:
            flat.append(s[0])
            s = s[1]
        flat += list(s) if centered else [s]
    return flat, opt


def _same(xs, ys):
    assert len(xs) == len(ys)
    for x, y in zip(xs, ys):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(rs.bits(x), rs.bits(y))


@pytest.mark.usefixtures("numpy_engine")
@pytest.mark.parametrize("mp", [False, True], ids=["float32", "float16-master"])
@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
def test_in_place_groups_equal_staged_groups(centered, mp):
    staged, opt_s = _run(centered, mp, own=True)
    direct, opt_d = _run(centered, mp, own=False)
    _same(staged, direct)
    state_names = {"v", "m", "mo"} if centered else {"v"}
    if mp:
        state_names.add("w")                     # the float32 master copies
    staged_views, direct_views = _group_views(opt_s), _group_views(opt_d)
    assert staged_views and direct_views
    for views in direct_views:                   # the arena states are used in place
        for name in state_names:
            assert views[name].base is not None
            assert not np.shares_memory(views[name], _engine._scratch(
                views[name].dtype, _engine.group_limits(views[name].dtype)[0]).sv)
    s = _engine._scratch(np.dtype(np.float32), _engine.group_limits(np.float32)[0])
    staging = [s.sw, s.sv, s.sm, s.so]
    for views in staged_views:                   # the plain states go through staging
        for name in state_names:
            assert any(np.shares_memory(views[name], b) for b in staging)


@pytest.mark.usefixtures("numpy_engine")
@pytest.mark.parametrize("centered", [False, True], ids=["plain", "centered"])
def test_groups_end_at_chunk_ends_and_agree_with_per_tensor_updates(centered):
    # 1024-element blocks, chunks of 8192: groups [100, 300, 300, 300], then three 300s
    # each; tensors 1-26 fill the first chunk, so a group ends after tensor 26
    assert CHUNK_BLOCKS == 8
    sizes = [100] + [300] * 40 + [5000]
    cfg = {"block_size": 1024, "small": 1024, "num_threads": 2}
    ref, _ = _run(centered, False, own=True, sizes=sizes)
    got, opt = _run(centered, False, own=False, cfg=cfg, sizes=sizes)
    per_tensor, _ = _run(centered, False, own=False, cfg={"small": 0, "num_threads": 1},
                         sizes=sizes)
    _same(ref, got)
    _same(ref, per_tensor)
    groups = [u for u in opt._validated.plan.serial if u[0] == 1]
    assert [u[2] for u in groups] == [1000] + [900] * 7 + [600] + [900] * 4 + [600]
    assert all(views["v"].base.size == 8192 for views in _group_views(opt))   # in place


@pytest.mark.usefixtures("numpy_engine")
def test_a_group_straddling_two_buffers_is_staged():
    # states from two different buffers (not arena chunks): the engine does not split
    # the group, and the pieces are not adjacent, so the group is staged
    opt = rmsprop.RMSProp(learning_rate=0.1)
    ws = [np.ones(n, np.float32) for n in (3, 4, 5)]
    gs = [np.full(n, 0.5, np.float32) for n in (3, 4, 5)]
    b1, b2 = np.zeros(7, np.float32), np.zeros(5, np.float32)
    states = [b1[:3], b1[3:], b2]
    ref = [np.zeros(n, np.float32) for n in (3, 4, 5)]
    ref_w = [w.copy() for w in ws]
    for k in range(3):
        rmsprop.rmsprop_update(ref_w[k], gs[k], ref[k], lr=0.1, rho=0.9, epsilon=1e-8)
    opt.update([0, 1, 2], ws, gs, states)
    _same(ref_w + ref, ws + states)
    (views,) = _group_views(opt)
    assert views["v"].base is not b1 and views["v"].base is not b2
    assert _engine._adjacent([b1[:3], b1[3:]]).base is b1    # adjacent pieces of one buffer


@pytest.mark.usefixtures("numpy_engine")
def test_reordered_indices_fall_back_to_staging_with_the_same_result():
    order = list(range(len(SIZES)))[::-1]
    ref, _ = _run(True, False, own=True, order=order)
    got, opt = _run(True, False, own=False, order=order)
    _same(ref, got)
    s = _engine._scratch(np.dtype(np.float32), _engine.group_limits(np.float32)[0])
    for views in _group_views(opt):              # reversed pieces are not adjacent
        assert np.shares_memory(views["v"], s.sv)


@pytest.mark.usefixtures("numpy_engine")
@pytest.mark.parametrize("mp", [False, True], ids=["float32", "float16-master"])
def test_weights_from_one_flat_buffer_are_updated_in_place(mp):
    # all staged sizes: a large tensor in between would break the adjacency (and its
    # group would be staged), as it stays out of the buffer's groups
    sizes = [n for n in SIZES if n <= _engine.group_limits(np.float32)[1]]
    ref, _ = _run(False, mp, own=True, sizes=sizes)
    got, opt = _run(False, mp, own=False, weights_in_one_buffer=True, sizes=sizes)
    _same(ref, got)
    name = "wl" if mp else "w"
    views = _group_views(opt)
    assert views and all(v[name].base is not None and v[name].base.ndim == 1
                         and v[name].base.size == sum(sizes) for v in views)


@pytest.mark.usefixtures("engine")
def test_a_failed_update_leaves_arena_states_unchanged():
    opt = rmsprop.RMSProp(learning_rate=0.1, centered=True)
    ws = [np.ones(n, np.float32) for n in (3, 4, 5)]
    gs = [np.ones(n, np.float32) for n in (3, 4, 5)]
    states = [opt.create_state(i, w) for i, w in enumerate(ws)]
    opt.update([0, 1, 2], ws, gs, states)
    before = [np.concatenate([w] + list(s)) for w, s in zip(ws, states)]
    bad = list(gs)
    bad[2] = np.ones(6, np.float32)
    with pytest.raises(ValueError, match=r"weights\[2\]"):
        opt.update([0, 1, 2], ws, bad, states)
    after = [np.concatenate([w] + list(s)) for w, s in zip(ws, states)]
    _same(before, after)


def test_pickled_optimizer_starts_a_fresh_arena():
    import pickle
    opt = rmsprop.RMSProp()
    st = opt.create_state(0, np.ones(10, np.float32))
    clone = pickle.loads(pickle.dumps(opt))
    st2 = clone.create_state(0, np.ones(10, np.float32))
    assert st2.base is not st.base and not st2.any()
    assert len(pickle.dumps(opt)) < 10_000       # the chunks are not pickled
