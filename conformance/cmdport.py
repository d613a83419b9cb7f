"""``check --cmd PROGRAM``: a kernel-level port in any language, as a program speaking JSON lines.

The program is started once (``shlex`` split, no shell) and kept running.  For each
case the suite writes one line to its stdin: the case in the fixture format with
the verdict (``expected``, ``allowed``, ``class``) removed.  The program writes one
line to its stdout: the answer in the RESULTS.jsonl format, decoded as ``score``
decodes it (``conformance.score.decode_outputs``) and judged by the same bound.  Each of these fails only its
own case, and the run goes on: an ``error`` answer, an answer that is not JSON, has
the wrong id, keys or bit patterns, non-JSON lines on stdout before the answer, an
exit, or no answer within ``timeout`` seconds (a line longer than 8 times the
case line, at least 1 MiB, is no answer), or resident memory past the limit.  After a
failure that can leave the pipes out of step (exit, timeout, memory, stray output,
wrong id) the program is killed and restarted for the next case; after three hangs
or crashes in a row the rest of the cases are not sent (``process.Child``, which
Python ports share).  Its stderr is drained continuously; the last lines go
into the failure message.  The generated cases are those of a Python port (same seed,
same ids; ``--dtype`` restricts them), and the first failing one is shrunk the same way.  Optimizer sequences are not sent: judging them step by
step needs the previous step's expected state, which would hand the port its answer.
POSIX only (``select`` on pipes, process groups).
"""
from __future__ import annotations

import json
import shlex

from .check import PortFailure, generated_phase, replay_into
from .codec import CodecError
from .corpus import FixtureError, dumps, kernel_arrays, load
from .judge import Report, judge_output
from .ports import PortError
from .process import MEMORY_LIMIT_MIB, Child, ProgramFailure
from .score import decode_outputs
from .validate import check_result

__all__ = ["Program", "ProgramFailure", "case_line", "fixture_cases", "answer_arrays", "check_cmd"]

VERDICT_KEYS = ("expected", "allowed", "class", "faithful", "flush_denormals", "other_mode")


def case_line(case) -> str:
    """What the port is sent: the fixture line of ``case`` without its verdict."""
    return dumps({k: v for k, v in case.items() if k not in VERDICT_KEYS})


class Program(Child):
    """A long-running port program: one line in, one line out, with a deadline per exchange."""

    def __init__(self, command: str, memory_limit_mib=MEMORY_LIMIT_MIB):
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise PortError(f"--cmd {command!r}: {exc}") from None
        if not argv:
            raise PortError("--cmd: empty program")
        super().__init__(argv, memory_limit_mib)
        self.command = command

    def what(self) -> str:
        return f"--cmd {self.command!r}"

    def ask(self, line: str, timeout: float) -> str:
        """Send ``line``, return the next stdout line; ProgramFailure on exit, timeout or stray output."""
        if self.proc is None:
            self.start()
        deadline = self.deadline(timeout)
        self._send((line + "\n").encode(), deadline, timeout)
        text = self._readline(deadline, timeout, max(1 << 20, 8 * len(line))).decode("utf-8", "replace")
        if not text.lstrip().startswith("{") and not _is_json(text):  # answers are parsed later
            raise ProgramFailure(f"wrote a line that is not an answer on stdout: {text[:200]!r} "
                                 f"(stdout carries only answer lines; log to stderr)")
        return text


def _is_json(text):
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def fixture_cases(dialect, fixture_dir, only=None, dtypes=None):
    """The dialect's kernel fixture cases, filtered by id and dtype."""
    for _p, _n, case in load(fixture_dir):
        if case["level"] == "kernel" and case["dialect"] == dialect and (not only or case["id"] == only) \
                and (not dtypes or case["dtype"] in dtypes):
            yield case


def answer_arrays(case, text, flush_denormals=None):
    """The decoded outputs of one answer line and the case's verdict arrays (in the denormal
    mode ``flush_denormals``), decoded as ``score`` decodes a RESULTS line; ProgramFailure if
    the answer is unusable."""
    where = f"answer to {case['id']}"
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise ProgramFailure(f"answer is not valid JSON ({exc}): {text[:200]!r}", resync=False) from None
    if isinstance(answer, dict) and "id" in answer and answer["id"] != case["id"]:
        raise ProgramFailure(f"answered case {str(answer['id'])[:200]!r}, expected {case['id']!r}")
    try:
        check_result(answer, where)
        if "error" in answer:
            raise ProgramFailure(f"answered error: {answer['error']}", resync=False)
        _, verdicts = kernel_arrays(case, flush_denormals)
        return decode_outputs(answer, verdicts, where), verdicts
    except (FixtureError, CodecError) as exc:
        raise ProgramFailure(str(exc), resync=False) from None


def check_cmd(command, dialect, fixture_dir, seed=0, samples=200, timeout=10.0, only=None, dtypes=None,
              replay=None, memory_limit_mib=MEMORY_LIMIT_MIB, flush_denormals=None, exhaustive=None) -> Report:
    """Run the fixture cases and the generated ones through the program (the first generated
    failure shrunk, as for a Python port); each case's failure is its own.  ``flush_denormals``
    None judges in the dialect's default denormal mode; ``exhaustive``: a 16-bit format whose
    sweep runs last (``conformance.exhaustive``; whatever ``dtypes`` says)."""
    from oracle import DIALECTS, resolve_flush

    from .exhaustive import TIMEOUT_FACTOR, exhaustive_phase, require_format

    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    if exhaustive:
        require_format(exhaustive, dialect)
    flush = resolve_flush(dialect, flush_denormals)
    program, report = Program(command, memory_limit_mib), Report(flush_denormals=flush)
    report.shrunk = report.replayed = None

    def outputs(case, counted=True, seconds=timeout):
        return program.exchange(lambda: answer_arrays(case, program.ask(case_line(case), seconds), flush), counted)

    program.start()  # a program that cannot start at all is bad usage, before any case
    try:
        if replay is not None:
            replay_into(report, outputs, replay, dialect, flush)
            return report
        for case in fixture_cases(dialect, fixture_dir, only, dtypes):
            try:
                actual, verdicts = outputs(case)
            except PortFailure as exc:
                report.add_case(case["id"], case["families"], case["dtype"], [], error=str(exc))
                continue
            report.add_case(case["id"], case["families"], case["dtype"],
                            [judge_output(k, *verdicts[k], actual[k]) for k in verdicts])
        generated_phase(report, outputs, dialect, seed, samples, only, dtypes, flush_denormals=flush,
                        trial=lambda case: outputs(case, counted=False))
        if exhaustive:
            exhaustive_phase(report, lambda case: outputs(case, seconds=timeout * TIMEOUT_FACTOR), dialect,
                             exhaustive, only, flush)
    finally:
        program.stop()
    return report
