"""Reductions: ``sum`` and ``max`` are primitives; ``mean``, ``logsumexp`` and ``softmax``
are built from them (stable by subtracting the max, whose gradient is stopped)."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from ..errors import ShapeError
from ..expr import Expr, apply, as_expr, constant, expr_method
from ..lazy import sympy
from ..op import Op, register
from .elementwise import equal, exp, indicator, log, stop_gradient, where
from .shape import broadcast_to, expand_dims, reshape


def normalize_axis(op: str, x: Expr, axis) -> tuple:
    """Axis argument as a sorted tuple of non-negative ints; None means every axis."""
    if axis is None:
        return tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -x.ndim <= a < x.ndim:
            raise ShapeError(f"{op}: axis {a!r} is out of range for an operand of shape "
                             f"{D.fmt_shape(x.dims)} ({x.ndim} dimensions)")
        out.append(int(a) % x.ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def _reduced_dims(x: Expr, axis: tuple, keepdims: bool) -> tuple:
    return tuple(1 if i in axis else d for i, d in enumerate(x.dims)
                 if keepdims or i not in axis)


def _reduce_infer(name: str):
    def infer(x, axis, keepdims):
        if normalize_axis(name, x, axis) != axis:
            raise ShapeError(f"{name}: axes {axis} are not sorted axes of an operand of shape "
                             f"{D.fmt_shape(x.dims)}")
        dtype = np.dtype(np.int64) if x.dtype == bool else x.dtype
        return _reduced_dims(x, axis, keepdims), dtype
    return infer


def _unreduce(g: Expr, x: Expr, axis: tuple, keepdims: bool) -> Expr:
    """``g`` with the reduced axes put back as size 1, so it broadcasts against ``x``."""
    return g if keepdims or g.ndim == 0 else expand_dims(g, axis)


def _max_share(out, x, axis, keepdims):
    """Where ``x`` attains the max, 1/(number of ties); elsewhere 0: ties share equally."""
    mask = equal(x, _unreduce(out, x, axis, keepdims))
    share = indicator(mask, x.dtype)
    count = apply("sum", share, axis=axis, keepdims=True)
    return where(mask, 1 / count, 0.0)


def _batch_reduce(name: str):
    """Reductions over the same axes, behind the batch axes."""
    return lambda nb, batched, x, axis, keepdims: apply(
        name, x, axis=tuple(a + nb for a in axis), keepdims=keepdims)


def _sum_matrix(tr, attrs, x):
    """Column sums are ``𝟙ᵀX``, row sums ``X𝟙``."""
    axis = dict(attrs["params"])["axis"]
    if 0 in axis:
        x = sympy.OneMatrix(1, x.shape[0]) * x
    if 1 in axis:
        x = x * sympy.OneMatrix(x.shape[1], 1)
    return tr.orient(x, attrs["shape"])


_REDUCE_SAMPLES = ((((2, 3, 4),), dict(axis=(1,), keepdims=False)),
                   (((2, 3, 4),), dict(axis=(0, 2), keepdims=True)),
                   (((3,),), dict(axis=(0,), keepdims=False)))

register(Op("sum", _reduce_infer("sum"), np.sum,
            vjp=(lambda g, out, x, axis, keepdims:
                 broadcast_to(_unreduce(g, x, axis, keepdims), x.dims),),
            jvp=lambda tangents, out, x, axis, keepdims:
            apply("sum", tangents[0], axis=axis, keepdims=keepdims),
            batch=_batch_reduce("sum"), sympy_matrix=_sum_matrix, moves=True,
            samples=_REDUCE_SAMPLES, doc="sum over axes"))


def _max_sympy(x: np.ndarray, axis: tuple, keepdims: bool) -> np.ndarray:
    """SymPy's ``Max`` over ``axis`` of an object array of SymPy entries (for to_sympy)."""
    rest = [i for i in range(x.ndim) if i not in axis]
    rows = np.transpose(x, rest + list(axis)).reshape([x.shape[i] for i in rest] + [-1])
    out = np.empty(rows.shape[:-1], dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = sympy.Max(*rows[idx])
    return out.reshape([1 if i in axis else n for i, n in enumerate(x.shape)
                        if keepdims or i not in axis])


register(Op("max", _reduce_infer("max"), np.max, sympy=_max_sympy,
            vjp=(lambda g, out, x, axis, keepdims:
                 _unreduce(g, x, axis, keepdims) * _max_share(out, x, axis, keepdims),),
            jvp=lambda tangents, out, x, axis, keepdims: apply(
                "sum", tangents[0] * _max_share(out, x, axis, keepdims), axis=axis,
                keepdims=keepdims),
            batch=_batch_reduce("max"), samples=_REDUCE_SAMPLES, doc="maximum over axes"))


@expr_method()
def sum(x, axis=None, keepdims: bool = False) -> Expr:  # noqa: A001 - the contract's name
    """Sum over ``axis`` (None: all axes).

    >>> sg.sum(X, axis=0)            # column sums
    """
    x = as_expr(x)
    axis = normalize_axis("sum", x, axis)
    return apply("sum", x, axis=axis, keepdims=bool(keepdims)) if axis else x


@expr_method()
def max(x, axis=None, keepdims: bool = False) -> Expr:  # noqa: A001 - the contract's name
    """Maximum over ``axis``; ties share the gradient equally.

    >>> sg.max(x)
    """
    x = as_expr(x)
    axis = normalize_axis("max", x, axis)
    return apply("max", x, axis=axis, keepdims=bool(keepdims)) if axis else x


def count(x: Expr, axis=None) -> Expr:
    """Number of elements over ``axis`` as a scalar of ``x``'s float dtype (symbolic for names)."""
    axis = normalize_axis("count", x, axis)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    static = 1
    symbolic = None
    for i in axis:
        d = x.dims[i]
        if isinstance(d, int):
            static *= d
        else:
            size = apply("shape_of", x, axis=i).astype(dtype)
            symbolic = size if symbolic is None else symbolic * size
    total = constant(static, dtype, x.g)
    return total if symbolic is None else symbolic * static


@expr_method()
def mean(x, axis=None, keepdims: bool = False) -> Expr:
    """Mean over ``axis``; a named dimension divides by its run-time size.

    >>> sg.mean(X, axis=0)
    """
    x = as_expr(x)
    axis = normalize_axis("mean", x, axis)  # so a bad axis is reported as mean's
    return sum(x, axis, keepdims) / count(x, axis)


def logsumexp(x, axis=None, keepdims: bool = False) -> Expr:
    """``log(sum(exp(x)))`` without overflow (the max is subtracted first); gradient softmax.

    >>> sg.logsumexp(x)
    """
    x = as_expr(x)
    axes = normalize_axis("logsumexp", x, axis)
    m = stop_gradient(max(x, axes, keepdims=True))
    r = log(sum(exp(x - m), axes, keepdims=True)) + m
    return r if keepdims else reshape(r, _reduced_dims(x, axes, False))


def softmax(x, axis=None) -> Expr:
    """``exp(x) / sum(exp(x))`` over ``axis`` (None: all axes, as scipy), without overflow.

    >>> sg.softmax(x)
    """
    x = as_expr(x)
    axes = normalize_axis("softmax", x, axis)
    e = exp(x - stop_gradient(max(x, axes, keepdims=True)))
    return e / sum(e, axes, keepdims=True)
