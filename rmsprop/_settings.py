"""Engine settings: block size, threads, and which engine runs the updates.

``engine`` is ``"auto"`` (the default), ``"numba"`` or ``"numpy"``; the environment
variable ``RMSPROP_ENGINE`` sets the default (read at import).  ``"auto"`` uses the
compiled engine (:mod:`rmsprop._numba_engine`, ``pip install
'rmsprop-conformance[fast]'``) when numba imports -- numba itself refuses a NumPy
it does not support -- and its kernels pass their self-check; otherwise NumPy's
ufunc engine.  A failure found later (a kernel that does not compile or does not
reproduce the NumPy engine's bits) switches ``"auto"`` to NumPy for the rest of
the process, before any array is written.  ``"numba"`` raises instead.  Both
engines give the same bits; :func:`settings` says which one is in use and why.
"""
import os
import threading

ENGINES = ("auto", "numba", "numpy")


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _env_engine():
    value = os.environ.get("RMSPROP_ENGINE", "").strip().lower() or "auto"
    if value not in ENGINES:
        raise ValueError(f"RMSPROP_ENGINE must be one of {', '.join(ENGINES)}; got {value!r}")
    return value


class _Config:
    block_size = None          # elements; None: _BLOCK_BYTES / itemsize
    num_threads = max(1, min(_cpus(), 8))
    small = None               # tensors up to this many elements are staged; None: block/8
    min_parallel = 1 << 16     # below this many elements in total, stay single-threaded
    engine = _env_engine()


class _Numba:
    checked = False
    error = None               # why the compiled engine cannot be used, or None
    version = None


cfg = _Config()
_numba = _Numba()
_lock = threading.Lock()


def numba_error():
    """None when the compiled engine can be used, else the reason (numba is imported
    once, on the first question)."""
    if not _numba.checked:
        with _lock:
            if not _numba.checked:
                try:
                    import numba
                    from . import _numba_engine  # noqa: F401 - decorates, compiles nothing
                    _numba.version = numba.__version__
                except Exception as exc:         # ImportError, or numba's own refusal
                    _numba.error = f"numba is not usable: {type(exc).__name__}: {exc}"
                _numba.checked = True
    return _numba.error


def disable_numba(reason):
    """Record that the compiled engine failed (``"auto"`` uses NumPy from now on)."""
    _numba.checked, _numba.error = True, reason


def engine_in_use():
    """``"numba"`` or ``"numpy"``; ImportError when ``"numba"`` is configured but unusable."""
    if cfg.engine == "numpy":
        return "numpy"
    err = numba_error()
    if err is None:
        return "numba"
    if cfg.engine == "numba":
        raise ImportError(f"engine='numba' is configured, but {err}")
    return "numpy"


def configure(block_size=None, num_threads=None, small=None, min_parallel=None, engine=None):
    """Set the block size (elements), thread count, staging threshold, the smallest total
    size that is split over threads, and the engine (``"auto"``, ``"numba"``,
    ``"numpy"``).  Arguments left None keep their current value; see :func:`settings`
    for a temporary change.  ``engine="numba"`` raises ImportError when numba is unusable."""
    if block_size is not None and int(block_size) < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size!r}")
    if num_threads is not None and int(num_threads) < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads!r}")
    if engine is not None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        if engine == "numba" and numba_error():
            raise ImportError(f"engine='numba': {numba_error()}")
        cfg.engine = engine
    if block_size is not None:
        cfg.block_size = int(block_size)
    if num_threads is not None:
        cfg.num_threads = int(num_threads)
    if small is not None:
        cfg.small = int(small)
    if min_parallel is not None:
        cfg.min_parallel = int(min_parallel)


def get_config():
    return {"block_size": cfg.block_size, "num_threads": cfg.num_threads,
            "small": cfg.small, "min_parallel": cfg.min_parallel, "engine": cfg.engine}


def describe():
    """:func:`get_config` plus ``engine_in_use`` (None when ``"numba"`` is configured but
    unusable), ``engine_reason``, and for the compiled engine its numba version, threading
    layer and threads, disk cache and the compile (or cache-load) time of each kernel."""
    out = get_config()
    err = None if cfg.engine == "numpy" else numba_error()
    if cfg.engine == "numpy":
        use, why = "numpy", "engine='numpy' is configured"
    elif err is None:
        use, why = "numba", f"engine={cfg.engine!r} and numba {_numba.version} is usable"
    else:
        use = None if cfg.engine == "numba" else "numpy"
        why = f"engine={cfg.engine!r}, but {err}"
    out.update(engine_in_use=use, engine_reason=why, numba=_numba.version)
    if _numba.version is not None and err is None:
        from . import _numba_engine
        out.update(_numba_engine.describe(cfg.num_threads))
    return out


class settings(dict):
    """The engine settings now (a dict, see :func:`describe`), e.g.
    ``rmsprop.settings()["engine_in_use"]``; with keyword arguments of :func:`configure`,
    also a context manager that applies them inside a ``with`` block and then restores
    the previous values (``with rmsprop.settings(num_threads=1, engine="numpy"): ...``)."""

    def __init__(self, **kwargs):
        super().__init__(describe())
        self._kwargs, self._saved = kwargs, []

    def __enter__(self):
        self._saved.append(get_config())
        try:
            configure(**self._kwargs)
        except BaseException:
            _restore(self._saved.pop())
            raise
        return settings()

    def __exit__(self, *exc):
        _restore(self._saved.pop())
        return False


def _restore(old):
    for k, v in old.items():
        setattr(cfg, k, v)
