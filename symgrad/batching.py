"""Batching: a graph mapped over a batch of examples, one op at a time.

Every op has a batching rule (elementwise ops get theirs for free): the op applied to
arguments of which some carry leading batch axes.  :func:`vectorize` rebuilds the nodes that
depend on the batched inputs with :class:`~symgrad.expr.Batched` arguments, so each op runs
its rule; forward mode pushes many tangents at once through the same rules.
"""
from __future__ import annotations

from . import dims as D
from .errors import ShapeError, SymgradError
from .expr import Batched, Expr, apply, as_expr
from .graph import common_graph
from .ops.shape import broadcast_to


def vectorize(outputs: Expr | list, inputs: dict) -> Expr | list:
    """The graph of ``outputs`` with each symbol ``x`` in ``inputs`` replaced by
    ``inputs[x]``, an expression of shape ``batch + x.shape``: every output gains the leading
    ``batch`` axes (one result per example, as JAX's ``vmap``).  All inputs share one batch.

    >>> g = sg.grad(sg.sum((x @ w - y) ** 2), w)        # for one example x, y
    >>> per_example = sg.vectorize(g, {x: X, y: Y})     # X (n, 3), Y (n,): shape (n, 3)
    """
    single = isinstance(outputs, Expr)
    outs = [as_expr(o) for o in ([outputs] if single else outputs)]
    if not inputs:
        raise SymgradError("vectorize: give at least one input and its batched value")
    g = common_graph([e.g for e in outs] + [e.g for pair in inputs.items() for e in pair
                                             if isinstance(e, Expr)], "vectorize")
    values, batch = {}, None
    for x, xb in inputs.items():
        if not isinstance(x, Expr):
            raise SymgradError(f"vectorize: the keys of inputs are expressions, got {x!r}")
        xb = as_expr(xb, x)
        nb = xb.ndim - x.ndim
        if nb < 1 or xb.dims[nb:] != x.dims:
            raise ShapeError(f"vectorize: the batched value of {x!r} has shape "
                             f"{D.fmt_shape(xb.dims)}, not batch axes + {D.fmt_shape(x.dims)}")
        if batch is not None and xb.dims[:nb] != batch:
            raise ShapeError(f"vectorize: inputs carry different batch axes "
                             f"{D.fmt_shape(batch)} and {D.fmt_shape(xb.dims[:nb])}")
        batch = xb.dims[:nb]
        values[x.node] = Batched(xb, nb)
    needed = g.ancestors([e.node for e in outs], stop=set(values))
    for node in sorted(g.descendants(list(values), needed) - values.keys()):
        attrs = g[node]
        args = [values[a] if a in values else Expr(g, a) for a in attrs["args"]]
        values[node] = apply(attrs["op"], *args, **dict(attrs["params"]))
    results = []
    for e in outs:
        v = values.get(e.node, e)
        results.append(v.value if isinstance(v, Batched) else broadcast_to(v, batch + v.dims))
    return results[0] if single else results
