"""Reverse mode: the chain rule applied backwards over the graph, adding gradient nodes.

One sweep in reverse topological order over the nodes that lie between ``wrt`` and the
output.  Each node's adjoint is the sum of what its users sent it; each op's vjp rule turns
the adjoint into contributions for its arguments, built from symgrad ops, so the result can
be compiled, printed, or differentiated again.  A missing adjoint is a symbolic zero and
costs nothing.

The ``where`` convention lives here: the adjoint ``where(c, ḡ, 0)`` that a select sends to
a branch stays masked while it passes elementwise ops (the mask goes around each product
with a local derivative, so ``0 · nan`` never happens) and ops that only move entries (the
mask moves with them); it is materialised only where values mix.  So the branch not taken
gets an exact zero with or without rewrites.
"""
from __future__ import annotations

from .expr import Expr, as_expr
from .op import REGISTRY
from .ops.banded import is_zero
from .ops.elementwise import logical_and, logical_not, logical_or, where
from .ops.shape import broadcast_to, sum_to


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
            out = Expr(g, node)
            params = dict(attrs["params"])
            mask = masked(gbar) if op.elementwise or op.moves else None
            for position, arg in enumerate(args):
                rule = op.vjp_rule(position) if arg.node in active else None
                if rule is None or arg.dtype.kind != "f":
                    continue
                if mask is None:
                    contribution = rule(gbar, out, *args, **params)
                else:
                    contribution = _masked_rule(op, rule, mask, out, args, params)
                if contribution is None:
                    continue
                contribution = _fit(as_expr(contribution, arg), arg)
                previous = adjoint.get(arg.node)
                adjoint[arg.node] = contribution if previous is None else _add(previous, contribution)
    return adjoint


def masked(e: Expr):
    """``(condition, value)`` when ``e`` is ``where(c, v, 0)`` or ``where(c, 0, v)`` (the
    condition then negated), else None."""
    if not REGISTRY[e.op].selects:
        return None
    c, a, b = e.args
    if is_zero(b):
        return c, a
    return (logical_not(c), b) if is_zero(a) else None


def remask(cond: Expr, value: Expr) -> Expr:
    """``where(cond, value, 0)``; a masked ``value`` gives one mask, both conditions."""
    inner = masked(value)
    if inner is not None:
        cond, value = logical_and(cond, inner[0]), inner[1]
    return where(cond, value, 0.0)


def _masked_rule(op, rule, mask: tuple, out: Expr, args: list, params: dict):
    """The contribution of a masked adjoint ``where(c, v, 0)``: the rule applied to ``v``
    inside the mask (an elementwise op keeps the positions, a move moves the mask too)."""
    cond, value = mask
    inner = rule(value, out, *args, **params)
    if inner is None:
        return None
    if op.moves:
        cond = rule(broadcast_to(cond, out.dims), out, *args, **params)
    return remask(cond, as_expr(inner, value))


def _fit(contribution: Expr, arg: Expr) -> Expr:
    """Undo broadcasting: sum the contribution down to the argument's shape (a mask that
    does not vary along the summed axes stays outside the sum); undo implicit promotion: a
    float32 argument of a float64 result gets a float32 adjoint."""
    if contribution.dims != arg.dims:
        mask = masked(contribution)
        cond = None if mask is None else _summed_mask(mask[0], contribution.dims, arg.dims)
        if cond is not None:
            value = broadcast_to(mask[1], contribution.dims)
            contribution = remask(cond, sum_to(value, arg.dims))
        else:
            contribution = sum_to(contribution, arg.dims)
    if contribution.dims != arg.dims:
        contribution = broadcast_to(contribution, arg.dims)
    if contribution.dtype != arg.dtype:
        contribution = contribution.astype(arg.dtype)
    return contribution


def _summed_mask(cond: Expr, dims: tuple, target: tuple):
    """The condition after ``sum_to(·, target)`` of a value of shape ``dims`` when it is
    constant along every summed axis, else None."""
    lead = len(dims) - len(target)
    offset = len(dims) - cond.ndim  # cond lines up with the last axes
    summed = set(range(lead)) | {lead + i for i, d in enumerate(target)
                                 if d == 1 and dims[lead + i] != 1}
    if any(a >= offset and cond.dims[a - offset] != 1 for a in summed):
        return None
    dropped = [a - offset for a in range(lead) if a >= offset]
    return cond[tuple(0 if i in dropped else slice(None) for i in range(cond.ndim))] if dropped else cond


def _add(p: Expr, q: Expr) -> Expr:
    """``p + q`` of two contributions; masked ones stay masked (by either condition)."""
    mp, mq = masked(p), masked(q)
    if mp is None or mq is None:
        return p + q
    if mp[0] == mq[0]:
        return where(mp[0], mp[1] + mq[1], 0.0)
    return where(logical_or(mp[0], mq[0]), p + q, 0.0)
