"""Shape ops: indexing, reshape, broadcasting, concatenation, and the leaves ``fill`` and
``shape_of``.  They move data without arithmetic, so their derivative rules are the
matching moves backwards (a slice's adjoint writes ``g`` into zeros, and so on)."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from .. import runtime
from ..errors import ShapeError, UnsupportedError
from ..expr import Expr, apply, as_expr
from .base import Op, batch_dims, lift, register

NEW = ("new",)
FULL = ("slice", None, None, None)


# -- basic indexing -------------------------------------------------------------------------
def normalize_index(x: Expr, index) -> tuple:
    """A user index as entries ``("int", k)``, ``("slice", start, stop, step)``, ``("new",)``,
    one consuming entry per axis of ``x``."""
    index = index if isinstance(index, tuple) else (index,)
    consuming = sum(1 for i in index if i is not None and i is not Ellipsis)
    if consuming > x.ndim:
        raise ShapeError(f"getitem: too many indices ({consuming}) for an operand of shape "
                         f"{D.fmt_shape(x.dims)}")
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise ShapeError("getitem: an index can only have a single ellipsis ('...')")
    entries, axis = [], 0
    for item in index:
        if item is Ellipsis:
            entries += [FULL] * (x.ndim - consuming)
            axis += x.ndim - consuming
        elif item is None:
            entries.append(NEW)
        elif isinstance(item, slice):
            for bound in (item.start, item.stop, item.step):
                _check_int(bound, x)
            item = slice(*(None if b is None else int(b) for b in (item.start, item.stop, item.step)))
            if item.step is not None and item.step != 1 and not isinstance(x.dims[axis], int):
                raise UnsupportedError(f"getitem: a step other than 1 on the named dimension "
                                       f"{x.dims[axis]!r} is not supported")
            if item.step == 0:
                raise ShapeError("getitem: slice step cannot be zero")
            entries.append(("slice", item.start, item.stop, item.step))
            axis += 1
        else:
            _check_int(item, x)
            k, d = int(item), x.dims[axis]
            if isinstance(d, int) and not -d <= k < d:
                raise ShapeError(f"getitem: index {k} is out of bounds for axis {axis} with size "
                                 f"{d} (operand shape {D.fmt_shape(x.dims)})")
            entries.append(("int", k))
            axis += 1
    return tuple(entries) + (FULL,) * (x.ndim - axis)



def _check_int(value, x: Expr) -> None:
    if value is None or isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return
    raise UnsupportedError(f"getitem: only basic indexing (ints, slices, None, ...) is supported, "
                           f"got {type(value).__name__} {value!r} for an operand of shape "
                           f"{D.fmt_shape(x.dims)}")


def _slice_length(d, start, stop, step):
    if isinstance(d, int) and all(b is None or isinstance(b, int) for b in (start, stop)):
        return len(range(*slice(start, stop, step).indices(d)))

    def position(bound, default):
        if bound is None:
            return default
        return D.dim_add(d, bound) if isinstance(bound, int) and bound < 0 else bound
    length = D.dim_add(position(stop, d), position(start, 0), -1)
    if any(k < 0 for k in D.affine(length)[0].values()):  # e.g. v[-100:2] = 102 - n
        raise UnsupportedError(f"getitem: the slice {start}:{stop} of the named dimension {d!r} "
                               f"would have length {length}; a negative start with a "
                               "non-negative stop is not supported on a named dimension")
    return max(length, 0) if isinstance(length, int) else length  # v[3:1] is empty


def _getitem_infer(x, index):
    shape, axis = [], 0
    for entry in index:
        if entry == NEW:
            shape.append(1)
            continue
        if entry[0] == "slice":
            shape.append(_slice_length(x.dims[axis], *entry[1:]))
        axis += 1
    return tuple(shape), x.dtype


def _index_code(index, ctx) -> str:
    def bound(b):
        return "" if b is None else ctx.dim(b)
    parts = []
    for entry in index:
        if entry == NEW:
            parts.append("None")
        elif entry[0] == "int":
            parts.append(str(entry[1]))
        else:
            _, start, stop, step = entry
            parts.append(f"{bound(start)}:{bound(stop)}" + (f":{step}" if step not in (None, 1) else ""))
    while parts and parts[-1] == ":":
        parts.pop()
    return ", ".join(parts) or "..."


def python_index(index) -> tuple:
    """The entries as a NumPy index (all bounds are ints here)."""
    return tuple(None if e == NEW else e[1] if e[0] == "int" else slice(*e[1:]) for e in index)


register(Op("getitem", _getitem_infer, lambda x, index: x[python_index(index)],
            emit=lambda args, params, ctx: f"{args[0]}[{_index_code(params['index'], ctx)}]",
            vjp=(lambda g, out, x, index: apply("scatter", g, index=index, shape=x.dims),),
            jvp=lambda tangents, out, x, index:
            apply("getitem", tangents[0], index=_behind(tangents[0], x, index)),
            view=True, doc="basic indexing x[index]"))


def _behind(t: Expr, x: Expr, index: tuple) -> tuple:
    """``index`` for ``x`` applied to its tangent ``t``: full slices over the batch axes."""
    return (FULL,) * (t.ndim - x.ndim) + index


def _scatter_emit(args, params, ctx):
    return (f"rt.scatter({args[0]}, {ctx.shape(params['shape'])}, "
            f"np.s_[{_index_code(params['index'], ctx)}], {args[0]}.dtype)")


register(Op("scatter", lambda g, index, shape: (shape, g.dtype),
            lambda g, index, shape: runtime.scatter(g, shape, python_index(index), g.dtype),
            emit=_scatter_emit,
            vjp=(lambda g, out, x, index, shape: apply("getitem", g, index=index),),
            jvp=lambda tangents, out, g, index, shape:
            apply("scatter", tangents[0], index=_behind(tangents[0], g, index),
                  shape=batch_dims(tangents[0], g) + shape),
            doc="zeros of `shape` with g written at `index` (the adjoint of indexing)"))


def getitem(x, index) -> Expr:
    """Basic indexing: ints, slices, ``None`` and ``...`` as in NumPy.

    >>> x[1:] - x[:-1]
    """
    x = as_expr(x)
    entries = normalize_index(x, index)
    if all(e == FULL for e in entries):
        return x
    return apply("getitem", x, index=entries)


def expand_dims(x: Expr, axes: tuple) -> Expr:
    """``x`` with new size-1 axes at the result positions ``axes``.

    >>> sg.expand_dims(v, (0,)).dims   # (1, n)
    """
    ndim = x.ndim + len(axes)
    return apply("getitem", x, index=tuple(NEW if i in axes else FULL for i in range(ndim)))


# -- reshape ----------------------------------------------------------------------------------
def _factors(shape) -> tuple:
    """A shape's size as (int product, sorted symbolic factors): 64*n counts as 64 and n."""
    product, names = 1, []
    for d in shape:
        terms, const = D.affine(d)
        if not terms:
            product *= const
        elif len(terms) == 1 and const == 0:
            (name, k), = terms.items()
            product *= k
            names.append(name)
        else:
            names.append(d)
    return product, sorted(names)


def _resolve_reshape(x: Expr, shape) -> tuple:
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    unknown = [i for i, d in enumerate(shape) if isinstance(d, int) and d == -1]
    if len(unknown) > 1:
        raise ShapeError(f"reshape: only one -1 is allowed in the new shape {shape}")
    known = D.as_shape(d for d in shape if not (isinstance(d, int) and d == -1))
    (xp, xn), (tp, tn) = _factors(x.dims), _factors(known)
    if unknown:
        rest = list(xn)
        for n in tn:
            if n not in rest:
                break
            rest.remove(n)
        else:
            if tp and xp % tp == 0 and len(rest) <= 1:
                k = xp // tp
                terms, const = D.affine(rest[0]) if rest else ({}, 1)
                result = list(shape)
                result[unknown[0]] = D.from_affine({n: c * k for n, c in terms.items()}, const * k)
                return D.as_shape(result)
    elif (xp, xn) == (tp, tn):
        return known
    raise ShapeError(f"reshape: cannot reshape an operand of shape {D.fmt_shape(x.dims)} "
                     f"into {shape}")


register(Op("reshape", lambda x, shape: (shape, x.dtype), lambda x, shape: np.reshape(x, shape),
            emit=lambda args, params, ctx: f"{args[0]}.reshape({ctx.shape(params['shape'])})",
            vjp=(lambda g, out, x, shape: reshape(g, x.dims),),
            jvp=lambda tangents, out, x, shape:
            apply("reshape", tangents[0], shape=batch_dims(tangents[0], x) + shape), view=True,
            doc="x with a new shape of the same size"))


def reshape(x, shape) -> Expr:
    """``x`` with a new shape of equal size; one entry may be -1; names are allowed.

    >>> sg.reshape(X, (-1,))      # (n, 64) -> (64*n,)
    """
    x = as_expr(x)
    shape = _resolve_reshape(x, shape)
    return x if shape == x.dims else apply("reshape", x, shape=shape)


# -- broadcasting -----------------------------------------------------------------------------
def _broadcast_infer(x, shape):
    result = D.broadcast_shapes("broadcast_to", [x.dims, shape], ["x", "shape"])
    if result != shape:
        raise ShapeError(f"broadcast_to: cannot broadcast an operand of shape "
                         f"{D.fmt_shape(x.dims)} to {D.fmt_shape(shape)}")
    return shape, x.dtype


register(Op("broadcast_to", _broadcast_infer, np.broadcast_to,
            emit=lambda args, params, ctx: f"np.broadcast_to({args[0]}, {ctx.shape(params['shape'])})",
            vjp=(lambda g, out, x, shape: sum_to(g, x.dims),),
            jvp=lambda tangents, out, x, shape: broadcast_to(
                lift(tangents[0], x, len(shape)), batch_dims(tangents[0], x) + shape),
            view=True,
            doc="x broadcast to a larger shape (NumPy rules)"))


def broadcast_to(x, shape) -> Expr:
    """``x`` broadcast to ``shape`` by NumPy's rules.

    >>> sg.broadcast_to(b, ("n", 10))
    """
    x = as_expr(x)
    shape = D.as_shape(shape)
    return x if shape == x.dims else apply("broadcast_to", x, shape=shape)


def sum_to(g: Expr, shape: tuple) -> Expr:
    """Undo broadcasting: sum ``g`` over the axes where ``shape`` was broadcast.

    >>> sg.sum_to(G, (1, 10))
    """
    lead = g.ndim - len(shape)
    stretched = tuple(lead + i for i, d in enumerate(shape) if d == 1 and g.dims[lead + i] != 1)
    if lead:
        g = apply("sum", g, axis=tuple(range(lead)), keepdims=False)
    if stretched:
        g = apply("sum", g, axis=tuple(a - lead for a in stretched), keepdims=True)
    return g


# -- concatenate and stack --------------------------------------------------------------------
def _concat_infer(*xs, axis):
    first = xs[0]
    total = 0
    for x in xs:
        if x.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(x.dims, first.dims))
                                       if i != axis):
            shapes = ", ".join(D.fmt_shape(e.dims) for e in xs)
            raise ShapeError(f"concatenate: shapes {shapes} differ outside axis {axis}")
        total = D.dim_add(total, x.dims[axis])
    shape = first.dims[:axis] + (total,) + first.dims[axis + 1:]
    from .elementwise import result_dtype
    return shape, result_dtype(xs)


class _ConcatVJP:
    """The adjoint of the i-th piece is the matching slice of ``g`` along ``axis``."""

    def __getitem__(self, position: int):
        def rule(g, out, *xs, axis):
            start = 0
            for x in xs[:position]:
                start = D.dim_add(start, x.dims[axis])
            stop = D.dim_add(start, xs[position].dims[axis])
            index = (FULL,) * axis + (("slice", start, stop, None),) + (FULL,) * (g.ndim - axis - 1)
            return apply("getitem", g, index=index)
        return rule


def _concat_jvp(tangents, out, *xs, axis):
    """The tangents joined behind their batch axes; a zero tangent is a block of zeros."""
    known, x = next((t, x) for t, x in zip(tangents, xs) if t is not None)
    batch = batch_dims(known, x)
    parts = [fill(batch + x.dims, 0.0, known.dtype, known.g) if t is None else t
             for t, x in zip(tangents, xs)]
    return apply("concatenate", *parts, axis=axis + len(batch))


register(Op("concatenate", _concat_infer, lambda *xs, axis: np.concatenate(xs, axis),
            emit=lambda args, params, ctx: f"np.concatenate(({', '.join(args)},), axis={params['axis']})",
            vjp=_ConcatVJP(), jvp=_concat_jvp, doc="joins arrays along an existing axis"))


def concatenate(xs, axis: int = 0) -> Expr:
    """Join expressions along an existing axis.

    >>> sg.concatenate([x, y], axis=0)
    """
    xs = [as_expr(x) for x in xs]
    if not xs:
        raise ShapeError("concatenate: needs at least one array")
    if xs[0].ndim == 0:
        raise ShapeError("concatenate: zero-dimensional operands cannot be concatenated")
    if not -xs[0].ndim <= axis < xs[0].ndim:
        raise ShapeError(f"concatenate: axis {axis} is out of range for {xs[0].ndim} dimensions")
    return xs[0] if len(xs) == 1 else apply("concatenate", *xs, axis=axis % xs[0].ndim)


def stack(xs, axis: int = 0) -> Expr:
    """Join expressions of equal shape along a new axis.

    >>> sg.stack([x, y])          # shape (2,) + x.shape
    """
    xs = [as_expr(x) for x in xs]
    if not xs:
        raise ShapeError("stack: needs at least one array")
    ndim = xs[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ShapeError(f"stack: axis {axis} is out of range for {ndim} dimensions")
    axis %= ndim
    for x in xs:
        if x.dims != xs[0].dims:
            raise ShapeError("stack: all operands need the same shape, got "
                             + ", ".join(D.fmt_shape(e.dims) for e in xs))
    return concatenate([expand_dims(x, (axis,)) for x in xs], axis)


# -- leaves made from shapes ------------------------------------------------------------------
register(Op("fill", lambda shape, value, dtype: (shape, np.dtype(dtype)), runtime.fill,
            emit=lambda args, params, ctx: (f"rt.fill({ctx.shape(params['shape'])}, "
                                            f"{params['value']!r}, np.{params['dtype']})"),
            doc="an array of `shape` filled with `value`"))


def fill(shape, value: float, dtype="float64", graph=None) -> Expr:
    """An array of ``shape`` (names allowed) filled with ``value``.

    >>> sg.fill(("n",), 0.0)
    """
    from ..expr import constant
    from ..graph import default_graph
    g = graph or default_graph()
    shape = D.as_shape(shape)
    if D.size_of(shape) is not None and D.size_of(shape) <= 16:
        return constant(np.full(shape, value, dtype), graph=g)
    params = (("dtype", np.dtype(dtype).name), ("shape", shape), ("value", float(value)))
    return Expr(g, g.add("fill", (), params, shape, np.dtype(dtype)))


def zeros_like(x: Expr) -> Expr:
    """Zeros with the shape and dtype of ``x``.

    >>> sg.zeros_like(W)
    """
    return fill(x.dims, 0.0, x.dtype, x.g)


register(Op("shape_of", lambda x, axis: ((), np.dtype(np.int64)),
            lambda x, axis: np.int64(x.shape[axis]),
            emit=lambda args, params, ctx: f"np.int64({args[0]}.shape[{params['axis']}])",
            differentiable=False, vjp=(lambda g, out, x, axis: None,),
            doc="the run-time size of one axis"))
