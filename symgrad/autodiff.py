"""The derivative API: gradients, products, Jacobians, Hessians and n-th derivatives, made
from the reverse (:mod:`symgrad.reverse`) and forward (:mod:`symgrad.forward`) sweeps.

Jacobians push a whole batch of seed directions through one forward sweep: the seeds of an
array start as a banded identity and stay banded while the ops allow, then become a dense
batch that the ops' batching rules carry, so a Jacobian is one array graph, not one graph
per row.  Hessians are forward over reverse: the Jacobian of the gradient.
"""
from __future__ import annotations

from . import dims as D
from .errors import DisconnectedInputError, ShapeError, SymgradError
from .expr import Batched, Expr, apply, as_expr, constant, is_constant
from .forward import forward
from .graph import common_graph
from .ops.band import band_of
from .ops.banded import Banded, identity
from .ops.shape import broadcast_to, fill, zeros_like
from .reverse import backprop


def wrt_list(wrt, what: str) -> tuple:
    """``(list of expressions, whether one was given)``; each must be a float non-constant."""
    single = isinstance(wrt, Expr)
    items = [wrt] if single else list(wrt)
    for w in items:
        if not isinstance(w, Expr):
            raise SymgradError(f"{what}: wrt must be symgrad expressions, got "
                               f"{type(w).__name__} {w!r}")
        if w.dtype.kind != "f":
            raise SymgradError(f"{what}: cannot differentiate with respect to {w!r}: its dtype "
                               f"{w.dtype} is not floating point")
        if is_constant(w):
            raise SymgradError(
                f"{what}: cannot differentiate with respect to the constant {w!r}: constants are "
                "folded into the expressions that use them, so the path to it is gone. Make it "
                "a symbol (sg.scalar, sg.vector, ...) and give its value when evaluating")
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
    items, single = wrt_list(wrt, "vjp")
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
        return jvp(cost, wrt, seed)
    return vjp(cost, wrt, seed, disconnected)


def jvp(y: Expr | list, wrt: Expr | list, tangent) -> Expr | list:
    """Forward-mode product ``∂y/∂wrt · tangent`` (Rop) for outputs of any shape.

    ``wrt`` and ``tangent`` are one expression each or lists of equal length (each tangent
    broadcasts to its input's shape); ``y`` one expression (one result) or a list (a list),
    each result of its output's shape.  The tangents of all inputs are summed.

    >>> sg.jvp(W @ x, x, v)          # = W @ v
    """
    single_y = not isinstance(y, (list, tuple))
    ys = [as_expr(e) for e in ([y] if single_y else y)]
    items, single = wrt_list(wrt, "jvp")
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


def _jacobian_of(t, y: Expr, x: Expr, sparse: bool) -> Expr:
    """The Jacobian ``∂y/∂x`` (shape ``y.shape + x.shape``) from the batched tangent of ``y``:
    the band op of a Banded tangent, a dense batch's seed axes moved last; ``sparse``: as a
    scipy.sparse matrix."""
    if isinstance(t, Banded) or t is None and sparse:
        return band_of(t or Banded({}, x.dims), y, sparse)
    if t is None:
        return fill(y.dims + x.dims, 0.0, y.dtype, y.g)
    if isinstance(t, Batched):
        t = apply("transpose", t.value, axes=tuple(range(x.ndim, t.value.ndim)) + tuple(range(x.ndim)))
    return apply("dense_sparse", t, rank=x.ndim) if sparse else t


def _jacobians(ys: list, x: Expr, sparse: bool = False) -> list:
    """``∂y/∂x`` for each y, shape ``y.shape + x.shape``, from one batched forward sweep."""
    tangent_of = forward(ys, {x.node: identity(x)})
    with x.g.marking_gradient():
        return [_jacobian_of(tangent_of.get(y.node), y, x, sparse) for y in ys]


def jacobian(y: Expr, wrt: Expr | list) -> Expr | list:
    """The Jacobian ``∂y/∂x``, shape ``y.shape + x.shape``, as one array graph.

    ``wrt`` one expression (one result) or a list (a list).  A batch of seed directions,
    one per entry of ``x``, is pushed forward in one sweep (kept banded while possible).

    >>> J = sg.jacobian(sg.softmax(x), x)      # diag(s) - s sᵀ, shape (n, n)
    """
    y = as_expr(y)
    items, single = wrt_list(wrt, "jacobian")
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
    items, single = wrt_list(wrt, "hessian")
    grads = grad(cost, items)
    columns = [_jacobians(grads, x, sparse) for x in items]
    blocks = [[columns[j][i] for j in range(len(items))] for i in range(len(items))]
    return blocks[0][0] if single else blocks


def hvp(cost: Expr, wrt: Expr | list, v) -> Expr | list:
    """Hessian-vector product ``H v`` without forming ``H``: the jvp of the gradient.

    ``wrt`` and ``v`` one expression each (one result of ``x``'s shape) or lists.

    >>> sg.hvp(sg.sum(x ** 3), x, v)     # 6 x v
    """
    items, single = wrt_list(wrt, "hvp")
    grads = grad(as_expr(cost), items)
    return jvp(grads[0] if single else grads, wrt, v)


def diff(f, x, n: int = 1) -> Expr:
    """The n-th derivative of a scalar ``f`` with respect to a scalar ``x``.

    Forward mode, one sweep per order: the derivative of every node is a node (shared by
    hash-consing across orders), so the graph grows polynomially in n where repeated
    reverse mode grows exponentially.

    >>> sg.diff(sg.sin(x), x, 3)     # -cos(x)
    """
    if not isinstance(n, int) or n < 0:
        raise SymgradError(f"diff: n must be a non-negative integer, got {n!r}")
    f = as_expr(f)
    if f.ndim != 0:
        raise ShapeError(f"diff: f must be a scalar, got shape {f.dims}; use sg.jacobian")
    if isinstance(x, Expr) and x.ndim != 0:
        raise ShapeError(f"diff: x must be a scalar, got shape {x.dims}; use sg.grad or sg.hessian")
    wrt_list(x, "diff")
    for _ in range(n):
        f = jvp(f, x, 1.0)
    return f
