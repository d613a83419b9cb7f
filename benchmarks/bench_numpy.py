"""Throughput of the production RMSProp (both engines) against torch, naive NumPy
and the memory-streaming floor.

Run ``python3 benchmarks/bench_numpy.py`` (``--quick`` for a smoke run).  Each
case is timed in this one process for these implementations:

* ``numba`` / ``numpy``: ``rmsprop.RMSProp.update`` / ``update_multi_precision``
  (validated, threaded) with the compiled engine and with the NumPy ufunc engine
  (the numba column is skipped with a message if numba is not usable);
* ``torch``: ``torch.optim.RMSprop(foreach=True)`` on CPU (skipped with a message
  if torch is missing); for float16 it keeps float32 master parameters, copies
  the float16 gradient into their ``.grad`` and copies the result back;
* ``naive``: a direct NumPy transliteration of the update on whole arrays;
* ``floor``: a plain numba loop over the compiled engine's own tables (same
  tensors, same thread shares) that reads every array the update reads and writes
  every array it writes, with one addition per element and no other arithmetic:
  the streaming floor of this machine for those bytes, measured in the same run.

Effective bandwidth counts each array element read or written once: float32
non-centered moves 20 bytes per element (read w, g, var; write w, var), centered
36 (read w, g, mean, var, mom; write w, mean, var, mom), float16 with float32
master 20 (read g16, w32, var; write w32, var, w16).  The implementations run in
turn, round after round (``--repeats`` rounds; in each, per implementation, one
untimed call then three timed ones); a time is the median of all its timed calls,
and a ratio is the median over the rounds of that round's ratio of medians, with
the lowest and highest per-round ratio beside it (how far the machine's noise
moves it).  "vs torch" and "vs naive" are the other's time over ours (above 1:
ours is faster); "floor share" is the floor's time over ours (1 would be the
memory limit).  The gradients stay fixed between steps, which is fine for the
handful of steps timed here.  The first call of each compiled kernel compiles it
or loads it from numba's disk cache; those times are printed at the end.

The NumPy engine's ratios depend on the machine, so the run first prints the
anchors they hang on (:func:`machine_anchors`): it makes one NumPy ufunc pass per
rounded operation over cache-sized blocks (11 per block non-centered, 18 centered,
in MXNet's order), while torch streams whole arrays from memory.  A machine whose
in-cache passes are slow relative to its memory bandwidth, or whose threads share a
core's throughput, gives lower ratios.  The compiled engine does every operation of
an element in registers and is bounded by the floor.
"""
import argparse
import os
import statistics
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import rmsprop  # noqa: E402

try:
    import torch
except ImportError:                      # pragma: no cover - depends on the environment
    torch = None

LR, RHO, MOM, EPS = 1e-3, 0.95, 0.9, 1e-8


def tensor_sizes(n=500, lo=1, hi=100_000):
    """Deterministic log-uniform sizes in [lo, hi] (golden-ratio sequence)."""
    frac = (np.arange(n) * 0.6180339887498949) % 1.0
    return np.round(np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * frac)).astype(int).tolist()


def interleaved(fns, rounds, per_round=3):
    """Median seconds per call of each callable (None stays None) and, per callable,
    its median of each round.  Each round runs every callable in turn: one untimed
    call (which absorbs what the previous one left behind, e.g. torch's OpenMP threads
    still spinning), then ``per_round`` timed calls; a slow spell of this shared
    machine thus hits all of them alike."""
    times = [[] for _ in fns]
    per = [[] for _ in fns]
    for _ in range(rounds):
        for k, f in enumerate(fns):
            if f is None:
                continue
            f()
            mine = []
            for _ in range(per_round):
                t0 = time.perf_counter()
                f()
                mine.append(time.perf_counter() - t0)
            times[k] += mine
            per[k].append(statistics.median(mine))
    return [statistics.median(t) if t else None for t in times], per


def ratio(per, num, den):
    """``(median, lowest, highest)`` over the rounds of ``per[num] / per[den]`` (round by
    round), or None when either was not run."""
    if not per[num] or not per[den]:
        return None
    r = [a / b for a, b in zip(per[num], per[den])]
    return statistics.median(r), min(r), max(r)


def machine_anchors(threads, rounds=7):
    """``(pass_ps, together, stream_gbs)``, medians over ``rounds``: the picoseconds
    per element of one float32 ufunc pass (``np.multiply`` by a scalar into a second
    array) over one engine block, on one thread; how many times one thread's rate
    ``threads`` threads get when each runs such passes at once; and the GB/s (read
    plus write) of one thread's in-place pass over a 64 MiB array."""
    block = rmsprop._engine.group_limits(np.float32)[0]
    reps = max(1, (1 << 26) // block)     # about 8 ms of passes per thread
    bufs = [(np.ones(block, np.float32), np.ones(block, np.float32)) for _ in range(threads)]
    big = np.ones(16 << 20, np.float32)
    half = np.float32(0.5)

    def passes(k):
        a, b = bufs[k]
        for _ in range(reps):
            np.multiply(a, half, b)

    def together():
        workers = [threading.Thread(target=passes, args=(k,)) for k in range(threads)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return time.perf_counter() - t0

    one, many, stream = [], [], []
    passes(0)
    for _ in range(rounds):
        t0 = time.perf_counter()
        passes(0)
        one.append(time.perf_counter() - t0)
        many.append(together())
        t0 = time.perf_counter()
        np.multiply(big, np.float32(1), big)
        stream.append(time.perf_counter() - t0)
    t1, tn, ts = (statistics.median(x) for x in (one, many, stream))
    return t1 / (reps * block) * 1e12, threads * t1 / tn, big.nbytes * 2 / ts / 1e9


def make_data(sizes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(n, dtype=np.float32).astype(dtype) for n in sizes]
    gs = [rng.standard_normal(n, dtype=np.float32).astype(dtype) for n in sizes]
    return ws, gs


def ours(sizes, centered, f16, engine):
    """``RMSProp.update`` (``update_multi_precision`` for float16) with ``engine``; the
    callable and its optimizer."""
    ws, gs = make_data(sizes, np.float16 if f16 else np.float32)
    opt = rmsprop.RMSProp(learning_rate=LR, rho=RHO, momentum=MOM, epsilon=EPS,
                          centered=centered, multi_precision=f16)
    states = [opt.create_state_multi_precision(i, w) for i, w in enumerate(ws)]
    idx = list(range(len(ws)))
    step = opt.update_multi_precision if f16 else opt.update

    def run():
        rmsprop.configure(engine=engine)      # each optimizer keeps its own plan
        step(idx, ws, gs, states)
    return run, opt


def naive(sizes, centered, f16):
    """Whole-array NumPy with the MXNet operation order (float32 math)."""
    ws, gs = make_data(sizes, np.float16 if f16 else np.float32)
    f = np.float32
    lr, rho, omr, mom, eps = f(LR), f(RHO), f(1) - f(RHO), f(MOM), f(EPS)
    masters = [w.astype(np.float32) for w in ws] if f16 else ws
    st = [[np.zeros(w.shape, np.float32) for _ in range(3 if centered else 1)] for w in ws]

    def run():
        for w16, w, g, s in zip(ws, masters, gs, st):
            g = g.astype(np.float32) if f16 else g
            g = g + f(0) * w
            if centered:
                mean, var, m = s
                var[:] = omr * g * g + rho * var
                mean[:] = omr * g + rho * mean
                m[:] = mom * m - lr * g / np.sqrt(var - mean * mean + eps)
                w += m
            else:
                var = s[0]
                var[:] = omr * (g * g) + rho * var
                w -= lr * (g / (np.sqrt(var) + eps))
            if f16:
                w16[:] = w
    return run


def torch_case(sizes, centered, f16):
    if torch is None:
        return None
    ws, gs = make_data(sizes, np.float16 if f16 else np.float32)
    params = []
    for w, g in zip(ws, gs):
        p = torch.nn.Parameter(torch.from_numpy(w.astype(np.float32) if f16 else w))
        p.grad = torch.from_numpy(g.astype(np.float32) if f16 else g)
        params.append(p)
    opt = torch.optim.RMSprop(params, lr=LR, alpha=RHO, eps=EPS, centered=centered,
                              momentum=MOM if centered else 0.0, foreach=True)
    if not f16:
        return opt.step
    w16 = [torch.from_numpy(w) for w in ws]
    g16 = [torch.from_numpy(g) for g in gs]

    def run():
        with torch.no_grad():
            torch._foreach_copy_([p.grad for p in params], g16)
            opt.step()
            torch._foreach_copy_(w16, [p.detach() for p in params])
    return run


def _stream_kernel():
    """The floor's numba kernel: over the compiled engine's chunk table and thread shares,
    read every array the update reads and write every array it writes (``v += g`` and
    alike; with multi-precision ``w16 = g16`` and ``v += 1``)."""
    import numba
    from numba import prange
    from rmsprop._numba_half import as_ptr
    from rmsprop._numba_kernels import _NoAliasCompiler

    @numba.njit(pipeline_class=_NoAliasCompiler, error_model="numpy")
    def run(pw, pg, pv, pm, po, pl, n, one, km, kl):
        for i in range(n):
            if kl is None:
                a = pg[i]
            else:
                pl[i] = pg[i]
                a = one
            pv[i] = pv[i] + a
            if km is not None:
                pm[i] = pm[i] + a
                po[i] = po[i] + a
            pw[i] = pw[i] + a

    @numba.njit(parallel=True, nogil=True)
    def stream(ch, starts, hp, fl, kw, kg, km, kl):
        for t in prange(starts.size - 1):
            for c in range(starts[t], starts[t + 1]):
                run(as_ptr(ch[c, 0], kw), as_ptr(ch[c, 1], kg), as_ptr(ch[c, 2], kw),
                    as_ptr(ch[c, 3], kw), as_ptr(ch[c, 4], kw), as_ptr(ch[c, 5], np.uint16(0)),
                    ch[c, 6], kw + 1, km, kl)
    return stream


def floor_case(sizes, centered, f16):
    """The streaming floor for a case: :func:`_stream_kernel` over the tables the compiled
    engine made for an optimizer of its own (same sizes and dtypes, same thread shares)."""
    import numba

    from rmsprop import _numba_engine
    run, opt = ours(sizes, centered, f16, "numba")
    run()
    groups = [g for g in opt._validated.plan.groups if g.chunks is not None]
    stream = _stream_kernel()

    def go():
        numba.set_num_threads(_numba_engine.threads(rmsprop.get_config()["num_threads"]))
        for g in groups:
            stream(*_numba_engine._args(g, False))
    return go


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = ap.parse_args(argv)
    big = 1 << 20 if args.quick else 16 << 20
    tag = "1M" if args.quick else "16M"
    many = tensor_sizes(50 if args.quick else 500)
    cases = [
        (f"{tag} f32 non-centered", [big], False, False, 20),
        (f"{tag} f32 centered", [big], True, False, 36),
        (f"{len(many)} tensors f32 non-centered", many, False, False, 20),
        (f"{len(many)} tensors f32 centered", many, True, False, 36),
        (f"{tag} f16 multi_precision", [big], False, True, 20),
    ]
    info = rmsprop.settings(engine="auto")
    compiled = info["engine_in_use"] == "numba"
    print(f"numpy {np.__version__}, torch {torch.__version__ if torch else 'missing'}, "
          f"numba {info['numba'] or 'missing'}, cpus {os.cpu_count()}, "
          f"engine settings {rmsprop.get_config()}")
    nthreads = rmsprop.get_config()["num_threads"]
    pass_ps, scale, gbs = machine_anchors(nthreads)
    print(f"machine: one in-cache float32 ufunc pass {pass_ps:.0f} ps/element on one thread; "
          f"{nthreads} threads together {scale:.2f}x one thread; one thread streaming "
          f"{gbs:.1f} GB/s")
    if not compiled:
        print(f"the numba engine and the floor are skipped: {info['engine_reason']}")
    else:
        print(f"numba threads {info['numba_threads']}, threading layer (after the first "
              f"call) reported below")
    if torch is None:
        print("torch is not installed: torch columns are skipped (pip install torch)")
    else:
        print(f"torch threads {torch.get_num_threads()}")
    names = ["numba", "numpy", "torch", "naive", "floor"]
    rows = []
    for name, sizes, centered, f16, bpe in cases:
        fns = [None] * 5
        if compiled:
            fns[0] = ours(sizes, centered, f16, "numba")[0]
            fns[0]()                                     # compiles or loads the kernels
            fns[4] = floor_case(sizes, centered, f16)
        fns[1] = ours(sizes, centered, f16, "numpy")[0]
        fns[2], fns[3] = torch_case(sizes, centered, f16), naive(sizes, centered, f16)
        med, per = interleaved(fns, args.repeats)
        rows.append((name, sum(sizes), bpe, med, per))
    rmsprop.configure(engine="auto")
    _print_times(names, rows)
    _print_ratios(rows)
    if compiled:
        info = rmsprop.settings()
        print(f"numba threading layer: {info['numba_threading_layer']}; disk cache: "
              f"{info['numba_cache']}")
        for kernel, c in info["numba_compile"].items():
            how = "loaded from the disk cache" if c["cache"] == "hit" else "compiled"
            print(f"first call of the {kernel} kernel: {how} in {c['seconds']:.2f} s, "
                  f"self-check {c['self_check_seconds']:.2f} s")


def _cell(t, nbytes):
    return f"{t * 1e3:9.2f} {nbytes / t / 1e9:6.1f}" if t else f"{'-':>9} {'-':>6}"


def _print_times(names, rows):
    hdr = f"{'case':<28} {'elements':>9} | " + " | ".join(f"{n + ' ms':>9} {'GB/s':>6}"
                                                         for n in names)
    print(hdr)
    print("-" * len(hdr))
    for name, n, bpe, med, _ in rows:
        print(f"{name:<28} {n:>9} | " + " | ".join(_cell(t, n * bpe) for t in med))


def _print_ratios(rows):
    cols = [("numba vs torch", 2, 0), ("numpy vs torch", 2, 1), ("numba floor share", 4, 0),
            ("numpy floor share", 4, 1), ("numba vs numpy", 1, 0), ("numba vs naive", 3, 0)]
    print("ratios: median over rounds [lowest-highest round]")
    hdr = f"{'case':<28} | " + " | ".join(f"{c[0]:>18}" for c in cols)
    print(hdr)
    print("-" * len(hdr))
    for name, _, _, _, per in rows:
        cells = []
        for _, num, den in cols:
            r = ratio(per, num, den)
            cells.append(f"{r[0]:5.2f}x [{r[1]:4.2f}-{r[2]:4.2f}]" if r else f"{'-':>18}")
        print(f"{name:<28} | " + " | ".join(f"{c:>18}" for c in cells))


if __name__ == "__main__":
    main()
