"""Throughput of the production NumPy RMSProp against torch and naive NumPy.

Run ``python3 benchmarks/bench_numpy.py`` (``--quick`` for a smoke run).  Each
case is timed in this one process for three implementations:

* ``rmsprop``: ``rmsprop.RMSProp.update`` / ``update_multi_precision`` (blocked,
  threaded, validated);
* ``torch``: ``torch.optim.RMSprop(foreach=True)`` on CPU (skipped with a message
  if torch is missing); for float16 it keeps float32 master parameters, copies
  the float16 gradient into their ``.grad`` and copies the result back;
* ``naive``: a direct NumPy transliteration of the update on whole arrays.

Effective bandwidth counts each array element read or written once: float32
non-centered moves 20 bytes per element (read w, g, var; write w, var), centered
36 (read w, g, mean, var, mom; write w, mean, var, mom), float16 with float32
master 20 (read g16, w32, var; write w32, var, w16).  The three implementations
run in turn, round after round (``--repeats`` rounds; in each, per implementation,
one untimed call then three timed ones); a time is the median of all its timed
calls and a ratio ("vs torch", "vs naive") the median over the rounds of that
round's median divided by ours; "torch rounds" gives the lowest and highest of
the per-round ratios against torch, to show how much the machine's noise moves it.
The gradients stay fixed between steps, which is fine for the handful of steps
timed here.

The ratios depend on the machine, so the run first prints the anchors they hang on
(:func:`machine_anchors`): the engine makes one NumPy ufunc pass per rounded
operation over cache-sized blocks (11 per block non-centered, 18 centered, in
MXNet's order), while torch streams whole arrays from memory.  A machine whose
in-cache passes are slow relative to its memory bandwidth, or whose threads share a
core's throughput, gives lower ratios.
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
    """Median seconds per call of each callable (None stays None), the median over
    rounds of each one's median divided by the first's, and the lowest and highest of
    those per-round ratios.  Each round runs every callable in turn: one untimed call
    (which absorbs what the previous one left behind, e.g. torch's OpenMP threads still
    spinning), then ``per_round`` timed calls; a slow spell of this shared machine thus
    hits all of them alike."""
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
    med = [statistics.median(t) if t else None for t in times]
    each = [[b / a for a, b in zip(per[0], p)] for p in per]
    ratios = [statistics.median(r) if r else None for r in each]
    spread = [(min(r), max(r)) if r else None for r in each]
    return med, ratios, spread


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


def ours(sizes, centered, f16):
    ws, gs = make_data(sizes, np.float16 if f16 else np.float32)
    opt = rmsprop.RMSProp(learning_rate=LR, rho=RHO, momentum=MOM, epsilon=EPS,
                          centered=centered, multi_precision=f16)
    states = [opt.create_state_multi_precision(i, w) for i, w in enumerate(ws)]
    idx = list(range(len(ws)))
    if f16:
        return lambda: opt.update_multi_precision(idx, ws, gs, states)
    return lambda: opt.update(idx, ws, gs, states)


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
    print(f"numpy {np.__version__}, torch {torch.__version__ if torch else 'missing'}, "
          f"cpus {os.cpu_count()}, engine {rmsprop.get_config()}")
    nthreads = rmsprop.get_config()["num_threads"]
    pass_ps, scale, gbs = machine_anchors(nthreads)
    print(f"machine: one in-cache float32 ufunc pass {pass_ps:.0f} ps/element on one thread; "
          f"{nthreads} threads together {scale:.2f}x one thread; one thread streaming "
          f"{gbs:.1f} GB/s")
    if torch is None:
        print("torch is not installed: torch columns are skipped (pip install torch)")
    else:
        print(f"torch threads {torch.get_num_threads()}")
    hdr = (f"{'case':<28} {'elements':>9} | {'rmsprop ms':>10} {'GB/s':>6} | {'torch ms':>9} "
           f"{'GB/s':>6} | {'naive ms':>9} {'GB/s':>6} | {'vs torch':>8} {'torch rounds':>12} "
           f"{'vs naive':>8}")
    print(hdr)
    print("-" * len(hdr))
    for name, sizes, centered, f16, bpe in cases:
        n = sum(sizes)
        (t_ours, t_torch, t_naive), (_, r_torch, r_naive), (_, s_torch, _) = interleaved(
            [ours(sizes, centered, f16), torch_case(sizes, centered, f16),
             naive(sizes, centered, f16)], args.repeats)
        nbytes = n * bpe
        tt = (f"{t_torch * 1e3:9.2f} {nbytes / t_torch / 1e9:6.1f}" if t_torch
              else f"{'-':>9} {'-':>6}")
        rt = (f"{r_torch:7.2f}x {s_torch[0]:5.2f}-{s_torch[1]:.2f}x" if t_torch
              else f"{'-':>8} {'-':>12}")
        print(f"{name:<28} {n:>9} | {t_ours * 1e3:10.2f} {nbytes / t_ours / 1e9:6.1f} | {tt} | "
              f"{t_naive * 1e3:9.2f} {nbytes / t_naive / 1e9:6.1f} | {rt} "
              f"{r_naive:7.2f}x")


if __name__ == "__main__":
    main()
