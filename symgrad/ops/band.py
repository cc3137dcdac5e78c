"""The band ops: the arrays that hold banded Jacobians (see :mod:`symgrad.ops.banded`).

``band(c₁, …, c_m; offsets o₁ … o_m)`` is the array of shape ``V + X`` (behind any leading
axes of the coefficients) with ``B[i, k] = Σⱼ cⱼ[i] · [k = i + oⱼ]`` (entries with ``i + oⱼ``
outside ``X`` are left out).  ``band_part`` reads one shifted diagonal back and is the
adjoint of ``band``, so the pair is closed under differentiation as ``getitem`` and
``scatter`` are.  ``band_sparse`` and ``dense_sparse`` give the same matrix as
``scipy.sparse``: end results, not differentiable.  Sizes and offsets may be named
dimensions; the emitters print them with ``ctx.dim``.
"""
from __future__ import annotations

import numpy as np

from .. import dims as D
from .. import runtime
from ..dtypes import result_dtype
from ..errors import ShapeError, UnsupportedError
from ..expr import Batched, Expr, apply
from ..lazy import sympy
from ..op import Op, register
from .banded import Banded
from .shape import lift


def band_of(t: Banded, v: Expr, sparse: bool = False) -> Expr:
    """The band op of ``t`` (shape ``V + X``), each coefficient given the rank of V."""
    offsets = sorted(t.bands, key=repr)
    coefs = [t.bands[o] for o in offsets]
    coefs = [c if c.ndim == v.ndim else apply("reshape", c, shape=(1,) * (v.ndim - c.ndim) + c.dims)
             for c in coefs]
    return band(coefs, offsets, v.dims, t.xdims, sparse)


def dense(t: Banded, v: Expr) -> Batched:
    """The band as the dense batch of tangents of ``v``: seeds first, shape ``X + V``."""
    r = len(t.xdims)
    batch = apply("transpose", band_of(t, v), axes=tuple(range(r, 2 * r)) + tuple(range(r)))
    return Batched(batch, r)


# -- the band ops -------------------------------------------------------------------------
def _emit_band(name: str):
    """``rt.<name>(c0, c1, offsets=..., vdims=..., xdims=...)`` with sizes printed by ctx."""
    def emit(args, params, ctx):
        offsets = "(" + "".join(f"{ctx.shape(o)}, " for o in params["offsets"]) + ")"
        return (f"rt.{name}({''.join(a + ', ' for a in args)}offsets={offsets}, "
                f"vdims={ctx.shape(params['vdims'])}, xdims={ctx.shape(params['xdims'])})")
    return emit


def _coef_shape(op: str, coefs, vdims) -> tuple:
    """Leading axes + V: the coefficients broadcast against V (a ShapeError naming ``op``)."""
    shapes = [c.dims for c in coefs] + [vdims]
    full = D.broadcast_shapes(op, shapes, [f"coefficient {j}" for j in range(len(coefs))] + ["V"])
    if full[len(full) - len(vdims):] != tuple(vdims):
        raise ShapeError(f"{op}: coefficients of shapes {[D.fmt_shape(s) for s in shapes[:-1]]} "
                         f"do not broadcast to {D.fmt_shape(vdims)}")
    return full


def _band_infer(*coefs, offsets, vdims, xdims):
    if len(coefs) != len(offsets) or any(len(o) != len(xdims) for o in offsets):
        raise ShapeError(f"band: {len(coefs)} coefficients for offsets {offsets} of seeds "
                         f"{D.fmt_shape(xdims)}")
    return _coef_shape("band", coefs, vdims) + xdims, result_dtype(coefs, "float")


class _BandVJP:
    """The adjoint of coefficient j is its diagonal of the cotangent."""

    def __getitem__(self, position: int):
        return lambda g, out, *coefs, offsets, vdims, xdims: band_part(g, offsets[position])


def _band_jvp(tangents, out, *coefs, offsets, vdims, xdims):
    """Linear in the coefficients: the band of their tangents (zero tangents drop out)."""
    kept = [(t, o) for t, o in zip(tangents, offsets) if t is not None]
    return band([t for t, _ in kept], [o for _, o in kept], vdims, xdims) if kept else None


def _band_batch(nb, batched, *coefs, offsets, vdims, xdims):
    """Batch axes go in front of the coefficients' leading axes."""
    rank = max(len(vdims), *(c.ndim - nb if b else c.ndim for c, b in zip(coefs, batched)))
    coefs = [lift(c, nb, rank) if b else c for c, b in zip(coefs, batched)]
    return apply("band", *coefs, offsets=offsets, vdims=vdims, xdims=xdims)


def _band_matrix(tr, attrs, *coefs):
    """A diagonal matrix: ``c I`` for a scalar coefficient, ``diag(c)`` for a vector."""
    params = dict(attrs["params"])
    if params["offsets"] != ((0,),) or len(params["vdims"]) != 1 or len(params["xdims"]) != 1:
        raise UnsupportedError("to_sympy(form='matrix'): only a band on the main diagonal of a "
                               "matrix has a matrix expression; use form='elements'")
    (c,), (cdims,) = coefs, tr.arg_dims(attrs)
    if D.size_of(cdims) == 1:  # one number along the whole diagonal
        c = tr.scalar(c)
    if tr.is_matrix(c):
        return sympy.DiagMatrix(c)
    return c * sympy.Identity(tr.dim(params["vdims"][0]))


register(Op("band", _band_infer, runtime.band, emit=_emit_band("band"), vjp=_BandVJP(),
            sympy_matrix=_band_matrix,
            jvp=_band_jvp, batch=_band_batch,
            samples=((((4,), (4,)), dict(offsets=((0,), (1,)), vdims=(4,), xdims=(5,))),
                     (((2, 1, 3), (3,)), dict(offsets=((0, 0), (-1, 1)), vdims=(1, 3),
                                               xdims=(2, 3)))),
            sparsity="entries", curvature=(),
            doc="coefficients on shifted diagonals of a V + X array (identity: band(1; 0))"))


def band(coefs, offsets, vdims, xdims, sparse: bool = False) -> Expr:
    """The banded array ``Σⱼ cⱼ[i]·[k = i + oⱼ]`` of shape ``lead + vdims + xdims``;
    ``sparse=True``: the same as a scipy.sparse matrix (no leading axes).

    >>> I = band([1.0], [(0,)], ("n",), ("n",))      # the n x n identity
    """
    op = "band_sparse" if sparse else "band"
    if len(coefs) != len(offsets) or not coefs and not sparse:
        raise ShapeError(f"{op}: {len(coefs)} coefficients for {len(offsets)} offsets")
    vdims, xdims = D.as_shape(vdims), D.as_shape(xdims)
    return apply(op, *coefs, offsets=tuple(tuple(o) for o in offsets), vdims=vdims, xdims=xdims)


def _band_part_infer(g, offset):
    if g.ndim < 2 * len(offset):
        raise ShapeError(f"band_part: an operand of shape {D.fmt_shape(g.dims)} has fewer than "
                         f"{2 * len(offset)} axes for an offset of {len(offset)} axes")
    return g.dims[:g.ndim - len(offset)], g.dtype


register(Op("band_part", _band_part_infer, runtime.band_part,
            emit=lambda args, params, ctx: f"rt.band_part({args[0]}, {ctx.shape(params['offset'])})",
            vjp=(lambda g, out, x, offset:
                 band([g], [offset], x.dims[x.ndim - 2 * len(offset):x.ndim - len(offset)],
                      x.dims[x.ndim - len(offset):]),),
            jvp=lambda tangents, out, x, offset: band_part(tangents[0], offset),
            batch=lambda nb, batched, x, offset: band_part(x, offset),
            samples=((((4, 5),), dict(offset=(1,))), (((2, 3, 3),), dict(offset=(-1,)))),
            sparsity="entries", curvature=(),
            doc="the diagonal shifted by `offset` of a V + X array, shape V (adjoint of band)"))


def band_part(g, offset) -> Expr:
    """``c[i] = g[i, i + offset]`` for ``g`` of shape ``lead + V + X``.

    >>> band_part(H, (0,))       # the diagonal of H
    """
    return apply("band_part", g, offset=tuple(offset))


def _flat_size(op: str, dims: tuple):
    """The number of elements as one dimension: an int times at most one (affine) name."""
    static = int(np.prod([d for d in dims if isinstance(d, int)]))
    named = [d for d in dims if not isinstance(d, int)]
    if len(named) > 1:
        raise UnsupportedError(f"{op}: the size of the shape {D.fmt_shape(dims)} is a product "
                               "of named dimensions, which a sparse matrix's shape cannot hold")
    if not named:
        return static
    terms, const = D.affine(named[0])
    return D.from_affine({n: k * static for n, k in terms.items()}, const * static)


register(Op("band_sparse", lambda *coefs, offsets, vdims, xdims:
            ((_flat_size("band_sparse", vdims), _flat_size("band_sparse", xdims)),
             np.dtype(np.float64)),
            emit=_emit_band("band_sparse"), differentiable=False,
            doc="a band as a scipy.sparse CSR matrix (an end result; never constant-folded)"))

register(Op("csr", lambda data, indices, indptr, shape: (shape, np.dtype(np.float64)),
            emit=lambda args, params, ctx:
            f"rt.csr({', '.join(args)}, {ctx.shape(params['shape'])})",
            differentiable=False,
            doc="a scipy.sparse CSR matrix of `shape` holding `data` in the structure "
                "(`indices`, `indptr`) (an end result; never constant-folded)"))

register(Op("dense_sparse", lambda j, rank:
            ((_flat_size("dense_sparse", j.dims[:j.ndim - rank]),
              _flat_size("dense_sparse", j.dims[j.ndim - rank:])), np.dtype(np.float64)),
            emit=lambda args, params, ctx: f"rt.dense_sparse({args[0]}, {params['rank']})",
            differentiable=False, doc="a dense V + X Jacobian as a scipy.sparse CSR matrix"))
