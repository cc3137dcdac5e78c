"""Reverse mode: the chain rule applied backwards over the graph, adding gradient nodes.

One sweep in reverse topological order over the nodes that lie between ``wrt`` and the
output.  Each node's adjoint is the sum of what its users sent it; each op's vjp rule turns
the adjoint into contributions for its arguments, built from symgrad ops, so the result can
be compiled, printed, or differentiated again.  A missing adjoint is a symbolic zero and
costs nothing.

The ``where`` convention lives here: ``where``'s vjp sends each branch a :class:`Masked`
cotangent, which stays masked while it passes elementwise ops (the rule runs on the value
and the mask goes around the result, so ``0 · nan`` never happens) and ops that only move
entries (the mask moves with them).  It becomes ``where(c, value, 0)`` only where values mix
(a sum over an axis the mask varies along, an op of another kind, the result).  So the
branch not taken gets an exact zero, with or without rewrites.
"""
from __future__ import annotations

from .dims import broadcast_shapes
from .expr import Expr, as_expr
from .op import REGISTRY, Masked
from .ops.elementwise import logical_and, logical_or, where
from .ops.shape import broadcast_to, sum_to


def backprop(seeds: dict, wrt: list, stop=frozenset()) -> dict:
    """Adjoints ``{node: Expr}`` of the nodes in ``wrt`` given ``{output node: cotangent}``.

    x̄ = Σ over users u of vjp_u(ū): the classic reverse sweep, over node ids descending
    (ids are a topological order).  Nodes without a path to ``wrt`` are skipped, and nothing
    flows through the nodes in ``stop`` (considered constant).
    """
    g = next(iter(seeds.values())).g
    needed = g.ancestors(seeds)
    wanted = {w.node for w in wrt}
    active = g.descendants(wanted, needed)
    adjoint = dict(seeds)
    done: set = set()  # siblings whose cotangents went back together with another's
    with g.marking_gradient():
        for node in sorted(active, reverse=True):
            gbar = adjoint.get(node)
            attrs = g[node]
            if gbar is None or not attrs["args"] or node in stop or node in done:
                continue
            op = REGISTRY[attrs["op"]]
            args = [Expr(g, a) for a in attrs["args"]]
            out = Expr(g, node)
            params = dict(attrs["params"])
            if op.joint_vjp is not None:
                family = [g.find(op.name, attrs["args"], tuple(sorted(p.items())))
                          for p in op.siblings(params)]
                done.update(n for n in family if n is not None)
                cotangents = [materialize(adjoint[n]) if n in adjoint else None for n in family]
                contributions = op.joint_vjp(cotangents, *args, **params)
            else:
                if isinstance(gbar, Masked) and not (op.elementwise or op.moves):
                    gbar = materialize(gbar)
                contributions = [_contribution(op, position, gbar, out, args, params)
                                 if arg.node in active and arg.dtype.kind == "f" else None
                                 for position, arg in enumerate(args)]
            for arg, contribution in zip(args, contributions):
                if contribution is None or arg.node not in active or arg.dtype.kind != "f":
                    continue
                contribution = _fit(contribution, arg)
                previous = adjoint.get(arg.node)
                adjoint[arg.node] = contribution if previous is None else _add(previous, contribution)
        return {node: materialize(a) for node, a in adjoint.items() if node in wanted}


def _contribution(op, position: int, gbar, out: Expr, args: list, params: dict):
    """The cotangent argument ``position`` gets from the node's cotangent ``gbar``."""
    rule = op.vjp_rule(position)
    if rule is None:
        return None
    if isinstance(gbar, Masked):
        return _masked_rule(op, rule, gbar, out, args, params)
    return rule(gbar, out, *args, **params)


def materialize(a) -> Expr:
    """A masked cotangent as the expression ``where(cond, value, 0)``; others as they are."""
    return where(a.cond, a.value, 0.0) if isinstance(a, Masked) else a


def _mask(cond: Expr, value) -> Masked:
    """``value`` (an Expr, or Masked itself) masked by ``cond`` too."""
    if isinstance(value, Masked):
        return Masked(logical_and(cond, value.cond), value.value)
    return Masked(cond, value)


def _masked_rule(op, rule, gbar: Masked, out: Expr, args: list, params: dict):
    """The contribution of a masked adjoint: the rule applied to its value inside the mask
    (an elementwise op keeps the positions, a move moves the mask too)."""
    inner = rule(gbar.value, out, *args, **params)
    if inner is None:
        return None
    cond = gbar.cond
    if op.moves:
        cond = rule(broadcast_to(cond, out.dims), out, *args, **params)
    return _mask(cond, inner if isinstance(inner, Masked) else as_expr(inner, gbar.value))


def _fit(contribution, arg: Expr):
    """Undo broadcasting: sum the contribution down to the argument's shape (a mask that
    does not vary along the summed axes stays outside the sum); undo implicit promotion: a
    float32 argument of a float64 result gets a float32 adjoint."""
    if isinstance(contribution, Masked):
        cond, value = contribution.cond, as_expr(contribution.value, arg)
        full = broadcast_shapes("where", [cond.dims, value.dims], ["condition", "value"])
        if full == arg.dims:
            return Masked(cond, _fit(value, arg))
        summed = _summed_mask(cond, full, arg.dims)
        if summed is None:
            return _fit(materialize(Masked(cond, value)), arg)
        return Masked(summed, _fit(sum_to(broadcast_to(value, full), arg.dims), arg))
    contribution = as_expr(contribution, arg)
    if contribution.dims != arg.dims:
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


def _add(p, q):
    """``p + q`` of two contributions; masked ones stay masked (by either condition)."""
    if isinstance(p, Masked) and isinstance(q, Masked):
        if p.cond == q.cond:
            return Masked(p.cond, p.value + q.value)
        return Masked(logical_or(p.cond, q.cond), materialize(p) + materialize(q))
    return materialize(p) + materialize(q)
