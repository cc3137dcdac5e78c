"""The chained Rosenbrock function's sparse Hessian against a hand-written tridiagonal fill
and CasADi SX.

``sum(100 (x[1:] - x[:-1]²)² + (1 - x[:-1])²)`` at n = 10^3, 10^4, 10^5: per call of
``sg.function([x], sg.hessian(f, x, sparse=True))`` (a scipy.sparse CSR matrix), of NumPy
code that computes the three diagonals and fills a CSR matrix whose index arrays are built
once, and of CasADi's SX ``hessian`` compiled to a ``Function`` (its own sparse DM, not
converted), interleaved, least of the repeats; all three checked equal first.  Target
(issue 13): within 2x of the hand-written fill and ahead of CasADi at every n.  Then the
time to read the pattern off the graph and color it (``sg.hessian_sparsity`` and
``sg.hessian_coloring``), for Rosenbrock and the arrowhead function (target: under 1 s at
n = 10^5).

    python benchmarks/sparse_hessian.py [n ...]
"""
from __future__ import annotations

import sys
import time

import _harness as H  # first: pins the thread count before NumPy loads

import numpy as np
import scipy.sparse

import symgrad as sg

SIZES = (1_000, 10_000, 100_000)


def rosenbrock(x, lib=sg):
    return lib.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def arrowhead(x):
    return sg.sum((x[:-1] ** 2 + x[-1] ** 2) ** 2 - 4 * x[:-1] + 3)


def symgrad_hessian(n: int):
    """The compiled sparse Hessian and the seconds to build, differentiate and compile it."""
    start = time.perf_counter()
    with sg.Graph():
        x = sg.vector("x", n)
        fn = sg.function([x], sg.hessian(rosenbrock(x), x, sparse=True))
    return fn, time.perf_counter() - start


def hand_hessian(n: int):
    """NumPy: the diagonals of the Hessian written out, filled into a tridiagonal CSR
    structure computed once (rows of the lower, main and upper entries)."""
    counts = np.full(n, 3)
    counts[[0, -1]] = 2
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    indices = np.concatenate([[0, 1], (np.arange(1, n - 1)[:, None] + [-1, 0, 1]).ravel(),
                              [n - 2, n - 1]]).astype(np.int32)

    def hessian(x):
        main = np.zeros(n)
        main[:-1] = 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
        main[1:] += 200
        off = -400 * x[:-1]
        data = np.empty(3 * n - 2)
        # row 0: main, upper; rows 1..n-2: lower, main, upper; row n-1: lower, main
        data[0], data[1] = main[0], off[0]
        inner = data[2:3 * n - 4].reshape(n - 2, 3)
        inner[:, 0], inner[:, 1], inner[:, 2] = off[:-1], main[1:-1], off[1:]
        data[-2], data[-1] = off[-1], main[-1]
        return scipy.sparse.csr_matrix((data, indices.copy(), indptr.copy()), shape=(n, n))
    return hessian


def casadi_hessian(n: int):
    """CasADi SX: ``(Function, seconds to build + hessian + Function)``, or None."""
    try:
        import casadi as ca
    except ImportError:
        return None
    start = time.perf_counter()
    x = ca.SX.sym("x", n)
    f = ca.sum1(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    fn = ca.Function("h", [x], [ca.hessian(f, x)[0]])
    return fn, time.perf_counter() - start


def main(sizes) -> None:
    print(H.environment())
    print("sparse Hessian of the chained Rosenbrock function; per call (least of the "
          "repeats, interleaved), ratios against the hand-written fill")
    for n in sizes:
        x = np.random.default_rng(0).uniform(-1, 1, n)
        ours, setup = symgrad_hessian(n)
        hand = hand_hessian(n)
        want = hand(x)
        assert abs(ours(x) - want).max() <= 1e-12 * abs(want).max()
        calls = {"symgrad": lambda: ours(x), "hand NumPy": lambda: hand(x)}
        casadi = casadi_hessian(n)
        if casadi is not None:
            cfn, csetup = casadi
            got = scipy.sparse.csc_matrix(cfn(x).sparse())
            assert abs(got - want).max() <= 1e-12 * abs(want).max()
            calls["CasADi SX"] = lambda: cfn(x)
        times = H.per_call(calls, repeats=11)
        base = times["hand NumPy"][0]
        print(f"  n = {n:>7,}: " + "   ".join(f"{name} {t * 1e6:9.1f} µs ({t / base:.2f}x)"
                                             for name, (t, _) in times.items()))
        ratio = times["symgrad"][0] / base
        line = f"    symgrad / hand <= 2: {'met' if ratio <= 2 else 'MISSED'} ({ratio:.2f})"
        if casadi is not None:
            versus = times["symgrad"][0] / times["CasADi SX"][0]
            line += (f"; symgrad / CasADi < 1: {'met' if versus < 1 else 'MISSED'} "
                     f"({versus:.2f}); setup symgrad {setup:.3f} s, CasADi {csetup:.3f} s")
        print(line)
        for name, f in (("Rosenbrock", rosenbrock), ("arrowhead", arrowhead)):
            with sg.Graph():
                x = sg.vector("x", n)
                start = time.perf_counter()
                colors = sg.hessian_coloring(f(x), x)  # reads the pattern, then colors it
                seconds = time.perf_counter() - start
                pattern = sg.hessian_sparsity(f(x), x)
            print(f"    {name}: pattern + coloring {seconds:.3f} s (target < 1 s: "
                  f"{'met' if seconds < 1 else 'MISSED'}), {pattern.nnz:,} entries, "
                  f"{colors.max() + 1} colors")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or SIZES)
