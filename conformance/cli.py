"""The ``rmsprop-conformance`` command.

Exit codes: 0 conforms / verified, 1 does not conform / stale corpus, 2 bad usage
or unreadable input (the message names the file and line).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

__all__ = ["main"]

DTYPE_CHOICES = ("float16", "float32", "float64", "bfloat16")  # conformance.families.DTYPES, without importing NumPy


def _cmd_generate(args):
    from .corpus import generate
    from .verify import default_fixture_dir

    out = args.out or default_fixture_dir(must_exist=False)
    man = generate(out, families=args.family or None, processes=args.jobs, progress=not args.quiet)
    size = sum(f["bytes"] for f in man["files"].values())
    print(f"wrote {man['total_cases']} cases in {len(man['files'])} files ({size / 1e6:.2f} MB) to {out}")
    return 0


def _cmd_verify(args):
    from .verify import default_fixture_dir, verify

    ok, messages = verify(args.dir or default_fixture_dir(), regenerate=not args.no_regenerate,
                          progress=not args.quiet)
    for m in messages:
        print(m)
    return 0 if ok else 1


def _detail(case):
    """What a failed case shows: the port's error, or its first failing elements (two outputs)."""
    return case["error"] or json.dumps([dict(o["first_failure"], output=o["name"])
                                        for o in case["outputs"] if o["failed"]][:2])


def _cmd_score(args):
    from . import reports
    from .score import score

    known, started = reports.preload(args.expectations), time.time()
    report = score(args.fixtures, args.results, dialect=args.dialect, level=args.level,
                   flush_denormals=args.flush_denormals)
    reports.apply(report, known)
    print(f"dialect {args.dialect}, level {args.level}, {_mode(report.flush_denormals)}")
    print(report.table())
    for case in report.failures()[:10]:
        print(f"FAILED {case['id']}: {_detail(case)}")
    reports.notes(report)
    reports.write(report, reports.provenance("score", fixture_dir=args.fixtures, dialect=args.dialect, level=args.level,
                                             started=started, results=args.results, expectations=report.expectations,
                                             flush_denormals=report.flush_denormals),
                  args.json, args.html)
    return 0 if report.passed else 1


def _cmd_check(args):
    import shlex

    from . import reports
    from .verify import default_fixture_dir

    if (args.target is None) == (args.cmd is None):
        raise ValueError("check takes exactly one port: a Python TARGET or --cmd PROGRAM")
    fixtures = args.fixtures or default_fixture_dir()
    known, started = reports.preload(args.expectations), time.time()
    if args.cmd is not None:
        from .cmdport import check_cmd

        if args.level == "optimizer":
            raise ValueError("--cmd ports answer kernel cases only; for optimizer sequences write "
                             "RESULTS.jsonl and run score")
        name, dialect, level, target = args.cmd, args.dialect or "mxnet2", "kernel", "--cmd " + shlex.quote(args.cmd)
        _check_dtypes(args.dtype, dialect)
        report = check_cmd(args.cmd, dialect, fixtures, seed=args.seed, samples=args.samples, timeout=args.timeout,
                           only=args.case, dtypes=args.dtype, replay=args.replay, memory_limit_mib=args.memory_limit,
                           flush_denormals=args.flush_denormals, exhaustive=args.exhaustive)
        libraries = None
    else:
        from .check import check
        from .isolation import IsolatedPort

        if args.dtype:
            raise ValueError("--dtype selects the cases of --cmd PROGRAM only")
        with IsolatedPort(args.target, args.level, args.memory_limit) as port:
            name, dialect, level, target = port.name, args.dialect or port.dialect, args.level, shlex.quote(args.target)
            report = check(port, dialect, args.level, fixtures, seed=args.seed, samples=args.samples,
                           timeout=args.timeout, only=args.case, replay=args.replay,
                           flush_denormals=args.flush_denormals, exhaustive=args.exhaustive)
        libraries = port.libraries
    if not report.cases:
        raise ValueError(f"no cases ran for {name!r} (dialect {dialect}, level {level}"
                         + (f", case {args.case!r}" if args.case else "")
                         + (f", dtype {' '.join(args.dtype)}" if args.dtype else "") + ")"
                         + ("; sweep cases need --exhaustive FORMAT" if (args.case or "").startswith("exhaustive/")
                            and not args.exhaustive else ""))
    reports.apply(report, known, None if args.cmd is not None else port.expectations)
    print(f"port {name}, dialect {dialect}, level {level}, seed {args.seed}, {_mode(report.flush_denormals)}")
    print(report.table())
    for case in report.failures()[:10]:
        print(f"FAILED {case['id']}: {_detail(case)}")
        if case["id"] == "replay":  # its repro is the --replay line below
            continue
        print(f"  repro: rmsprop-conformance check {target} --dialect {dialect} {_mode_flag(args)}--seed {args.seed} "
              + (f"--samples {args.samples} " if case["id"].startswith("sampled/") else "")
              + (f"--exhaustive {args.exhaustive} " if case["id"].startswith("exhaustive/") else "")
              + "".join(f"--dtype {d} " for d in args.dtype or ())
              + (f"--fixtures {shlex.quote(args.fixtures)} " if args.fixtures else "")
              + f"--case {shlex.quote(case['id'])}")
    not_run = [c["id"] for c in report.cases if (c["error"] or "").startswith("not run:")]
    if not_run:
        why = next(c["error"] for c in report.cases if c["id"] == not_run[0])[len("not run: "):]
        print(f"GAVE UP on the port: {len(not_run)} cases not run, from {not_run[0]} on ({why})")
    from .generated import report_lines

    smallest = report_lines(report, (target + " " + _mode_flag(args)).strip(), dialect)
    if args.exhaustive:
        from .exhaustive import report_lines as sweep_lines

        smallest += sweep_lines(report, (target + " " + _mode_flag(args)).strip(), dialect)
    if smallest:
        print("\n".join(smallest))
    reports.notes(report, warn_unused=not args.case)
    reports.write(report, reports.provenance(
        "check", fixture_dir=fixtures, dialect=dialect, level=level, started=started, port_name=name, target=target,
        seed=args.seed, samples=args.samples, timeout=args.timeout, expectations=report.expectations,
        fixtures_arg=args.fixtures, smallest_failing_case="\n".join(smallest) or None, dtypes=args.dtype,
        flush_denormals=report.flush_denormals, port_libraries=libraries, exhaustive=args.exhaustive),
        args.json, args.html)
    return 0 if report.passed else 1


def _check_dtypes(dtypes, dialect):
    """ValueError (exit 2) for a ``--dtype`` that ``dialect``'s real system has no kernel for."""
    from .families import dtypes_of

    own = dtypes_of(dialect)
    for d in dtypes or ():
        if d not in own:
            raise ValueError(f"--dtype {d}: dialect {dialect} has no {d} kernel (its real system takes "
                             f"{', '.join(own)})")


def _mode(flush):
    return "denormals flushed (DAZ/FTZ)" if flush else "denormals kept (IEEE subnormals)"


def _mode_flag(args):
    """The denormal flag of the command line, for repro lines ('' when it was not given)."""
    return {None: "", True: "--flush-denormals ", False: "--no-flush-denormals "}[args.flush_denormals]


def _cmd_matrix(args):
    from .fingerprint import format_matrix, matrix

    table = matrix(args.flush_denormals)
    if args.flush_denormals is not None:
        print(f"every dialect with {_mode(args.flush_denormals)}")
    print(format_matrix(table))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({fam: {f"{a}~{b}": (None if v is None else sorted(v)) for (a, b), v in row.items()}
                       for fam, row in table.items()}, f, indent=1)
    return 0


def _cmd_fingerprint(args):
    from .fingerprint import MODES, PROBE_FAMILIES, fingerprint, matches
    from .isolation import IsolatedPort

    modes = MODES if args.flush_denormals is None else (args.flush_denormals,)
    with IsolatedPort(args.target, "kernel", args.memory_limit) as port:
        if not port.has_kernel:
            raise ValueError(f"{args.target!r} has no kernel-level port to fingerprint")
        result = fingerprint(port, timeout=args.timeout, modes=modes)
    found = matches(result)
    shown = ", ".join(f"{d} ({_flushes(ok)})" for d, ok in found)
    print(f"port {port.name} matches: {shown or 'no dialect'}")
    matched = dict(found)
    closest = {}  # per dialect, the rows of the mode it matches, else of the mode it departs least in
    for d in next(iter(result.values())):
        m = matched[d][0] if d in matched else \
            min(modes, key=lambda m: sum(v not in ("match", "n/a") for v in result[m][d].values()))
        closest[d] = result[m][d]
        if d not in matched:
            departs = [f"{f} ({v})" if v.startswith("error") else f for f, v in closest[d].items()
                       if v not in ("match", "n/a")]
            print(f"  {d:11s} departs on: {', '.join(departs)}")
    print(f"(probe families: {', '.join(PROBE_FAMILIES)})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"port": port.name, "matches": [d for d, _ in found],
                       "flushes": {d: (ok[0] if len(ok) == 1 else None) for d, ok in found},
                       "dialects": closest, "modes": {("flush" if m else "keep"): r for m, r in result.items()}},
                      f, indent=1)
    return 0 if found else 1


def _flushes(modes):
    """What the matching modes say of a port: it flushes, keeps subnormals, or nothing told them apart."""
    if len(modes) == 2:
        return "either denormal mode"
    return "flushes denormals: DAZ/FTZ" if modes[0] else "keeps denormals: IEEE"


def _dialects():
    from oracle.dialects import DIALECTS

    return list(DIALECTS)


def _builtins():
    from .ports import BUILTINS

    return ", ".join(BUILTINS)


def _mebibytes(text):
    """A ``--memory-limit``: a whole number of MiB, 0 for none (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of MiB (0 for no limit), not {text!r}")
    return value


def _port_process_options(parser):
    from .process import MEMORY_LIMIT_MIB, STRIKES

    parser.add_argument("--timeout", type=_seconds, default=10.0,
                        help=f"seconds per case before it fails as hung (default 10); after {STRIKES} hangs or "
                        "crashes in a row the port is given up and the rest of the cases fail as not run")
    parser.add_argument("--memory-limit", type=_mebibytes, default=MEMORY_LIMIT_MIB, metavar="MIB",
                        help=f"resident memory of the port's process before it is killed and the case fails "
                        f"(default {MEMORY_LIMIT_MIB}; 0 for none)")


def _seconds(text):
    """A ``--timeout``: a positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds, not {text!r}")
    return value


def _flush_option(parser, text):
    parser.add_argument("--flush-denormals", dest="flush_denormals", action=argparse.BooleanOptionalAction,
                        default=None, help=text)


def build_parser():
    p = argparse.ArgumentParser(prog="rmsprop-conformance",
                                description="Reference oracle and conformance suite for MXNet's RMSProp.")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write the golden corpus from the oracle")
    g.add_argument("--out", help="directory (default: the corpus that came with the package)")
    g.add_argument("--family", action="append", help="only this family (repeatable)")
    g.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_generate)

    v = sub.add_parser("verify-fixtures", help="check checksums, schema and counts, and that regeneration is identical")
    v.add_argument("dir", nargs="?", help="fixture directory (default: the corpus that came with the package)")
    v.add_argument("--no-regenerate", action="store_true", help="skip the byte comparison with a fresh generation")
    v.add_argument("--quiet", action="store_true")
    v.set_defaults(func=_cmd_verify)

    c = sub.add_parser("check", help="run a port through the fixtures and sampled cases")
    c.add_argument("target", nargs="?", help=f"built-in port ({_builtins()}) or module:attribute; "
                   "it runs in a worker process of its own, so a crash or hang fails only its case")
    c.add_argument("--cmd", metavar="PROGRAM", help="instead of TARGET: a program in any language that answers "
                   "kernel cases as JSON lines on stdin/stdout (fixtures/README.md)")
    c.add_argument("--dtype", action="append", choices=DTYPE_CHOICES,
                   help="with --cmd: only cases of this dtype (repeatable)")
    c.add_argument("--dialect", choices=_dialects(), metavar="NAME",
                   help=f"dialect to judge against: {', '.join(_dialects())} (default: the port's; mxnet2 "
                   "for module:attribute and --cmd)")
    c.add_argument("--level", default="all", choices=["kernel", "optimizer", "all"])
    c.add_argument("--seed", type=int, default=0, help="explore other sampled cases (default 0)")
    c.add_argument("--samples", type=int, default=200, help="sampled kernel cases (default 200)")
    _port_process_options(c)
    c.add_argument("--exhaustive", metavar="FORMAT", choices=("float16", "bfloat16"),
                   help="also sweep every bit pattern of this 16-bit format (float16 or bfloat16) through each "
                   "input, over a grid of configs and points (README: Exhaustive 16-bit sweep)")
    c.add_argument("--case", help="run only this case id (the repro of a failure)")
    c.add_argument("--replay", metavar="JSON", help="run only this one case, given inline (the repro that "
                   "check prints for the smallest failing generated case)")
    c.add_argument("--fixtures", help="fixture directory (default: the corpus that came with the package)")
    c.add_argument("--json", help="also write the report as JSON here (with provenance)")
    c.add_argument("--html", help="also write a self-contained HTML report here")
    c.add_argument("--expectations", metavar="FILE", help="known deviations (JSON list of {pattern, reason}); "
                   "default: the built-in port's own file, if any; 'none' for no file")
    _flush_option(c, "judge with subnormals flushed to zero (DAZ/FTZ) or kept (IEEE); default: the port's "
                     "own (the real mxnet2 port flushes, as MXNet 2 ships), else the dialect's")
    c.set_defaults(func=_cmd_check)

    m = sub.add_parser("matrix", help="for every pair of dialects, the families on which they agree")
    m.add_argument("--json", help="also write the table as JSON here")
    _flush_option(m, "evaluate every dialect with subnormals flushed (DAZ/FTZ) or kept (IEEE); "
                     "default: each dialect's own")
    m.set_defaults(func=_cmd_matrix)

    f = sub.add_parser("fingerprint", help="which dialects a kernel-level port matches, and where it departs")
    f.add_argument("target", help=f"built-in port ({_builtins()}) or module:attribute (run in a worker process)")
    _port_process_options(f)
    f.add_argument("--json", help="also write the result as JSON here")
    _flush_option(f, "match against the dialects with subnormals flushed (DAZ/FTZ) or kept (IEEE); default: "
                     "the port's own mode, else each dialect's (the port's flushing is reported either way)")
    f.set_defaults(func=_cmd_fingerprint)

    s = sub.add_parser("score", help="judge a non-Python port's RESULTS.jsonl against the fixtures")
    s.add_argument("fixtures", help="fixture directory")
    s.add_argument("results", help="the port's RESULTS.jsonl")
    s.add_argument("--dialect", default="mxnet2", choices=_dialects(), metavar="NAME",
                   help=f"which dialect's cases the port answers: {', '.join(_dialects())} (default mxnet2)")
    s.add_argument("--level", default="all", choices=["kernel", "optimizer", "all"],
                   help="kernel cases, optimizer sequences (mxnet2 only), or both (default)")
    s.add_argument("--json", help="also write the report as JSON here (with provenance)")
    s.add_argument("--html", help="also write a self-contained HTML report here")
    s.add_argument("--expectations", metavar="FILE", help="known deviations (JSON list of {pattern, reason})")
    _flush_option(s, "judge with subnormals flushed to zero (DAZ/FTZ) or kept (IEEE); default: the dialect's")
    s.set_defaults(func=_cmd_score)
    return p


def main(argv=None):
    from .corpus import FixtureError
    from .ports import PortError

    import os

    if os.getcwd() not in sys.path:  # module:attribute targets import from here, as with `python -m`
        sys.path.insert(0, os.getcwd())
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad usage, 0 for --help
        return int(exc.code or 0)
    try:
        return args.func(args)
    except (FixtureError, PortError) as exc:
        print(f"rmsprop-conformance: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"rmsprop-conformance: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
