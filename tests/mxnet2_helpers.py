"""Shared pieces of the tests against the real MXNet 2.0.0b1 (``tox -e mxnet2``).

Importing this module skips the importing test module where MXNet 2 is not installed.
``run_real`` is one real operator update on copies (outputs named as the oracle names
them); ``flushing(mode)`` sets MXNet's denormal flushing for a block and restores it.
"""
from contextlib import contextmanager

import pytest

mx = pytest.importorskip("mxnet", reason="the real mxnet==2.0.0b1 wheel is not importable here (run `tox -e mxnet2`)")
if not mx.__version__.startswith("2."):
    pytest.skip(f"needs MXNet 2.x, found {mx.__version__} (the 1.9.1 checks are `tox -e mxnet`)",
                allow_module_level=True)

from conformance.adapters_mxnet2 import step  # noqa: E402

__all__ = ["mx", "flushing", "run_real"]


@contextmanager
def flushing(flush):
    """MXNet's FTZ/DAZ on (True) or off (False) inside the block; the previous setting after it."""
    previous = mx.util.set_flush_denorms(bool(flush))
    try:
        yield
    finally:
        mx.util.set_flush_denorms(previous)


def run_real(weight, grad, state, hp):
    """{output name: array} of one real MXNet 2 operator update (the built-in port's ``step``)."""
    new_w, new_state = step(weight.copy(), grad.copy(), {k: v.copy() for k, v in state.items()}, hp)
    return dict(new_state, weight=new_w)
