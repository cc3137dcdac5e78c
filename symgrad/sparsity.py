"""Sparsity patterns of Jacobians and Hessians, read from the graph in one forward walk.

Each value ``v`` between ``x`` and the output carries two patterns, row ``j`` for its entry
``v[j]``: ``G`` (the entries of ``x`` that ``v[j]`` depends on) and ``S`` (the pairs
``(i, k)`` of entries of ``x`` whose second derivative ``∂²v[j]/∂x_i∂x_k`` can be nonzero,
kept as ``i·n + k``).  An op's ``sparsity`` rule gives its local pattern per argument ``a``,
the pairs ``(j, e)``: output entry ``j`` reads ``a[e]`` with a nonzero derivative.  Then, by
the chain rule, row ``j`` of ``G`` is the union of the rows ``e`` of the arguments' ``G``,
row ``j`` of ``S`` the union of their ``S`` rows plus the op's own curvature: for every
argument pair ``(a, b)`` its ``curvature`` joins, all pairs of ``G_a``-entries read by ``j``
with ``G_b``-entries read by ``j`` (``"all"``: every pair of row ``j`` of the result's own
``G``; a matrix product pairs them term by term, ``a[i, k]`` with ``b[k, j]`` only).  Patterns are structural: an entry is in when the graph connects it, whatever the
values.  Ops without a rule are taken as reading every entry of their arguments (linear
algebra: exact for ``inv``, ``solve``, ``det``; a superset where a decomposition has zeros).
"""
from __future__ import annotations

import numpy as np

from .errors import ArgumentError, ShapeError
from .expr import Expr, as_expr
from .op import REGISTRY

DENSE = "dense"  # a local pattern: every output entry reads every argument entry


class Rows:
    """A boolean pattern as sorted, distinct int64 values per row (CSR without data)."""

    __slots__ = ("indptr", "values")

    def __init__(self, indptr: np.ndarray, values: np.ndarray) -> None:
        self.indptr, self.values = indptr, values

    @classmethod
    def of_pairs(cls, n_rows: int, rows: np.ndarray, values: np.ndarray) -> "Rows":
        """The pattern holding ``values[t]`` in row ``rows[t]`` (repeats merged)."""
        order = np.lexsort((values, rows))
        rows, values = rows[order], values[order]
        keep = np.ones(len(rows), bool)
        keep[1:] = (rows[1:] != rows[:-1]) | (values[1:] != values[:-1])
        rows, values = rows[keep], values[keep]
        indptr = np.zeros(n_rows + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        return cls(indptr, values)

    @classmethod
    def empty(cls, n_rows: int) -> "Rows":
        return cls(np.zeros(n_rows + 1, np.int64), np.zeros(0, np.int64))

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def pairs(self) -> tuple:
        """``(rows, values)`` of every entry."""
        return np.repeat(np.arange(self.n_rows), np.diff(self.indptr)), self.values

    def read(self, n_rows: int, local) -> "Rows":
        """Row ``j`` the union of the rows ``e`` with ``(j, e)`` in ``local``."""
        if local is DENSE:
            every = np.unique(self.values)
            return Rows(np.arange(n_rows + 1, dtype=np.int64) * len(every), np.tile(every, n_rows))
        rows, cols = local
        counts = np.diff(self.indptr)[cols]
        total = int(counts.sum())
        starts = np.repeat(self.indptr[cols] - np.cumsum(counts) + counts, counts)
        values = self.values[starts + np.arange(total)]
        return Rows.of_pairs(n_rows, np.repeat(rows, counts), values)

    def union(self, other: "Rows") -> "Rows":
        r1, v1 = self.pairs()
        r2, v2 = other.pairs()
        return Rows.of_pairs(self.n_rows, np.concatenate([r1, r2]), np.concatenate([v1, v2]))

    def outer(self, other: "Rows", n: int) -> "Rows":
        """Row ``j``: ``i·n + k`` for ``i`` in this row ``j`` and ``k`` in the other's."""
        a, b = np.diff(self.indptr), np.diff(other.indptr)
        counts = a * b
        rows = np.repeat(np.arange(self.n_rows), counts)
        # the t-th pair of row j: entry t // b[j] of this row, t % b[j] of the other
        t = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        bj = np.repeat(b, counts)
        first = self.values[np.repeat(self.indptr[:-1], counts) + t // np.maximum(bj, 1)]
        second = other.values[np.repeat(other.indptr[:-1], counts) + t % np.maximum(bj, 1)]
        return Rows.of_pairs(self.n_rows, rows, first * n + second)


# -- local patterns, by the kind of an op's sparsity rule ----------------------------------
def _numbers(shape: tuple) -> np.ndarray:
    return np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)


def _entries(op, position, shapes, params, values):
    """``op.impl`` applied to the argument's entries numbered from 1 (the other
    differentiable arguments zero, integer ones as they are): each output entry holds the
    number of the entry it is, or 0."""
    args = [np.zeros(s) if op.vjp_rule(k) is not None else v
            for k, (v, s) in enumerate(zip(values, shapes))]
    args[position] = _numbers(shapes[position]).astype(np.float64) + 1.0
    got = np.asarray(op.impl(*args, **params), np.float64).ravel()
    rows = np.flatnonzero(got)
    return rows, got[rows].astype(np.int64) - 1


def _reduce(position, shapes, params):
    """Output entry j reads every entry of its group along the reduced axes."""
    shape, axis = shapes[position], params["axis"]
    kept = tuple(1 if k in axis else d for k, d in enumerate(shape))
    rows = np.broadcast_to(np.arange(int(np.prod(kept, dtype=np.int64))).reshape(kept),
                           shape).ravel()
    return rows, np.arange(rows.size)


def _local(op, position, shapes, out_shape, params, values):
    """The pairs ``(rows, cols)`` of the op's local pattern wrt argument ``position``, or
    DENSE (no rule, or integer arguments that are not constants)."""
    kind = op.sparsity
    if kind is None:
        return DENSE
    if kind == "elementwise":
        cols = np.broadcast_to(_numbers(shapes[position]), out_shape).ravel()
        return np.arange(cols.size), cols
    if kind == "reduce":
        return _reduce(position, shapes, params)
    if kind == "entries":
        integers = [k for k in range(len(shapes)) if op.vjp_rule(k) is None]
        if any(values[k] is None for k in integers):
            return DENSE
        return _entries(op, position, shapes, params, values)
    pairs = kind(position, shapes, out_shape, params, values)
    return DENSE if pairs is None else pairs


def _terms(first: Rows, second: Rows, size: int, n: int, terms: tuple) -> Rows:
    """Row j: the pairs of ``first[e]`` with ``second[f]`` over the terms ``(j, e, f)``."""
    rows, e, f = terms
    each = np.arange(len(rows))
    pairs = first.read(len(rows), (each, e)).outer(second.read(len(rows), (each, f)), n)
    return pairs.read(size, (rows, each))


# -- the walk -----------------------------------------------------------------------------
def _walk(y: Expr, x: Expr, second: bool) -> tuple:
    """``(G, S)`` of ``y`` wrt ``x`` (S None unless ``second``)."""
    g = y.g
    if x.g is not g:
        raise ArgumentError("sparsity: y and x belong to different graphs")
    if g[x.node]["op"] != "symbol":
        raise ArgumentError(f"sparsity: x must be a symbol, got {x!r}")
    sizes = [d for d in x.dims + y.dims if not isinstance(d, int)]
    if sizes:
        raise ShapeError(f"sparsity: patterns need fixed sizes; the shapes {x.dims} and "
                         f"{y.dims} have the named size {sizes[0]!r}")
    n = _size(x)
    within = g.ancestors([y.node])
    reached = g.descendants([x.node], within)
    patterns = {x.node: (Rows(np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int64)),
                         Rows.empty(n) if second else None)}
    for node in sorted(reached - {x.node}):
        attrs = g[node]
        op = REGISTRY[attrs["op"]]
        args = attrs["args"]
        out_shape = attrs["shape"]
        size = int(np.prod(out_shape, dtype=np.int64))
        shapes = [g[a]["shape"] for a in args]
        values = [g[a]["value"] if g[a]["op"] == "constant" else None for a in args]
        params = dict(attrs["params"])
        read = {}  # position: (G of the entries read, S of them)
        for k, a in enumerate(args):
            if a not in patterns or op.vjp_rule(k) is None:
                continue
            local = _local(op, k, shapes, out_shape, params, values)
            gk, sk = patterns[a]
            read[k] = (gk.read(size, local), sk.read(size, local) if second else None)
        if not read:
            continue
        rows = None
        for gk, _ in read.values():
            rows = gk if rows is None else rows.union(gk)
        curvature = None
        if second:
            for _, sk in read.values():
                curvature = sk if curvature is None else curvature.union(sk)
            joined = op.curvature
            if joined == "all":
                curvature = curvature.union(rows.outer(rows, n))
            elif callable(joined):
                if 0 in read and 1 in read:
                    curvature = curvature.union(_terms(patterns[args[0]][0],
                                                       patterns[args[1]][0], size, n,
                                                       joined(shapes, out_shape, params)))
            else:
                for a, b in joined:
                    if a in read and b in read:
                        curvature = curvature.union(read[a][0].outer(read[b][0], n))
        patterns[node] = (rows, curvature)
    if y.node not in patterns:
        size = _size(y)
        return Rows.empty(size), Rows.empty(size) if second else None
    return patterns[y.node]


def _size(e: Expr) -> int:
    return int(np.prod(e.dims, dtype=np.int64))


def _matrix(rows: Rows, shape: tuple):
    from scipy import sparse
    r, c = rows.pairs()
    return sparse.csr_array((np.ones(len(r), bool), (r, c)), shape=shape)


def jacobian_sparsity(y, x):
    """The structural pattern of the Jacobian of ``y`` wrt the symbol ``x``, both flattened:
    a boolean ``scipy.sparse.csr_array`` of shape ``(y.size, x.size)``.

    >>> sg.jacobian_sparsity(x[1:] * x[:-1], x)      # two bands
    """
    y = as_expr(y)
    rows, _ = _walk(y, x, second=False)
    return _matrix(rows, (_size(y), _size(x)))


def hessian_sparsity(f, x):
    """The structural pattern of the Hessian of the scalar ``f`` wrt the symbol ``x``
    (flattened): a symmetric boolean ``scipy.sparse.csr_array`` of shape ``(x.size, x.size)``.

    >>> sg.hessian_sparsity(sg.sum(x[1:] * x[:-1]), x)    # tridiagonal, zero diagonal
    """
    f = as_expr(f)
    if f.dims != ():
        raise ShapeError(f"hessian_sparsity: f must be a scalar, got shape {f.dims}")
    _, pairs = _walk(f, x, second=True)
    codes = pairs.values
    n = _size(x)
    i, k = codes // n, codes % n
    rows = Rows.of_pairs(n, np.concatenate([i, k]), np.concatenate([k, i]))
    return _matrix(rows, (n, n))
