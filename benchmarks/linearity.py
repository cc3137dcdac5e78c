"""Every step of building, differentiating and compiling is linear in the graph's size: the
time per node at about 1,000, 10,000 and 100,000 nodes of a forward graph, for a scalar
chain ``x <- sin(x)·x + 0.5·exp(-x²)`` (gradient by forward mode) and a vector chain
``x <- tanh(x)·0.5 + x`` of 10 entries (gradient of the sum by reverse mode, buffers
planned for every array).  A per-node time that stays flat as the graph grows tenfold is a
linear step; CPython's own ``compile`` of the generated source is timed apart.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/linearity.py
"""
from __future__ import annotations

import time

import _harness as H  # first: pins the CPU and the thread count before NumPy loads

import symgrad as sg

SIZES = (1_000, 10_000, 100_000)


def scalar_chain(nodes: int):
    x0 = sg.scalar("x")
    x = x0
    for _ in range(nodes // 7):  # seven nodes a step
        x = sg.sin(x) * x + 0.5 * sg.exp(-x * x)
    return x0, x, lambda: sg.grad(x, x0)


def vector_chain(nodes: int):
    x0 = sg.vector("x", 10)
    x = x0
    for _ in range(nodes // 3):  # three nodes a step
        x = sg.tanh(x) * 0.5 + x
    return x0, x, lambda: sg.grad(sg.sum(x), x0)


def phases(make, nodes: int) -> dict:
    """Seconds of each phase, and the graph's node counts."""
    with sg.Graph() as g:
        start = time.perf_counter()
        x0, x, derive = make(nodes)
        built = time.perf_counter()
        forward_nodes = len(g)
        dx = derive()
        derived = time.perf_counter()
        fn = sg.function([x0], [x, dx])
        compiled = time.perf_counter()
        start_cpython = time.perf_counter()
        compile(fn.source, "<again>", "exec")
        cpython = time.perf_counter() - start_cpython
    return {"nodes": forward_nodes, "all nodes": len(g), "lines": fn.source.count("\n"),
            "build": built - start, "grad": derived - built, "compile": compiled - derived,
            "of which CPython": cpython}


def main() -> None:
    print(H.environment())
    for name, make in (("scalar chain", scalar_chain), ("vector chain", vector_chain)):
        print(f"{name}: microseconds per node (forward nodes for build, all nodes for grad, "
              "generated lines for compile)")
        print(f"  {'nodes':>8} {'all':>9} {'lines':>9} {'build':>8} {'grad':>8} {'compile':>8} "
              f"{'CPython':>8}")
        for size in SIZES:
            p = phases(make, size)
            grad_nodes = p["all nodes"] - p["nodes"]
            print(f"  {p['nodes']:8d} {p['all nodes']:9d} {p['lines']:9d} "
                  f"{1e6 * p['build'] / p['nodes']:8.2f} {1e6 * p['grad'] / grad_nodes:8.2f} "
                  f"{1e6 * p['compile'] / p['lines']:8.2f} "
                  f"{1e6 * p['of which CPython'] / p['lines']:8.2f}")


if __name__ == "__main__":
    main()
