"""``check --cmd PROGRAM``: a kernel-level port in any language, as a program speaking JSON lines.

The program is started once (``shlex`` split, no shell) and kept running.  For each
case the suite writes one line to its stdin: the case in the fixture format with
the verdict (``expected``, ``allowed``, ``class``) removed.  The program writes one
line to its stdout: the answer in the RESULTS.jsonl format, decoded as ``score``
decodes it (``conformance.score.decode_outputs``) and judged by the same bound.  Each of these fails only its
own case, and the run goes on: an ``error`` answer, an answer that is not JSON, has
the wrong id, keys or bit patterns, non-JSON lines on stdout before the answer, an
exit, or no answer within ``timeout`` seconds (a line longer than 8 times the
case line, at least 1 MiB, is no answer).  After a failure that can leave the
pipes out of step (exit, timeout, stray output, wrong id) the program is killed and
restarted for the next case.  Its stderr is drained continuously; the last lines go
into the failure message.  The generated cases are those of a Python port (same seed,
same ids; ``--dtype`` restricts them), and the first failing one is shrunk the same way.  Optimizer sequences are not sent: judging them step by
step needs the previous step's expected state, which would hand the port its answer.
POSIX only (``select`` on pipes, process groups).
"""
from __future__ import annotations

import collections
import json
import os
import select
import shlex
import signal
import subprocess
import threading
import time

from .check import PortFailure, generated_phase, replay_into
from .codec import CodecError
from .corpus import FixtureError, dumps, kernel_arrays, load
from .judge import Report, judge_output
from .ports import PortError
from .score import decode_outputs
from .validate import check_result

__all__ = ["Program", "ProgramFailure", "case_line", "fixture_cases", "answer_arrays", "check_cmd"]

VERDICT_KEYS = ("expected", "allowed", "class", "flush_denormals", "other_mode")


class ProgramFailure(Exception):
    """The program failed one case; ``resync`` when it must be restarted before the next."""

    def __init__(self, message, resync=True):
        super().__init__(message)
        self.resync = resync


def case_line(case) -> str:
    """What the port is sent: the fixture line of ``case`` without its verdict."""
    return dumps({k: v for k, v in case.items() if k not in VERDICT_KEYS})


class Program:
    """A long-running port process: one line in, one line out, with a deadline per exchange."""

    def __init__(self, command: str):
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise PortError(f"--cmd {command!r}: {exc}") from None
        if not self.argv:
            raise PortError("--cmd: empty program")
        self.command = command
        self.proc = None

    def start(self):
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, bufsize=0, start_new_session=True)
        except OSError as exc:
            raise PortError(f"--cmd {self.command!r} cannot be started: {exc.strerror or exc}") from None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self._out = b""
        self._err = collections.deque(maxlen=20)
        self._drain = threading.Thread(target=self._read_stderr, args=(self.proc.stderr, self._err), daemon=True)
        self._drain.start()

    @staticmethod
    def _read_stderr(pipe, tail):
        pending = b""
        for chunk in iter(lambda: os.read(pipe.fileno(), 1 << 16), b""):
            *lines, pending = (pending + chunk).split(b"\n")
            pending = pending[-4096:]
            tail.extend(line.decode("utf-8", "replace").rstrip("\r")[:300] for line in lines[-tail.maxlen:])
        if pending:
            tail.append(pending.decode("utf-8", "replace")[:300])

    def ask(self, line: str, timeout: float) -> str:
        """Send ``line``, return the next stdout line; ProgramFailure on exit, timeout or stray output."""
        if self.proc is None:
            self.start()
        deadline = time.monotonic() + timeout
        self._send((line + "\n").encode(), deadline, timeout)
        text = self._readline(deadline, timeout, max(1 << 20, 8 * len(line)))
        if not text.lstrip().startswith("{") and not _is_json(text):  # answers are parsed later
            raise ProgramFailure(f"wrote a line that is not an answer on stdout: {text[:200]!r} "
                                 f"(stdout carries only answer lines; log to stderr)")
        return text

    def _send(self, data, deadline, timeout):
        fd = self.proc.stdin.fileno()
        while data:
            if not select.select([], [fd], [], max(0.0, deadline - time.monotonic()))[1]:
                raise ProgramFailure(f"timed out after {timeout} s (not reading its stdin)" + self.stderr_tail())
            try:
                data = data[os.write(fd, data):]
            except BrokenPipeError:
                return  # exited: reading stdout finds the end and says how

    def _readline(self, deadline, timeout, limit) -> str:
        fd = self.proc.stdout.fileno()
        buf, end = bytearray(self._out), self._out.find(b"\n")
        while end < 0:  # the deadline holds even while output keeps coming without a newline
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ProgramFailure(f"timed out after {timeout} s without answering" + self.stderr_tail())
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise ProgramFailure(self._exit_message(deadline))
            at = chunk.find(b"\n")
            end = -1 if at < 0 else len(buf) + at
            buf += chunk
            if end < 0 and len(buf) > limit:
                raise ProgramFailure(f"wrote over {limit} bytes on stdout without a newline; an answer to "
                                     f"this case is far shorter" + self.stderr_tail())
        text, self._out = bytes(buf[:end]), bytes(buf[end + 1:])
        return text.decode("utf-8", "replace")

    def _exit_message(self, deadline):
        try:
            code = self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return "closed its stdout without answering" + self.stderr_tail()
        self._drain.join(1.0)
        if code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        return f"{how} before answering" + self.stderr_tail()

    def stderr_tail(self, lines=5) -> str:
        tail = list(self._err)[-lines:]
        return "; stderr: " + " | ".join(tail) if tail else ""

    def stop(self, grace=1.0):
        """Close stdin and let the program finish; then kill its process group (the program
        if it lingers, and anything it started and left behind)."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        try:   # the program, if it lingers, and whatever it left running in its group
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            if proc.poll() is None:
                proc.kill()
        proc.wait()
        proc.stdout.close()
        self._drain.join(1.0)
        if not self._drain.is_alive():  # else a child of the program still holds stderr: leave it be
            proc.stderr.close()


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
              replay=None, flush_denormals=None) -> Report:
    """Run the fixture cases and the generated ones through the program (the first generated
    failure shrunk, as for a Python port); each case's failure is its own.  ``flush_denormals``
    None judges in the dialect's default denormal mode."""
    from oracle import DIALECTS, resolve_flush

    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    flush = resolve_flush(dialect, flush_denormals)
    program, report = Program(command), Report(flush_denormals=flush)
    report.shrunk = report.replayed = None

    def outputs(case):
        try:
            return answer_arrays(case, program.ask(case_line(case), timeout), flush)
        except ProgramFailure as exc:
            if exc.resync:
                program.stop(grace=0)      # restarted by the next ask
            raise PortFailure(str(exc)) from None

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
        generated_phase(report, outputs, dialect, seed, samples, only, dtypes, flush)
    finally:
        program.stop()
    return report
