"""A port in a process of its own: started, fed, watched, killed and restarted by the judge.

``Child`` is what ``check --cmd PROGRAM`` (``cmdport.Program``: JSON lines) and a
Python port (``isolation.Worker``: pickled frames) share.  The process starts in a
session of its own (``start_new_session``, never a fork of this process), so
stopping it kills its whole process group.  Every exchange has a deadline
(``timeout`` seconds), and while it waits the judge watches the child's resident
memory (``/proc``, ten times a second; over ``memory_limit_mib`` it is killed).
Its stderr is drained continuously; the last lines go into the failure message.

``exchange`` runs one case: a failure that leaves the process unusable (exit,
signal, timeout, memory, out-of-step pipes) stops it, and the next case starts
a fresh one.  After ``STRIKES`` hangs or crashes in a row the port is given up:
every later case fails at once as ``not run``, so a port that hangs everywhere
costs about ``STRIKES * timeout``.  POSIX only (``select`` on pipes, process groups).
"""
from __future__ import annotations

import collections
import math
import os
import select
import signal
import subprocess
import threading
import time

from .check import PortFailure, PortNotRun
from .ports import PortError

__all__ = ["ProgramFailure", "Child", "Streak", "STRIKES", "MEMORY_LIMIT_MIB"]

STRIKES = 3              # hangs or crashes in a row after which a port is given up
MEMORY_LIMIT_MIB = 4096  # default resident-memory limit of a port process
POLL = 0.1               # seconds between memory checks while waiting


class ProgramFailure(Exception):
    """The process failed one exchange; ``resync`` when it must be restarted before the next;
    ``strike`` ("hung" or "crashed") when the failure counts toward giving the port up."""

    def __init__(self, message, resync=True, strike=None):
        super().__init__(message)
        self.resync, self.strike = resync, strike


class Streak:
    """Hangs and crashes in a row; at ``limit`` the port is given up."""

    def __init__(self, limit=STRIKES):
        self.limit, self.kinds = limit, []

    def note(self, kind):
        self.kinds = self.kinds + [kind] if kind else []

    @property
    def given_up(self) -> bool:
        return len(self.kinds) >= self.limit

    def message(self) -> str:
        kinds = set(self.kinds)
        what = "hung" if kinds == {"hung"} else "crashed" if kinds == {"crashed"} else "hung or crashed"
        return f"not run: port {what} {len(self.kinds)} times in a row"


class Child:
    """One port process: bytes in, bytes out, each exchange against a deadline."""

    HUNG = "timed out after {timeout} s without answering"
    HUNG_WRITING = "timed out after {timeout} s (not reading its stdin)"
    DIED = "{how} before answering"
    MEMORY = "used over {limit} MiB of memory (killed)"
    when = ""  # what the process was doing, for DIED

    def __init__(self, argv, memory_limit_mib=MEMORY_LIMIT_MIB, env=None):
        self.argv, self.env = list(argv), env
        self.memory_limit = memory_limit_mib
        self.proc = None
        self.streak = Streak()
        self._err = collections.deque(maxlen=64)

    def start(self):
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, bufsize=0, start_new_session=True, env=self.env)
        except OSError as exc:
            raise PortError(f"{self.what()} cannot be started: {exc.strerror or exc}") from None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self._out = b""
        self._err = collections.deque(maxlen=64)
        self._drain = threading.Thread(target=self._read_stderr, args=(self.proc.stderr, self._err), daemon=True)
        self._drain.start()

    def what(self) -> str:
        return f"--cmd {' '.join(self.argv)!r}"

    def exchange(self, fn, counted=True):
        """``fn()`` as one case: PortFailure (PortNotRun once given up) if the process fails it.

        ``counted``: whether the outcome counts toward giving the port up (the shrinker's
        candidates do not: it has a budget of its own)."""
        if self.streak.given_up:
            raise PortNotRun(self.streak.message())
        try:
            result = fn()
        except ProgramFailure as exc:
            if exc.resync:
                self.stop(grace=0)     # restarted by the next exchange
            if counted:
                self.streak.note(exc.strike)
            raise PortFailure(str(exc), strike=exc.strike) from None
        if counted:
            self.streak.note(None)
        return result

    @staticmethod
    def _read_stderr(pipe, tail):
        pending = b""
        for chunk in iter(lambda: os.read(pipe.fileno(), 1 << 16), b""):
            *lines, pending = (pending + chunk).split(b"\n")
            pending = pending[-4096:]
            tail.extend(line.decode("utf-8", "replace").rstrip("\r")[:300] for line in lines[-tail.maxlen:])
        if pending:
            tail.append(pending.decode("utf-8", "replace")[:300])

    @staticmethod
    def deadline(timeout):
        return math.inf if timeout is None else time.monotonic() + timeout

    def _ready(self, fd, deadline, timeout, writing=False):
        """Wait until ``fd`` can be read (written); ProgramFailure at the deadline or the memory limit."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProgramFailure((self.HUNG_WRITING if writing else self.HUNG).format(timeout=timeout)
                                     + self.stderr_tail(), strike="hung")
            ready = select.select([] if writing else [fd], [fd] if writing else [], [], min(left, POLL))
            if ready[0] or ready[1]:
                return
            self._check_memory()

    def _check_memory(self):
        if not self.memory_limit:
            return
        try:
            with open(f"/proc/{self.proc.pid}/statm") as f:
                resident = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return  # no /proc (or the process is gone): reading its output says how
        if resident > self.memory_limit * 2 ** 20:
            self._kill_group()
            raise ProgramFailure(self.MEMORY.format(limit=self.memory_limit) + self.stderr_tail(), strike="crashed")

    def _send(self, data, deadline, timeout):
        fd = self.proc.stdin.fileno()
        while data:
            self._ready(fd, deadline, timeout, writing=True)
            try:
                data = data[os.write(fd, data):]
            except BrokenPipeError:
                return  # exited: reading stdout finds the end and says how

    def _chunk(self, deadline, timeout) -> bytes:
        fd = self.proc.stdout.fileno()
        self._ready(fd, deadline, timeout)
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            raise ProgramFailure(self._exit_message(deadline), strike="crashed")
        return chunk

    def _readline(self, deadline, timeout, limit) -> bytes:
        """The next stdout line; the deadline holds even while output keeps coming without a newline."""
        buf, end = bytearray(self._out), self._out.find(b"\n")
        while end < 0:
            chunk = self._chunk(deadline, timeout)
            at = chunk.find(b"\n")
            end = -1 if at < 0 else len(buf) + at
            buf += chunk
            if end < 0 and len(buf) > limit:
                raise ProgramFailure(f"wrote over {limit} bytes on stdout without a newline; an answer to "
                                     f"this case is far shorter" + self.stderr_tail())
        line, self._out = bytes(buf[:end]), bytes(buf[end + 1:])
        return line

    def _read_exact(self, n, deadline, timeout) -> bytes:
        buf = bytearray(self._out)
        while len(buf) < n:
            buf += self._chunk(deadline, timeout)
        data, self._out = bytes(buf[:n]), bytes(buf[n:])
        return data

    def _exit_message(self, deadline):
        try:
            code = self.proc.wait(max(0.1, min(deadline - time.monotonic(), 5.0)))
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
        return self.DIED.format(how=how, when=self.when) + self.stderr_tail()

    def stderr_tail(self, lines=5) -> str:
        tail = list(self._err)[-lines:]
        return "; stderr: " + " | ".join(tail) if tail else ""

    def _kill_group(self):
        try:   # the process, and whatever it left running in its group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            if self.proc.poll() is None:
                self.proc.kill()

    def stop(self, grace=1.0):
        """Close stdin and let the process finish; then kill its process group (the process
        if it lingers, and anything it started and left behind)."""
        if self.proc is None:
            return
        proc = self.proc
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        self._kill_group()
        self.proc = None
        proc.wait()
        proc.stdout.close()
        self._drain.join(1.0)
        if not self._drain.is_alive():  # else a child of the process still holds stderr: leave it be
            proc.stderr.close()
