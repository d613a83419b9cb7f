"""Python ports run isolated: in a worker process that the judge starts, feeds and restarts.

``IsolatedPort(target)`` is what ``check TARGET``, ``fingerprint TARGET`` and the
pytest plugin run.  The worker (``conformance.worker``) is a fresh interpreter with
the judge's ``sys.path`` and working directory; it imports the target (a built-in
name or ``module:attribute``), so the judge never imports the port at all.  Cases
go to it as pickled NumPy arrays; it sends back the port's outputs, and the judge
judges them.  A segfault, abort, ``os._exit``, a hang (even in C code holding the
GIL), memory past the limit or a port that changes global state fails only its own
case, named with its cause (signal, timeout, exit status, the tail of stderr); the
next case gets a fresh worker.  The process handling (deadlines, memory watchdog,
restarts, giving up after ``process.STRIKES`` hangs or crashes in a row) is
``process.Child``, shared with ``check --cmd``.  The timeout counts per kernel case,
and per call into an optimizer-level port (the worker announces each call).
"""
from __future__ import annotations

import os
import pickle
import sys

from .check import Runner
from .ports import PortError
from .process import MEMORY_LIMIT_MIB, Child, ProgramFailure
from .worker import HEADER, frame

__all__ = ["IsolatedPort", "Worker", "STARTUP"]

STARTUP = 120.0        # seconds a worker may take to start and import its port
FRAME_LIMIT = 1 << 30  # a reply larger than this is not one the worker sends
BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from conformance.worker import main; main()"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where this conformance package lives


class Worker(Child):
    """The worker process of one target: pickled frames in and out."""

    HUNG = HUNG_WRITING = "timed out after {timeout} s (worker killed)"
    DIED = "worker {how} {when}"
    MEMORY = "used over {limit} MiB of memory (worker killed)"

    def __init__(self, target, level, memory_limit_mib=MEMORY_LIMIT_MIB):
        super().__init__([sys.executable, "-c", BOOT, ROOT], memory_limit_mib)
        self.target, self.level, self.info = target, level, None
        self.when = "while running this case"

    def what(self) -> str:
        return f"the worker process for {self.target!r}"

    def start(self):
        """Start the worker and have it import the target; ProgramFailure if it cannot."""
        super().start()
        self.when = "while importing the port"
        try:
            deadline = self.deadline(STARTUP)
            self._send(frame(("hello", {"target": self.target, "level": self.level, "path": list(sys.path)})),
                       deadline, STARTUP)
            kind, info = self._read_frame(deadline, STARTUP)
        finally:
            self.when = "while running this case"
        if kind == "usage":  # the target does not import, or is not a port
            self.stop(grace=0)
            raise PortError(info)
        self.info = self.info or info

    def ask(self, request, timeout):
        """Send one request; the port's outputs, or ProgramFailure."""
        if self.proc is None:
            self.start()
        self._err.clear()  # the stderr tail of a failure is this case's
        deadline = self.deadline(timeout)
        self._send(frame(request), deadline, timeout)
        while True:
            reply = self._read_frame(deadline, timeout)
            if reply[0] == "call":       # the worker calls into the port: the timeout starts again
                deadline = self.deadline(timeout)
            elif reply[0] == "ok":
                return reply[1]
            else:                        # the port raised or returned the wrong thing; the worker lives on
                raise ProgramFailure(reply[1], resync=False)

    def _read_frame(self, deadline, timeout):
        (size,) = HEADER.unpack(self._read_exact(HEADER.size, deadline, timeout))
        if size > FRAME_LIMIT:
            raise ProgramFailure(f"the worker's reply is out of step (a frame of {size} bytes)" + self.stderr_tail())
        data = self._read_exact(size, deadline, timeout)
        try:
            return pickle.loads(data)
        except Exception as exc:  # noqa: BLE001 - whatever the bytes were, the pipe is out of step
            raise ProgramFailure(f"the worker's reply cannot be read ({type(exc).__name__}: {exc})"
                                 + self.stderr_tail()) from None

    def stderr_tail(self, lines=5) -> str:
        """The last lines of stderr; after a crash, faulthandler's header and the innermost frames."""
        tail = list(self._err)
        fatal = [i for i, line in enumerate(tail) if line.startswith("Fatal Python error")]
        if fatal:
            frames = [line.strip() for line in tail[fatal[-1] + 1:] if line.strip().startswith("File ")]
            tail = [tail[fatal[-1]]] + frames[:4]
        else:
            tail = tail[-lines:]
        return "; stderr: " + " | ".join(tail) if tail else ""


class IsolatedPort(Runner):
    """A port given by its target, run in a worker process (started here: PortError, exit 2,
    when the target does not import)."""

    def __init__(self, target: str, level: str = "all", memory_limit_mib=MEMORY_LIMIT_MIB):
        self.target = target
        self.worker = Worker(target, level, memory_limit_mib)
        try:
            self.worker.start()
        except ProgramFailure as exc:
            self.worker.stop(grace=0)
            raise PortError(f"target {target!r} cannot be used: {exc}") from None
        info = self.worker.info
        self.name, self.dialect, self.expectations = info["name"], info["dialect"], info["expectations"]
        self.has_kernel, self.has_optimizer, self.libraries = info["kernel"], info["optimizer"], info["libraries"]
        self.flush_denormals = info["flush_denormals"]

    def outputs(self, weight, grad, state, hp, names, timeout, counted=True):
        request = ("kernel", weight, grad, state, hp, names)
        return self.worker.exchange(lambda: self.worker.ask(request, timeout), counted)

    def optimizer_outputs(self, case, timeout, flush_denormals=None):
        return self.worker.exchange(lambda: self.worker.ask(("optimizer", case, flush_denormals), timeout))

    def close(self):
        self.worker.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
