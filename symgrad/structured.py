"""Structured seeds: a batch of tangents kept as a sum of scaled shifted identities.

Pushing the identity seed of a vector ``x`` (n directions) through ``y = f(x)`` as a dense
n x n array costs O(n²) per op.  As long as each entry of a value depends on the entry of
``x`` at a fixed offset, the batch of tangents of a value ``v`` (shape V, same rank as
``x``'s shape X) is a band

    T[k, i] = Σₒ cₒ[i] · [k = i + o]          (k indexes the seeds, i the entries of v)

held as ``{offset: coefficient}`` with coefficients of shape V (or broadcasting to it).
The identity is ``{0: 1}``; an elementwise op scales the coefficients by its partials,
``x[a:]`` shifts the offsets by ``a``, its adjoint ``scatter`` shifts back and pads, a sum of
values merges the bands.  So a chained function such as Rosenbrock's has an O(n) Hessian
graph ending in one banded fill (``ops/band.py``).  Any other op "loses" the structure:
the band becomes the dense batch (``dense``) and the op's own jvp rule takes over.
"""
from __future__ import annotations

from . import dims as D
from .expr import Expr, apply, constant, is_constant
from .ops.band import band
from .ops.linalg import transpose
from .ops.shape import FULL, broadcast_to, fill

LOST = object()  # push's answer when the structure does not survive the op


class Banded:
    """The tangents ``Σₒ cₒ[i]·[k = i + o]`` of a value wrt the seeds of shape ``xdims``."""

    __slots__ = ("bands", "xdims")

    def __init__(self, bands: dict, xdims: tuple) -> None:
        self.bands = bands
        self.xdims = xdims

    def __repr__(self) -> str:
        return f"<Banded offsets={sorted(self.bands)} of seeds {D.fmt_shape(self.xdims)}>"


def identity(x: Expr):
    """The seeds of ``x``: the identity, banded (or the number 1 for a scalar ``x``)."""
    one = constant(1.0, x.dtype, x.g)
    return one if x.ndim == 0 else Banded({(0,) * x.ndim: one}, x.dims)


def _is_zero(c: Expr) -> bool:
    return is_constant(c, 0) or c.op == "fill" and c.params["value"] == 0


def _banded(bands: dict, xdims: tuple):
    """A Banded without its zero coefficients, None (a zero tangent) when none is left."""
    bands = {o: c for o, c in bands.items() if not _is_zero(c)}
    return Banded(bands, xdims) if bands else None


def _band(t: Banded, v: Expr, sparse: bool = False) -> Expr:
    """The band op of ``t`` (shape ``V + X``), each coefficient given the rank of V."""
    offsets = sorted(t.bands, key=repr)
    coefs = [t.bands[o] for o in offsets]
    coefs = [c if c.ndim == v.ndim else apply("reshape", c, shape=(1,) * (v.ndim - c.ndim) + c.dims)
             for c in coefs]
    return band(coefs, offsets, v.dims, t.xdims, sparse)


def dense(t: Banded, v: Expr) -> Expr:
    """The band as the dense batch of tangents, shape ``X + V`` (seeds first)."""
    r = len(t.xdims)
    return transpose(_band(t, v), tuple(range(r, 2 * r)) + tuple(range(r)))


def jacobian(t, y: Expr, x: Expr, sparse: bool = False) -> Expr:
    """The Jacobian ``∂y/∂x`` (shape ``y.shape + x.shape``) from the batched tangent of ``y``:
    the band op of a Banded tangent, the seed axes of a dense one moved last; ``sparse``:
    as a scipy.sparse matrix."""
    if isinstance(t, Banded) or t is None and sparse:
        return _band(t or Banded({}, x.dims), y, sparse)
    if t is None:
        return fill(y.dims + x.dims, 0.0, y.dtype, y.g)
    j = transpose(t, tuple(range(x.ndim, t.ndim)) + tuple(range(x.ndim)))
    return apply("dense_sparse", j, rank=x.ndim) if sparse else j


def push(op, tangents: list, out: Expr, args: list, params: dict):
    """The structured tangent of ``out``, None for zero, or LOST."""
    if any(t is not None and not isinstance(t, Banded) for t in tangents):
        return LOST
    rule = _RULES.get(op.name)
    if rule is not None:
        return rule(tangents, out, *args, **params)
    if op.partials is not None and op.differentiable:
        return _elementwise(op, tangents, out, args, params)
    return LOST


def _elementwise(op, tangents, out, args, params):
    """ṫ = Σᵢ ∂ᵢ·tᵢ on each band: the partials scale the coefficients."""
    bands: dict = {}
    xdims = None
    for t, x, partial in zip(tangents, args, op.partials):
        if t is None or partial is None:
            continue
        if x.dims != out.dims:
            return LOST  # broadcast along an axis: entries no longer follow one offset
        xdims = t.xdims
        local = partial(out, *args, **params)
        if local is None:
            continue
        for o, c in t.bands.items():
            term = c * local
            bands[o] = term if o not in bands else bands[o] + term
    return None if xdims is None else _banded(bands, xdims)


def _starts(index: tuple, dims: tuple):
    """Where each axis of ``x[index]`` starts in ``x``, or None for other than unit-step slices."""
    if len(index) != len(dims) or any(e[0] != "slice" or e[3] not in (None, 1) for e in index):
        return None
    return tuple(_start(e[1], d) for e, d in zip(index, dims))


def _start(start, d):
    if start is None:
        return 0
    if isinstance(d, int):
        return slice(start, None).indices(d)[0]
    return D.dim_add(d, start) if start < 0 else start


def _shifted(t: Banded, starts: tuple, sign: int, coef) -> Banded | None:
    return _banded({tuple(D.dim_add(o, s, sign) for o, s in zip(offset, starts)): coef(c)
                    for offset, c in t.bands.items()}, t.xdims)


def _getitem(tangents, out, x, index):
    """``v = x[a:]``: v[i] = x[i + a], so every offset grows by a."""
    starts = _starts(index, x.dims)
    if starts is None:
        return LOST
    return _shifted(tangents[0], starts, 1, lambda c: c if c.ndim == 0 else
                    apply("getitem", broadcast_to(c, x.dims), index=index))


def _scatter(tangents, out, g, index, shape):
    """``v = zeros; v[a:] = g``: v[j] = g[j - a], offsets shrink by a, coefficients pad with 0."""
    starts = _starts(index, shape)
    if starts is None:
        return LOST
    return _shifted(tangents[0], starts, -1, lambda c: apply(
        "scatter", broadcast_to(c, g.dims), index=index, shape=shape))


def _matmul(tangents, out, a, b):
    """``A @ x`` with diagonal seeds ``c`` on x: the batch is ``(A · c)ᵀ``, no product needed."""
    ta, tb = tangents
    if ta is not None or a.ndim != 2 or b.ndim != 1 or list(tb.bands) != [(0,)] \
            or tb.xdims != b.dims:
        return LOST
    return transpose(a * tb.bands[(0,)])


def _same(tangents, out, x, **params):
    return tangents[0]


def _cast(tangents, out, x, dtype):
    t = tangents[0]
    return _banded({o: c.astype(dtype) for o, c in t.bands.items()}, t.xdims)


_RULES = {"getitem": _getitem, "scatter": _scatter, "matmul": _matmul, "cast": _cast,
          "name": _same, "stop_gradient": lambda tangents, out, x: None}
