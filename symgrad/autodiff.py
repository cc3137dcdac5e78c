"""Reverse mode: the chain rule applied backwards over the graph, adding gradient nodes.

One sweep in reverse topological order over the nodes that lie between ``wrt`` and the
output.  Each node's adjoint is the sum of what its users sent it; each op's vjp rule
turns the adjoint into contributions for its arguments, built from symgrad ops, so the
result can be compiled, printed, or differentiated again.  A missing adjoint is a
symbolic zero and costs nothing.
"""
from __future__ import annotations

from .errors import DisconnectedInputError, ShapeError, SymgradError
from .expr import Expr, as_expr, constant
from .graph import common_graph
from .ops.base import REGISTRY
from .ops.shape import broadcast_to, sum_to, zeros_like


def backprop(seeds: dict, wrt: list) -> dict:
    """Adjoints ``{node: Expr}`` of the nodes in ``wrt`` given ``{output node: cotangent}``.

    x̄ = Σ over users u of vjp_u(ū): the classic reverse sweep, over node ids descending
    (ids are a topological order).  Nodes without a path to ``wrt`` are skipped.
    """
    g = next(iter(seeds.values())).g
    needed = g.ancestors(seeds)
    active = g.descendants([w.node for w in wrt], needed)
    adjoint = dict(seeds)
    with g.marking_gradient():
        for node in sorted(active, reverse=True):
            gbar = adjoint.get(node)
            attrs = g[node]
            if gbar is None or not attrs["args"]:
                continue
            op = REGISTRY[attrs["op"]]
            args = [Expr(g, a) for a in attrs["args"]]
            params = dict(attrs["params"])
            for position, arg in enumerate(args):
                rule = op.vjp_rule(position) if arg.node in active else None
                if rule is None or arg.dtype.kind != "f":
                    continue
                contribution = rule(gbar, Expr(g, node), *args, **params)
                if contribution is None:
                    continue
                contribution = _fit(as_expr(contribution, arg), arg)
                previous = adjoint.get(arg.node)
                adjoint[arg.node] = contribution if previous is None else previous + contribution
    return adjoint


def _fit(contribution: Expr, arg: Expr) -> Expr:
    """Undo broadcasting: sum the contribution down to the argument's shape; undo implicit
    promotion: a float32 argument of a float64 result gets a float32 adjoint."""
    if contribution.dims != arg.dims:
        contribution = sum_to(contribution, arg.dims)
    if contribution.dims != arg.dims:
        contribution = broadcast_to(contribution, arg.dims)
    if contribution.dtype != arg.dtype:
        contribution = contribution.astype(arg.dtype)
    return contribution


def _as_list(wrt) -> tuple:
    single = isinstance(wrt, Expr)
    items = [wrt] if single else list(wrt)
    for w in items:
        if not isinstance(w, Expr):
            raise SymgradError(f"wrt must be symgrad expressions, got {type(w).__name__} {w!r}")
        if w.dtype.kind != "f":
            raise SymgradError(f"cannot differentiate with respect to {w!r}: its dtype "
                               f"{w.dtype} is not floating point")
    return items, single


def vjp(y: Expr, wrt: Expr | list, cotangent, disconnected: str = "zero") -> Expr | list:
    """Reverse-mode product ``ȳᵀ ∂y/∂wrt`` for an output of any shape.

    ``wrt`` is one expression (one result) or a list (a list); each result has the shape of
    its ``wrt``.  ``disconnected="raise"`` raises DisconnectedInputError when ``y`` does
    not depend on a ``wrt``; the default gives zeros.

    >>> sg.vjp(W @ x, x, ybar)       # = W.T @ ybar
    """
    if disconnected not in ("zero", "raise"):
        raise SymgradError(f"disconnected must be 'zero' or 'raise', got {disconnected!r}")
    y = as_expr(y)
    items, single = _as_list(wrt)
    common_graph([y.g, *(w.g for w in items)], "vjp")
    cotangent = as_expr(cotangent, y)
    if cotangent.dims != y.dims:
        raise ShapeError(f"vjp: the cotangent's shape {cotangent.dims} differs from the "
                         f"output's shape {y.dims}")
    adjoint = backprop({y.node: cotangent}, items)
    results = []
    for w in items:
        a = adjoint.get(w.node)
        if a is None:
            if disconnected == "raise" and w.node not in y.g.ancestors([y.node]):
                raise DisconnectedInputError(
                    f"the output does not depend on {w!r}; pass disconnected='zero' for zeros")
            with w.g.marking_gradient():
                a = zeros_like(w)
        results.append(a)
    return results[0] if single else results


def grad(cost: Expr, wrt: Expr | list, disconnected: str = "zero") -> Expr | list:
    """Symbolic gradient of a scalar ``cost``: new graph nodes, one result per ``wrt``.

    >>> x, y, z = sg.scalars("x y z")
    >>> gx, gy, gz = sg.grad((x + y) * z, [x, y, z])     # z, z, x + y
    """
    cost = as_expr(cost)
    if cost.ndim != 0:
        raise ShapeError(f"grad: the cost must be a scalar, got shape {cost.dims}; "
                         "use sg.vjp or sg.jacobian for other outputs")
    with cost.g.marking_gradient():  # the seed is a gradient node too (drawn as one)
        seed = constant(1.0, cost.dtype, cost.g)
    if isinstance(wrt, Expr) and wrt.ndim == 0 and disconnected == "zero":
        # one scalar input: a forward sweep costs the same, and repeated it reuses every
        # derivative node across orders (reverse mode's adjoints cannot be shared)
        from .forward import jvp
        return jvp(cost, wrt, seed)
    return vjp(cost, wrt, seed, disconnected)


def diff(f, x, n: int = 1) -> Expr:
    """The n-th derivative of a scalar ``f`` with respect to a scalar ``x``.

    Forward mode, one sweep per order: the derivative of every node is a node (shared by
    hash-consing across orders), so the graph grows polynomially in n where repeated
    reverse mode grows exponentially.

    >>> sg.diff(sg.sin(x), x, 3)     # -cos(x)
    """
    from .forward import jvp
    if not isinstance(n, int) or n < 0:
        raise SymgradError(f"diff: n must be a non-negative integer, got {n!r}")
    f = as_expr(f)
    if f.ndim != 0:
        raise ShapeError(f"diff: f must be a scalar, got shape {f.dims}; use sg.jacobian")
    if isinstance(x, Expr) and x.ndim != 0:
        raise ShapeError(f"diff: x must be a scalar, got shape {x.dims}; use sg.grad or sg.hessian")
    for _ in range(n):
        f = jvp(f, x, 1.0)
    return f
