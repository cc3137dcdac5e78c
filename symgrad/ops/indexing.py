"""Integer-array indexing, gathers and functional updates (``x.at[idx].set(v)``).

Three primitives move entries by integer index arrays (NumPy constants or integer symbols):

- ``gather(x, *idx; axes, at, nb)``: the entries of ``x`` at the index arrays ``idx`` on its
  axes ``axes`` (the arrays broadcast together to a block I); the result is ``x``'s other axes
  with I inserted at position ``at``.  The first ``nb`` axes of ``x`` and of the block are
  batch axes matched one to one (``take_along_axis``, and what batching adds).
- ``scatter_add(g, *idx; axes, at, nb, shape)``: zeros of ``shape`` with ``g`` added where
  ``gather`` reads, duplicates summed: the adjoint of ``gather`` (and ``gather`` its adjoint).
- ``scatter_set(x, v, *idx; axes, at, nb)``: ``x`` with ``v`` written where ``gather`` reads.

``x[idx]`` with NumPy's advanced-indexing rules (integer arrays, lists, integer symbols,
constant boolean masks, mixed with ints and slices), ``take``, ``take_along_axis``,
``sort`` and the ``.at[]`` updates (JAX's spelling) are built from them.
"""
from __future__ import annotations

import numpy as np

from .. import dims as D
from .. import runtime
from ..errors import ShapeError, UnsupportedError
from ..expr import Expr, apply, as_expr, constant, expr_method
from ..op import Op, register
from .elementwise import where
from .linalg import transpose
from .reduce import normalize_axis
from .shape import FULL, broadcast_to, fill, lift, normalize_index, reshape, walk_index


# -- the primitives ---------------------------------------------------------------------------
def _picked(op: str, xdims: tuple, blocks: list, axes: tuple, at: int, nb: int) -> tuple:
    """``batch + rest[:at] + I + rest[at:]`` for index arrays of shapes ``blocks``."""
    block = D.broadcast_shapes(op, blocks, [f"index {k}" for k in range(len(blocks))])
    example = xdims[nb:]
    if not blocks or len(axes) != len(blocks) or len(set(axes)) != len(axes) \
            or any(not 0 <= a < len(example) for a in axes):
        raise ShapeError(f"{op}: axes {axes} do not fit {len(blocks)} index arrays into an "
                         f"operand of shape {D.fmt_shape(xdims)}")
    if block[:nb] != xdims[:nb]:
        raise ShapeError(f"{op}: the index arrays' batch axes {D.fmt_shape(block[:nb])} differ "
                         f"from the operand's {D.fmt_shape(xdims[:nb])}")
    rest = tuple(d for i, d in enumerate(example) if i not in axes)
    if not 0 <= at <= len(rest):
        raise ShapeError(f"{op}: position {at} is outside the {len(rest)} remaining axes")
    return xdims[:nb] + rest[:at] + block[nb:] + rest[at:]


def _gathered(op: str, xdims: tuple, idx: tuple, axes: tuple, at: int, nb: int) -> tuple:
    """:func:`_picked` for index expressions, checking their dtype and constant bounds."""
    for i, a in zip(idx, axes):
        if i.dtype.kind not in "iu":
            raise ShapeError(f"{op}: index arrays must be integers, got dtype {i.dtype} "
                             f"(shape {D.fmt_shape(i.dims)})")
        size, values = xdims[nb:][a] if a < len(xdims) - nb else None, i.attrs.get("value")
        if values is not None and values.size and isinstance(size, int) and (
                values.max() >= size or values.min() < -size):
            raise ShapeError(f"{op}: an index is out of bounds for axis {a} with size {size} "
                             f"(operand shape {D.fmt_shape(xdims)})")
    return _picked(op, xdims, [i.dims for i in idx], axes, at, nb)


def _with_batch(n: int, batched: tuple, x: Expr, idx: tuple, batch: tuple | None = None) -> tuple:
    """The operand and index arrays for ``n`` more batch axes (``batch``: their sizes, by
    default those of a batched one): an unbatched operand broadcast over them, batched index
    arrays lifted to the block's rank, and the first index array broadcast to the whole
    batched block when none is batched."""
    flags = batched[-len(idx):]
    if batch is None:
        batch = next(a for a, b in zip((x, *idx), batched[-len(idx) - 1:]) if b).dims[:n]
    block = D.broadcast_shapes("gather", [i.dims[n:] if b else i.dims for i, b in zip(idx, flags)],
                               [f"index {k}" for k in range(len(idx))])
    if not batched[-len(idx) - 1]:
        x = broadcast_to(x, batch + x.dims)
    if any(flags):
        idx = tuple(lift(i, n, len(block)) if b else i for i, b in zip(idx, flags))
    else:
        idx = (broadcast_to(idx[0], batch + block),) + tuple(idx[1:])
    return x, idx


def _gather_batch(n, batched, x, *idx, axes, at, nb):
    x, idx = _with_batch(n, batched, x, idx)
    return apply("gather", x, *idx, axes=axes, at=at, nb=nb + n)


def _scatter_add_batch(n, batched, g, *idx, axes, at, nb, shape):
    g, idx = _with_batch(n, batched, g, idx)
    return apply("scatter_add", g, *idx, axes=axes, at=at, nb=nb + n, shape=g.dims[:n] + shape)


def _index_sample(shape, high):
    """A sample argument: distinct integer indices in ``[0, high)`` of ``shape``."""
    return lambda rng: rng.permutation(high)[:int(np.prod(shape))].reshape(shape)


register(Op("gather", lambda x, *idx, axes, at, nb:
            (_gathered("gather", x.dims, idx, axes, at, nb), x.dtype), runtime.gather,
            vjp=(lambda g, out, x, *idx, axes, at, nb:
                 apply("scatter_add", g, *idx, axes=axes, at=at, nb=nb, shape=x.dims),),
            jvp=lambda tangents, out, x, *idx, axes, at, nb:
            apply("gather", tangents[0], *idx, axes=axes, at=at, nb=nb),
            batch=_gather_batch,
            samples=((((3, 4), lambda rng: rng.integers(0, 3, size=(2, 5))), dict(axes=(0,), at=0, nb=0)),
                     (((2, 3, 4), _index_sample((2,), 3)), dict(axes=(1,), at=1, nb=0)),
                     (((3, 4, 2), _index_sample((3,), 3), _index_sample((1,), 2)),
                      dict(axes=(0, 2), at=0, nb=0)),
                     (((2, 3), lambda rng: rng.integers(-3, 3, size=(2, 4))), dict(axes=(0,), at=0, nb=1))),
            sparsity="entries", curvature=(),
            doc="x at integer index arrays (NumPy's advanced indexing, take_along_axis)"))

def _scatter_add_sparsity(position, shapes, out_shape, params, values):
    """Entry e of g is added into the output entry that gather reads it back from (None:
    the indices are not constants)."""
    if any(v is None for v in values[1:]):
        return None
    numbers = np.arange(int(np.prod(out_shape, dtype=np.int64))).reshape(out_shape)
    into = runtime.gather(numbers, *values[1:], axes=params["axes"], at=params["at"],
                          nb=params["nb"]).ravel()
    return into, np.arange(into.size)


register(Op("scatter_add", lambda g, *idx, axes, at, nb, shape:
            (_scatter_checked(g, idx, axes, at, nb, shape), g.dtype), runtime.scatter_add,
            vjp=(lambda g, out, v, *idx, axes, at, nb, shape:
                 apply("gather", g, *idx, axes=axes, at=at, nb=nb),),
            jvp=lambda tangents, out, g, *idx, axes, at, nb, shape:
            apply("scatter_add", tangents[0], *idx, axes=axes, at=at, nb=nb, shape=shape),
            emit=lambda args, params, ctx: (
                f"rt.scatter_add({', '.join(args)}, axes={params['axes']}, at={params['at']}, "
                f"nb={params['nb']}, shape={ctx.shape(params['shape'])})"),
            batch=_scatter_add_batch, moves=True, sparsity=_scatter_add_sparsity, curvature=(),
            samples=((((2, 5, 4), lambda rng: rng.integers(0, 3, size=5)),
                      dict(axes=(1,), at=1, nb=0, shape=(2, 3, 4))),),
            doc="zeros of `shape` with g added at integer index arrays (the adjoint of gather)"))


def _scatter_checked(g, idx, axes, at, nb, shape):
    """``shape``, once ``g`` has the shape a gather from it would have (or, for ``at == 0``,
    broadcasts to it)."""
    picked = _gathered("scatter_add", shape, idx, axes, at, nb)
    fits = g.dims == picked or at == 0 and D.broadcast_shapes(
        "scatter_add", [g.dims, picked], ["values", "places"]) == picked
    if not fits:
        raise ShapeError(f"scatter_add: values of shape {D.fmt_shape(g.dims)} do not fit the "
                         f"{D.fmt_shape(picked)} places an index of shape "
                         f"{D.fmt_shape(idx[0].dims)} picks in {D.fmt_shape(shape)}")
    return shape


def _set_infer(x, v, *idx, axes, at, nb):
    picked = _gathered("scatter_set", x.dims, idx, axes, at, nb)
    if D.broadcast_shapes("scatter_set", [v.dims, picked], ["values", "places"]) != picked:
        raise ShapeError(f"scatter_set: values of shape {D.fmt_shape(v.dims)} do not broadcast "
                         f"to the {D.fmt_shape(picked)} places they are written to")
    return x.dims, x.dtype


def _set_vjp_x(g, out, x, v, *idx, axes, at, nb):
    """Where a value was written, x has no influence."""
    hit = apply("scatter_set", fill(x.dims, False, bool, x.g), constant(True, graph=x.g), *idx,
                axes=axes, at=at, nb=nb)
    return where(hit, 0.0, g)


def _set_jvp(tangents, out, x, v, *idx, axes, at, nb):
    tx, tv = tangents[:2]
    tx = broadcast_to(constant(0.0, out.dtype, out.g), x.dims) if tx is None else tx
    return apply("scatter_set", tx, 0.0 if tv is None else tv, *idx, axes=axes, at=at, nb=nb)


def _set_batch(n, batched, x, v, *idx, axes, at, nb):
    blocks = [i.dims[n:] if b else i.dims for i, b in zip(idx, batched[2:])]
    picked = _picked("scatter_set", x.dims[n:] if batched[0] else x.dims, blocks, axes, at, nb)
    x, idx = _with_batch(n, (batched[0],) + batched[2:], x, idx,
                         batch=v.dims[:n] if batched[1] else None)
    v = lift(v, n, len(picked)) if batched[1] else v
    return apply("scatter_set", x, v, *idx, axes=axes, at=at, nb=nb + n)


register(Op("scatter_set", _set_infer, runtime.scatter_set,
            vjp=(_set_vjp_x, lambda g, out, x, v, *idx, axes, at, nb:
                 apply("gather", g, *idx, axes=axes, at=at, nb=nb)),
            jvp=_set_jvp, batch=_set_batch,
            samples=((((4, 3), (2, 3), _index_sample((2,), 4)), dict(axes=(0,), at=0, nb=0)),
                     (((2, 4), (2, 1), lambda rng: rng.integers(0, 4, size=(2, 1))),
                      dict(axes=(0,), at=0, nb=1))),
            sparsity="entries", curvature=(),
            doc="x with v written at integer index arrays (distinct places: for duplicates the "
                "last value is written, and each gets the gradient)"))


def _argsort_infer(x, axis):
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"argsort: axis {axis} is out of range for an operand of shape "
                         f"{D.fmt_shape(x.dims)}")
    return x.dims, np.dtype(np.int64)


register(Op("argsort", _argsort_infer, lambda x, axis: np.argsort(x, axis, kind="stable"),
            batch=lambda n, batched, x, axis: apply("argsort", x, axis=axis + n),
            differentiable=False, samples=((((3, 4),), dict(axis=1)), (((5,),), dict(axis=0))),
            doc="the indices that sort x along an axis (stable; no gradient)"))


# -- NumPy's indexing ---------------------------------------------------------------------------
def _is_mask(item) -> bool:
    if isinstance(item, Expr):
        return item.dtype.kind == "b"
    return isinstance(item, (np.ndarray, list, tuple)) and np.asarray(item).dtype == bool


def _is_advanced(item) -> bool:
    """An integer or boolean array, list or symbol (an int alone is basic)."""
    if isinstance(item, Expr):
        return item.dtype.kind in "biu"
    return isinstance(item, (np.ndarray, list, tuple))


def _consumes(item) -> int:
    """How many axes of the operand an index entry reads."""
    if item is None or item is Ellipsis:
        return 0
    return np.ndim(item) if _is_mask(item) else 1


def _index_arrays(x: Expr, item, axis: int) -> list:
    """An advanced entry as index expressions: itself for an integer symbol, a constant for
    an integer array, list or int, and the true places of a constant boolean mask (one array
    per axis it covers)."""
    if isinstance(item, Expr):
        if item.dtype.kind != "b":
            return [item]
        if item.op != "constant":
            raise UnsupportedError(
                "getitem: a boolean mask that is an expression has a result whose size is "
                "known only at run time; use sg.where(mask, x, 0) or a constant mask")
        item = item.attrs["value"]
    array = np.asarray(item)
    if array.dtype == bool:
        wanted = x.dims[axis:axis + array.ndim]
        if array.shape != wanted:
            raise ShapeError(f"getitem: a boolean mask of shape {array.shape} does not match "
                             f"the axes {D.fmt_shape(wanted)} of an operand of shape "
                             f"{D.fmt_shape(x.dims)}")
        return [constant(i, graph=x.g) for i in np.nonzero(array)]
    if array.dtype.kind not in "iu":
        raise UnsupportedError(f"getitem: index arrays must be integers or booleans, got "
                               f"{array.dtype} for an operand of shape {D.fmt_shape(x.dims)}")
    return [constant(array.astype(np.int64), graph=x.g)]


def _split(x: Expr, index) -> tuple:
    """``(basic entries, advanced)``: the entries of a basic getitem, and None or ``(index
    arrays, axes, at)`` for the gather that follows it on the basic result's axes.  With an
    array in the index, ints are index arrays too and the index block goes where NumPy puts
    it: in place of the advanced entries when they are next to each other, else first."""
    items = index if isinstance(index, tuple) else (index,)
    if not any(_is_advanced(i) for i in items):
        return normalize_index(x, index), None
    consumed = sum(_consumes(i) for i in items)
    if consumed > x.ndim:
        raise ShapeError(f"getitem: too many indices ({consumed}) for an operand of shape "
                         f"{D.fmt_shape(x.dims)}")
    arrays, axes, positions = [], [], []

    def advanced(x, item, axis, position, placed):  # FULL entries, gathered after
        found = _index_arrays(x, item, axis)
        arrays.extend(found)
        axes.extend(range(placed, placed + len(found)))
        positions.append(position)
        return [FULL] * len(found)
    entries = walk_index(x, items, consumed, advanced)
    adjacent = positions == list(range(min(positions), max(positions) + 1))
    return entries, (arrays, tuple(axes), axes[0] if adjacent else 0)


def _basic(x: Expr, entries: tuple) -> Expr:
    return x if all(e == FULL for e in entries) else apply("getitem", x, index=entries)


@expr_method("__getitem__")
def getitem(x, index) -> Expr:
    """NumPy's indexing: ints, slices, ``None`` and ``...`` (basic), integer arrays, lists,
    integer symbols and constant boolean masks (advanced, mixed as NumPy mixes them).

    >>> logp[np.arange(n), y]        # the entry of each row at its label
    """
    x = as_expr(x)
    entries, advanced = _split(x, index)
    region = _basic(x, entries)
    if advanced is None:
        return region
    arrays, axes, at = advanced
    return apply("gather", region, *arrays, axes=axes, at=at, nb=0)


def take(x, indices, axis: int | None = None) -> Expr:
    """``np.take``: the entries at ``indices`` along ``axis`` (None: of the flattened ``x``).

    >>> sg.take(x, np.array([2, 0]))
    """
    x = as_expr(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    (axis,) = normalize_axis("take", x, axis)
    index = indices if isinstance(indices, Expr) else np.asarray(indices, np.int64)
    return apply("gather", x, *_index_arrays(x, index, axis), axes=(axis,), at=axis, nb=0)


def _moved_last(x: Expr, axis: int) -> Expr:
    return transpose(x, tuple(a for a in range(x.ndim) if a != axis) + (axis,))


def _moved_back(x: Expr, axis: int) -> Expr:
    order = list(range(x.ndim - 1))
    order.insert(axis, x.ndim - 1)
    return transpose(x, tuple(order))


def take_along_axis(x, indices, axis: int) -> Expr:
    """``np.take_along_axis``: ``out[..., j, ...] = x[..., indices[..., j, ...], ...]`` along
    ``axis``; ``indices`` has ``x``'s number of axes and broadcasts against it elsewhere.

    >>> sg.take_along_axis(logp, y[:, None], axis=1)      # each row's entry at its label
    """
    x = as_expr(x)
    i = indices if isinstance(indices, Expr) else constant(np.asarray(indices, np.int64), graph=x.g)
    if i.ndim != x.ndim:
        raise ShapeError(f"take_along_axis: indices of shape {D.fmt_shape(i.dims)} need as many "
                         f"axes as the operand of shape {D.fmt_shape(x.dims)}")
    (axis,) = normalize_axis("take_along_axis", x, axis)
    xl, il = _moved_last(x, axis), _moved_last(i, axis)
    batch = D.broadcast_shapes("take_along_axis", [xl.dims[:-1], il.dims[:-1]], ["x", "indices"])
    xl, il = broadcast_to(xl, batch + xl.dims[-1:]), broadcast_to(il, batch + il.dims[-1:])
    return _moved_back(apply("gather", xl, il, axes=(0,), at=0, nb=x.ndim - 1), axis)


def argsort(x, axis: int | None = -1) -> Expr:
    """``np.argsort`` (stable): the indices that sort ``x`` along ``axis``; no gradient.

    >>> sg.argsort(x)
    """
    x = as_expr(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    (axis,) = normalize_axis("argsort", x, axis)
    return apply("argsort", x, axis=axis)


def sort(x, axis: int | None = -1) -> Expr:
    """``np.sort`` along ``axis``; the gradient flows through the sorting permutation (tied
    entries keep their order, as in a stable sort).

    >>> sg.sort(x)
    """
    x = as_expr(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return take_along_axis(x, argsort(x, axis), axis)


# -- functional updates: x.at[idx].set(v) ----------------------------------------------------
class Updates:
    """``x.at[index]``, for any NumPy index: ``.get()``, ``.set(v)``, ``.add(v)`` and
    ``.multiply(v)`` give new expressions (JAX's spelling); ``x`` is not changed.

    >>> W.at[0].set(0.0)        # W with its first row zeroed
    """

    __slots__ = ("x", "index")

    def __init__(self, x: Expr, index) -> None:
        self.x, self.index = x, index

    def get(self) -> Expr:
        """``x[index]``."""
        return self.x[self.index]

    def set(self, values) -> Expr:
        """``x`` with ``x[index] = values`` (with repeated indices, one of the values)."""
        return self._update(values, "set")

    def add(self, values) -> Expr:
        """``x`` with ``x[index] += values``; repeated indices add up, as ``np.add.at``."""
        return self._update(values, "add")

    def multiply(self, values) -> Expr:
        """``x`` with ``x[index] *= values`` (for distinct indices)."""
        return self._update(values, "multiply")

    def _update(self, values, kind: str) -> Expr:
        """The region the index's basic part reads is updated, then written back into ``x``."""
        x = self.x
        entries, advanced = _split(x, self.index)
        region = _basic(x, entries)
        v = as_expr(values, x)
        if advanced is None:
            _fits(v, region.dims)
            v = broadcast_to(v, region.dims)
            new = v if kind == "set" else region + v if kind == "add" else region * v
        else:
            arrays, axes, at = advanced
            picked = _gathered("at", region.dims, arrays, axes, at, 0)
            _fits(v, picked)
            if kind == "add":
                new = region + apply("scatter_add", broadcast_to(v, picked), *arrays, axes=axes,
                                     at=at, nb=0, shape=region.dims)
            elif kind == "set":
                new = apply("scatter_set", region, v, *arrays, axes=axes, at=at, nb=0)
            else:
                ones = broadcast_to(constant(1.0, region.dtype, x.g), region.dims)
                new = region * apply("scatter_set", ones, v, *arrays, axes=axes, at=at, nb=0)
        if region is x:
            return new
        hit = apply("scatter", broadcast_to(constant(True, graph=x.g), region.dims),
                    index=entries, shape=x.dims)
        return where(hit, apply("scatter", new, index=entries, shape=x.dims), x)


def _fits(v: Expr, places: tuple) -> None:
    if D.broadcast_shapes("at[...]", [v.dims, places], ["values", "places"]) != places:
        raise ShapeError(f"at[...]: values of shape {D.fmt_shape(v.dims)} do not broadcast to "
                         f"the {D.fmt_shape(places)} places they update")


class _At:
    """``x.at``: indexing it gives the :class:`Updates` of that index."""

    __slots__ = ("x",)

    def __init__(self, x: Expr) -> None:
        self.x = x

    def __getitem__(self, index) -> Updates:
        return Updates(self.x, index)


Expr.at = property(_At, doc="Functional updates in JAX's spelling: ``x.at[i].set(v)``.")
