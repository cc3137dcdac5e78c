"""Shape ops: indexing, reshape, broadcasting, concatenation, and the leaves ``fill`` and
``shape_of``.  They move data without arithmetic, so their derivative rules are the
matching moves backwards (a slice's adjoint writes ``g`` into zeros, and so on), their
batching rules put the batch axes in front, and a band of tangents passes a unit-step
slice by shifting its offsets."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from .. import runtime
from ..dtypes import result_dtype
from ..errors import ShapeError, UnsupportedError
from ..expr import Expr, apply, as_expr, constant, expr_method, make
from ..graph import default_graph
from ..lazy import sympy
from ..op import REGISTRY, Op, register
from .banded import LOST, shifted, unit_starts

NEW = ("new",)
FULL = ("slice", None, None, None)


def lift(x: Expr, nb: int, rank: int) -> Expr:
    """``x`` with ``nb`` leading batch axes, given size-1 axes behind them so that the rest
    has ``rank`` axes and broadcasts against an example as an unbatched operand would.

    >>> lift(T, 1, 3).dims      # T of shape (b, 4) -> (b, 1, 1, 4)
    """
    missing = rank - (x.ndim - nb)
    if missing <= 0:
        return x
    return apply("getitem", x, index=(FULL,) * nb + (NEW,) * missing + (FULL,) * (x.ndim - nb))


def elementwise_batch(name: str):
    """The batching rule of an elementwise op: batched operands are lifted behind their batch
    axes to the example's rank, unbatched ones broadcast from the right as they are."""
    def rule(nb, batched, *args, **params):
        rank = max([a.ndim - nb if b else a.ndim for a, b in zip(args, batched)])
        return apply(name, *[lift(a, nb, rank) if b else a for a, b in zip(args, batched)],
                     **params)
    return rule


# -- basic indexing -------------------------------------------------------------------------
def normalize_index(x: Expr, index) -> tuple:
    """A user index as entries ``("int", k)``, ``("slice", start, stop, step)``, ``("new",)``,
    one consuming entry per axis of ``x``."""
    index = index if isinstance(index, tuple) else (index,)
    consuming = sum(1 for i in index if i is not None and i is not Ellipsis)
    if consuming > x.ndim:
        raise ShapeError(f"getitem: too many indices ({consuming}) for an operand of shape "
                         f"{D.fmt_shape(x.dims)}")
    return walk_index(x, index, consuming, _int_entry)


def _int_entry(x: Expr, item, axis: int, position: int, placed: int) -> list:
    _check_int(item, x)
    return [("int", int(item))]


def walk_index(x: Expr, items: tuple, consuming: int, other) -> tuple:
    """The entries of the index ``items`` that consume ``consuming`` axes of ``x``: ``...``,
    None and slices here, any other item by ``other(x, item, axis, position, placed) ->
    entries`` (one consuming entry per axis it takes; ``axis``: the axes taken before it,
    ``position``: its place among the items, ``placed``: the entries before it)."""
    if sum(1 for i in items if i is Ellipsis) > 1:
        raise ShapeError("getitem: an index can only have a single ellipsis ('...')")
    entries, axis = [], 0
    for position, item in enumerate(items):
        if item is Ellipsis:
            entries += [FULL] * (x.ndim - consuming)
            axis += x.ndim - consuming
        elif item is None:
            entries.append(NEW)
        elif isinstance(item, slice):
            entries.append(_slice_entry(x, item, axis))
            axis += 1
        else:
            taken = other(x, item, axis, position, len(entries))
            entries += taken
            axis += len(taken)
    return tuple(entries) + (FULL,) * (x.ndim - axis)


def _slice_entry(x: Expr, item: slice, axis: int) -> tuple:
    for bound in (item.start, item.stop, item.step):
        _check_int(bound, x)
    item = slice(*(None if b is None else int(b) for b in (item.start, item.stop, item.step)))
    if item.step is not None and item.step != 1 and not isinstance(x.dims[axis], int):
        raise UnsupportedError(f"getitem: a step other than 1 on the named dimension "
                               f"{x.dims[axis]!r} is not supported")
    if item.step == 0:
        raise ShapeError("getitem: slice step cannot be zero")
    return ("slice", item.start, item.stop, item.step)


def _check_int(value, x: Expr) -> None:
    if value is None or isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return
    raise UnsupportedError(f"getitem: an index entry must be an int, a slice, None, ..., an "
                           f"integer or boolean array or an integer symbol; got "
                           f"{type(value).__name__} {value!r} for an operand of shape "
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


def indexed_shape(op: str, dims: tuple, index: tuple) -> tuple:
    """The shape of ``x[index]`` for ``x`` of shape ``dims``; a ShapeError names ``op``."""
    if sum(1 for e in index if e != NEW) != len(dims):
        raise ShapeError(f"{op}: the index {index_text(index)} does not have one entry per axis "
                         f"of shape {D.fmt_shape(dims)}")
    shape, axis = [], 0
    for entry in index:
        if entry == NEW:
            shape.append(1)
            continue
        d = dims[axis]
        if entry[0] == "slice":
            shape.append(_slice_length(d, *entry[1:]))
        elif isinstance(d, int) and not -d <= entry[1] < d:
            raise ShapeError(f"{op}: index {entry[1]} is out of bounds for axis {axis} with size "
                             f"{d} (operand shape {D.fmt_shape(dims)})")
        axis += 1
    return tuple(shape)


def index_text(index, dim=str) -> str:
    """The index as Python source, sizes printed by ``dim`` (``1:n-1, None``)."""
    def bound(b):
        return "" if b is None else dim(b)
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


def _behind(nb: int, index: tuple) -> tuple:
    """``index`` applied behind ``nb`` batch axes."""
    return (FULL,) * nb + index


def _getitem_band(tangents, out, x, index):
    """``v = x[a:]``: v[i] = x[i + a], so every offset grows by a."""
    starts = unit_starts(index, x.dims)
    if starts is None:
        return LOST
    return shifted(tangents[0], starts, 1, lambda c: c if c.ndim == 0 else
                   apply("getitem", broadcast_to(c, x.dims), index=index))


def _getitem_matrix(tr, attrs, x):
    """Rows, columns and entries of a matrix expression."""
    index = dict(attrs["params"])["index"]
    keys = [e for e in index if e != NEW]
    if any(e[0] == "int" or e[1:] != (None, None, None) for e in keys):
        keys += [FULL] * (2 - len(keys))
        try:
            x = x[tuple(e[1] if e[0] == "int" else slice(*e[1:]) for e in keys)]
        except (IndexError, TypeError, ValueError) as err:
            raise UnsupportedError(f"to_sympy(form='matrix'): indexing {index} has no "
                                   f"matrix expression ({err})") from None
    return tr.orient(x, attrs["shape"])


register(Op("getitem", lambda x, index: (indexed_shape("getitem", x.dims, index), x.dtype),
            lambda x, index: x[python_index(index)],
            emit=lambda args, params, ctx: f"{args[0]}[{index_text(params['index'], ctx.dim)}]",
            vjp=(lambda g, out, x, index: apply("scatter", g, index=index, shape=x.dims),),
            jvp=lambda tangents, out, x, index: apply("getitem", tangents[0], index=index),
            batch=lambda nb, batched, x, index: apply("getitem", x, index=_behind(nb, index)),
            band=_getitem_band, sympy_matrix=_getitem_matrix, moves=True, view=True,
            show=lambda index: f"[{index_text(index)}]",
            samples=((((4, 5),), dict(index=(("int", 1), FULL))),
                     (((4, 5),), dict(index=(("int", -1), ("slice", 1, 3, None)))),
                     (((4, 5),), dict(index=(("slice", None, None, -2), NEW, ("int", 2))))),
            sparsity="entries", curvature=(),
            doc="basic indexing x[index]"))


def _scatter_infer(g, index, shape):
    if indexed_shape("scatter", shape, index) != g.dims:
        raise ShapeError(f"scatter: values of shape {D.fmt_shape(g.dims)} do not fit "
                         f"[{index_text(index)}] of shape {D.fmt_shape(shape)}")
    return shape, g.dtype


def _scatter_band(tangents, out, g, index, shape):
    """``v = zeros; v[a:] = g``: v[j] = g[j - a], offsets shrink by a, coefficients pad with 0."""
    starts = unit_starts(index, shape)
    if starts is None:
        return LOST
    return shifted(tangents[0], starts, -1, lambda c: apply(
        "scatter", broadcast_to(c, g.dims), index=index, shape=shape))


def _scatter_matrix(tr, attrs, x):
    index = dict(attrs["params"])["index"]
    if any(e != NEW and e[1:] != (None, None, None) for e in index):
        raise UnsupportedError("to_sympy(form='matrix'): the adjoint of indexing has no "
                               "matrix expression; use form='elements' for small static shapes")
    return tr.orient(x, attrs["shape"])


register(Op("scatter", _scatter_infer,
            lambda g, index, shape: runtime.scatter(g, shape, python_index(index), g.dtype),
            emit=lambda args, params, ctx: (
                f"rt.scatter({args[0]}, {ctx.shape(params['shape'])}, "
                f"np.s_[{index_text(params['index'], ctx.dim)}], {ctx.dtype})"),
            vjp=(lambda g, out, x, index, shape: apply("getitem", g, index=index),),
            jvp=lambda tangents, out, g, index, shape:
            apply("scatter", tangents[0], index=index, shape=shape),
            batch=lambda nb, batched, g, index, shape:
            apply("scatter", g, index=_behind(nb, index), shape=g.dims[:nb] + shape),
            band=_scatter_band, sympy_matrix=_scatter_matrix, moves=True,
            show=lambda index, shape: f"[{index_text(index)}]",
            samples=((((3, 3),), dict(index=(("slice", 1, None, None), FULL), shape=(4, 3))),
                     (((2, 1),), dict(index=(("int", -1), ("slice", None, None, 2), NEW),
                                      shape=(3, 4)))),
            sparsity="entries", curvature=(),
            doc="zeros of `shape` with g written at `index` (the adjoint of indexing)"))


def expand_dims(x, axis) -> Expr:
    """``x`` with new size-1 axes at the positions ``axis`` (an int or a tuple; negative
    positions count from the end of the result), as ``np.expand_dims``.

    >>> sg.expand_dims(v, -1).dims   # (n, 1)
    """
    x = as_expr(x)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    ndim = x.ndim + len(axes)
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool) or not -ndim <= a < ndim:
            raise ShapeError(f"expand_dims: axis {a!r} is out of range for a result of {ndim} "
                             f"dimensions (operand shape {D.fmt_shape(x.dims)})")
    positions = {int(a) % ndim for a in axes}
    if len(positions) != len(axes):
        raise ShapeError(f"expand_dims: repeated axis in {axis!r}")
    return apply("getitem", x, index=tuple(NEW if i in positions else FULL for i in range(ndim)))


# -- reshape ----------------------------------------------------------------------------------
def _reshape_infer(x, shape):
    if D.size_factors(x.dims) != D.size_factors(shape):
        raise ShapeError(f"reshape: cannot reshape an operand of shape {D.fmt_shape(x.dims)} "
                         f"into {D.fmt_shape(shape)} (a different size)")
    return shape, x.dtype


def _reshape_matrix(tr, attrs, x):
    (dims,), out = tr.arg_dims(attrs), attrs["shape"]
    if [d for d in dims if d != 1] != [d for d in out if d != 1]:
        raise UnsupportedError(f"to_sympy(form='matrix'): reshape {D.fmt_shape(dims)} -> "
                               f"{D.fmt_shape(out)} has no matrix expression")
    return tr.orient(x, out)


register(Op("reshape", _reshape_infer, lambda x, shape: np.reshape(x, shape),
            emit=lambda args, params, ctx: f"{args[0]}.reshape({ctx.shape(params['shape'])})",
            vjp=(lambda g, out, x, shape: reshape(g, x.dims),),
            jvp=lambda tangents, out, x, shape: apply("reshape", tangents[0], shape=shape),
            batch=lambda nb, batched, x, shape: apply("reshape", x, shape=x.dims[:nb] + shape),
            sympy_matrix=_reshape_matrix, moves=True, view=True,
            samples=((((2, 3, 4),), dict(shape=(6, 4))), (((6,),), dict(shape=(2, 1, 3)))),
            sparsity="entries", curvature=(),
            doc="x with a new shape of the same size"))


def _resolve_reshape(x: Expr, shape) -> tuple:
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    unknown = [i for i, d in enumerate(shape) if isinstance(d, (int, np.integer)) and d == -1]
    if len(unknown) > 1:
        raise ShapeError(f"reshape: only one -1 is allowed in the new shape {shape}")
    known = D.as_shape(d for d in shape if not (isinstance(d, (int, np.integer)) and d == -1))
    if not unknown:
        return known
    rest = D.size_quotient(x.dims, known)
    if rest is None:
        raise ShapeError(f"reshape: cannot reshape an operand of shape {D.fmt_shape(x.dims)} "
                         f"into {shape}")
    return known[:unknown[0]] + (rest,) + known[unknown[0]:]


@expr_method("reshape")
def _reshape_method(x, *shape) -> Expr:
    """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``, as NumPy."""
    return reshape(x, shape[0] if len(shape) == 1 else shape)


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


def _broadcast_batch(nb, batched, x, shape):
    return broadcast_to(lift(x, nb, len(shape)), x.dims[:nb] + shape)


register(Op("broadcast_to", _broadcast_infer, np.broadcast_to,
            emit=lambda args, params, ctx: f"np.broadcast_to({args[0]}, {ctx.shape(params['shape'])})",
            vjp=(lambda g, out, x, shape: sum_to(g, x.dims),),
            jvp=lambda tangents, out, x, shape: broadcast_to(tangents[0], shape),
            batch=_broadcast_batch,
            sympy_matrix=lambda tr, attrs, x: tr.broadcast(attrs, [x], ones=True)[0],
            view=True, readonly=True,
            samples=((((3,),), dict(shape=(2, 3))), (((2, 1, 1),), dict(shape=(4, 2, 3, 2)))),
            sparsity="entries", curvature=(),
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
    if not 0 <= axis < first.ndim:
        raise ShapeError(f"concatenate: axis {axis} is out of range for {first.ndim} dimensions")
    total = 0
    for x in xs:
        if x.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(x.dims, first.dims))
                                       if i != axis):
            shapes = ", ".join(D.fmt_shape(e.dims) for e in xs)
            raise ShapeError(f"concatenate: shapes {shapes} differ outside axis {axis}")
        total = D.dim_add(total, x.dims[axis])
    return first.dims[:axis] + (total,) + first.dims[axis + 1:], result_dtype(xs)


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


def _concat_batch(nb, batched, *xs, axis):
    """Unbatched pieces are broadcast over the batch, then joined behind the batch axes."""
    batch = next(x for x, b in zip(xs, batched) if b).dims[:nb]
    xs = [x if b else broadcast_to(x, batch + x.dims) for x, b in zip(xs, batched)]
    return apply("concatenate", *xs, axis=axis + nb)


register(Op("concatenate", _concat_infer, lambda *xs, axis: np.concatenate(xs, axis),
            emit=lambda args, params, ctx: f"np.concatenate(({', '.join(args)},), axis={params['axis']})",
            vjp=_ConcatVJP(),
            jvp=lambda tangents, out, *xs, axis: apply(
                "concatenate", *[zeros_like(x) if t is None else t for t, x in zip(tangents, xs)],
                axis=axis),
            batch=_concat_batch, moves=True,
            samples=((((2, 3), (1, 3)), dict(axis=0)), (((2, 1), (2, 3), (2, 2)), dict(axis=1))),
            sparsity="entries", curvature=(),
            doc="joins arrays along an existing axis"))


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
    for x in xs:
        if x.dims != xs[0].dims:
            raise ShapeError("stack: all operands need the same shape, got "
                             + ", ".join(D.fmt_shape(e.dims) for e in xs))
    return concatenate([expand_dims(x, axis % ndim) for x in xs], axis % ndim)


# -- leaves made from shapes ------------------------------------------------------------------
def _fill_matrix(tr, attrs):
    value = tr.number(dict(attrs["params"])["value"])
    shape = tr.rep(attrs["shape"])
    return sympy.ZeroMatrix(*shape) if value == 0 else value * sympy.OneMatrix(*shape)


register(Op("fill", lambda shape, value, dtype: (shape, np.dtype(dtype)), runtime.fill,
            emit=lambda args, params, ctx: (f"rt.fill({ctx.shape(params['shape'])}, "
                                            f"{params['value']!r}, np.{params['dtype']})"),
            sympy_matrix=_fill_matrix, doc="an array of `shape` filled with `value`"))


def fill(shape, value: float, dtype="float64", graph=None) -> Expr:
    """An array of ``shape`` (names allowed) filled with ``value``.

    >>> sg.fill(("n",), 0.0)
    """
    g = graph or default_graph()
    shape = D.as_shape(shape)
    if D.size_of(shape) is not None and D.size_of(shape) <= 16:
        return constant(np.full(shape, value, dtype), dtype, g)
    params = (("dtype", np.dtype(dtype).name), ("shape", shape), ("value", float(value)))
    return make(g, REGISTRY["fill"], (), params)


def zeros_like(x: Expr) -> Expr:
    """Zeros with the shape and dtype of ``x``.

    >>> sg.zeros_like(W)
    """
    return fill(x.dims, 0.0, x.dtype, x.g)


def _shape_of_infer(x, axis):
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"shape_of: axis {axis} is out of range for an operand of shape "
                         f"{D.fmt_shape(x.dims)}")
    return (), np.dtype(np.int64)


register(Op("shape_of", _shape_of_infer, lambda x, axis: np.int64(x.shape[axis]),
            emit=lambda args, params, ctx: f"np.int64({args[0]}.shape[{params['axis']}])",
            batch=lambda nb, batched, x, axis: apply("shape_of", x, axis=axis + nb),
            sympy_matrix=lambda tr, attrs, x: tr.dim(tr.arg_dims(attrs)[0][dict(attrs["params"])["axis"]]),
            differentiable=False, weak_type=True, doc="the run-time size of one axis"))
