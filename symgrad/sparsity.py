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
``G``; matrix products and einsums pair them term by term, ``a[i, k]`` with ``b[k, j]``
only).  Patterns are structural: an entry is in when the graph connects it, whatever the
values (a constant factor's zeros excepted).  Ops without a rule are taken as reading every
entry of their arguments (linear algebra: exact for ``inv``, ``solve``, ``det``; a superset
where a decomposition has zeros).  Then colorings of the pattern, and the compressed
evaluation that fills a sparse matrix from one forward sweep with a seed per color.
"""
from __future__ import annotations

import numpy as np

from .errors import ArgumentError, ShapeError
from .expr import Batched, Expr, apply, as_expr, constant
from .forward import forward
from .op import REGISTRY
from .ops.indexing import take
from .ops.shape import broadcast_to, reshape
from .runtime import scipy_sparse

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
        # the t-th pair of row j: entry t // b[j] of this row, t % b[j] of the other (b[j] > 0
        # in every row that has pairs)
        t = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        bj = np.repeat(b, counts)
        first = self.values[np.repeat(self.indptr[:-1], counts) + t // bj]
        second = other.values[np.repeat(other.indptr[:-1], counts) + t % bj]
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
def _named_size(g, nodes) -> tuple | None:
    """``(node, size)`` for a node of ``nodes`` with a named size, else None."""
    for node in sorted(nodes):
        for d in g[node]["shape"]:
            if not isinstance(d, int):
                return node, d
    return None


def fixed_sizes(y: Expr, x: Expr) -> bool:
    """True when every value from ``x`` to ``y`` has a fixed shape (patterns can be read)."""
    g = y.g
    return _named_size(g, g.descendants([x.node], g.ancestors([y.node])) | {x.node, y.node}) is None


def _walk(y: Expr, x: Expr, second: bool) -> tuple:
    """``(G, S)`` of ``y`` wrt ``x`` (S None unless ``second``)."""
    g = y.g
    if x.g is not g:
        raise ArgumentError("sparsity: y and x belong to different graphs")
    if g[x.node]["op"] != "symbol":
        raise ArgumentError(f"sparsity: x must be a symbol, got {x!r}")
    within = g.ancestors([y.node])
    reached = g.descendants([x.node], within)
    named = _named_size(g, reached | {x.node, y.node})
    if named is not None:
        node, d = named
        raise ShapeError(f"sparsity: patterns need fixed sizes; {Expr(g, node)!r} between x "
                         f"and y has the named size {d!r}")
    n = _size(x)
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
            elif callable(joined):  # sums of products: pairs of arguments, term by term
                pairs = joined(shapes, out_shape, params)
                if pairs is None:
                    curvature = curvature.union(rows.outer(rows, n))
                for a, b, terms in pairs or ():
                    if a in read and b in read:
                        curvature = curvature.union(_terms(patterns[args[a]][0],
                                                           patterns[args[b]][0], size, n, terms))
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
    r, c = rows.pairs()
    return scipy_sparse().csr_array((np.ones(len(r), bool), (r, c)), shape=shape)


def jacobian_sparsity(y, x: Expr):
    """The structural pattern of the Jacobian of ``y`` wrt the symbol ``x``, both flattened:
    a boolean ``scipy.sparse.csr_array`` of shape ``(y.size, x.size)``.

    >>> sg.jacobian_sparsity(x[1:] * x[:-1], x)      # two bands
    """
    y = as_expr(y)
    rows, _ = _walk(y, x, second=False)
    return _matrix(rows, (_size(y), _size(x)))


def hessian_sparsity(f, x: Expr):
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


# -- colorings ------------------------------------------------------------------------------
def distance2_coloring(pattern) -> np.ndarray:
    """First-fit greedy in natural order: column j takes the least color used by no column
    that shares a row with it (so each compressed entry holds one Jacobian entry)."""
    csc = pattern.tocsc()
    used = [set() for _ in range(pattern.shape[0])]  # the colors in each row so far
    colors = np.empty(pattern.shape[1], np.int64)
    for j in range(pattern.shape[1]):
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        taken = set().union(*(used[r] for r in rows))
        c = next(c for c in range(len(taken) + 1) if c not in taken)
        colors[j] = c
        for r in rows:
            used[r].add(c)
    return colors


def _star_coloring(pattern) -> np.ndarray:
    """A greedy star coloring of a symmetric pattern's graph (Gebremedhin, Manne and Pothen,
    *What color is your Jacobian?*, 2005), vertices by decreasing degree: neighbours differ
    and every path on four vertices has three colors, so each Hessian entry is read directly
    from the compressed columns.  Kept per vertex as it goes: the colors among its colored
    neighbours (``around``), how many neighbours of each color it has (``count``), and for a
    colored vertex w the colors of neighbours x that have another neighbour of w's color
    (``blocked``: giving such a color to a new neighbour of w would make a two-colored path)."""
    csr = pattern.tocsr()
    n = pattern.shape[0]
    nbrs = [[w for w in csr.indices[csr.indptr[v]:csr.indptr[v + 1]].tolist() if w != v]
            for v in range(n)]
    colors = [-1] * n
    around = [set() for _ in range(n)]
    count: list = [{} for _ in range(n)]
    blocked = [set() for _ in range(n)]
    for v in np.argsort(-np.array([len(a) for a in nbrs], np.int64), kind="stable").tolist():
        taken = set()
        for w in nbrs[v]:
            taken |= ({colors[w]} | blocked[w]) if colors[w] >= 0 else around[w]
        c = next(c for c in range(len(taken) + 1) if c not in taken)
        colors[v] = c
        for x in nbrs[v]:
            around[x].add(c)
            seen = count[x][c] = count[x].get(c, 0) + 1
            if colors[x] < 0:
                continue
            if count[v].get(colors[x], 0) >= 2:  # v has another neighbour of x's color
                blocked[x].add(c)
            if seen == 2:  # x now has two neighbours of color c: each blocks x's color
                for w in nbrs[x]:
                    if colors[w] == c:
                        blocked[w].add(colors[x])
            elif seen > 2:
                blocked[v].add(colors[x])
    return np.array(colors, np.int64)


def jacobian_coloring(y, x: Expr) -> np.ndarray:
    """Colors of the entries of ``x`` (flattened) such that no two of one color change a
    common entry of ``y``: the Jacobian is read from as many directional derivatives as there
    are colors (the maximum + 1).  First-fit greedy in natural order.

    >>> sg.jacobian_coloring(x[1:] * x[:-1], x)     # array([0, 1, 0, 1, ...])
    """
    return distance2_coloring(jacobian_sparsity(y, x))


def hessian_coloring(f, x: Expr) -> np.ndarray:
    """Colors of the entries of ``x`` (flattened) from which every Hessian entry is read
    directly off Hessian-vector products with one seed per color: a star coloring (greedy,
    largest degree first), or the distance-2 coloring where that needs fewer colors.

    >>> sg.hessian_coloring(arrowhead(x), x)     # two colors, whatever n
    """
    return symmetric_coloring(hessian_sparsity(f, x))


def symmetric_coloring(pattern) -> np.ndarray:
    star = _star_coloring(pattern)
    widest = int(np.diff(pattern.indptr).max(initial=0))
    if star.max(initial=-1) + 1 <= widest:  # no distance-2 coloring needs fewer
        return star
    greedy = distance2_coloring(pattern)
    return star if star.max(initial=-1) <= greedy.max(initial=-1) else greedy


# -- compressed evaluation ---------------------------------------------------------------------
def colored_jacobian(y: Expr, x: Expr, pattern, colors: np.ndarray, symmetric: bool = False,
                     lower: bool = False) -> Expr:
    """The Jacobian of ``y`` wrt ``x`` (flattened) with the structure ``pattern``, as an
    expression of a CSR matrix: one forward sweep with a seed per color (column c of the
    seeds sums the unit vectors of color c), then every entry gathered from the compressed
    product ``C = J S`` at places computed here, once.  Distance-2 colors: ``J[i, j] =
    C[i, color j]``; star colors of a symmetric ``J`` (``symmetric``): the same where j is
    the only column of its color in row i, else ``C[j, color i]``.  ``lower``: only the
    entries on and below the diagonal."""
    g, m, n = y.g, _size(y), _size(x)
    k = int(colors.max(initial=-1)) + 1
    rows, cols = pattern.nonzero()
    place = colors[cols] * m + rows
    if symmetric:
        per_color = np.bincount(rows * k + colors[cols], minlength=m * k)  # row i, color c
        alone = per_color[rows * k + colors[cols]] == 1
        place = np.where(alone, place, colors[rows] * m + cols)
        if not np.all(alone | (per_color[cols * k + colors[rows]] == 1)):
            raise AssertionError("colored_jacobian: the colors are not a star coloring")
    if lower:
        keep = rows >= cols
        rows, cols, place = rows[keep], cols[keep], place[keep]
    indptr = np.zeros(m + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    if k and len(place):
        seeds = np.zeros((k, n))
        seeds[colors, np.arange(n)] = 1.0
        with g.marking_gradient():
            tangent = forward([y], {x.node: Batched(constant(seeds.reshape((k,) + x.dims),
                                                             graph=g), 1)}).get(y.node)
            compressed = tangent.value if isinstance(tangent, Batched) else \
                broadcast_to(tangent, (k,) + y.dims)
            data = take(reshape(compressed, (-1,)), constant(place, graph=g))
    else:
        data = constant(np.zeros(0), graph=g)
    return apply("csr", data, constant(cols, graph=g), constant(indptr, graph=g), shape=(m, n))
