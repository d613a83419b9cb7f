"""The worker process that runs a Python port for the judge (``isolation.IsolatedPort``).

Started by the judge as a fresh interpreter.  It talks over its original stdin and
stdout, kept on private descriptors; descriptors 0 and 1 become /dev/null and
stderr, so whatever the port prints (Python or C) goes to stderr, which the judge
drains.  Each message is a frame: 8 bytes of big-endian length, then a pickle.

Requests, then replies:
  ("hello", {"target", "level", "path"})  ->  ("ready", port info) | ("usage", message)
  ("kernel", weight, grad, state, hp, names)  ->  ("ok", outputs) | ("fail", message)
  ("optimizer", case, flush_denormals)  ->  ("call",) before each call into the port, then
                                           ("ok", outputs) | ("fail", message)

The outputs are those of ``check.port_outputs`` / ``check.optimizer_outputs``: the judging
happens in the judge's process, never beside the port.  faulthandler is on, so a crash
leaves the Python stack on stderr; core dumps are off.
"""
from __future__ import annotations

import faulthandler
import os
import pickle
import struct
import sys

__all__ = ["main", "read_frame", "frame"]

HEADER = struct.Struct(">Q")


def frame(obj) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def read_frame(f):
    """The next message, or None when the judge has closed the pipe."""
    head = f.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    return pickle.loads(f.read(size))


class _Announced:
    """The port's optimizer object: each method call is announced to the judge first (the
    judge's per-call deadline starts there)."""

    def __init__(self, obj, announce):
        self._obj, self._announce = obj, announce

    def __getattr__(self, name):
        attr = getattr(self._obj, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self._announce()
            return attr(*args, **kwargs)
        return call


def _announcing(factory, announce):
    def make(**kwargs):
        announce()
        return _Announced(factory(**kwargs), announce)
    return make


def _info(port, target):
    from .reports import versions

    return {"name": port.name, "dialect": port.dialect, "expectations": port.expectations,
            "kernel": port.kernel is not None, "optimizer": port.optimizer is not None,
            "flush_denormals": port.flush_denormals,
            "libraries": versions(port.name, target)["port_libraries"]}


def _serve(port, requests, send):
    import numpy as np

    from .check import PortFailure, optimizer_outputs, port_outputs

    def announce():
        send(("call",))

    for request in iter(lambda: read_frame(requests), None):
        kind, args = request[0], request[1:]
        try:
            if kind == "kernel":
                reply = ("ok", {k: np.asarray(v) for k, v in port_outputs(port.kernel, *args, None).items()})
            else:
                steps = optimizer_outputs(_announcing(port.optimizer, announce), args[0], None, args[1],
                                          port.schedulers)
                reply = ("ok", [{i: {k: np.asarray(v) for k, v in out.items()} for i, out in step.items()}
                                for step in steps])
        except PortFailure as exc:
            reply = ("fail", str(exc))
        except Exception as exc:  # noqa: BLE001 - e.g. a port's object that breaks the checks
            reply = ("fail", f"could not be checked: {type(exc).__name__}: {exc}")
        try:
            send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            send(("fail", f"returned something that cannot be sent back to the judge: {exc}"))


def main():
    requests, replies = os.fdopen(os.dup(0), "rb"), os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    faulthandler.enable()
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except (ImportError, ValueError, OSError):
        pass

    def send(obj):
        replies.write(frame(obj))
        replies.flush()

    hello = read_frame(requests)
    if hello is None:
        return
    sys.path[:] = hello[1]["path"]
    from .ports import PortError, resolve

    try:
        port = resolve(hello[1]["target"], hello[1]["level"])
    except PortError as exc:
        send(("usage", str(exc)))
        return
    send(("ready", _info(port, hello[1]["target"])))
    _serve(port, requests, send)


if __name__ == "__main__":  # pragma: no cover
    main()
