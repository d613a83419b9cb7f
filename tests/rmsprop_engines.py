"""The two production engines as pytest fixtures.

A test module that imports ``engine`` and sets
``pytestmark = pytest.mark.usefixtures("engine")`` runs every test once with the
NumPy ufunc engine and once with the compiled numba engine; the numba leg is
skipped, with the reason, when numba is not usable here (not installed, or a
NumPy it does not support).  ``numpy_engine`` pins the NumPy engine for tests of
its internals (staged groups, blocks).  Engines are compared with
:func:`rmsprop._numba_probe.differences` (bit for bit, any NaN equal to any NaN).
"""
import pytest

import rmsprop
from rmsprop import _settings

ENGINES = ("numpy", "numba")


def numba_skip_reason():
    """None when the compiled engine can run here, else why not."""
    return _settings.numba_error()


needs_numba = pytest.mark.skipif(numba_skip_reason() is not None,
                                 reason=f"the numba engine is not usable here: "
                                        f"{numba_skip_reason()}")


def use(name):
    """Skip unless engine ``name`` can run, and return ``rmsprop.settings(engine=name)``."""
    if name == "numba" and numba_skip_reason():
        pytest.skip(f"the numba engine is not usable here: {numba_skip_reason()}")
    return rmsprop.settings(engine=name)


@pytest.fixture(params=ENGINES, scope="module")
def engine(request):
    with use(request.param):
        yield request.param


@pytest.fixture(scope="module")
def numpy_engine():
    with use("numpy"):
        yield "numpy"
