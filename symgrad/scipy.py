"""``sg.scipy``: compiled objectives for ``scipy.optimize``.

Nothing here imports SciPy: :func:`objective` only builds callables on flat float64 vectors,
the form ``scipy.optimize.minimize`` takes, from a symgrad expression or a Python function.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Callable

import numpy as np

from . import dims as D
from .autodiff import grad, hessian, hvp
from .compile import function
from .errors import ArgumentError, ShapeError
from .expr import Expr, as_expr, symbol
from .substitute import clone
from .trees import tree_flatten, tree_unflatten


class Objective:
    """``fun``, ``jac``, ``hess`` and ``hessp(x, p)`` (= H p) of a scalar objective, each a
    callable on a flat float64 vector, compiled once on first use; ``fun`` and ``jac`` come
    from one compiled function that remembers its last point.  ``x0`` is the flat start
    point when one was given, ``unravel(flat)`` the point as the tree the objective was
    declared with, ``ravel(tree)`` the way back.

    >>> obj = sg.scipy.objective(f, x)
    >>> scipy.optimize.minimize(obj.fun, x0, jac=obj.jac, hess=obj.hess, method="trust-exact")
    """

    def __init__(self, cost: Expr, z: Expr, inputs: list, arrays: list, treedef, shapes: list,
                 x0: np.ndarray | None) -> None:
        self._cost, self._z, self._inputs, self._arrays = cost, z, inputs, arrays
        self._treedef, self._shapes = treedef, shapes
        self._sizes = [int(np.prod(s)) for s in shapes] if shapes is not None else None
        self.x0 = x0
        self._compiled: dict = {}
        self._last = None  # (x, (f, g)) of the last call of fun or jac

    def _compile(self, kind: str):
        """The compiled function of ``kind`` (``"fg"``, ``"hess"``, ``"hessp"``), built on
        first use inside the objective's graph."""
        fn = self._compiled.get(kind)
        if fn is None:
            cost, z = self._cost, self._z
            with cost.g:
                if kind == "fg":
                    fn = function([z, *self._inputs], [cost, grad(cost, z)])
                elif kind == "hess":
                    fn = function([z, *self._inputs], hessian(cost, z))
                else:
                    p = symbol("p", z.dims)
                    fn = function([z, p, *self._inputs], hvp(cost, z, p))
            self._compiled[kind] = fn
        return fn

    def _flat(self, x, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 1:
            raise ArgumentError(f"objective.{what}: x must be a flat vector, got shape {x.shape}")
        return x

    def _fg(self, x) -> tuple:
        x = self._flat(x, "fun")
        last = self._last
        if last is not None and last[0].shape == x.shape and np.array_equal(last[0], x):
            return last[1]
        f, g = self._compile("fg")(x, *self._arrays)
        self._last = (x.copy(), (float(f), np.asarray(g, dtype=np.float64)))
        return self._last[1]

    def fun(self, x) -> float:
        """The objective's value at the flat point ``x``."""
        return self._fg(x)[0]

    def jac(self, x) -> np.ndarray:
        """The gradient at ``x``, a flat float64 vector."""
        return self._fg(x)[1].copy()

    def hess(self, x) -> np.ndarray:
        """The Hessian at ``x``, a dense float64 matrix."""
        return np.asarray(self._compile("hess")(self._flat(x, "hess"), *self._arrays),
                          dtype=np.float64)

    def hessp(self, x, p) -> np.ndarray:
        """The Hessian at ``x`` times the flat vector ``p``, without forming the Hessian."""
        return np.asarray(self._compile("hessp")(self._flat(x, "hessp"), self._flat(p, "hessp"),
                                                 *self._arrays), dtype=np.float64)

    def unravel(self, flat):
        """The flat point as the tree ``x`` was given with (arrays of the leaves' shapes)."""
        flat = self._flat(flat, "unravel")
        if self._shapes is None:  # one vector of any length
            return tree_unflatten(self._treedef, [flat.copy()])
        if flat.size != sum(self._sizes):
            raise ArgumentError(f"objective.unravel: the flat point has {flat.size} entries, "
                                f"the objective's x {sum(self._sizes)}")
        parts = np.split(flat, np.cumsum(self._sizes)[:-1])
        return tree_unflatten(self._treedef, [p.reshape(s) for p, s in zip(parts, self._shapes)])

    def ravel(self, tree) -> np.ndarray:
        """A point given as a tree of arrays (the structure of ``x``) as one flat vector."""
        leaves, treedef = tree_flatten(tree)
        if treedef != self._treedef:
            raise ArgumentError(f"objective.ravel: the point has the structure {treedef!r}, "
                                f"the objective's x {self._treedef!r}")
        return _concat(leaves)

    def __repr__(self) -> str:
        size = "n" if self._sizes is None else sum(self._sizes)
        return f"<symgrad.scipy.Objective of {size} variables>"


def _concat(leaves: list) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in leaves]) \
        if leaves else np.zeros(0)


def _pieces(z: Expr, shapes: list) -> list:
    """The leaves as pieces of the flat vector ``z``: slices reshaped to their shapes."""
    if len(shapes) == 1:
        return [z if len(shapes[0]) == 1 else z.reshape(shapes[0])]
    pieces, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        pieces.append(z[start:start + size].reshape(shape))
        start += size
    return pieces


def objective(f, x, *, values: Mapping | None = None, x0=None) -> Objective:
    """An :class:`Objective` (``fun``, ``jac``, ``hess``, ``hessp`` on flat float64 vectors)
    for ``scipy.optimize.minimize``.

    - ``f`` a scalar expression and ``x`` what it is minimised over: a symbol or a tree of
      symbols (dicts, lists, tuples, namedtuples); the other symbols of ``f`` take fixed
      values from ``values={symbol: array}`` (shared variables are read when called).  The
      leaves need fixed shapes, except a single vector ``x``, whose length is the flat
      vector's.  ``x0`` (a tree like ``x``) gives the start point ``obj.x0``.
    - ``f`` a Python function and ``x`` an example point, a tree of arrays (a list is a tree,
      so pass ``np.array`` for a vector): ``f`` is traced once on symbols of those shapes,
      and ``obj.x0`` is the point, flattened.

    >>> x = sg.vector("x", "n")
    >>> obj = sg.scipy.objective(sg.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2), x)
    >>> scipy.optimize.minimize(obj.fun, np.zeros(5), jac=obj.jac, hess=obj.hess,
    ...                         method="Newton-CG").x             # [1, 1, 1, 1, 1]
    >>> obj = sg.scipy.objective(lambda p: sg.sum((p["a"] - 3.0) ** 2), {"a": np.zeros(2)})
    """
    if callable(f) and not isinstance(f, Expr):
        if values is not None or x0 is not None:
            raise ArgumentError("objective: values= and x0= are for an expression f; a function "
                                "f is traced at the example point x")
        return _from_callable(f, x)
    f = as_expr(f)
    leaves, treedef = tree_flatten(x)
    for leaf in leaves:
        if not isinstance(leaf, Expr) or leaf.op != "symbol":
            raise ArgumentError(f"objective: x must be a symbol or a tree of symbols, got {leaf!r}")
    if not leaves:
        raise ArgumentError("objective: x has no symbols")
    if x0 is not None:
        points, point_def = tree_flatten(x0)
        if point_def != treedef:
            raise ArgumentError(f"objective: x0 has the structure {point_def!r}, x {treedef!r}")
        for leaf, point in zip(leaves, points):
            shape = np.shape(point)
            if len(shape) != leaf.ndim or any(isinstance(d, int) and d != s
                                              for d, s in zip(leaf.dims, shape)):
                raise ArgumentError(f"objective: x0 gives shape {shape} for {leaf.name!r} of "
                                    f"shape {D.fmt_shape(leaf.dims)}")
        x0 = _concat(points)
    return _build(f, leaves, treedef, x0, values)


def _build(f: Expr, leaves: list, treedef, x0, values) -> Objective:
    """The objective of ``f`` over ``leaves``: one flat float64 symbol ``z`` stands for
    them all (the leaves replaced by its pieces), so every derivative is one array."""
    if f.ndim != 0:
        raise ShapeError(f"objective: f must be a scalar, got shape {D.fmt_shape(f.dims)}")
    inputs, arrays = [], []
    for key, value in (values or {}).items():
        if not isinstance(key, Expr) or key.op != "symbol":
            raise ArgumentError(f"objective: the keys of values are symbols, got {key!r}")
        inputs.append(key)
        arrays.append(value)
    with f.g:
        one_vector = len(leaves) == 1 and leaves[0].ndim == 1 and leaves[0].dtype == np.float64
        if one_vector:
            z, shapes = leaves[0], None
            if isinstance(z.dims[0], int):
                shapes = [z.dims]
        else:
            fixed = [leaf.dims for leaf in leaves if all(isinstance(d, int) for d in leaf.dims)]
            if len(fixed) != len(leaves):
                raise ShapeError("objective: x's symbols need fixed shapes (ints), or x must be "
                                 "one vector; named sizes such as " + ", ".join(
                                     f"{leaf.name!r} {D.fmt_shape(leaf.dims)}" for leaf in leaves
                                     if leaf.dims not in fixed) + " are unknown")
            shapes = fixed
            z = symbol("x", (sum(int(np.prod(s)) for s in shapes),))
            f = clone(f, dict(zip(leaves, _pieces(z, shapes))))
    return Objective(f, z, inputs, arrays, treedef, shapes, x0)


def _from_callable(f: Callable, point) -> Objective:
    """Trace ``f`` on a flat symbol's pieces shaped like the example ``point``."""
    leaves, treedef = tree_flatten(point)
    arrays = [np.asarray(v) for v in leaves]
    for a in arrays:
        if a.dtype.kind not in "biuf":
            raise ArgumentError(f"objective: the example point's leaves are arrays of numbers, "
                                f"got dtype {a.dtype}")
    if not arrays:
        raise ArgumentError("objective: the example point has no arrays")
    shapes = [a.shape for a in arrays]
    z = symbol("x", (sum(a.size for a in arrays),))
    cost = as_expr(f(tree_unflatten(treedef, _pieces(z, shapes))), z)
    if cost.ndim != 0:
        raise ShapeError(f"objective: f must return a scalar, got shape {D.fmt_shape(cost.dims)}")
    return Objective(cost, z, [], [], treedef, shapes, _concat(arrays))


__all__ = ["objective", "Objective"]
