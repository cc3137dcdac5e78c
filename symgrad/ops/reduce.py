"""Reductions: ``sum``, ``max``, ``min``, ``prod``, ``any``, ``all``, ``argmax``, ``argmin``
and the running ``cumsum`` and ``cumprod`` are primitives; ``mean``, ``var``, ``std``,
``logsumexp`` and ``softmax`` are built from them (stable by subtracting the max, whose
gradient is stopped).

Conventions (also in the README): ties of ``max`` and ``min`` share the gradient equally;
the derivatives of ``prod`` and ``cumprod`` are products of the other entries, never a
division, so they are exact where entries are 0, at every order; ``std``'s derivative where
the spread is 0 is 0 at every order; ``any``, ``all``, ``argmax`` and ``argmin`` have none."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from .. import runtime
from ..dtypes import result_dtype
from ..errors import ShapeError, SymgradError
from ..expr import Expr, apply, as_expr, constant, expr_method
from ..lazy import sympy
from ..op import REGISTRY, Op, register
from .banded import LOST
from .contraction import Term, made
from .elementwise import equal, exp, indicator, log, sqrt, stop_gradient, where
from .shape import (FULL, broadcast_to, concatenate, elementwise_batch, expand_dims, fill,
                    reshape, sum_to)


def normalize_axis(op: str, x: Expr, axis) -> tuple:
    """Axis argument as a sorted tuple of non-negative ints; None means every axis."""
    if axis is None:
        return tuple(range(x.ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
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

def _sum_contraction(tangents, out, x, axis, keepdims):
    """Summing over axes drops their letters (kept dims would need size-1 axes: lost)."""
    if keepdims:
        return LOST
    (t,) = tangents
    return made([Term(term.factors, "".join(c for i, c in enumerate(term.out) if i not in axis))
                 for term in t.terms], t.xdims)


register(Op("sum", _reduce_infer("sum"), np.sum,
            vjp=(lambda g, out, x, axis, keepdims:
                 broadcast_to(_unreduce(g, x, axis, keepdims), x.dims),),
            jvp=lambda tangents, out, x, axis, keepdims:
            apply("sum", tangents[0], axis=axis, keepdims=keepdims),
            batch=_batch_reduce("sum"), contraction=_sum_contraction, sympy_matrix=_sum_matrix,
            moves=True,
            samples=_REDUCE_SAMPLES, sparsity="reduce", curvature=(), doc="sum over axes"))


def _max_sympy(x: np.ndarray, axis: tuple, keepdims: bool, extreme: str = "Max") -> np.ndarray:
    """SymPy's ``Max`` (or ``extreme``) over ``axis`` of an object array of SymPy entries
    (for to_sympy)."""
    rest = [i for i in range(x.ndim) if i not in axis]
    rows = np.transpose(x, rest + list(axis)).reshape([x.shape[i] for i in rest] + [-1])
    out = np.empty(rows.shape[:-1], dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = getattr(sympy, extreme)(*rows[idx])
    return out.reshape([1 if i in axis else n for i, n in enumerate(x.shape)
                        if keepdims or i not in axis])


register(Op("max", _reduce_infer("max"), np.max, sympy=_max_sympy,
            sympy_matrix=lambda tr, attrs, x: tr.extreme(attrs, x, "Max"),
            vjp=(lambda g, out, x, axis, keepdims:
                 _unreduce(g, x, axis, keepdims) * _max_share(out, x, axis, keepdims),),
            jvp=lambda tangents, out, x, axis, keepdims: apply(
                "sum", tangents[0] * _max_share(out, x, axis, keepdims), axis=axis,
                keepdims=keepdims),
            batch=_batch_reduce("max"), samples=_REDUCE_SAMPLES, sparsity="reduce", curvature=(), doc="maximum over axes"))


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


def log_softmax(x, axis=None) -> Expr:
    """``x - logsumexp(x)`` over ``axis`` (None: all axes, as SciPy and ``sg.softmax``),
    without overflow; its gradient is ``1 - softmax``.

    >>> sg.log_softmax(Z, axis=1)
    """
    x = as_expr(x)
    axes = normalize_axis("log_softmax", x, axis)
    shifted = x - stop_gradient(max(x, axes, keepdims=True))
    return shifted - log(sum(exp(shifted), axes, keepdims=True))


def softmax(x, axis=None) -> Expr:
    """``exp(x) / sum(exp(x))`` over ``axis`` (None: all axes, as scipy), without overflow.

    >>> sg.softmax(x)
    """
    x = as_expr(x)
    axes = normalize_axis("softmax", x, axis)
    e = exp(x - stop_gradient(max(x, axes, keepdims=True)))
    return e / sum(e, axes, keepdims=True)


# -- min, prod, cumulative sums and products, moments, logic and arg reductions ---------------
# min shares max's rules: the gradient goes to the entries equal to the result, ties share it.
register(Op("min", _reduce_infer("min"), np.min,
            sympy=lambda x, axis, keepdims: _max_sympy(x, axis, keepdims, "Min"),
            sympy_matrix=lambda tr, attrs, x: tr.extreme(attrs, x, "Min"),
            vjp=REGISTRY["max"].vjp, jvp=REGISTRY["max"].jvp, batch=_batch_reduce("min"),
            samples=_REDUCE_SAMPLES, sparsity="reduce", curvature=(), doc="minimum over axes"))


@expr_method()
def min(x, axis=None, keepdims: bool = False) -> Expr:  # noqa: A001 - the contract's name
    """Minimum over ``axis``; ties share the gradient equally (as ``max``).

    >>> sg.min(X, axis=1)
    """
    x = as_expr(x)
    axis = normalize_axis("min", x, axis)
    return apply("min", x, axis=axis, keepdims=bool(keepdims)) if axis else x


def reverse_along(x: Expr, axes: tuple) -> Expr:
    """``x`` with the order of its entries reversed along ``axes`` (sorted, non-negative),
    named axes included: the full reversed slice keeps every size."""
    if not axes:
        return x
    return apply("getitem", x, index=tuple(("slice", None, None, -1) if i in axes else FULL
                                           for i in range(x.ndim)))


def _shift(y: Expr, axis: int, first=0.0, reverse: bool = False) -> Expr:
    """``y`` moved one step along ``axis`` towards its end, ``first`` entering at the front
    (``reverse``: towards the front, ``first`` entering at the end)."""
    axis %= y.ndim
    keep = (slice(None),) * axis
    edge = fill(y.dims[:axis] + (1,) + y.dims[axis + 1:], first, y.dtype, y.g)
    if reverse:
        return concatenate([y[keep + (slice(1, None),)], edge], axis)
    return concatenate([edge, y[keep + (slice(None, -1),)]], axis)


def _cumulative_infer(name: str):
    def infer(x, axis):
        if not 0 <= axis < x.ndim:
            raise ShapeError(f"{name}: axis {axis!r} is out of range for an operand of shape "
                             f"{D.fmt_shape(x.dims)}")
        return x.dims, np.dtype(np.int64) if x.dtype == bool else x.dtype
    return infer


def _batch_cumulative(name: str):
    return lambda nb, batched, x, axis: apply(name, x, axis=axis + nb)


# h[i] = a[i]·h[i-1] + b[i]: the derivatives of cumprod without dividing by its entries
def _recurrence_infer(a, b, axis, reverse):
    shape = D.broadcast_shapes("linear_recurrence", [a.dims, b.dims], ["a", "b"])
    if not -len(shape) <= axis < 0:
        raise ShapeError(f"linear_recurrence: axis {axis} is not a negative axis of the shape "
                         f"{D.fmt_shape(shape)}")
    return shape, result_dtype([a, b])


def recurrence(a, b, axis: int, reverse: bool = False) -> Expr:
    """The op ``linear_recurrence`` along ``axis`` (a non-negative one counts in ``a``'s axes;
    the op keeps it counted from the end, so it broadcasts and batches as elementwise ops).

    >>> recurrence(x, g, -1, reverse=True)      # λ[i] = g[i] + x[i+1]·λ[i+1]
    """
    return apply("linear_recurrence", a, b, axis=axis - a.ndim if axis >= 0 else axis,
                 reverse=reverse)


def _recurrence_vjp_a(g, out, a, b, axis, reverse):
    """ā[i] = λ[i]·h[i-1] (reverse: λ[i-1]·h[i]) with λ the adjoint recurrence of g."""
    lam = recurrence(a, g, axis, not reverse)
    return sum_to(_shift(out, axis) * lam if not reverse else _shift(lam, axis) * out, a.dims)


def _recurrence_jvp(tangents, out, a, b, axis, reverse):
    """ḣ = the same recurrence driven by ȧ[i]·h[i-1] + ḃ[i] (reverse: ȧ[i]·h[i] + ḃ[i-1])."""
    ta, tb = tangents
    drive = None if ta is None else _shift(ta * out, axis, reverse=True) if reverse \
        else ta * _shift(out, axis)
    drive = tb if drive is None else drive if tb is None else drive + tb
    return recurrence(a, drive, axis, reverse)


def _running_sparsity(position, shapes, out_shape, params, values):
    """Output entry i along ``axis`` reads the entries at and before i (at and after i for a
    ``reverse`` recurrence) of its line."""
    def lines(shape):  # entry numbers broadcast to the output, the axis last
        numbers = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        return np.moveaxis(np.broadcast_to(numbers, out_shape), params["axis"], -1)
    n = out_shape[params["axis"]]
    at, reads = np.triu_indices(n) if params.get("reverse") else np.tril_indices(n)
    return lines(out_shape)[..., at].ravel(), lines(shapes[position])[..., reads].ravel()


register(Op("linear_recurrence", _recurrence_infer, runtime.linear_recurrence,
            sparsity=_running_sparsity,
            vjp=(_recurrence_vjp_a, lambda g, out, a, b, axis, reverse:
                 sum_to(recurrence(a, g, axis, not reverse), b.dims)),
            jvp=_recurrence_jvp, batch=elementwise_batch("linear_recurrence"),
            samples=((((2, 4), (2, 4)), dict(axis=-1, reverse=False)),
                     (((4,), (3, 4)), dict(axis=-1, reverse=True)),
                     (((3, 1), (3, 2)), dict(axis=-2, reverse=False))),
            doc="h[i] = a[i] h[i-1] + b[i] along an axis (reverse: from the end)"))


def _cumsum_vjp(g, out, x, axis):
    """The adjoint of a running sum is the running sum from the end."""
    return reverse_along(apply("cumsum", reverse_along(g, (axis,)), axis=axis), (axis,))


register(Op("cumsum", _cumulative_infer("cumsum"), np.cumsum, vjp=(_cumsum_vjp,),
            sparsity=_running_sparsity, curvature=(),
            jvp=lambda tangents, out, x, axis: apply("cumsum", tangents[0], axis=axis),
            batch=_batch_cumulative("cumsum"),
            samples=((((2, 3, 4),), dict(axis=1)), (((3,),), dict(axis=0))),
            doc="running sums along an axis"))

# y[i] = x[i]·y[i-1]: the tangent and the adjoint are recurrences with the coefficients x,
# driven by ẋ[i]·y[i-1] and by g; no division, so they are exact where entries are 0.
register(Op("cumprod", _cumulative_infer("cumprod"), np.cumprod, sparsity=_running_sparsity,
            vjp=(lambda g, out, x, axis:
                 _shift(out, axis, 1.0) * recurrence(x, g, axis, reverse=True),),
            jvp=lambda tangents, out, x, axis:
            recurrence(x, tangents[0] * _shift(out, axis, 1.0), axis),
            batch=_batch_cumulative("cumprod"),
            samples=((((2, 3, 4),), dict(axis=1)), (((4,),), dict(axis=0))),
            doc="running products along an axis"))


def flat(x: Expr, op: str) -> Expr:
    """``x`` as one axis (C order); a size that is a product of names is refused for ``op``."""
    if D.size_quotient(x.dims, ()) is None:
        raise ShapeError(f"{op}: an operand of shape {D.fmt_shape(x.dims)} has a size that is "
                         "a product of named dimensions, which one axis cannot hold")
    return reshape(x, (-1,))


def _one_axis(name: str, x: Expr, axis) -> int:
    """A single axis (an int, negative allowed) as a non-negative int."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise ShapeError(f"{name}: axis must be an int or None, got {axis!r}")
    return normalize_axis(name, x, axis)[0]


def _cumulative(name: str, x, axis) -> Expr:
    x = as_expr(x)
    if axis is None:
        x, axis = flat(x, name), 0
    return apply(name, x, axis=_one_axis(name, x, axis))


@expr_method()
def cumsum(x, axis=None) -> Expr:
    """Running sums ``y[i] = x[0] + ... + x[i]`` along ``axis`` (None: of the flattened ``x``).

    >>> sg.cumsum(x)
    """
    return _cumulative("cumsum", x, axis)


@expr_method()
def cumprod(x, axis=None) -> Expr:
    """Running products ``y[i] = x[0]·...·x[i]`` along ``axis`` (None: of the flattened
    ``x``).  Derivatives never divide by entries: they are exact, at every order, also where
    entries are 0 (``d y[i]/d x[j] = Π_{k≤i, k≠j} x[k]``).

    >>> sg.cumprod(x)
    """
    return _cumulative("cumprod", x, axis)


def _others_product(x: Expr, axes: tuple) -> Expr:
    """``Π x`` over ``axes`` leaving out each entry in turn, shape of ``x``, without
    division: along one axis the product of the entries before times that of the entries
    after; over several, the axes one at a time (the first over products of the others)."""
    total = None
    for i, a in enumerate(axes):
        inner = apply("prod", x, axis=axes[i + 1:], keepdims=True) if axes[i + 1:] else x
        before = _shift(cumprod(inner, a), a, 1.0)
        after = reverse_along(_shift(cumprod(reverse_along(inner, (a,)), a), a, 1.0), (a,))
        total = before * after if total is None else total * (before * after)
    return total


register(Op("prod", _reduce_infer("prod"), np.prod,
            vjp=(lambda g, out, x, axis, keepdims:
                 _unreduce(g, x, axis, keepdims) * _others_product(x, axis),),
            jvp=lambda tangents, out, x, axis, keepdims: apply(
                "sum", tangents[0] * _others_product(x, axis), axis=axis, keepdims=keepdims),
            batch=_batch_reduce("prod"), samples=_REDUCE_SAMPLES, sparsity="reduce", doc="product over axes"))


@expr_method()
def prod(x, axis=None, keepdims: bool = False) -> Expr:
    """Product over ``axis``.  ``d/dx[j] = Π_{k≠j} x[k]``, from products of the entries
    before and after j, never ``out / x[j]``: exact where entries are 0 (one zero: only its
    own entry gets a gradient; two or more: all zero), at every order.

    >>> sg.prod(x)
    """
    x = as_expr(x)
    axis = normalize_axis("prod", x, axis)
    return apply("prod", x, axis=axis, keepdims=bool(keepdims)) if axis else x


def _ddof(op: str, ddof):
    if isinstance(ddof, bool) or not isinstance(ddof, (int, float, np.integer, np.floating)):
        raise SymgradError(f"{op}: ddof must be a number, got {ddof!r}")
    return ddof


@expr_method()
def var(x, axis=None, *, ddof=0, keepdims: bool = False) -> Expr:
    """Variance ``Σ (x - mean)² / (N - ddof)`` over ``axis``.

    >>> sg.var(X, axis=0, ddof=1)
    """
    x = as_expr(x)
    axes = normalize_axis("var", x, axis)
    ddof = _ddof("var", ddof)
    d = x - mean(x, axes, keepdims=True)
    return sum(d * d, axes, keepdims) / (count(x, axes) - ddof)


@expr_method()
def std(x, axis=None, *, ddof=0, keepdims: bool = False) -> Expr:
    """Standard deviation ``sqrt(var)``.  Where the spread is 0 (all entries equal) the
    derivative is 0 at every order (the smallest subgradient), not NaN as PyTorch and JAX.

    >>> sg.std(X, axis=0)
    """
    v = var(x, axis, ddof=_ddof("std", ddof), keepdims=keepdims)
    spread = v != 0
    return where(spread, sqrt(where(spread, v, 1.0)), 0.0)


def _bool_samples(shape):
    return lambda rng: rng.uniform(size=shape) > 0.6


def _logic_infer(name: str):
    reduced = _reduce_infer(name)
    return lambda x, axis, keepdims: (reduced(x, axis, keepdims)[0], np.dtype(bool))


for _name, _impl in (("any", np.any), ("all", np.all)):
    register(Op(_name, _logic_infer(_name), _impl, batch=_batch_reduce(_name), differentiable=False,
                samples=(((_bool_samples((2, 3, 4)),), dict(axis=(1,), keepdims=False)),
                         ((_bool_samples((3, 2)),), dict(axis=(0, 1), keepdims=True)),
                         (((2, 3),), dict(axis=(0,), keepdims=False))),
                doc=f"np.{_name} over axes (booleans, no gradient)"))


def _logical(name: str, x, axis, keepdims) -> Expr:
    x = as_expr(x)
    axis = normalize_axis(name, x, axis)
    return apply(name, x, axis=axis, keepdims=bool(keepdims)) if axis else x != 0


@expr_method()
def any(x, axis=None, keepdims: bool = False) -> Expr:  # noqa: A001 - the contract's name
    """True where some entry over ``axis`` is nonzero (a boolean expression, no gradient).

    >>> sg.any(x > 1)
    """
    return _logical("any", x, axis, keepdims)


@expr_method()
def all(x, axis=None, keepdims: bool = False) -> Expr:  # noqa: A001 - the contract's name
    """True where every entry over ``axis`` is nonzero (a boolean expression, no gradient).

    >>> sg.all(x > 0, axis=0)
    """
    return _logical("all", x, axis, keepdims)


def _arg_infer(name: str):
    def infer(x, axis, keepdims):
        if not 0 <= axis < x.ndim:
            raise ShapeError(f"{name}: axis {axis!r} is out of range for an operand of shape "
                             f"{D.fmt_shape(x.dims)}")
        return _reduced_dims(x, (axis,), keepdims), np.dtype(np.int64)
    return infer


for _name, _impl in (("argmax", np.argmax), ("argmin", np.argmin)):
    register(Op(_name, _arg_infer(_name), _impl, differentiable=False,
                batch=lambda nb, batched, x, axis, keepdims, _name=_name:
                apply(_name, x, axis=axis + nb, keepdims=keepdims),
                samples=((((2, 3, 4),), dict(axis=1, keepdims=False)),
                         (((3, 4),), dict(axis=0, keepdims=True))),
                doc=f"np.{_name} along one axis (int64 indices, no gradient)"))


def _arg(name: str, x, axis, keepdims) -> Expr:
    x = as_expr(x)
    if axis is None:
        out = apply(name, flat(x, name), axis=0, keepdims=bool(keepdims))
        return reshape(out, (1,) * x.ndim) if keepdims else out
    return apply(name, x, axis=_one_axis(name, x, axis), keepdims=bool(keepdims))


@expr_method()
def argmax(x, axis=None, keepdims: bool = False) -> Expr:
    """Index of the first maximum along ``axis`` (None: in the flattened ``x``), int64.

    >>> sg.argmax(scores, axis=1)
    """
    return _arg("argmax", x, axis, keepdims)


@expr_method()
def argmin(x, axis=None, keepdims: bool = False) -> Expr:
    """Index of the first minimum along ``axis`` (None: in the flattened ``x``), int64.

    >>> sg.argmin(x)
    """
    return _arg("argmin", x, axis, keepdims)
