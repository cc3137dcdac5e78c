"""Helpers that generated code calls as ``rt.NAME`` and constant folding calls directly.

Each takes ``out=`` like a ufunc so the compiler can reuse a dead buffer.  Both callers run
them with NumPy's floating-point warnings off (an ``np.errstate`` here would cost more than
a scalar evaluation), so an overflow to ``inf`` that yields an exact limit stays silent.
"""
from __future__ import annotations

import functools
import math

import numpy as np

try:  # NumPy 2 keeps its floating-point error state in a context variable: set directly,
    # it costs 0.1 µs against 1 µs for entering np.errstate
    from numpy._core.umath import _extobj_contextvar, _make_extobj
    QUIET = _make_extobj(all="ignore")
    quiet, restore = _extobj_contextvar.set, _extobj_contextvar.reset
except ImportError:  # the names are private: NumPy's public (slower, process-wide) way
    QUIET = {"all": "ignore"}

    def quiet(settings: dict) -> dict:
        """Set NumPy's floating-point error handling; returns the settings to restore."""
        return np.seterr(**settings)

    def restore(settings: dict) -> None:
        np.seterr(**settings)


def _buffer(x, out):
    """``out``, or a new float array shaped like ``x`` (0-d for scalars) to work in place."""
    if out is not None:
        return out
    x = np.asarray(x)
    return np.empty(x.shape, x.dtype if x.dtype.kind == "f" else np.float64)


def sigmoid(x, out=None):
    """1 / (1 + exp(-x)); exp overflows to inf for x < -709, giving the exact limit 0.

    A scalar takes NumPy's scalar arithmetic; an array is computed within one buffer."""
    if out is None and getattr(x, "ndim", 0) == 0:
        return 1.0 / (1.0 + np.exp(-x))
    r = _buffer(x, out)
    np.negative(x, out=r)
    np.exp(r, out=r)
    r += 1.0
    return np.reciprocal(r, out=r)


def softplus(x, out=None):
    """log(1 + exp(x)) computed as max(x, 0) + log1p(exp(-|x|)): no overflow at 1000."""
    positive = np.maximum(x, 0)  # read x before `out` (which may be x's buffer) is written
    r = _buffer(x, out)
    np.abs(x, out=r)
    np.negative(r, out=r)
    np.exp(r, out=r)
    np.log1p(r, out=r)
    r += positive
    return r


def relu(x, out=None):
    """max(x, 0)."""
    return np.maximum(x, 0, out=out)


def sign(x, out=None):
    """np.sign, kept in the caller's dtype."""
    return np.sign(x, out=out)


def int_power(x, n, out=None):
    """x ** n for an integer n, exact at 0 (numpy picks fast paths for small n)."""
    if n == 2:
        return x * x if out is None else np.multiply(x, x, out=out)  # `*`: fast on scalars
    if n == -1:
        return np.reciprocal(x, out=out)
    return np.power(x, x.dtype.type(n) if hasattr(x, "dtype") else n, out=out)


def xlogy(x, y):
    """x * log(y), 0 where x == 0 (whatever y is), as scipy.special.xlogy."""
    return np.where(np.asarray(x) == 0, np.zeros((), np.result_type(x, y, 1.0)), x * np.log(y))


def scatter(g, shape, index, dtype):
    """zeros(shape) with ``g`` written at the basic index ``index`` (the adjoint of x[index])."""
    out = np.zeros(shape, dtype)
    out[index] = g
    return out


def fill(shape, value, dtype):
    """An array of ``shape`` filled with ``value``."""
    return np.full(shape, value, dtype)


def _advanced(shape, idx, axes, nb):
    """The NumPy index into an array of ``shape`` moved so its ``nb`` batch axes then its
    indexed ``axes`` come first: ranges over the batch axes, then the index arrays; the block's
    shape behind the batch; and the axes to move to the front (None: they are there)."""
    block = np.shape(idx[0]) if len(idx) == 1 else np.broadcast_shapes(*(np.shape(i) for i in idx))
    ranges = tuple(np.arange(shape[j]).reshape((1,) * j + (-1,) + (1,) * (len(block) - j - 1))
                   for j in range(nb))
    front = list(range(nb)) + [nb + a for a in axes]
    return ranges + tuple(idx), block[nb:], None if front == list(range(len(front))) else front


def gather(x, *idx, axes, at, nb):
    """``x`` at the integer arrays ``idx`` on ``axes`` (behind ``nb`` batch axes matched one
    to one), the index block placed at ``at`` among the remaining axes."""
    x = np.asarray(x)
    index, block, front = _advanced(x.shape, idx, axes, nb)
    out = (x if front is None else np.moveaxis(x, front, range(len(front))))[index]
    k = len(block)
    return np.moveaxis(out, range(nb, nb + k), range(nb + at, nb + at + k)) if at else out


def scatter_add(g, *idx, axes, at, nb, shape):
    """Zeros of ``shape`` with ``g`` added where :func:`gather` reads (duplicates summed; an
    index block of one place per batch entry has none, and is written directly)."""
    g = np.asarray(g)
    out = np.zeros(shape, g.dtype)
    index, block, front = _advanced(shape, idx, axes, nb)
    k = len(block)
    if at:
        g = np.moveaxis(g, range(nb + at, nb + at + k), range(nb, nb + k))
    view = out if front is None else np.moveaxis(out, front, range(len(front)))
    if nb and all(d == 1 for d in block):
        view[index] = g
    else:
        np.add.at(view, index, g)
    return out


def scatter_set(x, v, *idx, axes, at, nb):
    """``x`` with ``v`` written where :func:`gather` reads (for duplicates, the last one)."""
    out = np.array(x, copy=True)
    index, block, front = _advanced(out.shape, idx, axes, nb)
    view = out if front is None else np.moveaxis(out, front, range(len(front)))
    v = np.broadcast_to(v, gather(x, *idx, axes=axes, at=at, nb=nb).shape)
    k = len(block)
    view[index] = np.moveaxis(v, range(nb + at, nb + at + k), range(nb, nb + k)) if at else v
    return out


def linear_recurrence(a, b, axis, reverse):
    """``h[i] = a[i]·h[i-1] + b[i]`` along ``axis`` from ``h[-1] = 0``; ``reverse``:
    ``h[i-1] = a[i]·h[i] + b[i-1]`` from the end.  ``a[i]`` links positions i-1 and i either
    way (``a[0]`` is unused), so each direction is the other's adjoint.

    A scan in log2(n) vectorized steps: entry i holds the affine map ``h ↦ A·h + B`` from
    ``h[i-2d]`` to ``h[i]``, composed with its neighbour d back as d doubles."""
    a, b = np.broadcast_arrays(a, b)
    dtype = np.result_type(a, b)
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    if reverse:  # h read backwards is a forward recurrence whose coefficients a move one step
        a, b = np.roll(a[::-1], 1, axis=0), b[::-1]
    A, B = np.array(a, dtype=dtype), np.array(b, dtype=dtype)
    A[:1] = 0  # h[-1] = 0
    d = 1
    while d < len(B):
        B[d:] = A[d:] * B[:-d] + B[d:]
        A[d:] = A[d:] * A[:-d]
        d *= 2
    return np.moveaxis(B[::-1] if reverse else B, 0, axis)


def _band_region(vshape, xshape, offset):
    """The in-range bounds ``(lo, hi)`` per axis of the i with ``i + offset`` inside X, or None."""
    bounds = [(max(0, -o), min(v, x - o)) for v, x, o in zip(vshape, xshape, offset)]
    return None if any(lo >= hi for lo, hi in bounds) else bounds


def _diagonal(a, offset):
    """The view ``a[..., i, i + offset]`` over the in-range i of a C-contiguous ``a`` of shape
    lead + V + X (one strided view, no copy), and the range of i as slices; None if empty."""
    r = len(offset)
    nl = a.ndim - 2 * r
    if r == 1 and nl == 0:  # a matrix (the common case, 10x faster): a slice of its flat view
        place = _matrix_diagonals((offset,), *a.shape)[0]
        return (None, None) if place is None else (a.reshape(-1)[place[0]], (place[1],))
    bounds = _band_region(a.shape[nl:nl + r], a.shape[nl + r:], offset)
    if bounds is None:
        return None, None
    s = a.strides
    start = sum(lo * s[nl + j] + (lo + o) * s[nl + r + j]
                for j, ((lo, _), o) in enumerate(zip(bounds, offset)))
    view = np.ndarray(a.shape[:nl] + tuple(hi - lo for lo, hi in bounds), a.dtype, a, start,
                      s[:nl] + tuple(s[nl + j] + s[nl + r + j] for j in range(r)))
    return view, tuple(slice(lo, hi) for lo, hi in bounds)


def _restrict(c, region):
    """The coefficient ``c`` (broadcasting to lead + V) at the positions ``region`` of V."""
    c = np.asarray(c)
    r = len(region)
    if c.ndim < r:
        c = c.reshape((1,) * (r - c.ndim) + c.shape)
    return c[(..., *(s if n != 1 else slice(None) for s, n in zip(region, c.shape[c.ndim - r:])))]


@functools.lru_cache(maxsize=256)
def _matrix_diagonals(offsets, v: int, x: int) -> tuple:
    """For a v x x matrix, per offset ``(o,)``: the slice of its flat view holding the
    entries ``[i, i + o]`` and the slice of those i, or None when none is in range."""
    places = []
    for (o,) in offsets:
        lo, hi = max(0, -o), min(v, x - o)
        places.append(None if lo >= hi else
                      (slice(lo * (x + 1) + o, (hi - 1) * (x + 1) + o + 1, x + 1), slice(lo, hi)))
    return tuple(places)


def scan(step, nc: int, nx: int, length: int, reverse: bool, stacks: tuple, *args,
         xp=np) -> tuple:
    """A loop (``sg.scan``) on arrays: ``step(*carries, *x[t], *closure) -> (*new carries,
    *ys)`` for each step t (from the end with ``reverse``); returns the final carries, then
    the outputs and the carries each step started from, stacked in ``stacks``'s order:
    ``(shape of one, dtype name)`` for those wanted, None for the others (not kept)."""
    carry = args[:nc]
    xs, closure = args[nc:nc + nx], args[nc + nx:]
    stacked = [None if s is None else xp.empty((length, *s[0]), s[1]) for s in stacks]
    ny = len(stacks) - nc
    ys = [j for j in range(ny) if stacked[j] is not None]
    carries_in = [i for i in range(nc) if stacked[ny + i] is not None]
    for t in range(length - 1, -1, -1) if reverse else range(length):
        for i in carries_in:
            stacked[ny + i][t] = carry[i]
        out = step(*carry, *(x[t] for x in xs), *closure)
        carry = out[:nc]
        for j in ys:
            stacked[j][t] = out[nc + j]
    return (*carry, *stacked)


def while_loop(test, step, nc: int, *args) -> tuple:
    """``sg.while_loop`` on arrays: ``step(*carries, *closure)`` while ``test`` of them holds."""
    carry, closure = tuple(args[:nc]), args[nc:]
    while test(*carry, *closure)[0]:
        carry = tuple(step(*carry, *closure))
    return carry


def cond(pred, true_fn, false_fn, *args) -> tuple:
    """``sg.cond`` on arrays: only the branch ``pred`` picks runs."""
    return true_fn(*args) if pred else false_fn(*args)


EINSUM_INTERMEDIATE = 1 << 24  # entries an intermediate of a contraction may have


def einsum(subscripts: str, *xs):
    """``np.einsum`` contracting pairwise in NumPy's greedy order (BLAS where it can), with
    intermediates larger than the operands allowed (NumPy's default refuses them, and then
    contracts a whole batch in one slow loop); never a view of its operand."""
    if len(xs) > 2:
        return np.einsum(subscripts, *xs, optimize=("greedy", EINSUM_INTERMEDIATE))
    if len(xs) == 2:
        return np.einsum(subscripts, *xs, optimize=True)
    out = np.einsum(subscripts, *xs)
    return out.copy() if np.may_share_memory(out, xs[0]) else out


def band(*coefs, offsets, vdims, xdims):
    """``out[..., i, k] = Σ_j coefs[j][..., i] · [k = i + offsets[j]]``, shape lead + V + X.

    One zero fill, then each band added along its (shifted) diagonal."""
    dtype = np.result_type(*coefs, 0.0)
    if len(vdims) == 1 and all(np.ndim(c) <= 1 for c in coefs):  # a matrix: the common case
        (v,), (x,) = vdims, xdims
        out = np.zeros(v * x, dtype)
        for place, c in zip(_matrix_diagonals(offsets, v, x), coefs):
            if place is not None:
                out[place[0]] += c[place[1]] if np.ndim(c) and len(c) == v else c
        return out.reshape(v, x)
    full = np.broadcast_shapes(*(np.shape(c) for c in coefs), tuple(vdims))
    out = np.zeros(full + tuple(xdims), dtype)
    for offset, c in zip(offsets, coefs):
        view, region = _diagonal(out, offset)
        if view is not None:
            view += _restrict(c, region)
    return out


def band_part(g, offset):
    """``c[..., i] = g[..., i, i + offset]`` (0 where i + offset is outside): the adjoint of band."""
    g = np.ascontiguousarray(g)
    out = np.zeros(g.shape[:g.ndim - len(offset)], g.dtype)
    view, region = _diagonal(g, offset)
    if view is not None:
        out[(..., *region)] = view
    return out


# -- linear algebra beyond np.linalg ------------------------------------------------------------
_BLOCK = 64  # rows per block of the triangular solve


def triangular_solve(a, b, lower=False, trans=0, unit_diagonal=False):
    """``x`` with ``op(T) x = b``, ``T`` the lower or upper triangle of ``a`` (unit diagonal if
    asked), ``op`` the transpose when ``trans``; ``b`` is ``(n,)`` or ``(..., n, k)``.

    NumPy has no triangular solver, so this is block substitution: each block of rows takes
    one matrix product with the rows solved before and one small dense solve, O(n² k) as
    LAPACK's trsm (a dense solve of the triangle would cost O(n³))."""
    a, b = np.asarray(a), np.asarray(b)
    vector = b.ndim == 1
    if vector:
        b = b[:, None]
    if trans:
        a, lower = np.swapaxes(a, -1, -2), not lower
    n = a.shape[-1]
    x = np.empty(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:],
                 np.result_type(a, b, 0.0))
    starts = range(0, n, _BLOCK)
    for start in starts if lower else reversed(starts):
        stop = min(start + _BLOCK, n)
        done = slice(0, start) if lower else slice(stop, n)
        rhs = b[..., start:stop, :]
        if done.start != done.stop:
            rhs = rhs - a[..., start:stop, done] @ x[..., done, :]
        block = a[..., start:stop, start:stop]
        block = np.tril(block, -unit_diagonal) if lower else np.triu(block, unit_diagonal)
        if unit_diagonal:
            block = block + np.eye(stop - start)
        # few columns: a solve; many: the block's inverse times them (BLAS, and as accurate)
        x[..., start:stop, :] = np.linalg.solve(block, rhs) if rhs.shape[-1] < stop - start \
            else np.linalg.inv(block) @ rhs
    return x[..., 0] if vector else x


def _phi_array(x: np.ndarray) -> np.ndarray:
    """:func:`_phi` on arrays."""
    y = np.tril(x)
    i = np.arange(x.shape[-1])
    y[..., i, i] *= 0.5
    return y


def cholesky_adjoint(l, g):
    """``sym(L⁻ᵀ Φ(Lᵀ G) L⁻¹)`` for the lower triangles ``L`` of ``l`` and ``G`` of ``g``: the
    cotangent of a symmetric matrix given the cotangent ``G`` of its Cholesky factor ``L``.

    Computed as Murray (2016, arXiv:1602.07527) does, backwards over blocks of columns: each
    block takes matrix products with the blocks beside it and the formula on its own diagonal
    block, about (2/3) n³ operations where the formula's product and two triangular solves
    take 4 n³.  Works on the lower triangle ``A`` of the result, ``Φ(S + Sᵀ)``."""
    l, g = np.asarray(l), np.asarray(g)
    n = l.shape[-1]
    a = np.tril(np.broadcast_to(g, np.broadcast_shapes(l.shape, g.shape)))
    for stop in range(n, 0, -_BLOCK):
        start = max(0, stop - _BLOCK)
        d = np.tril(l[..., start:stop, start:stop])
        d_inv = np.linalg.inv(d)
        if stop < n:  # the rows below: C̄ = C̄ D⁻¹, B̄ -= C̄ R, D̄ -= tril(C̄ᵀ C)
            c_bar = a[..., stop:, start:stop] @ d_inv
            a[..., stop:, start:stop] = c_bar
            a[..., stop:, :start] -= c_bar @ l[..., start:stop, :start]
            a[..., start:stop, start:stop] -= np.tril(np.swapaxes(c_bar, -1, -2)
                                                      @ l[..., stop:, start:stop])
        s = np.swapaxes(d_inv, -1, -2) @ _phi_array(np.swapaxes(d, -1, -2)
                                                     @ a[..., start:stop, start:stop]) @ d_inv
        d_bar = _phi_array(s + np.swapaxes(s, -1, -2))
        a[..., start:stop, start:stop] = d_bar
        if start:  # R̄ -= C̄ᵀ B + (D̄ + D̄ᵀ) R
            update = (d_bar + np.swapaxes(d_bar, -1, -2)) @ l[..., start:stop, :start]
            if stop < n:
                update += np.swapaxes(a[..., stop:, start:stop], -1, -2) @ l[..., stop:, :start]
            a[..., start:stop, :start] -= update
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def eigh_packed(a):
    """``np.linalg.eigh`` of the symmetric part of ``a``: eigenvalues (ascending) in row 0,
    the eigenvectors (columns) below, shape ``(..., n + 1, n)``."""
    w, v = np.linalg.eigh(0.5 * (a + np.swapaxes(a, -1, -2)))
    return np.concatenate([w[..., None, :], v], axis=-2)


def scipy_sparse():
    """``scipy.sparse``, imported on first use (scipy is an optional extra)."""
    try:
        import scipy.sparse
    except ImportError:
        raise ImportError("sparse Jacobians and Hessians need scipy: "
                          "pip install 'symgrad[sparse]'") from None
    return scipy.sparse


@functools.lru_cache(maxsize=64)
def _band_pattern(offsets, vdims, xdims):
    """The CSR structure of a band's matrix, computed once per band: ``(indptr, indices,
    parts)``, ``parts`` saying for each diagonal in range the index of its coefficient, its
    in-range box of V (slices) and where its entries go in the CSR data (a slice where they
    are evenly spaced, as for any band of vectors, else an index array)."""
    rows, cols, parts = [], [], []
    for k, offset in enumerate(offsets):
        bounds = _band_region(vdims, xdims, offset)
        if bounds is None:
            continue
        region = tuple(np.ogrid[tuple(slice(lo, hi) for lo, hi in bounds)]) if bounds else ()
        at = tuple(i + o for i, o in zip(region, offset))
        rows.append(np.ravel_multi_index(np.broadcast_arrays(*region), vdims).ravel())
        cols.append(np.ravel_multi_index(np.broadcast_arrays(*at), xdims).ravel())
        parts.append((k, tuple(slice(lo, hi) for lo, hi in bounds)))
    n_rows, nnz = math.prod(vdims), sum(len(r) for r in rows)
    index = np.int32 if max(n_rows, math.prod(xdims), nnz) < 2**31 else np.int64
    if not rows:
        return np.zeros(n_rows + 1, index), np.zeros(0, index), ()
    all_rows, all_cols = np.concatenate(rows), np.concatenate(cols)
    order = np.lexsort((all_cols, all_rows))
    position = np.empty(nnz, np.intp)
    position[order] = np.arange(nnz)
    indptr = np.zeros(n_rows + 1, index)
    np.cumsum(np.bincount(all_rows, minlength=n_rows), out=indptr[1:])
    placed, start = [], 0
    for (k, box), r in zip(parts, rows):
        dest = position[start:start + len(r)]
        start += len(r)
        steps = np.diff(dest)
        if len(dest) == 1 or len(steps) and steps[0] > 0 and (steps == steps[0]).all():
            step = int(steps[0]) if len(steps) else 1
            dest = slice(int(dest[0]), int(dest[-1]) + 1, step)
        placed.append((k, box, dest))
    return indptr, all_cols[order].astype(index), tuple(placed)


def band_sparse(*coefs, offsets, vdims, xdims):
    """:func:`band` as a ``scipy.sparse`` CSR matrix of shape (size of V, size of X): the
    structure computed once per band (:func:`_band_pattern`), the entries placed per call."""
    vdims, xdims = tuple(vdims), tuple(xdims)
    indptr, indices, parts = _band_pattern(offsets, vdims, xdims)
    data = np.empty(len(indices), np.result_type(*coefs, 0.0) if coefs else np.float64)
    for k, box, dest in parts:
        c = coefs[k] if np.shape(coefs[k]) == vdims else np.broadcast_to(coefs[k], vdims)
        values = c[box]
        data[dest] = values if values.ndim == 1 else values.reshape(-1)
    return csr(data, indices, indptr, (math.prod(vdims), math.prod(xdims)))


def csr(data, indices, indptr, shape):
    """The ``scipy.sparse`` CSR matrix of ``shape`` holding ``data`` in this structure (the
    index arrays copied: users may change a matrix's index arrays in place)."""
    return scipy_sparse().csr_matrix((data, indices.copy(), indptr.copy()), shape=shape)


def dense_sparse(j, rank):
    """The dense Jacobian ``j`` (shape V + X, X of ``rank`` axes) as a CSR matrix."""
    sparse = scipy_sparse()
    j = np.asarray(j)
    size = int(np.prod(j.shape[j.ndim - rank:]))
    return sparse.csr_matrix(j.reshape(-1, size))


# -- special functions (SciPy, imported on first use) ----------------------------------------
def _scipy_special():
    try:
        import scipy.special
    except ImportError:
        raise ImportError("symgrad's special functions need scipy: pip install scipy "
                          "(or pip install 'symgrad[sparse]')") from None
    return scipy.special


def _special_ufunc(name: str):
    """``scipy.special.NAME`` as a runtime helper (with ``out=``), SciPy imported on first call."""
    def fn(*args, out=None):
        return getattr(_scipy_special(), name)(*args, out=out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"scipy.special.{name}, SciPy imported on the first call."
    return fn


erf, erfc, erfinv, gammaln, logit, ndtr, log_ndtr, xlog1py = map(_special_ufunc, [
    "erf", "erfc", "erfinv", "gammaln", "logit", "ndtr", "log_ndtr", "xlog1py"])


def polygamma(x, n):
    """scipy.special.polygamma(n, x) (psi for n = 0), in x's float dtype (SciPy's own
    polygamma computes in float64)."""
    special = _scipy_special()
    x = np.asarray(x)
    if n == 0:
        return special.psi(x)
    return special.polygamma(n, x).astype(x.dtype if x.dtype.kind == "f" else np.float64)
