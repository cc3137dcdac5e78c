"""Linear algebra: ``matmul`` and ``transpose`` are primitives (NumPy semantics, 1-D
operands included); ``dot`` and ``outer`` are built from them."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from ..dtypes import result_dtype
from ..errors import ShapeError, UnsupportedError
from ..expr import Batched, Expr, apply, as_expr
from ..op import Op, register
from .banded import LOST
from .shape import expand_dims, lift, reshape


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
        return expand_dims(g, g.ndim) * b
    if a.ndim == 1:
        return matmul(b, expand_dims(g, g.ndim))[..., 0] if g.ndim > 1 else matmul(b, g)
    return matmul(g, swap_last(b))


def _matmul_vjp_b(g, out, a, b):
    """b̄ = aᵀ ḡ (with 1-D operands promoted as NumPy does)."""
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if a.ndim == 1:
        return expand_dims(a, 1) * expand_dims(g, g.ndim - 1)
    if b.ndim == 1:
        if a.ndim == 2:
            return matmul(g, a)
        return matmul(swap_last(a), expand_dims(g, g.ndim))[..., 0]
    return matmul(swap_last(a), g)


def _matmul_jvp(tangents, out, a, b):
    """(a @ b)˙ = ȧ @ b + a @ ḃ."""
    ta, tb = tangents
    left = None if ta is None else matmul(ta, b)
    right = None if tb is None else matmul(a, tb)
    return right if left is None else left if right is None else left + right


def _matmul_batch(nb, batched, a, b):
    """``a @ b`` over a batch: one matrix product where NumPy can broadcast, else 1-D
    operands promoted to matrices, both lifted to one rank, and the promoted axes dropped."""
    (ba, bb), ra, rb = batched, a.ndim - nb * batched[0], b.ndim - nb * batched[1]
    if ba and not bb and rb <= 2:
        return matmul(a, b)  # rows of a batch of a times b: NumPy stacks them
    if bb and not ba and rb == 1 and ra <= 2:
        return matmul(b, a) if ra == 1 else matmul(b, swap_last(a))  # (a bᵢ)ᵢ = (bᵢᵀ aᵀ)ᵢ
    if ra == 1:
        a = expand_dims(a, nb if ba else 0)
    if rb == 1:
        b = expand_dims(b, b.ndim)
    rank = max(a.ndim - nb * ba, b.ndim - nb * bb)
    a = lift(a, nb, rank) if ba else a
    b = lift(b, nb, rank) if bb else b
    out = matmul(a, b)
    if rb == 1:
        out = out[..., 0]
    if ra == 1:
        out = out[..., 0, :] if rb != 1 else out[..., 0]
    return out


def _matmul_band(tangents, out, a, b):
    """``A @ x`` with diagonal seeds ``c`` on x: the dense batch is ``(A · c)ᵀ``, no product."""
    ta, tb = tangents
    if ta is not None or a.ndim != 2 or b.ndim != 1 or list(tb.bands) != [(0,)] \
            or tb.xdims != b.dims:
        return LOST
    return Batched(transpose(a * tb.bands[(0,)]), 1)


def _matmul_matrix(tr, attrs, a, b):
    da, db = tr.arg_dims(attrs)
    if len(da) == 1 and len(db) == 1:
        return (a.T * b)[0, 0]
    return b.T * a if len(da) == 1 else a * b


register(Op("matmul", _matmul_infer, np.matmul, infix="@",
            vjp=(_matmul_vjp_a, _matmul_vjp_b), jvp=_matmul_jvp, batch=_matmul_batch,
            band=_matmul_band, sympy_matrix=_matmul_matrix,
            samples=tuple(((sa, sb), {}) for sa, sb in [
                ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 4)),
                ((4, 3), (2, 3, 2)), ((2, 1, 2, 3), (3, 3, 2)), ((3,), (2, 3, 4)), ((2, 4, 3), (3,))]),
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


def _transpose_infer(x, axes):
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of the axes of an operand "
                         f"of shape {D.fmt_shape(x.dims)}")
    return tuple(x.dims[i] for i in axes), x.dtype


register(Op("transpose", _transpose_infer, np.transpose, emit=_transpose_emit,
            vjp=(lambda g, out, x, axes: apply("transpose", g, axes=tuple(np.argsort(axes).tolist())),),
            jvp=lambda tangents, out, x, axes: apply("transpose", tangents[0], axes=axes),
            batch=lambda nb, batched, x, axes: apply(
                "transpose", x, axes=tuple(range(nb)) + tuple(a + nb for a in axes)),
            sympy_matrix=lambda tr, attrs, x: x.T, moves=True, view=True,
            samples=((((2, 3),), dict(axes=(1, 0))), (((2, 3, 4),), dict(axes=(1, 2, 0)))),
            doc="permutes the axes"))


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


Expr.T = property(transpose, doc="The axes reversed, as NumPy's ``.T``.")


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
    return expand_dims(a, 1) * expand_dims(b, 0)
