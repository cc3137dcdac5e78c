"""``sg.to_sympy(..., cse=True)`` against ``sympy.diff`` on two derivatives:

- the 10th derivative of ``exp(sin x) / (1 + x²)``;
- the gradient of a depth-200 scalar chain ``f ← sin(f)·x`` (x enters every level).

symgrad derives in the graph (``sg.diff`` / ``sg.grad``, timed apart), then ``to_sympy``
turns the graph into SymPy's ``(replacements, expr)`` form, one replacement per node used
more than once.  SymPy differentiates the same function written as a SymPy expression;
``sympy.cse`` of that result, SymPy's way to the same form, is timed too.  SymPy's cache is
cleared before every timed run (to_sympy builds SymPy objects as well).  Size is
``count_ops``: of the replacements plus the expression for the cse forms, of the whole
tree for ``sympy.diff``'s result.  SymPy recurses over expression depth, so everything
runs in a thread with a large stack and recursion limit (without it ``sympy.diff`` raises
RecursionError at depth 200).  Target: ``to_sympy(cse=True)`` at least 10x faster than
``sympy.diff`` at depth 200.

    python benchmarks/sympy_bridge.py
"""
from __future__ import annotations

import _harness as H  # first: pins the thread count before NumPy loads

import sys
import threading

import sympy
from sympy.core.cache import clear_cache

import symgrad as sg

DEPTH = 200
ORDER = 10


def cse_size(replacements: list, expr) -> int:
    return sum(sympy.count_ops(e) for _, e in replacements) + sympy.count_ops(expr)


def nth_derivative():
    with sg.Graph() as g:
        x = sg.scalar("x")
        d, derive = H.timed(lambda: sg.diff(sg.exp(sg.sin(x)) / (1 + x ** 2), x, ORDER))
        nodes = len(g.ancestors([d.node]))
    t = sympy.Symbol("x", real=True)
    return d, derive, nodes, lambda: sympy.diff(sympy.exp(sympy.sin(t)) / (1 + t ** 2), t, ORDER)


def chain_gradient():
    with sg.Graph() as g:
        x = sg.scalar("x")
        f = x
        for _ in range(DEPTH):
            f = sg.sin(f) * x
        d, derive = H.timed(lambda: sg.grad(f, x))
        nodes = len(g.ancestors([d.node]))
    t = sympy.Symbol("x", real=True)

    def sympy_diff():
        e = t
        for _ in range(DEPTH):
            e = sympy.sin(e) * t
        return sympy.diff(e, t)
    return d, derive, nodes, sympy_diff


def cold(fn):
    """``H.timed(fn)`` with SymPy's cache cleared first, as for SymPy's own runs."""
    clear_cache()
    return H.timed(fn)


def compare(title: str, case) -> float:
    d, derive, nodes, sympy_diff = case()
    (replacements, expr), ours = min((cold(lambda: sg.to_sympy(d, cse=True)) for _ in range(3)),
                                     key=lambda r: r[1])
    result, theirs = cold(sympy_diff)
    (their_replacements, their_expr), their_cse = cold(lambda: sympy.cse(result))
    print(f"{title}")
    print(f"  symgrad: derive {derive:.3f} s ({nodes} graph nodes); to_sympy(cse=True) "
          f"{ours:.3f} s, {len(replacements)} replacements, count_ops "
          f"{cse_size(replacements, expr)}")
    print(f"  sympy:   diff {theirs:.3f} s, count_ops {sympy.count_ops(result)}; cse of it "
          f"{their_cse:.3f} s more, {len(their_replacements)} replacements, count_ops "
          f"{cse_size(their_replacements, their_expr)}")
    total = (theirs + their_cse) / (derive + ours)
    print(f"  sympy.diff / to_sympy(cse=True) = {theirs / ours:.1f}x; "
          f"(sympy.diff + cse) / (derive + to_sympy) = {total:.1f}x")
    return theirs / ours


def main():
    print(H.environment())
    compare(f"{ORDER}th derivative of exp(sin x)/(1 + x^2)", nth_derivative)
    ratio = compare(f"gradient of the depth-{DEPTH} chain f <- sin(f)*x", chain_gradient)
    print(f"target: to_sympy(cse=True) >= 10x faster than sympy.diff at depth {DEPTH}: "
          f"{'met' if ratio >= 10 else 'MISSED'} ({ratio:.1f}x)")


if __name__ == "__main__":
    sys.setrecursionlimit(1_000_000)
    threading.stack_size(1 << 29)
    worker = threading.Thread(target=main)
    worker.start()
    worker.join()
