"""Forward mode, Jacobians and Hessians: tangents pushed through the graph, adding nodes.

One sweep in topological order over the nodes between the seeds and the outputs: each
node's tangent is its op's jvp rule applied to its arguments' tangents (None is a symbolic
zero and costs nothing).  ``jacobian`` and ``hessian`` push a whole batch of seed
directions at once: a tangent has leading batch axes, one entry per direction, so a
Jacobian is one array graph, not one graph per row.  Seeds of an array start as a
symbolic identity and stay banded while the ops allow (see :mod:`symgrad.structured`), so
the Hessian of a chained function such as Rosenbrock's costs O(n) work and one fill.
Hessians are forward over reverse: the Jacobian of the gradient.
"""
from __future__ import annotations

from . import dims as D
from . import structured as S
from .autodiff import _as_list as as_list, grad
from .errors import ShapeError, SymgradError, UnsupportedError
from .expr import Expr, as_expr
from .graph import common_graph
from .ops.base import REGISTRY, batch_dims
from .ops.shape import broadcast_to, zeros_like


def forward(outputs: list, seeds: dict, known: dict | None = None) -> dict:
    """Tangents ``{node: tangent}`` of ``outputs`` given ``{node: tangent}`` for the seeds.

    A tangent is an Expr of shape ``batch + node.shape`` or an :class:`~symgrad.structured.
    Banded` one; nodes that do not depend on a seed are skipped, and so are integer and
    boolean nodes (their tangent is zero).  ``known`` holds tangents from earlier sweeps
    with the same seeds (they are reused and the new ones added to it).
    """
    g = outputs[0].g
    needed = g.ancestors([y.node for y in outputs], stop=set(seeds))
    active = g.descendants(list(seeds), needed)
    tangent = {} if known is None else known
    tangent.update(seeds)
    with g.marking_gradient():
        for node in sorted(active - tangent.keys()):
            attrs = g[node]
            tangents = [tangent.get(a) for a in attrs["args"]]
            if attrs["dtype"].kind != "f" or all(t is None for t in tangents):
                continue
            t = _push(REGISTRY[attrs["op"]], tangents, Expr(g, node),
                      [Expr(g, a) for a in attrs["args"]], dict(attrs["params"]))
            if t is not None:
                tangent[node] = t
    return tangent


def _push(op, tangents: list, out: Expr, args: list, params: dict):
    """One node's tangent: structured while it lasts, else the op's (batched) jvp rule."""
    if any(isinstance(t, S.Banded) for t in tangents):
        t = S.push(op, tangents, out, args, params)
        if t is not S.LOST:
            return t
        tangents = [S.dense(t, x) if isinstance(t, S.Banded) else t
                    for t, x in zip(tangents, args)]
    rule = op.jvp_rule()
    if rule is None:
        if op.differentiable:
            raise UnsupportedError(f"{op.name}: the op has no forward (jvp) rule")
        return None
    result = rule(tangents, out, *args, **params)
    if result is None:
        return None
    t, x = next((t, x) for t, x in zip(tangents, args) if t is not None)
    want = batch_dims(t, x) + out.dims  # a rule may leave broadcastable axes at size 1
    result = as_expr(result, out)
    return result if result.dims == want else broadcast_to(result, want)


def _as_outputs(y) -> tuple:
    single = not isinstance(y, (list, tuple))
    return [as_expr(e) for e in ([y] if single else y)], single


def jvp(y: Expr | list, wrt: Expr | list, tangent) -> Expr | list:
    """Forward-mode product ``∂y/∂wrt · tangent`` (Rop) for outputs of any shape.

    ``wrt`` and ``tangent`` are one expression each or lists of equal length (each tangent
    broadcasts to its input's shape); ``y`` one expression (one result) or a list (a list),
    each result of its output's shape.  The tangents of all inputs are summed.

    >>> sg.jvp(W @ x, x, v)          # = W @ v
    """
    ys, single_y = _as_outputs(y)
    items, single = as_list(wrt)
    tangents = [tangent] if single else list(tangent)
    if len(tangents) != len(items):
        raise SymgradError(f"jvp: {len(items)} inputs but {len(tangents)} tangents")
    common_graph([e.g for e in ys + items], "jvp")
    seeds = {}
    for w, t in zip(items, tangents):
        t = as_expr(t, w)
        if D.broadcast_shapes("jvp", [w.dims, t.dims], ["input", "tangent"]) != w.dims:
            raise ShapeError(f"jvp: the tangent's shape {D.fmt_shape(t.dims)} does not fit the "
                             f"input's shape {D.fmt_shape(w.dims)}")
        if w.node in seeds:
            raise SymgradError(f"jvp: the input {w!r} is given twice")
        seeds[w.node] = broadcast_to(t, w.dims)
    key = tuple(sorted((w, t.node) for w, t in seeds.items()))
    # tangents of earlier sweeps with the same seeds (the next order of sg.diff) are reused
    sweeps = ys[0].g.cache.setdefault("jvp sweeps", {})
    tangent_of = forward(ys, seeds, sweeps.setdefault(key, {}))
    results = [tangent_of.get(e.node) for e in ys]
    with ys[0].g.marking_gradient():
        results = [zeros_like(e) if t is None else t for e, t in zip(ys, results)]
    return results[0] if single_y else results


def _jacobians(ys: list, x: Expr, sparse: bool = False) -> list:
    """``∂y/∂x`` for each y, shape ``y.shape + x.shape``, from one batched forward sweep."""
    seed = S.identity(x)
    tangent_of = forward(ys, {x.node: seed})
    with x.g.marking_gradient():
        return [S.jacobian(tangent_of.get(y.node), y, x, sparse) for y in ys]


def jacobian(y: Expr, wrt: Expr | list) -> Expr | list:
    """The Jacobian ``∂y/∂x``, shape ``y.shape + x.shape``, as one array graph.

    ``wrt`` one expression (one result) or a list (a list).  A batch of seed directions,
    one per entry of ``x``, is pushed forward in one sweep (kept banded while possible).

    >>> J = sg.jacobian(sg.softmax(x), x)      # diag(s) - s sᵀ, shape (n, n)
    """
    y = as_expr(y)
    items, single = as_list(wrt)
    common_graph([y.g, *(w.g for w in items)], "jacobian")
    results = [_jacobians([y], w)[0] for w in items]
    return results[0] if single else results


def hessian(cost: Expr, wrt: Expr | list, sparse: bool = False) -> Expr | list:
    """The Hessian of a scalar ``cost``, shape ``x.shape + x.shape`` (forward over reverse).

    For a list ``[W, b]`` the result is the nested list of blocks ``H[i][j] = ∂²c/∂xᵢ∂xⱼ``.
    ``sparse=True`` gives an expression that evaluates to a ``scipy.sparse`` CSR matrix of
    shape ``(x.size, x.size)`` whose pattern is the banded structure found in the graph
    (where a matrix product lost that structure, the dense Hessian's nonzeros); scipy is an
    optional extra, needed only to run it.

    >>> H = sg.hessian(sg.sum(x[1:] * x[:-1] ** 2), x)    # (n, n), banded
    """
    cost = as_expr(cost)
    if cost.ndim != 0:
        raise ShapeError(f"hessian: the cost must be a scalar, got shape "
                         f"{D.fmt_shape(cost.dims)}; use sg.jacobian of sg.jacobian")
    items, single = as_list(wrt)
    grads = grad(cost, items)
    columns = [_jacobians(grads, x, sparse) for x in items]
    blocks = [[columns[j][i] for j in range(len(items))] for i in range(len(items))]
    return blocks[0][0] if single else blocks


def hvp(cost: Expr, wrt: Expr | list, v) -> Expr | list:
    """Hessian-vector product ``H v`` without forming ``H``: the jvp of the gradient.

    ``wrt`` and ``v`` one expression each (one result of ``x``'s shape) or lists.

    >>> sg.hvp(sg.sum(x ** 3), x, v)     # 6 x v
    """
    items, single = as_list(wrt)
    grads = grad(as_expr(cost), items)
    return jvp(grads[0] if single else grads, wrt, v)
