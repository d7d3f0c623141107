"""Keep BLAS single-threaded while Protein computes.

Protein's matrices are small (at most 750 x 750), and a sweep runs it next to training processes that
keep every core busy. Multithreaded OpenBLAS then waits on busy cores: on 2 loaded cores one
suggest() took 12-40 s with 2 BLAS threads against 0.1-0.3 s with 1. So suggest() runs with one
BLAS thread, set and restored through the BLAS library's own API (found among the libraries this
process has loaded: numpy's and scipy's OpenBLAS, or MKL). Where none is found (another BLAS, not
Linux), nothing changes; OPENBLAS_NUM_THREADS=1 in the environment does the same job.
"""
import contextlib
import ctypes
import os
import threading

_lock = threading.Lock()
_controls = None  # [(set_fn, get_fn or None, thread_local)]


def _candidates(lib):
    """(set, get, thread_local) for the first thread-count API the library exports."""
    for name in ("openblas_set_num_threads_local", "mkl_set_num_threads_local", "MKL_Set_Num_Threads_Local"):
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_int]
            return fn, None, True
    for prefix in ("", "scipy_"):
        for suffix in ("", "64_", "_64_"):
            setter = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                setter.restype, setter.argtypes = None, [ctypes.c_int]
                getter.restype, getter.argtypes = ctypes.c_int, []
                return setter, getter, False
    return None


def _find():
    controls = []
    try:
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return controls
    paths = []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) == 6:
            path = parts[5].strip()
            name = os.path.basename(path).lower()
            if ("openblas" in name or "mkl_rt" in name) and ".so" in name and path not in paths:
                paths.append(path)
    for path in paths:
        try:
            found = _candidates(ctypes.CDLL(path))
        except OSError:
            continue
        if found is not None:
            controls.append(found)
    return controls


@contextlib.contextmanager
def blas_threads(n=1):
    """Run the body with n BLAS threads (None: leave the setting alone)."""
    global _controls
    if n is None:
        yield
        return
    with _lock:
        if _controls is None:
            _controls = _find()
    previous = []
    for setter, getter, local in _controls:
        if local:
            previous.append(setter(int(n)))
        else:
            previous.append(getter())
            setter(int(n))
    try:
        yield
    finally:
        for (setter, _, _), old in zip(_controls, previous):
            if old is not None and old > 0:
                setter(old)
