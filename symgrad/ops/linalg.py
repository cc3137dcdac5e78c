"""Linear algebra: ``matmul`` and ``transpose`` are primitives (NumPy semantics, 1-D
operands included); ``dot`` and ``outer`` are built from them."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from ..errors import ShapeError, UnsupportedError
from ..expr import Expr, apply, as_expr
from .base import Op, lift, register
from .elementwise import result_dtype
from .shape import expand_dims, reshape


def _matmul_infer(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must have at least one dimension, got shapes "
                         f"{D.fmt_shape(a.dims)} @ {D.fmt_shape(b.dims)}; use * for scalars")
    da = (1,) + a.dims if a.ndim == 1 else a.dims
    db = b.dims + (1,) if b.ndim == 1 else b.dims
    if da[-1] != db[-2]:
        raise ShapeError(f"matmul: inner dimensions differ, {da[-1]!r} against {db[-2]!r} "
                         f"(operand shapes {D.fmt_shape(a.dims)} @ {D.fmt_shape(b.dims)})")
    batch = D.broadcast_shapes("matmul", [da[:-2], db[:-2]], ["a", "b"])
    shape = batch + (() if a.ndim == 1 else (da[-2],)) + (() if b.ndim == 1 else (db[-1],))
    return shape, result_dtype([a, b])


def swap_last(x: Expr) -> Expr:
    """``x`` with its last two axes exchanged (the batched matrix transpose)."""
    axes = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return apply("transpose", x, axes=axes)


def _matmul_vjp_a(g, out, a, b):
    """ā = ḡ bᵀ (with 1-D operands promoted as NumPy does)."""
    if a.ndim == 1 and b.ndim == 1:
        return g * b
    if b.ndim == 1:
        return expand_dims(g, (g.ndim,)) * b
    if a.ndim == 1:
        return matmul(b, expand_dims(g, (g.ndim,)))[..., 0] if g.ndim > 1 else matmul(b, g)
    return matmul(g, swap_last(b))


def _matmul_vjp_b(g, out, a, b):
    """b̄ = aᵀ ḡ (with 1-D operands promoted as NumPy does)."""
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if a.ndim == 1:
        return expand_dims(a, (1,)) * expand_dims(g, (g.ndim - 1,))
    if b.ndim == 1:
        if a.ndim == 2:
            return matmul(g, a)
        return matmul(swap_last(a), expand_dims(g, (g.ndim,)))[..., 0]
    return matmul(swap_last(a), g)


def _tangent_times(t, a, b):
    """``ȧ @ b`` for a tangent ``t`` of ``a`` with leading batch axes."""
    if b.ndim <= 2:
        return matmul(t, b)
    if a.ndim > 1:
        return matmul(lift(t, a, b.ndim), b)
    return matmul(expand_dims(lift(t, a, b.ndim - 1), (t.ndim + b.ndim - 3,)), b)[..., 0, :]


def _times_tangent(a, t, b):
    """``a @ ḃ`` for a tangent ``t`` of ``b`` with leading batch axes."""
    if a.ndim == 1:
        return matmul(a, t) if b.ndim > 1 else matmul(t, a)
    if b.ndim > 1:
        return matmul(a, lift(t, b, a.ndim))
    if a.ndim == 2:
        return matmul(t, swap_last(a))
    return matmul(a, expand_dims(lift(t, b, a.ndim - 1), (t.ndim + a.ndim - 2,)))[..., 0]


def _matmul_jvp(tangents, out, a, b):
    """(a @ b)˙ = ȧ @ b + a @ ḃ; products with a tangent broadcast over its batch axes
    (1-D operands are promoted as NumPy does, BLAS matrix products where possible)."""
    ta, tb = tangents
    left = None if ta is None else _tangent_times(ta, a, b)
    right = None if tb is None else _times_tangent(a, tb, b)
    return right if left is None else left if right is None else left + right


register(Op("matmul", _matmul_infer, np.matmul, infix="@",
            vjp=(_matmul_vjp_a, _matmul_vjp_b), jvp=_matmul_jvp,
            doc="matrix product with NumPy's rules"))


def matmul(a, b) -> Expr:
    """Matrix product ``a @ b`` with NumPy's rules (1-D operands, batch broadcasting).

    >>> sg.matmul(X, W)
    """
    return apply("matmul", a, b)


def _transpose_emit(args, params, ctx):
    axes = params["axes"]
    if axes == tuple(reversed(range(len(axes)))):
        return f"{args[0]}.T"
    return f"np.transpose({args[0]}, {axes})"


def _behind(t: Expr, x: Expr, axes: tuple) -> tuple:
    """The permutation ``axes`` of ``x`` applied to its tangent, batch axes left in place."""
    nb = t.ndim - x.ndim
    return tuple(range(nb)) + tuple(a + nb for a in axes)


register(Op("transpose", lambda x, axes: (tuple(x.dims[i] for i in axes), x.dtype), np.transpose,
            emit=_transpose_emit,
            vjp=(lambda g, out, x, axes: apply("transpose", g, axes=tuple(np.argsort(axes).tolist())),),
            jvp=lambda tangents, out, x, axes: apply("transpose", tangents[0],
                                                     axes=_behind(tangents[0], x, axes)),
            view=True, doc="permutes the axes"))


def transpose(x, axes=None) -> Expr:
    """Permute axes; by default reverse them (``x.T``).

    >>> sg.transpose(W)
    """
    x = as_expr(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(a % max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of the axes of an operand "
                         f"of shape {D.fmt_shape(x.dims)}")
    return x if axes == tuple(range(x.ndim)) else apply("transpose", x, axes=axes)


def dot(a, b) -> Expr:
    """``np.dot`` for operands of up to two dimensions (scalars multiply).

    >>> sg.dot(w, x)
    """
    a = as_expr(a, b if isinstance(b, Expr) else None)
    b = as_expr(b, a)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim > 2 or b.ndim > 2:
        raise UnsupportedError(f"dot: operands of more than two dimensions (shapes "
                               f"{D.fmt_shape(a.dims)}, {D.fmt_shape(b.dims)}) are not "
                               "supported; use sg.matmul")
    return matmul(a, b)


def outer(a, b) -> Expr:
    """Outer product of the flattened operands, shape ``(a.size, b.size)``.

    >>> sg.outer(u, v)
    """
    a, b = reshape(as_expr(a), (-1,)), reshape(as_expr(b), (-1,))
    return expand_dims(a, (1,)) * expand_dims(b, (0,))
