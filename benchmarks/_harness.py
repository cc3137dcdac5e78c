"""Shared helpers of the benchmark scripts: one CPU, one BLAS thread, fair interleaved
timing, memory.

Import this module before NumPy and before any peer (JAX, CasADi): the process is pinned to
one CPU (XLA otherwise uses every core, whatever its flags say) and the thread count of the
BLAS and OpenMP pools is read from the environment when NumPy is first imported.
"""
from __future__ import annotations

import os

if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS"):
    os.environ[_var] = "1" if _var != "XLA_FLAGS" else "--xla_cpu_multi_thread_eigen=false"

import gc  # noqa: E402  (after the environment is set)
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402


def threads() -> str:
    """One line saying how many threads NumPy's BLAS uses (confirmed by threadpoolctl if present)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ("threads: OMP/OPENBLAS/MKL_NUM_THREADS=1 "
                "(threadpoolctl not installed, so not confirmed)")
    pools = ", ".join(f"{p['internal_api']}={p['num_threads']}" for p in threadpool_info())
    return f"threads: {pools or 'no thread pool found'} (threadpoolctl)"


def environment() -> str:
    """NumPy version, the CPUs this process may use, and the OpenBLAS variables that change
    its speed, if set."""
    tuned = [f"{v}={os.environ[v]}" for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
             if v in os.environ]
    note = ("; WARNING " + " ".join(tuned) + " is set (slows BLAS; unset it for reported numbers)"
            if tuned else "")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return f"numpy {np.__version__}, pinned to CPU {cpus}{note}"


def per_call(fns: dict, repeats: int = 21, budget: float = 0.02) -> dict:
    """Seconds per call of each zero-argument function: ``{name: (min, median)}``.

    The functions take turns within every repeat (in alternating order), so a slow spell of
    the machine hits all of them alike; each turn runs enough calls to last about ``budget``
    seconds.  The garbage collector is off while timing, as in ``timeit``.
    """
    counts = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        fn()
        counts[name] = max(1, int(budget / max(time.perf_counter() - start, 1e-7)))
    times: dict = {name: [] for name in fns}
    names = list(fns)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            for name in names if r % 2 == 0 else reversed(names):
                fn, count = fns[name], counts[name]
                start = time.perf_counter()
                for _ in range(count):
                    fn()
                times[name].append((time.perf_counter() - start) / count)
    finally:
        if enabled:
            gc.enable()
    return {name: (min(ts), statistics.median(ts)) for name, ts in times.items()}


def against_numpy(name: str, ours: Callable, numpy: Callable, target: float) -> float:
    """Time ``ours`` and ``numpy`` interleaved and print both, their ratio (least and median
    of 21 repeats) and whether the ratio meets ``target``; returns the ratio of the least."""
    times = per_call({"symgrad": ours, "numpy": numpy})
    (s_min, s_med), (n_min, n_med) = times["symgrad"], times["numpy"]
    ratio = s_min / n_min
    print(f"{name} per call (min of 21): symgrad {ms(s_min)}, numpy {ms(n_min)}, "
          f"ratio {ratio:.3f} (target <= {target}: {'met' if ratio <= target else 'MISSED'})")
    print(f"{name} per call (median):    symgrad {ms(s_med)}, numpy {ms(n_med)}, "
          f"ratio {s_med / n_med:.3f}")
    return ratio


def timed(fn: Callable):
    """``(fn(), seconds)``."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def peak_memory(fn: Callable) -> int:
    """Peak bytes that Python allocated while ``fn()`` ran (tracemalloc; slows ``fn``)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def max_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def report(times: dict, reference: str, digits: int = 2) -> None:
    """One line per contender of ``per_call``'s times: min, median, ratio to ``reference``
    (when it ran)."""
    width = max(map(len, times))
    for name, (best, median) in times.items():
        ratio = f"  ratio to {reference} {best / times[reference][0]:.{digits}f}" \
            if reference in times else ""
        print(f"  {name:{width}} {ms(best):>12} ({ms(median)}){ratio}")
