"""Logistic-regression loss, gradient and Hessian on ``backend="dask"`` against hand-written
``dask.array`` code, on the same two-worker cluster.

The design matrix (rows x 50, float64; 10^7 rows make 4 GB) and the labels are generated
chunk by chunk inside every call's graph (``da.random`` with per-chunk seeds; labels drawn
from each chunk's own rows), so no process ever holds them whole.  Both contenders compute
the mean loss ``softplus(Xw) - y Xw``, its gradient (50) and its Hessian (50 x 50) at the
same ``w`` with one ``dask.compute`` on a ``LocalCluster`` of 2 worker processes with 1
thread each, and a memory limit per worker below the size of X (from 10^7 rows on: a whole
X cannot fit in one worker).  Prints the per-call times (interleaved), their ratio (target
<= 1.2) and each worker's peak resident memory over one call of each contender (the
kernel's high-water mark VmHWM, reset before each call through /proc/self/clear_refs).

    flock /tmp/scratch/bench.lock python benchmarks/dask_logistic.py              # 2*10^6 rows
    flock /tmp/scratch/bench.lock python benchmarks/dask_logistic.py --rows 10000000

_harness pins this process to one CPU before NumPy loads, and worker processes inherit that
mask: once the cluster is up, each worker is pinned to a CPU of its own (of those this
process had before _harness), so the two workers compute on two cores while this process
(graph building and the scheduler, idle during the compute) shares the first one.
"""
from __future__ import annotations

import os

CPUS = sorted(os.sched_getaffinity(0))  # read before _harness pins this process to one

import _harness as H  # noqa: E402  (first of the numerical imports: one BLAS thread)

import argparse  # noqa: E402

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import distributed  # noqa: E402
import numpy as np  # noqa: E402

import symgrad as sg  # noqa: E402

FEATURES, CHUNKS, TARGET = 50, 40, 1.2
GIB = 2**30


def data(rows: int, seed: int = 0):
    """X (rows x 50, standard normal) and labels y ~ Bernoulli(sigmoid(X w_true)), as dask
    arrays of 40 chunks of rows, each generated on its worker from its own seed."""
    chunk = -(-rows // CHUNKS)
    X = da.random.default_rng(seed).standard_normal((rows, FEATURES), chunks=(chunk, FEATURES))
    w_true = np.linspace(-1, 1, FEATURES) / np.sqrt(FEATURES)

    def labels(block, block_id=None):
        p = 1 / (1 + np.exp(-(block @ w_true)))
        return (np.random.default_rng([seed, block_id[0]]).random(len(block)) < p).astype(float)
    return X, da.map_blocks(labels, X, drop_axis=1, dtype=float)


def symgrad_function() -> sg.Function:
    X, y, w = sg.matrix("X", ("n", FEATURES)), sg.vector("y", "n"), sg.vector("w", FEATURES)
    z = X @ w
    loss = sg.sum(sg.softplus(z) - y * z) / X.shape[0]
    return sg.function([X, y, w], [loss, sg.grad(loss, w), sg.hessian(loss, w)], backend="dask")


def by_hand(X, y, w):
    """The same three results written with dask.array, computed together."""
    n = X.shape[0]
    z = X @ w
    p = 1 / (1 + da.exp(-z))
    loss = da.sum(da.logaddexp(0, z) - y * z) / n
    grad = X.T @ (p - y) / n
    hessian = (X.T * (p * (1 - p))) @ X / n
    return dask.compute(loss, grad, hessian)


def pin_workers(client: distributed.Client) -> list:
    """Each worker process on a CPU of its own; returns [(worker, cpu)]."""
    placed = []
    for i, worker in enumerate(sorted(client.scheduler_info()["workers"])):
        cpu = CPUS[i % len(CPUS)]
        client.run(os.sched_setaffinity, 0, {cpu}, workers=[worker])
        placed.append((worker, cpu))
    return placed


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))


def peak_per_worker(client: distributed.Client, call) -> list:
    """Each worker's peak resident bytes while ``call()`` runs (VmHWM, reset first)."""
    client.run(_reset_peak)
    call()
    return sorted(client.run(_peak).values())


def available_bytes() -> int:
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of X (default 2*10^6)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each (default 5)")
    args = parser.parse_args()
    x_bytes = args.rows * FEATURES * 8
    limit = max(int(0.75 * x_bytes), GIB)
    print(f"{H.environment()}; {H.threads()}")
    print(f"X: {args.rows:,} x {FEATURES} float64 = {x_bytes / GIB:.2f} GiB in {CHUNKS} chunks of "
          f"{-(-args.rows // CHUNKS):,} rows, generated chunk by chunk; memory available here: "
          f"{available_bytes() / GIB:.1f} GiB")
    print(f"workers: 2 processes x 1 thread, memory limit {limit / GIB:.2f} GiB each (a whole X "
          f"{'could' if x_bytes <= limit else 'could not'} fit in one)")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=limit,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        print("pinned: " + ", ".join(f"{w} -> CPU {c}" for w, c in pin_workers(client)))
        X, y = data(args.rows)
        w = np.linspace(0.5, -0.5, FEATURES) / np.sqrt(FEATURES)
        f = symgrad_function()
        ours, theirs = f(X, y, w), by_hand(X, y, w)
        for a, b, name in zip(ours, theirs, ["loss", "gradient", "Hessian"]):
            assert np.allclose(a, b, rtol=1e-10, atol=1e-13), f"{name} differs"
        print(f"results equal (loss {float(ours[0]):.6f}, "
              f"|gradient| {np.linalg.norm(ours[1]):.3e})")
        times = H.per_call({"symgrad": lambda: f(X, y, w), "dask": lambda: by_hand(X, y, w)},
                           repeats=args.repeats, budget=0)
        (s_min, s_med), (d_min, d_med) = times["symgrad"], times["dask"]
        ratio = s_min / d_min
        print(f"per call (min of {args.repeats}):    symgrad {s_min:.3f} s, hand-written dask "
              f"{d_min:.3f} s, ratio {ratio:.3f} (target <= {TARGET}: "
              f"{'met' if ratio <= TARGET else 'MISSED'})")
        print(f"per call (median of {args.repeats}): symgrad {s_med:.3f} s, hand-written dask "
              f"{d_med:.3f} s, ratio {s_med / d_med:.3f}")
        for name, call in [("symgrad", lambda: f(X, y, w)), ("dask", lambda: by_hand(X, y, w))]:
            peaks = peak_per_worker(client, call)
            print(f"peak resident memory per worker over one {name} call (VmHWM): "
                  + ", ".join(f"{p / 2**20:,.0f} MiB" for p in peaks)
                  + f" (X is {x_bytes / 2**20:,.0f} MiB; limit {limit / 2**20:,.0f} MiB)")


if __name__ == "__main__":
    main()
