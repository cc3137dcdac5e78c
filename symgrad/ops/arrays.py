"""NumPy's array helpers and constants, built from symgrad's shape ops where they can be.

The helpers compose ``reshape``, ``transpose``, indexing, ``concatenate`` and
``broadcast_to``, so their derivatives are those ops' own.  Named dimensions pass wherever
the result's sizes are an int times names or names plus an int (``ravel`` of ``("n", 3)`` is
``("3*n",)``, ``pad`` of ``"n"`` by 2 is ``"n+4"``); otherwise (a product of names, a named
axis split into sections) a ShapeError or UnsupportedError says so.  The constants take
sizes as ints, names or run-time sizes ``X.shape[i]``.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import dims as D
from ..errors import ShapeError, UnsupportedError
from ..expr import Expr, apply, as_expr, constant, expr_method
from .band import band
from .linalg import transpose
from .reduce import cumsum, flat, normalize_axis, reverse_along
from .shape import FULL, NEW, broadcast_to, concatenate, fill, reshape


def _along(x: Expr, axis: int, piece: slice) -> Expr:
    """``x[..., piece, ...]`` with ``piece`` at ``axis``."""
    return x[(slice(None),) * axis + (piece,)]


def _scaled(d, k: int):
    """The dimension ``k·d`` (``2*n`` for ``d = "n"``)."""
    terms, const = D.affine(d)
    return D.from_affine({n: c * k for n, c in terms.items()}, const * k)


def _int(op: str, what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ShapeError(f"{op}: {what} must be an int, got {value!r}")
    return int(value)


def _axes_in_order(op: str, x: Expr, axes) -> list:
    """Axes as given (an int or a sequence) made non-negative, order kept, no repeats."""
    axes = list(axes) if isinstance(axes, (tuple, list)) else [axes]
    out = [normalize_axis(op, x, _int(op, "an axis", a))[0] for a in axes]
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axes!r}")
    return out


# -- axes -------------------------------------------------------------------------------------
@expr_method()
def squeeze(x, axis=None) -> Expr:
    """``x`` without its axes of size 1 (``axis``: only those, each of which must have size 1).
    A named axis is never removed: its size is known only at run time.

    >>> sg.squeeze(X[:, None]).dims      # ("n", 3)
    """
    x = as_expr(x)
    if axis is None:
        axes = [i for i, d in enumerate(x.dims) if d == 1]
    else:
        axes = normalize_axis("squeeze", x, axis)
        for i in axes:
            if x.dims[i] != 1:
                raise ShapeError(f"squeeze: axis {i} has size {x.dims[i]!r}, not 1 (operand "
                                 f"shape {D.fmt_shape(x.dims)})")
    return x[tuple(0 if i in axes else slice(None) for i in range(x.ndim))]


@expr_method()
def swapaxes(x, axis1: int, axis2: int) -> Expr:
    """``x`` with axes ``axis1`` and ``axis2`` exchanged.

    >>> sg.swapaxes(T, 0, 2)
    """
    x = as_expr(x)
    a, b = (normalize_axis("swapaxes", x, _int("swapaxes", "an axis", i))[0]
            for i in (axis1, axis2))
    order = list(range(x.ndim))
    order[a], order[b] = b, a
    return transpose(x, order)


def moveaxis(x, source, destination) -> Expr:
    """``x`` with the axes ``source`` moved to the positions ``destination`` (ints or
    sequences of equal length), the other axes in their order.

    >>> sg.moveaxis(T, 0, -1)      # (a, b, c) -> (b, c, a)
    """
    x = as_expr(x)
    src = _axes_in_order("moveaxis", x, source)
    dst = _axes_in_order("moveaxis", x, destination)
    if len(src) != len(dst):
        raise ShapeError(f"moveaxis: source {source!r} and destination {destination!r} need "
                         "the same number of axes")
    order = [i for i in range(x.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


@expr_method()
def ravel(x) -> Expr:
    """``x`` as one axis in C order; ``("n", 3)`` becomes ``("3*n",)``.

    >>> sg.ravel(X)
    """
    return flat(as_expr(x), "ravel")


expr_method("flatten")(ravel)


def flip(x, axis=None) -> Expr:
    """``x`` with the order of entries reversed along ``axis`` (None: every axis).

    >>> sg.flip(v)      # v[::-1], also for a named length
    """
    x = as_expr(x)
    return reverse_along(x, normalize_axis("flip", x, axis))


def roll(x, shift, axis=None) -> Expr:
    """Entries shifted by ``shift`` along ``axis``, those pushed off the end coming back at
    the front (None: along the flattened ``x``, shape kept).  ``shift`` and ``axis`` may be
    sequences (shifts of one axis add up).  On a named axis ``|shift|`` must not exceed its
    run-time size (NumPy would take the shift modulo the size).

    >>> sg.roll(v, 1)      # [v[-1], v[0], ..., v[-2]]
    """
    x = as_expr(x)
    if axis is None:
        return reshape(roll(flat(x, "roll"), shift, 0), x.dims)
    try:
        pairs = np.broadcast(shift, axis)
    except ValueError:
        pairs = None
    if pairs is None or pairs.ndim > 1:
        raise ShapeError(f"roll: shift {shift!r} and axis {axis!r} do not pair up (ints or "
                         "sequences of one length)")
    total: dict = {}
    for s, a in pairs:
        a = normalize_axis("roll", x, _int("roll", "an axis", a.item()))[0]
        total[a] = total.get(a, 0) + _int("roll", "shift", s.item())
    for a, s in sorted(total.items()):
        n = x.dims[a]
        s = s % n if isinstance(n, int) and n else s
        if s:
            x = concatenate([_along(x, a, slice(-s, None)), _along(x, a, slice(None, -s))], a)
    return x


# -- joining, splitting and repeating -----------------------------------------------------------
def _exprs(xs) -> list:
    """Expressions for a sequence of expressions, numbers and arrays (one graph)."""
    xs = list(xs)
    like = next((x for x in xs if isinstance(x, Expr)), None)
    return [as_expr(x, like) for x in xs]


def _at_least(x: Expr, ndim: int) -> Expr:
    """``x`` with size-1 axes in front up to ``ndim`` axes (``np.atleast_1d``/``2d``)."""
    return x[(None,) * (ndim - x.ndim)] if x.ndim < ndim else x


def hstack(tup) -> Expr:
    """Join along the second axis (the first for 1-D operands), as ``np.hstack``.

    >>> sg.hstack([X, Y])
    """
    xs = [_at_least(x, 1) for x in _exprs(tup)]
    return concatenate(xs, 0 if xs and xs[0].ndim == 1 else 1)


def vstack(tup) -> Expr:
    """Join along the first axis, 1-D operands as rows, as ``np.vstack``.

    >>> sg.vstack([u, v])       # shape (2, n)
    """
    return concatenate([_at_least(x, 2) for x in _exprs(tup)], 0)


def column_stack(tup) -> Expr:
    """Join 1-D operands as columns (2-D ones as they are), as ``np.column_stack``.

    >>> sg.column_stack([u, v])     # shape (n, 2)
    """
    xs = [x[:, None] if x.ndim == 1 else _at_least(x, 2) for x in _exprs(tup)]
    return concatenate(xs, 1)


def split(x, indices_or_sections, axis: int = 0) -> list:
    """Pieces of ``x`` along ``axis``: ``k`` equal sections, or cut before each index of a
    sequence (as ``np.split``).  A named axis is cut at ints; into sections only when its
    size is a multiple of their number (``"2*n"`` into 2).

    >>> a, b = sg.split(v, [3])      # v[:3], v[3:]
    """
    x = as_expr(x)
    if x.ndim == 0:
        raise ShapeError("split: a 0-d operand cannot be split")
    axis = normalize_axis("split", x, _int("split", "axis", axis))[0]
    n = x.dims[axis]
    if isinstance(indices_or_sections, (int, np.integer, bool)):
        k = _int("split", "the number of sections", indices_or_sections)
        if k <= 0:
            raise ShapeError(f"split: the number of sections must be positive, got {k}")
        size = D.size_quotient((n,), (k,))
        if size is None and isinstance(n, int):
            raise ShapeError(f"split: axis {axis} of size {n} does not divide into {k} equal "
                             f"sections (operand shape {D.fmt_shape(x.dims)})")
        if size is None:
            raise UnsupportedError(f"split: the named size {n!r} of axis {axis} is not a known "
                                   f"multiple of {k}; give the indices to cut at")
        cuts = [_scaled(size, i) for i in range(1, k)]
    else:
        cuts = [_int("split", "an index", i) for i in indices_or_sections]
    bounds = [None] + cuts + [None]
    pieces = [("slice", lo or None, hi, None) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return [x if p == FULL else apply("getitem", x, index=(FULL,) * axis + (p,)
                                      + (FULL,) * (x.ndim - axis - 1)) for p in pieces]


@expr_method()
def repeat(x, repeats: int, axis=None) -> Expr:
    """Each entry repeated ``repeats`` times along ``axis`` (None: of the flattened ``x``),
    as ``np.repeat``; one int for all entries.

    >>> sg.repeat(v, 2)      # [v0, v0, v1, v1, ...]
    """
    x = as_expr(x)
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)):
        raise UnsupportedError(f"repeat: repeats must be one int; per-entry repeats "
                               f"({type(repeats).__name__}) are not supported")
    if repeats < 0:
        raise ShapeError(f"repeat: repeats must be non-negative, got {repeats}")
    if axis is None:
        x, axis = flat(x, "repeat"), 0
    axis = normalize_axis("repeat", x, _int("repeat", "axis", axis))[0]
    wide = broadcast_to(x[(slice(None),) * (axis + 1) + (None,)],
                        x.dims[:axis + 1] + (int(repeats),) + x.dims[axis + 1:])
    return reshape(wide, x.dims[:axis] + (_scaled(x.dims[axis], int(repeats)),) + x.dims[axis + 1:])


def tile(A, reps) -> Expr:
    """``A`` repeated ``reps[i]`` times along each axis i, as ``np.tile`` (``reps`` shorter
    than ``A.ndim`` is padded with 1s in front, ``A`` with fewer axes gets new ones in front).

    >>> sg.tile(v, (2, 1))      # shape (2, n): two rows of v
    """
    x = as_expr(A)
    reps = [_int("tile", "reps", r) for r in (reps if isinstance(reps, (tuple, list)) else [reps])]
    if any(r < 0 for r in reps):
        raise ShapeError(f"tile: reps must be non-negative, got {tuple(reps)}")
    ndim = len(reps) if len(reps) > x.ndim else x.ndim
    reps = [1] * (ndim - len(reps)) + reps
    x = _at_least(x, ndim)
    index, wide = [], []
    for r, d in zip(reps, x.dims):
        if r != 1:
            index.append(NEW)
            wide.append(r)
        index.append(FULL)
        wide.append(d)
    if NEW not in index:
        return x
    out = broadcast_to(apply("getitem", x, index=tuple(index)), tuple(wide))
    return reshape(out, tuple(_scaled(d, r) for r, d in zip(reps, x.dims)))


def _pairs(what: str, value, ndim: int) -> np.ndarray:
    """``(before, after)`` per axis from NumPy's shorthands (a number, a pair, pairs)."""
    try:
        pairs = np.broadcast_to(np.asarray(value), (ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: {what} {value!r} does not give (before, after) for each of "
                         f"{ndim} axes") from None
    if pairs.dtype == object:
        raise UnsupportedError(f"pad: {what} must be numbers, got {value!r}")
    return pairs


def _edge(x: Expr, axis: int, width, value) -> Expr:
    """``width`` entries of ``value`` to put beside ``x`` along ``axis``."""
    return fill(x.dims[:axis] + (int(width),) + x.dims[axis + 1:], value, x.dtype, x.g)


def pad(x, pad_width, mode: str = "constant", constant_values=0) -> Expr:
    """``x`` with ``pad_width`` entries of ``constant_values`` added before and after each
    axis (NumPy's shorthands: an int, ``(before, after)``, or a pair per axis).  Only
    ``mode="constant"``; later axes' values fill the corners, as NumPy.

    >>> sg.pad(v, 1)       # [0, v0, ..., v(n-1), 0]: shape ("n+2",)
    """
    x = as_expr(x)
    if mode != "constant":
        raise UnsupportedError(f"pad: mode {mode!r} is not supported; only mode='constant'")
    widths = _pairs("pad_width", pad_width, x.ndim)
    if widths.dtype.kind not in "iu":
        raise ShapeError(f"pad: pad_width must be ints, got {pad_width!r}")
    if (widths < 0).any():
        raise ShapeError(f"pad: pad_width cannot be negative, got {pad_width!r}")
    values = _pairs("constant_values", constant_values, x.ndim)
    for axis, ((before, after), (low, high)) in enumerate(zip(widths, values)):
        x = concatenate(([_edge(x, axis, before, low)] if before else []) + [x]
                        + ([_edge(x, axis, after, high)] if after else []), axis)
    return x


# -- constants --------------------------------------------------------------------------------
def _dim(op: str, d):
    """A size given as an int, a name, or the run-time size ``X.shape[i]`` of a named axis."""
    if isinstance(d, Expr):
        if d.op != "shape_of":
            raise UnsupportedError(f"{op}: a size must be an int, a dimension name or "
                                   f"X.shape[i], got {d!r}")
        return d.args[0].dims[d.params["axis"]]
    return D.check_dim(d)


def _shape(op: str, shape) -> tuple:
    items = shape if isinstance(shape, (tuple, list)) else (shape,)
    return tuple(_dim(op, d) for d in items)


def zeros(shape, dtype=float) -> Expr:
    """An array of 0 (sizes may be names).

    >>> sg.zeros(("n", 3))
    """
    return fill(_shape("zeros", shape), 0.0, dtype)


def ones(shape, dtype=float) -> Expr:
    """An array of 1 (sizes may be names).

    >>> sg.ones(("n", 3))
    """
    return fill(_shape("ones", shape), 1.0, dtype)


def full(shape, fill_value, dtype=None) -> Expr:
    """An array of ``fill_value`` (a number, or an expression broadcast to ``shape``, which
    then carries its gradient); ``dtype`` None: the value's, as NumPy.

    >>> sg.full(("n",), 0.5)
    """
    dims = _shape("full", shape)
    if isinstance(fill_value, numbers.Number) and not isinstance(fill_value, complex):
        return fill(dims, fill_value, dtype or np.asarray(fill_value).dtype)
    value = as_expr(fill_value)
    return broadcast_to(value if dtype is None else value.astype(dtype), dims)


def ones_like(x, dtype=None) -> Expr:
    """Ones with the shape and dtype (or ``dtype``) of ``x``.

    >>> sg.ones_like(W)
    """
    x = as_expr(x)
    return fill(x.dims, 1.0, dtype or x.dtype, x.g)


def eye(N, M=None, k: int = 0, dtype=float) -> Expr:
    """The ``N x M`` matrix with ones on diagonal ``k`` (0: the main one, > 0 above it);
    sizes may be names.

    >>> sg.eye("n")
    """
    n = _dim("eye", N)
    m = n if M is None else _dim("eye", M)
    out = band([constant(1.0)], [(_int("eye", "k", k),)], (n,), (m,))
    return out if out.dtype == np.dtype(dtype) else out.astype(dtype)


def arange(start, stop=None, step=1, dtype=None) -> Expr:
    """``start, start + step, ...`` below ``stop`` (``arange(n)``: 0 to n-1), as NumPy.
    ``stop`` may be a name or ``X.shape[i]`` when ``start`` is an int and ``step`` 1
    (computed as running sums of ones).

    >>> sg.arange(X.shape[0])
    """
    if stop is None:
        start, stop = 0, start
    named = [b for b in (start, stop) if isinstance(b, (str, Expr))]
    if not named:
        return constant(np.arange(start, stop, step, dtype=dtype))
    if isinstance(start, (str, Expr)) or step != 1:
        raise UnsupportedError(f"arange: a named size needs an int start and step 1, got "
                               f"start={start!r}, step={step!r}")
    length = D.dim_add(_dim("arange", stop), _int("arange", "start", start), -1)
    return cumsum(fill((length,), 1, dtype or np.int64)) + (start - 1)
