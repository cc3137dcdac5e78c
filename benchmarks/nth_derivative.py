"""n-th derivatives of ``exp(sin x) / (1 + x²)`` for n = 1..10: symgrad against SymPy.

For each n, in a fresh graph: ``sg.diff(f, x, n)`` then ``sg.function`` — the number of
nodes in the compiled graph (the output's ancestors: input, constants and operations), the
derive+compile time and the per-call time; beside it SymPy's ``diff`` followed by ``cse``
(``count_ops`` of the replacements plus the reduced expression) and the time of ``diff`` +
``lambdify(cse=True)`` (SymPy's cache cleared first, so each n starts from scratch), and its
per-call time, and the per-call time of SymEngine's LLVM-compiled ``Lambdify`` of the same
derivative (when symengine is installed).  Build times are the least of a few runs, each
from scratch.  Then repeated
reverse mode (``sg.grad`` wrt the list ``[x]``) while it stays under a few seconds, to show
why ``diff``, and ``sg.grad`` wrt one scalar, run forward.  Targets: at n = 8 fewer nodes
than SymPy's cse'd operation count, derive+compile at least 10x faster, and a call of at most
4 µs, ahead of SymEngine's LLVM.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/nth_derivative.py
"""
from __future__ import annotations

import _harness as H  # first: pins the thread count before NumPy loads

import sympy
from sympy.core.cache import clear_cache

import symgrad as sg

ORDERS = range(1, 11)
POINT = 0.7


def best(fn, repeats: int):
    """``(fn(), least seconds over repeats)``: each repeat starts from scratch."""
    runs = [H.timed(fn) for _ in range(repeats)]
    return runs[0][0], min(seconds for _, seconds in runs)


def symgrad_nth(n: int, derive, repeats: int = 5):
    """(compiled function, nodes, seconds to build, derive and compile) in a fresh graph."""
    def build():
        with sg.Graph() as g:
            x = sg.scalar("x")
            d = derive(sg.exp(sg.sin(x)) / (1 + x ** 2), x, n)
            return sg.function([x], d), len(g.ancestors([d.node]))
    (fn, nodes), seconds = best(build, repeats)
    return fn, nodes, seconds


def repeated_grad(f, x, n):
    """n reverse sweeps: ``grad`` wrt the list ``[x]`` (a one-element list keeps reverse mode)."""
    for _ in range(n):
        f = sg.grad(f, [x])[0]
    return f


def sympy_nth(n: int):
    """(lambdified function, cse'd operation count, seconds for diff + lambdify(cse=True))."""
    t = sympy.Symbol("x")
    f = sympy.exp(sympy.sin(t)) / (1 + t ** 2)

    def derive():
        clear_cache()
        return sympy.lambdify(t, sympy.diff(f, t, n), cse=True)
    fn, seconds = best(derive, 3)
    replacements, reduced = sympy.cse(sympy.diff(f, t, n))
    ops = sum(sympy.count_ops(e) for _, e in replacements) + sympy.count_ops(reduced)
    return fn, ops, seconds


def symengine_nth(n: int):
    """SymEngine's LLVM-compiled n-th derivative as a function of a float, or None when
    symengine is not installed."""
    try:
        import symengine as se
    except ImportError:
        return None
    t = se.Symbol("x")
    d = se.exp(se.sin(t)) / (1 + t ** 2)
    for _ in range(n):
        d = d.diff(t)
    compiled = se.Lambdify([t], [d], backend="llvm", cse=True)
    return lambda x: compiled(x)[0]


def main():
    print(H.environment())
    print("sg.diff (forward mode) against SymPy diff + cse / lambdify(cse=True); per call also "
          "SymEngine's LLVM Lambdify")
    print(f"{'n':>3} {'sg nodes':>9} {'sympy ops':>10} {'sg derive+compile':>18} "
          f"{'sympy diff+lambdify':>20} {'speed-up':>9} {'sg call':>9} {'sympy call':>11} "
          f"{'symengine':>10}")
    for n in ORDERS:
        fn, nodes, seconds = symgrad_nth(n, sg.diff)
        sfn, ops, sseconds = sympy_nth(n)
        contenders = {"sg": lambda: fn(POINT), "sympy": lambda: sfn(POINT)}
        efn = symengine_nth(n)
        if efn is not None:
            contenders["symengine"] = lambda: efn(POINT)
        for other in contenders.values():
            assert abs(fn(POINT) - other()) <= 1e-9 * max(1.0, abs(sfn(POINT))), n
        calls = H.per_call(contenders, repeats=7)
        engine = f"{calls['symengine'][0] * 1e6:>8.1f}us" if efn else f"{'-':>10}"
        print(f"{n:>3} {nodes:>9} {ops:>10} {H.ms(seconds):>18} {H.ms(sseconds):>20} "
              f"{sseconds / seconds:>8.1f}x {calls['sg'][0] * 1e6:>7.1f}us "
              f"{calls['sympy'][0] * 1e6:>9.1f}us {engine}")
    print("\nrepeated reverse mode, sg.grad(f, [x]), for comparison")
    print(f"{'n':>3} {'nodes':>9} {'derive+compile':>15}")
    for n in ORDERS:
        _, nodes, seconds = symgrad_nth(n, repeated_grad, repeats=1)
        print(f"{n:>3} {nodes:>9} {H.ms(seconds):>15}")
        if seconds > 2:
            break


if __name__ == "__main__":
    main()
