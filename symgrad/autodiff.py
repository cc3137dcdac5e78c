"""The derivative API: gradients, products, Jacobians, Hessians and n-th derivatives, made
from the reverse (:mod:`symgrad.reverse`) and forward (:mod:`symgrad.forward`) sweeps.

Jacobians push a whole batch of seed directions through one forward sweep: the seeds of an
array start as a banded identity and stay banded while the ops allow, then become a dense
batch that the ops' batching rules carry, so a Jacobian is one array graph, not one graph
per row.  Hessians are forward over reverse: the Jacobian of the gradient.
"""
from __future__ import annotations

from . import dims as D
from .errors import ArgumentError, DisconnectedInputError, ShapeError, SymgradError
from .expr import Batched, Expr, apply, as_expr, constant, expr_method, is_constant
from .forward import forward
from .graph import common_graph
from .ops.band import band_of
from .ops.banded import Banded, identity
from .ops.contraction import Contraction, contract
from .ops.shape import broadcast_to, fill, stack, zeros_like
from .reverse import backprop
from .sparsity import (colored_jacobian, distance2_coloring, fixed_sizes, hessian_sparsity,
                       jacobian_sparsity, symmetric_coloring)
from .trees import LEAF, TreeDef, tree_flatten, tree_unflatten


def wrt_list(wrt, what: str) -> tuple:
    """``(the expressions, their tree structure)`` of ``wrt``: one expression or a tree of
    them (dicts, lists, tuples, namedtuples); each must be a floating-point non-constant."""
    items, treedef = tree_flatten(wrt)
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
    return items, treedef


def _scalar_list(items: list, treedef: TreeDef) -> bool:
    """SymPy's convention: a flat list of scalars as ``wrt`` acts as one vector."""
    return treedef.kind == "list" and bool(items) and all(
        c.kind == "leaf" for c in treedef.children) and all(w.ndim == 0 for w in items)


def _zero_for(w: Expr, disconnected: str, y: Expr) -> Expr:
    if disconnected == "raise" and w.node not in y.g.ancestors([y.node]):
        raise DisconnectedInputError(
            f"the output does not depend on {w!r}; pass disconnected='zero' for zeros")
    with w.g.marking_gradient():
        return zeros_like(w)


def vjp(y: Expr, wrt, cotangent, disconnected: str = "zero", *,
        consider_constant=()) -> Expr | list:
    """Reverse-mode product ``ȳᵀ ∂y/∂wrt`` for an output of any shape.

    ``wrt`` is one expression or a tree of them (a dict, list, tuple or namedtuple); the
    result has its structure, each entry the shape of its ``wrt``.
    ``disconnected="raise"`` raises DisconnectedInputError when ``y`` does not depend on a
    ``wrt``; the default gives zeros.  Gradients do not flow through the expressions in
    ``consider_constant`` (PyTensor's argument).

    >>> sg.vjp(W @ x, x, ybar)       # = W.T @ ybar
    """
    y = as_expr(y)
    cotangent = as_expr(cotangent, y)
    if cotangent.dims != y.dims:
        raise ShapeError(f"vjp: the cotangent's shape {cotangent.dims} differs from the "
                         f"output's shape {y.dims}")
    return _backward(y, {y.node: cotangent}, wrt, disconnected, consider_constant, "vjp")


def _backward(y: Expr, seeds: dict, wrt, disconnected: str, consider_constant, what: str):
    """The reverse sweep from ``seeds`` to the tree ``wrt``, zeros where disconnected."""
    if disconnected not in ("zero", "raise"):
        raise SymgradError(f"{what}: disconnected must be 'zero' or 'raise', got {disconnected!r}")
    items, treedef = wrt_list(wrt, what)
    common_graph([y.g, *(w.g for w in items)], what)
    stop = {as_expr(c, y).node for c in tree_flatten(consider_constant)[0]}
    adjoint = backprop(seeds, items, stop)
    results = [adjoint[w.node] if w.node in adjoint else _zero_for(w, disconnected, y)
               for w in items]
    return tree_unflatten(treedef, results)


def grad(cost: Expr | None, wrt, disconnected: str = "zero", *, known_grads: dict | None = None,
         consider_constant=()) -> Expr | list:
    """Symbolic gradient of a scalar ``cost``: new graph nodes, with the structure of ``wrt``
    (one expression, or a tree of them: dict, list, tuple, namedtuple).

    PyTensor's arguments: ``known_grads={v: g}`` adds known gradients of the cost wrt
    intermediate expressions (``cost`` may then be None: backprop starts from them alone);
    gradients do not flow through the expressions in ``consider_constant``.

    >>> x, y, z = sg.scalars("x y z")
    >>> gx, gy, gz = sg.grad((x + y) * z, [x, y, z])     # z, z, x + y
    """
    seeds: dict = {}
    if cost is not None:
        cost = as_expr(cost)
        if cost.ndim != 0:
            raise ShapeError(f"grad: the cost must be a scalar, got shape {cost.dims}; "
                             "use sg.vjp or sg.jacobian for other outputs")
        with cost.g.marking_gradient():  # the seed is a gradient node too (drawn as one)
            seeds[cost.node] = constant(1.0, cost.dtype, cost.g)
        if isinstance(wrt, Expr) and wrt.ndim == 0 and disconnected == "zero" \
                and not known_grads and not consider_constant:
            # one scalar input: a forward sweep costs the same, and repeated it reuses every
            # derivative node across orders (reverse mode's adjoints cannot be shared)
            return jvp(cost, wrt, seeds[cost.node])
    for v, g in (known_grads or {}).items():
        v = as_expr(v)
        g = as_expr(g, v)
        if g.dims != v.dims:
            raise ShapeError(f"grad: the known gradient of {v!r} has shape "
                             f"{D.fmt_shape(g.dims)}, not its shape {D.fmt_shape(v.dims)}")
        seeds[v.node] = seeds[v.node] + g if v.node in seeds else g
    if not seeds:
        raise SymgradError("grad: give a cost, or known_grads to start from")
    anchor = cost if cost is not None else Expr(g.g, next(iter(seeds)))
    return _backward(anchor, seeds, wrt, disconnected, consider_constant, "grad")


def jvp(y, wrt, tangent):
    """Forward-mode product ``∂y/∂wrt · tangent`` (Rop) for outputs of any shape.

    ``wrt`` and ``tangent`` are one expression each or trees of the same structure (each
    tangent broadcasts to its input's shape); ``y`` one expression or a tree of them, the
    result of the same structure.  The tangents of all inputs are summed.

    >>> sg.jvp(W @ x, x, v)          # = W @ v
    """
    ys, ytree = tree_flatten(y)
    ys = [as_expr(e) for e in ys]
    items, treedef = wrt_list(wrt, "jvp")
    tangents, tdef = ([tangent], LEAF) if treedef == LEAF else tree_flatten(tangent)
    if tdef != treedef:
        raise SymgradError(f"jvp: the tangents' structure {tdef!r} differs from the inputs' "
                           f"{treedef!r} ({len(items)} inputs, {len(tangents)} tangents)")
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
    return tree_unflatten(ytree, results)


def _jacobian_of(t, y: Expr, x: Expr, sparse: bool, cost: Expr | None = None,
                 lower: bool = False) -> Expr:
    """The Jacobian ``∂y/∂x`` (shape ``y.shape + x.shape``) from the batched tangent of ``y``:
    the band op of a Banded tangent, a dense batch's seed axes moved last; ``sparse``: as a
    scipy.sparse matrix: banded where the tangent kept its bands, else (for fixed sizes)
    evaluated compressed by colors of its exact pattern: a star coloring where ``y`` is the
    gradient of ``cost`` wrt ``x`` (a Hessian), ``lower`` keeping the lower triangle."""
    if isinstance(t, Contraction):
        t = contract(t, y, seeds_first=False)
    if t is None and sparse or isinstance(t, Banded) and not lower:
        return band_of(t or Banded({}, x.dims), y, sparse)
    if sparse and fixed_sizes(cost if cost is not None else y, x):
        if cost is not None:
            pattern = hessian_sparsity(cost, x)
            return colored_jacobian(y, x, pattern, symmetric_coloring(pattern), True, lower)
        pattern = jacobian_sparsity(y, x)
        return colored_jacobian(y, x, pattern, distance2_coloring(pattern))
    if lower:
        raise ShapeError(f"hessian: lower=True needs fixed sizes from x (shape "
                         f"{D.fmt_shape(x.dims)}) to the cost")
    if t is None:
        return fill(y.dims + x.dims, 0.0, y.dtype, y.g)
    if isinstance(t, Batched):
        t = apply("transpose", t.value, axes=tuple(range(x.ndim, t.value.ndim)) + tuple(range(x.ndim)))
    return apply("dense_sparse", t, rank=x.ndim) if sparse else t


def _jacobians(ys: list, x: Expr, sparse: bool = False, cost: Expr | None = None,
               diagonal: int = -1, lower: bool = False) -> list:
    """``∂y/∂x`` for each y, shape ``y.shape + x.shape``, from one batched forward sweep
    (``ys[diagonal]`` the gradient of ``cost`` wrt ``x``, for sparse Hessians)."""
    tangent_of = forward(ys, {x.node: identity(x)})
    with x.g.marking_gradient():
        results = [_jacobian_of(tangent_of.get(y.node), y, x, sparse,
                                cost if i == diagonal else None, lower) for i, y in enumerate(ys)]
    if not sparse:  # what each result is the Jacobian of, for its matrix formula
        x.g.cache.setdefault("jacobians", {}).update(
            (r.node, (y.node, x.node)) for r, y in zip(results, ys))
    return results


def jacobian(y: Expr, wrt, sparse: bool = False):
    """The Jacobian ``∂y/∂x``, shape ``y.shape + x.shape``, as one array graph.

    ``wrt`` one expression or a tree of them (the result has its structure); as in SymPy, a
    flat list of scalars acts as one vector, so ``jacobian(y, [rho, phi])`` has shape
    ``y.shape + (2,)``.  A batch of seed directions, one per entry of ``x``, is pushed
    forward in one sweep (kept banded while possible).  ``sparse=True``: a ``scipy.sparse``
    CSR matrix of shape ``(y.size, x.size)``, banded where the structure stays banded, else
    (fixed sizes) its exact pattern evaluated with one seed per color
    (:func:`sg.jacobian_coloring`).

    >>> J = sg.jacobian(sg.softmax(x), x)      # diag(s) - s sᵀ, shape (n, n)
    """
    y = as_expr(y)
    items, treedef = wrt_list(wrt, "jacobian")
    common_graph([y.g, *(w.g for w in items)], "jacobian")
    results = [_jacobians([y], w, sparse)[0] for w in items]
    if _scalar_list(items, treedef) and not sparse:
        return stack(results, axis=-1)
    return tree_unflatten(treedef, results)


def hessian(cost: Expr, wrt, sparse: bool = False, lower: bool = False):
    """The Hessian of a scalar ``cost``, shape ``x.shape + x.shape`` (forward over reverse).

    For a tree ``wrt`` (e.g. ``[W, b]`` or ``{"W": W, "b": b}``) the result is the tree of
    blocks ``H[i][j] = ∂²c/∂xᵢ∂xⱼ`` (nested lists, nested dicts); as in SymPy, a flat list of
    scalars acts as one vector, so ``hessian(f, [x, y])`` is a (2, 2) array.
    ``sparse=True`` gives an expression that evaluates to a ``scipy.sparse`` CSR matrix of
    shape ``(x.size, x.size)``: banded where the seeds stay banded, else (fixed sizes) the
    exact pattern (:func:`sg.hessian_sparsity`) filled from one Hessian-vector product per
    color of a star coloring (:func:`sg.hessian_coloring`; with named sizes, the dense
    Hessian's nonzeros); ``lower=True`` keeps the entries on and below the diagonal (one
    ``wrt``, fixed sizes).  scipy is an optional extra, needed only to run it.

    >>> H = sg.hessian(sg.sum(x[1:] * x[:-1] ** 2), x)    # (n, n), banded
    """
    cost = as_expr(cost)
    if cost.ndim != 0:
        raise ShapeError(f"hessian: the cost must be a scalar, got shape "
                         f"{D.fmt_shape(cost.dims)}; use sg.jacobian of sg.jacobian")
    items, treedef = wrt_list(wrt, "hessian")
    if lower and not (sparse and len(items) == 1):
        raise ArgumentError("hessian: lower=True goes with sparse=True and one wrt")
    grads = grad(cost, items)
    columns = [_jacobians(grads, x, sparse, cost, j, lower) for j, x in enumerate(items)]
    rows = [[columns[j][i] for j in range(len(items))] for i in range(len(items))]
    if _scalar_list(items, treedef) and not sparse:
        return stack([stack(row) for row in rows])
    return tree_unflatten(treedef, [tree_unflatten(treedef, row) for row in rows])


def hvp(cost: Expr, wrt, v):
    """Hessian-vector product ``H v`` without forming ``H``: the jvp of the gradient.

    ``wrt`` and ``v`` one expression each or trees of the same structure (the result has it).

    >>> sg.hvp(sg.sum(x ** 3), x, v)     # 6 x v
    """
    return jvp(grad(as_expr(cost), wrt), wrt, v)


def diff(f, *wrt, n: int | None = None) -> Expr:
    """Derivatives of a scalar ``f`` in SymPy's argument style: ``diff(f, x)``,
    ``diff(f, x, 3)`` (the third), ``diff(f, x, y, 2)`` (once in x, twice in y); the keyword
    ``n`` counts the derivatives in a single variable.

    Forward mode, one sweep per order: the derivative of every node is a node (shared by
    hash-consing across orders), so the graph grows polynomially in the order where
    repeated reverse mode grows exponentially.

    >>> sg.diff(sg.sin(x), x, 3)     # -cos(x)
    """
    f = as_expr(f)
    if f.ndim != 0:
        raise ShapeError(f"diff: f must be a scalar, got shape {f.dims}; use sg.jacobian")
    steps = _orders(wrt, n)
    for x, count in steps:
        if isinstance(x, Expr) and x.ndim != 0:
            raise ShapeError(f"diff: {x!r} is not a scalar, shape {x.dims}; use sg.grad or "
                             "sg.hessian")
        wrt_list(x, "diff")
        for _ in range(count):
            f = jvp(f, x, 1.0)
    return f


def _orders(wrt: tuple, n) -> list:
    """SymPy's ``x, y, 2`` as ``[(x, 1), (y, 2)]``."""
    steps: list = []
    for item in wrt:
        if isinstance(item, Expr):
            steps.append((item, 1))
        elif isinstance(item, int) and not isinstance(item, bool):
            if item < 0 or not steps:
                raise SymgradError(f"diff: an order must be a non-negative integer after a "
                                   f"variable, got {item!r}")
            steps[-1] = (steps[-1][0], item)
        else:
            raise SymgradError(f"diff: expected symbols each followed by an optional order, as "
                               f"diff(f, x, y, 2); got {item!r}")
    if n is not None:
        if len(steps) != 1 or not isinstance(n, int) or n < 0:
            raise SymgradError(f"diff: n must be a non-negative integer order for one variable, "
                               f"got n={n!r}")
        steps = [(steps[0][0], n)]
    if not steps:
        raise SymgradError("diff: give the variable(s) to differentiate with respect to")
    return steps


expr_method("diff")(diff)
