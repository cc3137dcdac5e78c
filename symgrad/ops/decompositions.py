"""Matrix functions and decompositions (``np.linalg``'s names): solves, inverses, determinants,
factorizations and norms, over leading batch axes.

Each acts on the last two axes, ``(..., n, n)``, with the leading axes broadcast as NumPy
does.  Ops with several results are one op with a packed value: ``slogdet`` gives
``(..., 2)`` (sign, log|det|), ``eigh`` gives ``(..., n + 1, n)`` (the eigenvalues in row 0,
the eigenvectors below); the public functions slice the pieces out.  Derivative rules are
the textbook ones, written with symgrad ops so they differentiate again, and form no
inverse the formula does not need:

========================  ===========================================================
``solve(a, b) = x``       ``b̄ = solve(aᵀ, ḡ)``, ``ā = -b̄ xᵀ``; ``ẋ = solve(a, ḃ - ȧ x)``
``inv(a)``                ``ā = -outᵀ ḡ outᵀ``; ``ȧ ↦ -out ȧ out``
``det``, ``slogdet``      ``∂ log|det a| = a⁻ᵀ`` (needs an invertible ``a``); sign: 0
``cholesky`` ``L``        ``ā = sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹)``: one op, by blocks (Murray 2016)
``solve_triangular``      as ``solve`` on the triangle read; 0 in the other triangle
``eigh`` ``(w, V)``       ``ā = sym(V (diag w̄ + F ∘ Vᵀ V̄) Vᵀ)``, ``F_ij = 1/(w_j - w_i)``
========================  ===========================================================

``cholesky`` and ``eigh`` read the symmetric part ``(a + aᵀ)/2`` of their input (as JAX
does), so their gradients are symmetric matrices.  ``Φ`` takes the lower triangle with the
diagonal halved.  ``eigh``'s derivatives are defined for distinct eigenvalues; ``F`` is 0
for a pair of exactly equal eigenvalues, so functions of the eigenvalues alone keep finite
(and correct) derivatives there, and eigenvector derivatives are those of the basis NumPy
returns (its signs held fixed).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import dims as D
from .. import runtime
from ..dtypes import result_dtype
from ..errors import ShapeError, UnsupportedError
from ..expr import Expr, apply, as_expr, constant
from ..lazy import sympy
from ..op import REGISTRY, Op, register
from .elementwise import abs as abs_, equal, power, sqrt, where
from .linalg import (diagonal as diagonal_, einsum, matmul, place_diagonal, swap_last,
                     trace as trace_, tril, triu)
from .reduce import max as max_, normalize_axis, sum as sum_
from .shape import concatenate, elementwise_batch, expand_dims, lift, reshape


# -- sample domains -------------------------------------------------------------------------
def _square(shape: tuple) -> bool:
    return len(shape) >= 2 and shape[-1] == shape[-2]


def well_conditioned(rng, shape: tuple) -> np.ndarray:
    """Uniform entries in [-1, 1], plus ``n I`` on square matrices (diagonally dominant)."""
    x = rng.uniform(-1, 1, shape)
    return x + shape[-1] * np.eye(shape[-1]) if _square(shape) else x


def positive_definite(rng, shape: tuple) -> np.ndarray:
    """``m mᵀ + n I`` for square shapes (symmetric positive definite), else uniform."""
    m = rng.uniform(-1, 1, shape)
    if not _square(shape):
        return m
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


def separated_spectrum(rng, shape: tuple) -> np.ndarray:
    """Symmetric matrices ``Q diag(w) Qᵀ`` with eigenvalues at least 1 apart."""
    q, _ = np.linalg.qr(rng.standard_normal(shape))
    n = shape[-1]
    w = 1.5 * np.arange(1, n + 1) + rng.uniform(0, 0.4, shape[:-1])
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


# -- shared pieces --------------------------------------------------------------------------
def _check_square(op: str, a: Expr) -> None:
    if a.ndim < 2 or a.dims[-1] != a.dims[-2]:
        raise ShapeError(f"{op}: needs a square matrix or a stack of them, shape (..., n, n); "
                         f"got {D.fmt_shape(a.dims)}")


def _square_infer(op: str, shape):
    """The shape rule of a one-argument op on ``(..., n, n)``; ``shape(dims)`` its result."""
    def infer(a, **params):
        _check_square(op, a)
        return shape(a.dims), result_dtype([a], "float")
    return infer


def _sym(x: Expr) -> Expr:
    """``(x + xᵀ)/2`` over the last two axes."""
    return 0.5 * (x + swap_last(x))


def _trace_of_product(a: Expr, b: Expr) -> Expr:
    """``tr(a b)`` over the last two axes, without forming the product."""
    return einsum("...ij,...ji->...", a, b)


def _per_matrix(fn):
    """A ``to_sympy(form="elements")`` rule: ``fn`` of each SymPy matrix over the leading
    axes of an object array, the results stacked."""
    def rule(a, **params):
        parts = [np.array(fn(sympy.Matrix(a[i].tolist()), **params), dtype=object)
                 for i in np.ndindex(a.shape[:-2])]
        return np.stack(parts).reshape(a.shape[:-2] + parts[0].shape)
    return rule


# -- solves: b is a vector (..., n) when it has one axis, else a stack of matrices ------------
def _solve_infer(op: str):
    def infer(a, b, **params):
        _check_square(op, a)
        n = a.dims[-1]
        if b.ndim == 0 or b.dims[-1 if b.ndim == 1 else -2] != n:
            raise ShapeError(f"{op}: b must have shape (n,) or (..., n, k) for a of shape "
                             f"{D.fmt_shape(a.dims)}; got {D.fmt_shape(b.dims)}")
        if b.ndim == 1:
            return a.dims[:-1], result_dtype([a, b], "float")
        batch = D.broadcast_shapes(op, [a.dims[:-2], b.dims[:-2]], ["a", "b"])
        return batch + b.dims[-2:], result_dtype([a, b], "float")
    return infer


def _solve_with(op: str, a: Expr, rhs: Expr, vector: bool, **params) -> Expr:
    """``op(a, rhs)`` for a right-hand side standing for the vector b of the example (it may
    have gained leading axes): as a column, then the column dropped."""
    if vector and rhs.ndim > 1:
        return apply(op, a, expand_dims(rhs, rhs.ndim), **params)[..., 0]
    return apply(op, a, rhs, **params)


def _times(m: Expr, x: Expr, vector: bool) -> Expr:
    """``m x`` for x a vector (with leading axes) or a stack of matrices."""
    if vector and x.ndim > 1:
        return matmul(m, expand_dims(x, x.ndim))[..., 0]
    return matmul(m, x)


def _outer_last(u: Expr, x: Expr, vector: bool) -> Expr:
    """``u xᵀ`` for vectors (leading axes broadcast), ``u @ xᵀ`` for matrices."""
    if vector:
        return expand_dims(u, u.ndim) * expand_dims(x, x.ndim - 1)
    return matmul(u, swap_last(x))


def _difference(tb, ta, x, vector: bool):
    """``ḃ - ȧ x`` (either tangent may be absent)."""
    term = None if ta is None else _times(ta, x, vector)
    if tb is None:
        return -term
    return tb if term is None else tb - term


def _solve_batch(op: str):
    """The op on a batch: a vector b of the example becomes a column, both operands are
    lifted to one rank behind the batch axes, and the column is dropped again."""
    def rule(nb, batched, a, b, **params):
        ba, bb = batched
        ra, rb = a.ndim - nb * ba, b.ndim - nb * bb
        if rb == 1 and not bb:  # NumPy broadcasts a vector b against a stack of a
            return apply(op, a, b, **params)
        vector = rb == 1
        if vector:
            b = expand_dims(b, b.ndim)
        rank = max(ra, rb + vector)
        a = lift(a, nb, rank) if ba else a
        b = lift(b, nb, rank) if bb else b
        out = apply(op, a, b, **params)
        return out[..., 0] if vector else out
    return rule


def _solve_sympy(lhs):
    """The ``form="elements"`` rule of a solve: ``lhs(A, **params)`` is the matrix solved."""
    def rule(a, b, **params):
        if a.ndim != 2 or b.ndim > 2:
            raise UnsupportedError("to_sympy(form='elements'): solves over leading axes are not "
                                   "supported")
        x = lhs(sympy.Matrix(a.tolist()), **params).LUsolve(sympy.Matrix(b.tolist()))
        return np.array(x.tolist(), dtype=object).reshape(b.shape)
    return rule


register(Op("solve", _solve_infer("solve"), np.linalg.solve,
            vjp=(lambda g, x, a, b: -_outer_last(_solve_with("solve", swap_last(a), g, b.ndim == 1),
                                                 x, b.ndim == 1),
                 lambda g, x, a, b: _solve_with("solve", swap_last(a), g, b.ndim == 1)),
            jvp=lambda tangents, x, a, b: _solve_with(
                "solve", a, _difference(tangents[1], tangents[0], x, b.ndim == 1), b.ndim == 1),
            batch=_solve_batch("solve"), sympy=_solve_sympy(lambda m: m),
            sympy_matrix=lambda tr, attrs, a, b: sympy.Inverse(a) * b,
            domain=well_conditioned,
            samples=tuple((shapes, {}) for shapes in [
                ((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (3,)), ((2, 3, 3), (1, 3, 2))]),
            doc="x with a x = b"))


def solve(a, b) -> Expr:
    """``np.linalg.solve``: ``x`` with ``a x = b`` for ``a`` of shape ``(..., n, n)`` and ``b``
    a vector ``(n,)`` or a stack of matrices ``(..., n, k)`` (NumPy 2's rule).  Derivatives
    solve with ``aᵀ``; no inverse is formed.

    >>> sg.linalg.solve(K, y)
    """
    a = as_expr(a, b if isinstance(b, Expr) else None)
    return apply("solve", a, as_expr(b, a))


# -- triangular solves ------------------------------------------------------------------------
def _triangle_of(a: Expr, lower: bool, unit_diagonal: bool) -> Expr:
    """The entries of ``a`` a triangular solve reads (the diagonal too unless unit)."""
    return tril(a, -unit_diagonal) if lower else triu(a, int(unit_diagonal))


def _tri_vjp_a(g, x, a, b, lower, trans, unit_diagonal):
    """``-b̄ xᵀ`` (``-x b̄ᵀ`` for the transposed system) on the triangle that was read."""
    vector = b.ndim == 1
    bbar = _solve_with("solve_triangular", a, g, vector, lower=lower, trans=1 - trans,
                       unit_diagonal=unit_diagonal)
    full = _outer_last(x, bbar, vector) if trans else _outer_last(bbar, x, vector)
    return -_triangle_of(full, lower, unit_diagonal)


def _tri_jvp(tangents, x, a, b, lower, trans, unit_diagonal):
    """``ẋ = op(T)⁻¹ (ḃ - op(Ṫ) x)`` with ``Ṫ`` the tangent's triangle."""
    ta, tb = tangents
    vector = b.ndim == 1
    if ta is not None:
        ta = _triangle_of(ta, lower, unit_diagonal)
        ta = swap_last(ta) if trans else ta
    return _solve_with("solve_triangular", a, _difference(tb, ta, x, vector), vector,
                       lower=lower, trans=trans, unit_diagonal=unit_diagonal)


def _tri_matrix(m, lower, trans, unit_diagonal):
    """The SymPy matrix a triangular solve solves with."""
    t = m.lower_triangular() if lower else m.upper_triangular()
    if unit_diagonal:
        t = t - sympy.diag(*t.diagonal()) + sympy.eye(t.rows)
    return t.T if trans else t


register(Op("solve_triangular", _solve_infer("solve_triangular"), runtime.triangular_solve,
            vjp=(_tri_vjp_a,
                 lambda g, x, a, b, lower, trans, unit_diagonal: _solve_with(
                     "solve_triangular", a, g, b.ndim == 1, lower=lower, trans=1 - trans,
                     unit_diagonal=unit_diagonal)),
            jvp=_tri_jvp, batch=_solve_batch("solve_triangular"), sympy=_solve_sympy(_tri_matrix),
            domain=well_conditioned,
            samples=((((3, 3), (3,)), dict(lower=True, trans=0, unit_diagonal=False)),
                     (((3, 3), (3, 2)), dict(lower=False, trans=1, unit_diagonal=False)),
                     (((2, 3, 3), (3,)), dict(lower=True, trans=1, unit_diagonal=True)),
                     (((3, 3), (2, 3, 1)), dict(lower=False, trans=0, unit_diagonal=True))),
            doc="x with T x = b for the lower or upper triangle T of a"))

_TRANS = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1}


def solve_triangular(a, b, trans=0, lower: bool = False, unit_diagonal: bool = False) -> Expr:
    """``scipy.linalg.solve_triangular``: ``x`` with ``T x = b`` (``Tᵀ x = b`` for ``trans``
    1, 'T' or 'C'), ``T`` the lower (``lower=True``) or upper triangle of ``a`` with ones on
    its diagonal if ``unit_diagonal``; the other entries of ``a`` are not read and get a zero
    gradient.  ``a`` may carry leading axes; ``b`` is ``(n,)`` or ``(..., n, k)``.

    >>> z = sg.linalg.solve_triangular(L, y, lower=True)
    """
    if trans not in _TRANS:
        raise ShapeError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    a = as_expr(a, b if isinstance(b, Expr) else None)
    return apply("solve_triangular", a, as_expr(b, a), lower=bool(lower), trans=_TRANS[trans],
                 unit_diagonal=bool(unit_diagonal))


# -- inverse and determinants -----------------------------------------------------------------
register(Op("inv", _square_infer("inv", lambda dims: dims), np.linalg.inv,
            vjp=(lambda g, out, a: -matmul(swap_last(out), matmul(g, swap_last(out))),),
            jvp=lambda tangents, out, a: -matmul(out, matmul(tangents[0], out)),
            batch=lambda nb, batched, a: apply("inv", a),
            sympy=_per_matrix(lambda m: m.inv().tolist()),
            sympy_matrix=lambda tr, attrs, a: sympy.Inverse(a),
            domain=well_conditioned, samples=((((3, 3),), {}), (((2, 3, 3),), {})),
            doc="the inverse matrix"))


def inv(a) -> Expr:
    """``np.linalg.inv``: the inverse of each ``(n, n)`` matrix; prefer :func:`solve` for
    ``a⁻¹ b``.

    >>> sg.linalg.inv(A)
    """
    return apply("inv", as_expr(a))


def _inverse_transpose(a: Expr) -> Expr:
    """``a⁻ᵀ = (aᵀ)⁻¹``, the gradient of log|det a| (inverted as such: no transposed copy)."""
    return apply("inv", swap_last(a))


register(Op("det", _square_infer("det", lambda dims: dims[:-2]), np.linalg.det,
            vjp=(lambda g, out, a: expand_dims(g * out, (-2, -1)) * _inverse_transpose(a),),
            jvp=lambda tangents, out, a: out * _trace_of_product(apply("inv", a), tangents[0]),
            batch=lambda nb, batched, a: apply("det", a),
            sympy=_per_matrix(lambda m: m.det()),
            sympy_matrix=lambda tr, attrs, a: sympy.Determinant(a),
            domain=well_conditioned, samples=((((3, 3),), {}), (((2, 3, 3),), {})),
            doc="the determinant"))


def det(a) -> Expr:
    """``np.linalg.det``: the determinant of each ``(n, n)`` matrix; its gradient
    ``det(a) a⁻ᵀ`` needs an invertible ``a``.

    >>> sg.linalg.det(A)
    """
    return apply("det", as_expr(a))


def _slogdet_jvp(tangents, out, a):
    """``(0, tr(a⁻¹ ȧ))``: the sign is locally constant (a product with (0, 1), which a
    formula reads back as ``tr(a⁻¹ ȧ)``)."""
    t = _trace_of_product(apply("inv", a), tangents[0])
    return expand_dims(t, t.ndim) * constant(np.array([0, 1], t.dtype), graph=t.g)


def _slogdet_matrix(tr, attrs, a):
    d = sympy.Determinant(a)
    return sympy.ImmutableMatrix([sympy.sign(d), sympy.log(sympy.Abs(d))])


register(Op("slogdet", _square_infer("slogdet", lambda dims: dims[:-2] + (2,)),
            lambda a: np.stack(np.linalg.slogdet(a), axis=-1),
            emit=lambda args, params, ctx: f"np.stack(np.linalg.slogdet({args[0]}), axis=-1)",
            vjp=(lambda g, out, a: expand_dims(g[..., 1], (-2, -1)) * _inverse_transpose(a),),
            jvp=_slogdet_jvp, batch=lambda nb, batched, a: apply("slogdet", a),
            sympy=_per_matrix(lambda m: [sympy.sign(m.det()), sympy.log(sympy.Abs(m.det()))]),
            sympy_matrix=_slogdet_matrix, domain=well_conditioned,
            samples=((((3, 3),), {}), (((2, 3, 3),), {}),
                     ((lambda rng: -well_conditioned(rng, (3, 3)),), {})),
            doc="(sign, log|det|) packed along a last axis of 2"))


class SlogdetResult(NamedTuple):
    """``slogdet``'s results, as NumPy's."""
    sign: Expr
    logabsdet: Expr


def slogdet(a) -> SlogdetResult:
    """``np.linalg.slogdet``: ``(sign, logabsdet)`` with ``det a = sign · exp(logabsdet)``,
    stable where the determinant itself over- or underflows.  The sign has derivative 0;
    ``∂ logabsdet / ∂a = a⁻ᵀ``.

    >>> sign, logdet = sg.linalg.slogdet(K)
    """
    out = apply("slogdet", as_expr(a))
    return SlogdetResult(out[..., 0], out[..., 1])


# -- Cholesky ---------------------------------------------------------------------------------
def _phi(x: Expr) -> Expr:
    """The lower triangle of ``x`` with its diagonal halved."""
    return 0.5 * (tril(x) + tril(x, -1))


def _lower_solve(l: Expr, b: Expr, trans: int = 0) -> Expr:
    return apply("solve_triangular", l, b, lower=True, trans=trans, unit_diagonal=False)


def _cholesky_jvp(tangents, l, a):
    """``L̇ = L Φ(L⁻¹ Ṡ L⁻ᵀ)`` for the symmetric part ``Ṡ`` of the tangent."""
    return matmul(l, _phi(_lower_solve(l, swap_last(_lower_solve(l, _sym(tangents[0]))))))


_SYMMETRIZED = "0.5 * ({0} + np.swapaxes({0}, -1, -2))"

register(Op("cholesky", _square_infer("cholesky", lambda dims: dims),
            lambda a: np.linalg.cholesky(0.5 * (a + np.swapaxes(a, -1, -2))),
            emit=lambda args, params, ctx:
            f"np.linalg.cholesky({_SYMMETRIZED.format(args[0])})",
            vjp=(lambda g, l, a: apply("cholesky_adjoint", l, g),), jvp=_cholesky_jvp,
            batch=lambda nb, batched, a: apply("cholesky", a),
            sympy=_per_matrix(lambda m: ((m + m.T) / 2).cholesky(hermitian=False).tolist()),
            domain=positive_definite, samples=((((3, 3),), {}), (((2, 3, 3),), {})),
            doc="the lower Cholesky factor of the symmetric part of a"))


def cholesky(a) -> Expr:
    """``np.linalg.cholesky``: the lower triangular ``L`` with ``L Lᵀ = a`` for a symmetric
    positive definite ``a`` (leading axes allowed).  As JAX, it factors the symmetric part
    ``(a + aᵀ)/2`` (NumPy reads the lower triangle only), so the gradient with respect to
    ``a`` is a symmetric matrix: ``sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹)``, ``Φ`` the lower triangle with the
    diagonal halved, computed by blocks in about twice the factorization's operations.

    >>> L = sg.linalg.cholesky(K)
    """
    return apply("cholesky", as_expr(a))


def _adjoint_infer(l, g):
    _check_square("cholesky_adjoint", l)
    _check_square("cholesky_adjoint", g)
    if l.dims[-1] != g.dims[-1]:
        raise ShapeError(f"cholesky_adjoint: L of shape {D.fmt_shape(l.dims)} and its cotangent "
                         f"of shape {D.fmt_shape(g.dims)} differ in size")
    return D.broadcast_shapes("cholesky_adjoint", [l.dims, g.dims], ["L", "G"]), \
        result_dtype([l, g], "float")


def _adjoint_jvp(tangents, out, l, g):
    """Linear in G; for L (its lower triangle Ė): with ``W = L⁻ᵀ Ėᵀ``,
    ``F(L, Ġ + W G) - 2 sym(out Wᵀ)``."""
    tl, tg = tangents
    if tl is None:
        return apply("cholesky_adjoint", l, tg)
    w = _lower_solve(l, swap_last(tril(tl)), trans=1)
    inner = matmul(w, g) if tg is None else tg + matmul(w, g)
    return apply("cholesky_adjoint", l, inner) - 2 * _sym(matmul(out, swap_last(w)))


def _adjoint_vjp_g(c, out, l, g):
    """``H = L Φ(L⁻¹ sym(C̄) L⁻ᵀ)``: the adjoint of the linear map G ↦ F(L, G)."""
    return _cholesky_jvp((c,), tril(l), None)


def _adjoint_vjp_l(c, out, l, g):
    """``tril((L⁻¹ M)ᵀ)`` with ``M = H Gᵀ - 2 sym(C̄) out``."""
    m = matmul(_adjoint_vjp_g(c, out, l, g), swap_last(g)) - 2 * matmul(_sym(c), out)
    return tril(swap_last(_lower_solve(l, m)))


register(Op("cholesky_adjoint", _adjoint_infer, runtime.cholesky_adjoint,
            vjp=(_adjoint_vjp_l, _adjoint_vjp_g),
            jvp=_adjoint_jvp, batch=elementwise_batch("cholesky_adjoint"),
            domain=well_conditioned,
            samples=((((3, 3), (3, 3)), {}), (((2, 3, 3), (3, 3)), {})),
            doc="sym(L⁻ᵀ Φ(Lᵀ G) L⁻¹): cholesky's reverse rule, by blocks"))


# -- symmetric eigendecomposition ---------------------------------------------------------------
def _no_sympy(op: str):
    """The ``form="elements"`` rule of an op whose entries SymPy cannot write in closed form."""
    def rule(*args, **params):
        raise UnsupportedError(f"to_sympy: {op} has no closed form in SymPy's entries")
    return rule


def _coupling(w: Expr) -> Expr:
    """``F_ij = 1/(w_j - w_i)``, and 0 where the two are equal (the diagonal)."""
    gap = expand_dims(w, w.ndim - 1) - expand_dims(w, w.ndim)
    tie = equal(gap, 0.0)
    return where(tie, 0.0, 1 / where(tie, 1.0, gap))


def _eigh_vjp(g, out, a):
    """``sym(V (diag w̄ + F ∘ Vᵀ V̄) Vᵀ)``."""
    w, v = out[..., 0, :], out[..., 1:, :]
    middle = _coupling(w) * matmul(swap_last(v), g[..., 1:, :])
    middle = middle + place_diagonal(g[..., 0, :], 0, g.ndim - 2, g.ndim - 1, middle.dims)
    return _sym(matmul(v, matmul(middle, swap_last(v))))


def _eigh_jvp(tangents, out, a):
    """``ẇ = diag(Vᵀ Ṡ V)``, ``V̇ = V (F ∘ Vᵀ Ṡ V)``, packed as the value."""
    w, v = out[..., 0, :], out[..., 1:, :]
    p = matmul(swap_last(v), matmul(_sym(tangents[0]), v))
    wdot = diagonal_(p, 0, p.ndim - 2, p.ndim - 1)
    vdot = matmul(v, _coupling(w) * p)
    return concatenate([expand_dims(wdot, wdot.ndim - 1), vdot], axis=vdot.ndim - 2)


register(Op("eigh", _square_infer("eigh", lambda dims: dims[:-2] + (D.dim_add(dims[-1], 1),
                                                                      dims[-1])),
            runtime.eigh_packed, vjp=(_eigh_vjp,), jvp=_eigh_jvp,
            batch=lambda nb, batched, a: apply("eigh", a), sympy=_no_sympy("eigh"),
            domain=separated_spectrum, samples=((((3, 3),), {}), (((2, 3, 3),), {})),
            doc="eigenvalues (row 0) and eigenvectors (below) of the symmetric part of a"))


class EighResult(NamedTuple):
    """``eigh``'s results, as NumPy's."""
    eigenvalues: Expr
    eigenvectors: Expr


def eigh(a) -> EighResult:
    """``np.linalg.eigh``: ascending eigenvalues ``w`` and orthonormal eigenvectors ``V``
    (columns) with ``a = V diag(w) Vᵀ``.  As JAX, it decomposes the symmetric part
    ``(a + aᵀ)/2`` (NumPy reads one triangle), so gradients are symmetric.  Derivatives need
    distinct eigenvalues (for exactly equal ones the eigenvector coupling ``1/(w_j - w_i)`` is
    taken as 0, which keeps derivatives of the eigenvalues alone finite); eigenvector
    derivatives are those of NumPy's basis, its signs held fixed.

    >>> w, V = sg.linalg.eigh(S)
    """
    out = apply("eigh", as_expr(a))
    return EighResult(out[..., 0, :], out[..., 1:, :])


for _name, _fn in [("solve", solve), ("solve_triangular", solve_triangular), ("inv", inv),
                   ("det", det), ("slogdet", slogdet), ("cholesky", cholesky), ("eigh", eigh)]:
    REGISTRY[_name].function = _fn


# -- norms, traces and diagonals (built from other ops) -------------------------------------------
def _root(s: Expr, p) -> Expr:
    """``s ** (1/p)`` for ``s >= 0`` with derivative 0 (not inf or NaN) where ``s`` is 0."""
    positive = s > 0
    safe = where(positive, s, 1.0)
    return where(positive, sqrt(safe) if p == 2 else power(safe, 1.0 / p), 0.0)


def _vector_norm(x: Expr, ord, axes: tuple) -> Expr:
    if ord is None or ord == 2:
        return _root(sum_(x * x, axes, keepdims=True), 2)
    if ord == np.inf:
        return max_(abs_(x), axes, keepdims=True)
    if ord == -np.inf:
        return -max_(-abs_(x), axes, keepdims=True)
    if ord == 1:
        return sum_(abs_(x), axes, keepdims=True)
    if ord == 0:
        return sum_((x != 0).astype(x.dtype), axes, keepdims=True)
    if isinstance(ord, (int, float)) and ord > 1:
        return _root(sum_(power(abs_(x), float(ord)), axes, keepdims=True), ord)
    raise UnsupportedError(f"norm: the vector norm ord={ord!r} is not supported (1, 2, inf, "
                           "-inf, 0 or a number above 1 are)")


def _matrix_norm(x: Expr, ord, axes: tuple) -> Expr:
    rows, cols = axes
    if ord is None or ord == "fro":
        return _root(sum_(x * x, axes, keepdims=True), 2)
    if ord in (1, -1, np.inf, -np.inf):
        sums = sum_(abs_(x), rows if ord in (1, -1) else cols, keepdims=True)
        other = cols if ord in (1, -1) else rows
        return max_(sums, other, keepdims=True) if ord > 0 else -max_(-sums, other, keepdims=True)
    raise UnsupportedError(f"norm: the matrix norm ord={ord!r} is not supported (None, 'fro', "
                           "1, -1, inf and -inf are; 2, -2 and 'nuc' need singular values)")


def norm(x, ord=None, axis=None, keepdims: bool = False) -> Expr:
    """``np.linalg.norm``: vector norms (``ord`` None or 2, 1, inf, -inf, 0, p > 1) over one
    axis, matrix norms (None or 'fro', 1, -1, inf, -inf) over two; ``axis=None`` means the
    2-norm of all entries when ``ord`` is None, else the vector or matrix norm of a 1-d or
    2-d ``x``.  The gradient at 0 is 0, as ``abs``'s (never NaN).

    >>> sg.linalg.norm(x)
    >>> sg.linalg.norm(X, axis=1)           # the rows' lengths
    """
    x = as_expr(x)
    if x.dtype.kind != "f":
        x = x.astype("float64")
    if axis is None and ord is not None and x.ndim not in (1, 2):
        raise ShapeError(f"norm: ord={ord!r} without axis needs a 1-d or 2-d x, got shape "
                         f"{D.fmt_shape(x.dims)}")
    if axis is None:
        axes = tuple(range(x.ndim))
    else:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        normalize_axis("norm", x, axes)
        axes = tuple(int(a) % x.ndim for a in axes)
        if len(axes) not in (1, 2):
            raise ShapeError(f"norm: axis must be one or two axes, got {axis!r}")
    if ord is None and axis is None or len(axes) == 1:
        out = _vector_norm(x, ord, axes)
    else:
        out = _matrix_norm(x, ord, axes)
    if keepdims:
        return out
    return reshape(out, tuple(d for i, d in enumerate(x.dims) if i not in axes))


def trace(x, offset: int = 0) -> Expr:
    """``np.linalg.trace``: ``Σᵢ x[..., i, i + offset]`` over the last two axes.

    >>> sg.linalg.trace(A)
    """
    return trace_(x, offset, -2, -1)


def diagonal(x, offset: int = 0) -> Expr:
    """``np.linalg.diagonal``: the entries ``x[..., i, i + offset]`` of the last two axes.

    >>> sg.linalg.diagonal(L)
    """
    return diagonal_(x, offset, -2, -1)

