"""Deep scalar chains: the time to build, differentiate and compile, beside CasADi SX.

1. 10,000 Euler steps ``x <- x + h * f_k(x)`` of an ODE whose right-hand side cycles through
   ``sin``, ``tanh`` and ``sigmoid - 1/2`` (no rewrite can collapse it): build, grad and
   compile times, peak memory, and the compiled gradient's per-call time against a
   hand-written forward + backward loop.  Target: build + grad + compile under 3 s.
2. The chain ``x <- sin(x)·x + 0.5·exp(-x²)`` at depths 200, 2,000 and 20,000: derive +
   compile (build, gradient, compiled function of value and derivative) for symgrad and,
   when it is installed, CasADi SX (build, ``gradient``, ``Function``), interleaved, with
   their ratio.  Target: symgrad no slower than CasADi at every depth.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/chain.py [depth of part 1]
"""
from __future__ import annotations

import math
import sys
import time

import _harness as H  # first: pins the thread count before NumPy loads

import numpy as np

import symgrad as sg

DEPTH = 10_000
H_STEP = 1e-3
CASADI_DEPTHS = {200: 5, 2_000: 3, 20_000: 1}  # depth: repeats (the least time is reported)
RIGHT_HAND_SIDES = (sg.sin, sg.tanh, lambda x: sg.sigmoid(x) - 0.5)


def build(depth: int):
    """``(x0, x_depth)`` of the chain, in the current graph."""
    x0 = sg.scalar("x")
    x = x0
    for k in range(depth):
        x = x + H_STEP * RIGHT_HAND_SIDES[k % 3](x)
    return x0, x


def phases(depth: int) -> tuple:
    """Build, grad and compile in a fresh graph: ``(function, nodes, seconds per phase)``."""
    with sg.Graph() as g:
        (x0, x), t_build = H.timed(lambda: build(depth))
        dx, t_grad = H.timed(lambda: sg.grad(x, x0))
        fn, t_compile = H.timed(lambda: sg.function([x0], [x, dx]))
    return fn, len(g), (t_build, t_grad, t_compile)


def numpy_loop(x0, depth: int = DEPTH, lib=np):
    """Hand-written forward pass keeping each step's local derivative, then the backward sweep.

    d x_{k+1} / d x_k = 1 + h f_k'(x_k) with sin' = cos, tanh' = 1 - tanh², sigmoid' = s (1 - s).
    """
    x, local = x0, []
    for k in range(depth):
        r = k % 3
        if r == 0:
            f, d = lib.sin(x), lib.cos(x)
        elif r == 1:
            f = lib.tanh(x)
            d = 1.0 - f * f
        else:
            s = 1.0 / (1.0 + lib.exp(-x))
            f, d = s - 0.5, s * (1.0 - s)
        local.append(d)
        x = x + H_STEP * f
    g = 1.0
    for d in reversed(local):
        g = g + g * (H_STEP * d)
    return x, g


def chain_function(depth: int, backend: str = "numpy") -> sg.Function:
    """``x <- sin(x)·x + 0.5·exp(-x²)`` ``depth`` times, built, differentiated and compiled
    (value and derivative) in a fresh graph."""
    with sg.Graph():
        x0 = sg.scalar("x")
        x = x0
        for _ in range(depth):
            x = sg.sin(x) * x + 0.5 * sg.exp(-x * x)
        return sg.function([x0], [x, sg.grad(x, x0)], backend=backend)


def derive_symgrad(depth: int) -> float:
    """Seconds to build the chain, differentiate and compile it."""
    start = time.perf_counter()
    chain_function(depth)
    return time.perf_counter() - start


def derive_casadi(ca, depth: int) -> float:
    """The same with CasADi's SX graph: build, ``gradient``, ``Function``."""
    start = time.perf_counter()
    x0 = ca.SX.sym("x")
    x = x0
    for _ in range(depth):
        x = ca.sin(x) * x + 0.5 * ca.exp(-x * x)
    ca.Function("f", [x0], [x, ca.gradient(x, x0)])
    return time.perf_counter() - start


def against_casadi() -> None:
    try:
        import casadi as ca
    except ImportError:
        print("CasADi is not installed (pip install casadi): the comparison is left out")
        return
    print(f"chain x <- sin(x)*x + 0.5*exp(-x^2): derive + compile (least of interleaved runs), "
          f"CasADi {ca.__version__}")
    for depth, repeats in CASADI_DEPTHS.items():
        ours, theirs = [], []
        for r in range(repeats):
            order = (0, 1) if r % 2 == 0 else (1, 0)
            for who in order:
                (ours if who == 0 else theirs).append(
                    derive_symgrad(depth) if who == 0 else derive_casadi(ca, depth))
        s, c = min(ours), min(theirs)
        print(f"  depth {depth:6d}: symgrad {s:8.3f} s  CasADi SX {c:8.3f} s  ratio {s / c:6.2f} "
              f"(target <= 1: {'met' if s <= c else 'MISSED'})")


def main() -> None:
    depth = int(sys.argv[1]) if len(sys.argv) > 1 else DEPTH
    print(H.environment())
    fn, nodes, (t_build, t_grad, t_compile) = phases(depth)
    total = t_build + t_grad + t_compile
    print(f"chain depth {depth}, first run: build {t_build:.3f} s, grad {t_grad:.3f} s, compile "
          f"{t_compile:.3f} s, total {total:.3f} s (target < 3 s: {'met' if total < 3 else 'MISSED'})")
    again = [phases(depth)[2] for _ in range(2)]
    best = [min(t[i] for t in again) for i in range(3)]
    print(f"chain depth {depth}, best of two more: build {best[0]:.3f} s, grad {best[1]:.3f} s, "
          f"compile {best[2]:.3f} s, total {sum(best):.3f} s")
    lines = fn.source.count("\n")
    print(f"chain graph: {nodes} nodes, generated source {lines} lines")
    peak = H.peak_memory(lambda: phases(depth))
    print(f"chain peak memory of build + grad + compile: {peak / 2**20:.1f} MiB (tracemalloc), "
          f"process max RSS {H.max_rss_mib():.1f} MiB")

    x0 = np.float64(0.3)
    ours, theirs = fn(x0), numpy_loop(x0, depth)
    if not np.allclose(ours, theirs, rtol=1e-12):
        raise SystemExit(f"chain: symgrad {ours} and the hand-written loop {theirs} disagree")
    print(f"chain: symgrad and the hand-written loop agree: x = {float(ours[0]):.12f}, "
          f"dx/dx0 = {float(ours[1]):.12f}")
    times = H.per_call({"symgrad": lambda: fn(x0),
                        "numpy loop": lambda: numpy_loop(x0, depth),
                        "math loop": lambda: numpy_loop(0.3, depth, math)},
                       repeats=7, budget=0.1)
    s, n, m = (times[k][0] for k in ("symgrad", "numpy loop", "math loop"))
    print(f"chain per call (min of 7): symgrad {H.ms(s)}, hand-written loop on NumPy scalars "
          f"{H.ms(n)}, ratio {s / n:.2f}; same loop on Python floats with math {H.ms(m)}")
    against_casadi()


if __name__ == "__main__":
    main()
