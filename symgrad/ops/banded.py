"""Banded batches of tangents: the structure Jacobians keep while their seeds allow.

Pushing the identity seed of a vector ``x`` (n directions) through ``y = f(x)`` as a dense
n x n batch costs O(n²) per op.  As long as each entry of a value depends on the entry of
``x`` at a fixed offset, the batch of tangents of a value ``v`` (shape V, same rank as ``x``'s
shape X) is a band

    T[k, i] = Σₒ cₒ[i] · [k = i + o]          (k indexes the seeds, i the entries of v)

held as :class:`Banded` ``{offset: coefficient}`` with coefficients of shape V (or
broadcasting to it).  The identity is ``{0: 1}``; each op's ``band`` rule says how a band
passes it (an elementwise op scales the coefficients by its partials, ``x[a:]`` shifts the
offsets by ``a``, its adjoint ``scatter`` shifts back and pads) or answers :data:`LOST`, and
then the band becomes the dense batch (:func:`symgrad.ops.band.dense`) for the op's jvp rule.
So a chained function such as Rosenbrock's has an O(n) Hessian graph ending in one banded fill.
"""
from __future__ import annotations

from .. import dims as D
from ..expr import Expr, constant, is_constant
from ..op import Op, times

LOST = object()  # a band rule's answer when the structure does not survive the op


class Banded:
    """The tangents ``Σₒ cₒ[i]·[k = i + o]`` of a value wrt the seeds of shape ``xdims``.

    >>> identity(x)
    <Banded offsets=[(0,)] of seeds (n,)>
    """

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


def is_zero(c: Expr) -> bool:
    """True for a constant or fill that is 0 everywhere."""
    return is_constant(c, 0) or c.op == "fill" and c.params["value"] == 0


def banded(bands: dict, xdims: tuple):
    """A Banded without its zero coefficients, None (a zero tangent) when none is left."""
    bands = {o: c for o, c in bands.items() if not is_zero(c)}
    return Banded(bands, xdims) if bands else None


def shifted(t: Banded, starts: tuple, sign: int, coef) -> Banded | None:
    """Every offset moved by ``sign * starts``, each coefficient mapped by ``coef``."""
    return banded({tuple(D.dim_add(o, s, sign) for o, s in zip(offset, starts)): coef(c)
                   for offset, c in t.bands.items()}, t.xdims)


def elementwise_band(op: Op):
    """The band rule of an elementwise op: ``ṫ = Σᵢ ∂ᵢ·tᵢ`` on each band, so the partials
    scale the coefficients; an argument broadcast along an axis loses the structure."""
    def rule(tangents, out, *args, **params):
        bands: dict = {}
        xdims = None
        for t, x, partial in zip(tangents, args, op.partials):
            if t is None or partial is None:
                continue
            if x.dims != out.dims:
                return LOST
            xdims = t.xdims
            local = partial(out, *args, **params)
            for o, c in t.bands.items():
                term = times(c, local)
                if term is not None:
                    bands[o] = term if o not in bands else bands[o] + term
        return None if xdims is None else banded(bands, xdims)
    return rule


def same_band(tangents, out, x, **params):
    """The band rule of an op that passes its argument's value through (``name``)."""
    return tangents[0]


def unit_starts(index: tuple, dims: tuple):
    """Where each axis of ``x[index]`` starts in ``x``, or None unless every entry is a
    unit-step slice (the cases where entries keep a fixed offset to the seeds)."""
    if len(index) != len(dims) or any(e[0] != "slice" or e[3] not in (None, 1) for e in index):
        return None
    return tuple(_start(e[1], d) for e, d in zip(index, dims))


def _start(start, d):
    if start is None:
        return 0
    if isinstance(d, int):
        return slice(start, None).indices(d)[0]
    return D.dim_add(d, start) if start < 0 else start


