"""Cost of ``check numpy --exhaustive FORMAT``, by part, against a default ``check numpy``.

Run ``python3 benchmarks/bench_exhaustive.py`` (``--format bfloat16``, ``--dialect``,
``--port TARGET``: a kernel port as ``module:attribute`` or ``numpy``).  It prints a machine
line, then:

* the anchor: the wall time of a default ``rmsprop-conformance check numpy`` (fixtures and
  200 samples), and of the same command with ``--exhaustive FORMAT``, each a fresh process
  run from here, in turn (``--repeats`` times; medians);
* in this process, the sweep's parts over all its cases: building the specs
  (``exhaustive.sweep_specs``), the oracle alone (``oracle.evaluate``, with the share of
  elements it sends to its exact path), the golden case line (``corpus.golden``: the oracle
  again, and the encoding), decoding the line (``check.kernel_request``), the port's call (in
  this process, no worker), the judge (``judge_output``), and peak RSS.

Each part is printed as seconds and as a ratio to the anchor measured in the same run, so
a slower or faster machine moves the seconds but not (much) the ratios.  No timing is asserted.
"""
import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

import oracle  # noqa: E402
from conformance.check import kernel_request  # noqa: E402
from conformance.corpus import golden  # noqa: E402
from conformance.exhaustive import sweep_specs  # noqa: E402
from conformance.judge import judge_output  # noqa: E402
from conformance.ports import resolve  # noqa: E402


def _cpu_model():
    """The processor's model name (Linux), or the platform's word for it."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        return platform.processor()


def wall(argv, env):
    t0 = time.perf_counter()
    rc = subprocess.run([sys.executable, "-m", "conformance.cli", *argv], env=env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL).returncode
    return time.perf_counter() - t0, rc


def parts(dialect, fmt, port):
    """Seconds per part over the whole sweep, and the counts."""
    t = dict.fromkeys(("build", "oracle", "golden", "decode", "port", "judge"), 0.0)
    cases = elements = exact = judged = 0
    t0 = time.perf_counter()
    specs = list(sweep_specs(dialect, fmt))
    t["build"] = time.perf_counter() - t0
    for spec in specs:
        inp = spec["inputs"]
        state = {k: v for k, v in inp.items() if k not in ("weight", "grad")}
        t0 = time.perf_counter()
        ev = oracle.evaluate(inp["weight"], inp["grad"], state, spec["hp"], dialect)
        t1 = time.perf_counter()
        case = golden(spec, other_mode=False)
        t2 = time.perf_counter()
        request, verdicts = kernel_request(case)
        t3 = time.perf_counter()
        weight, grad, st, hp, _names = request
        new_w, new_state = port(weight.copy(), grad.copy(), {k: v.copy() for k, v in st.items()}, hp)
        actual = dict(new_state, weight=new_w)
        t4 = time.perf_counter()
        for k in verdicts:
            judged += judge_output(k, *verdicts[k], actual[k]).elements
        t5 = time.perf_counter()
        t["oracle"] += t1 - t0
        t["golden"] += t2 - t1
        t["decode"] += t3 - t2
        t["port"] += t4 - t3
        t["judge"] += t5 - t4
        cases, elements, exact = cases + 1, elements + inp["weight"].size, exact + ev.exact_elements
    return t, cases, elements, exact, judged


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--format", default="float16", choices=("float16", "bfloat16"))
    ap.add_argument("--dialect", default="mxnet2")
    ap.add_argument("--port", default="numpy", help="kernel port for the parts (built-in or module:attribute)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each command (median)")
    args = ap.parse_args(argv)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()} {_cpu_model()}, "
          f"cpus {os.cpu_count()}, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    base, sweep = [], []
    for _ in range(args.repeats):
        base.append(wall(["check", "numpy"], env)[0])
        s, rc = wall(["check", "numpy", "--exhaustive", args.format], env)
        sweep.append(s)
    anchor = statistics.median(base)
    print(f"anchor: check numpy {anchor:.1f} s (median of {len(base)})")
    print(f"check numpy --exhaustive {args.format}: {statistics.median(sweep):.1f} s, "
          f"{statistics.median(sweep) / anchor:.2f}x the anchor (exit {rc})")
    port = resolve(args.port, "kernel").kernel
    t, cases, elements, exact, judged = parts(args.dialect, args.format, port)
    print(f"sweep {args.dialect} {args.format}: {cases} cases, {elements} input elements per array, "
          f"{judged} output elements judged, exact path {exact} elements ({exact / elements:.2%})")
    for k, v in t.items():
        print(f"  {k:7s} {v:7.2f} s  {v / anchor:5.2f}x the anchor")
    total = sum(t.values()) - t["oracle"]  # golden runs the oracle again
    print(f"  total   {total:7.2f} s  {total / anchor:5.2f}x the anchor (less the oracle alone); "
          f"peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
