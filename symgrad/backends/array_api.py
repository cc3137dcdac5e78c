"""Backends for array libraries with NumPy's API: symgrad's NumPy code run on another module.

Every op's NumPy emitter prints source against two names, ``np`` (NumPy) and ``rt``
(symgrad.runtime).  An :class:`ArrayBackend` binds ``np`` to another module with NumPy's API
(``jax.numpy``, ``cupy``) and ``rt`` to a :class:`Runtime`, symgrad.runtime's helpers written
once for any such module, so the ops need no emitter of their own for it.  An op is
expressible where every name its source reaches exists there: ``np.linalg.slogdet`` must be
an attribute of the module, ``rt.band_sparse`` one of the runtime; otherwise compiling raises
an UnsupportedError naming the op and the backend.  Elementwise ops whose implementation is a
Python function (``sg.defop``) run it through ``rt.callback`` (a host callback for JAX).

The jax and cupy backends are made here; NumPy can stand in for CuPy (``cupy_backend(np,
scipy.special)``), so everything but the device is tested without a GPU.
"""
from __future__ import annotations

import re

import numpy as np

from .. import runtime as numpy_runtime
from ..errors import UnsupportedError
from . import Backend

# the names NumPy source reaches: np.linalg.solve, rt.sigmoid, f0 (an implementation bound
# by reference in the function's namespace)
_NAMES = re.compile(r"\b(np|rt)((?:\.\w+)+)|\b(f\d+)\b")
_SPECIAL = ("erf", "erfc", "erfinv", "gammaln", "logit", "ndtr", "log_ndtr", "xlog1py")


def _grids(bounds: list) -> list:
    """Open index grids (NumPy) over the box ``[(lo, hi), ...]``, broadcasting to its shape."""
    r = len(bounds)
    return [np.arange(lo, hi).reshape((1,) * j + (-1,) + (1,) * (r - j - 1))
            for j, (lo, hi) in enumerate(bounds)]


class Runtime:
    """symgrad.runtime's helpers (the generated code's ``rt``) for any array module ``xp``
    with NumPy's API; ``special`` is its ``scipy.special`` (``jax.scipy.special``,
    ``cupyx.scipy.special``), ``to_host`` turns its arrays into NumPy's.

    Helpers that take ``out=`` write their result there when given (backends with buffers).
    Arrays are updated only through :meth:`_write` and :meth:`_add_at`, which write in place
    here; a subclass for immutable arrays returns updated copies instead.

    >>> rt = Runtime(np, scipy.special); rt.sigmoid(np.zeros(2))
    array([0.5, 0.5])
    """

    def __init__(self, xp, special, to_host=np.asarray) -> None:
        self.xp = xp
        self.special = special
        self.to_host = to_host
        for name in _SPECIAL:
            setattr(self, name, self._special(name))

    # -- how arrays change: in place here ----------------------------------------------
    def _write(self, x, index, value):
        """``x`` (an array the caller owns) with ``value`` written at ``index``."""
        x[index] = value
        return x

    def _add_at(self, x, index, value):
        """``x`` (an array the caller owns) with ``value`` added at ``index``, repeated
        places summed (``np.add.at``)."""
        self.xp.add.at(x, index, value)
        return x

    def _into(self, out, result):
        """``result``, written into ``out`` when a buffer is given."""
        if out is None:
            return result
        out[...] = result
        return out

    def _special(self, name: str):
        fn = getattr(self.special, name)
        return lambda *args, out=None: self._into(out, fn(*args))

    # -- elementwise ---------------------------------------------------------------------
    def sigmoid(self, x, out=None):
        return self._into(out, 1.0 / (1.0 + self.xp.exp(-x)))

    def softplus(self, x, out=None):
        """max(x, 0) + log1p(exp(-|x|)): no overflow."""
        xp = self.xp
        return self._into(out, xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x))))

    def relu(self, x, out=None):
        return self._into(out, self.xp.maximum(x, 0))

    def sign(self, x, out=None):
        return self._into(out, self.xp.sign(x))

    def int_power(self, x, n, out=None):
        return self._into(out, x * x if n == 2 else x ** n)

    def xlogy(self, x, y):
        """x * log(y), 0 where x == 0 (whatever y is)."""
        return self.xp.where(x == 0, 0.0, x * self.xp.log(y))

    def polygamma(self, x, n):
        """polygamma(n, x) (digamma for n = 0) in x's float dtype."""
        s = self.special
        r = s.digamma(x) if n == 0 else s.polygamma(n, x)
        return r.astype(x.dtype if x.dtype.kind == "f" else np.float64)

    def callback(self, fn, dtype, *args, **params):
        """An elementwise op's Python implementation ``fn`` on host copies of ``args``."""
        result = fn(*(self.to_host(a) for a in args), **params)
        return self.xp.asarray(np.asarray(result, dtype))

    # -- filling, moving, indexing ---------------------------------------------------------
    def fill(self, shape, value, dtype):
        return self.xp.full(shape, value, dtype)

    def scatter(self, g, shape, index, dtype):
        """zeros(shape) with ``g`` written at the basic index ``index``."""
        return self._write(self.xp.zeros(shape, dtype), index, g)

    def argsort(self, x, axis):
        return self.xp.argsort(x, axis=axis, kind="stable")

    def _advanced(self, shape, idx, axes, nb):
        """As symgrad.runtime._advanced: the index into the array of ``shape`` with its
        ``nb`` batch axes, then its indexed ``axes``, moved to the front; the block's shape
        behind the batch; and the axes moved (None: they are in front already)."""
        block = np.broadcast_shapes(*(np.shape(i) for i in idx))
        ranges = tuple(
            self.xp.arange(shape[j]).reshape((1,) * j + (-1,) + (1,) * (len(block) - j - 1))
            for j in range(nb))
        front = list(range(nb)) + [nb + a for a in axes]
        return ranges + tuple(idx), block[nb:], None if front == list(range(len(front))) else front

    def _to_front(self, x, front):
        return x if front is None else self.xp.moveaxis(x, front, tuple(range(len(front))))

    def _from_front(self, x, front):
        return x if front is None else self.xp.moveaxis(x, tuple(range(len(front))), front)

    def _block_to(self, x, nb, k, at, back: bool):
        """Move the ``k`` axes of an index block between just behind the batch and ``at``."""
        if not at:
            return x
        here, there = tuple(range(nb, nb + k)), tuple(range(nb + at, nb + at + k))
        return self.xp.moveaxis(x, here, there) if back else self.xp.moveaxis(x, there, here)

    def gather(self, x, *idx, axes, at, nb):
        """``x`` at the integer arrays ``idx`` on ``axes`` (see symgrad.runtime.gather)."""
        index, block, front = self._advanced(x.shape, idx, axes, nb)
        return self._block_to(self._to_front(x, front)[index], nb, len(block), at, back=True)

    def scatter_add(self, g, *idx, axes, at, nb, shape):
        """Zeros of ``shape`` with ``g`` added where :meth:`gather` reads (duplicates summed)."""
        index, block, front = self._advanced(shape, idx, axes, nb)
        moved = self._to_front(np.empty(shape, bool), front).shape  # the shape, axes moved
        out = self._add_at(self.xp.zeros(moved, g.dtype), index,
                           self._block_to(g, nb, len(block), at, back=False))
        return self._from_front(out, front)

    def scatter_set(self, x, v, *idx, axes, at, nb):
        """``x`` with ``v`` written where :meth:`gather` reads (for duplicates, the last one)."""
        xp = self.xp
        index, block, front = self._advanced(x.shape, idx, axes, nb)
        v = xp.broadcast_to(v, self.gather(x, *idx, axes=axes, at=at, nb=nb).shape)
        moved = xp.array(self._to_front(x, front), copy=True)
        out = self._write(moved, index, self._block_to(v, nb, len(block), at, back=False))
        return self._from_front(out, front)

    def linear_recurrence(self, a, b, axis, reverse):
        """``h[i] = a[i]·h[i-1] + b[i]`` along ``axis`` (see symgrad.runtime), in log2(n)
        steps that each build new arrays."""
        xp = self.xp
        a, b = xp.broadcast_arrays(a, b)
        dtype = xp.result_type(a, b)
        a, b = xp.moveaxis(a, axis, 0), xp.moveaxis(b, axis, 0)
        if reverse:
            a, b = xp.roll(a[::-1], 1, axis=0), b[::-1]
        A = xp.concatenate([xp.zeros_like(a[:1]), a[1:]]).astype(dtype)  # h[-1] = 0
        B = b.astype(dtype)
        d = 1
        while d < B.shape[0]:
            B = xp.concatenate([B[:d], A[d:] * B[:-d] + B[d:]])
            A = xp.concatenate([A[:d], A[d:] * A[:-d]])
            d *= 2
        return xp.moveaxis(B[::-1] if reverse else B, 0, axis)

    def scan(self, step, nc, nx, length, reverse, stacks, *args):
        return numpy_runtime.scan(step, nc, nx, length, reverse, stacks, *args, xp=self.xp)

    while_loop = staticmethod(numpy_runtime.while_loop)  # Python control flow on any arrays
    cond = staticmethod(numpy_runtime.cond)

    def einsum(self, subscripts, *xs):
        return self.xp.einsum(subscripts, *xs)

    def band(self, *coefs, offsets, vdims, xdims):
        """``out[..., i, k] = Σ_j coefs[j][..., i] · [k = i + offsets[j]]``, shape lead + V + X."""
        xp = self.xp
        full = np.broadcast_shapes(*(np.shape(c) for c in coefs), tuple(vdims))
        out = xp.zeros(full + tuple(xdims), xp.result_type(*coefs, 0.0))  # float32 stays
        for offset, c in zip(offsets, coefs):
            bounds = numpy_runtime._band_region(vdims, xdims, offset)
            if bounds is None:
                continue
            grids = _grids(bounds)
            at = tuple(xp.asarray(i) for i in grids) + tuple(
                xp.asarray(i + o) for i, o in zip(grids, offset))
            out = self._add_at(out, (Ellipsis, *at), self._restrict(xp.asarray(c), bounds))
        return out

    def _restrict(self, c, bounds: list):
        """The coefficient ``c`` (broadcasting to lead + V) at the box ``bounds`` of V."""
        r = len(bounds)
        if c.ndim < r:
            c = c.reshape((1,) * (r - c.ndim) + c.shape)
        sizes = c.shape[c.ndim - r:]
        return c[(Ellipsis, *(slice(lo, hi) if n != 1 else slice(None)
                              for (lo, hi), n in zip(bounds, sizes)))]

    def band_part(self, g, offset):
        """``c[..., i] = g[..., i, i + offset]`` (0 where i + offset is outside)."""
        r = len(offset)
        nl = g.ndim - 2 * r
        out = self.xp.zeros(g.shape[:nl + r], g.dtype)
        bounds = numpy_runtime._band_region(g.shape[nl:nl + r], g.shape[nl + r:], offset)
        if bounds is None:
            return out
        grids = _grids(bounds)
        at = tuple(self.xp.asarray(i) for i in grids) + tuple(
            self.xp.asarray(i + o) for i, o in zip(grids, offset))
        return self._write(out, (Ellipsis, *(slice(lo, hi) for lo, hi in bounds)),
                           g[(Ellipsis, *at)])

    # -- linear algebra -----------------------------------------------------------------
    def triangular_solve(self, a, b, lower=False, trans=0, unit_diagonal=False):
        """``x`` with ``op(T) x = b`` for the triangle ``T`` of ``a`` (see
        symgrad.runtime.triangular_solve), as a dense solve of the triangle."""
        xp = self.xp
        n = a.shape[-1]
        t = xp.tril(a, -unit_diagonal) if lower else xp.triu(a, unit_diagonal)
        if unit_diagonal:
            t = t + xp.eye(n, dtype=t.dtype)
        if trans:
            t = xp.swapaxes(t, -1, -2)
        if b.ndim == 1:
            return xp.linalg.solve(t, b[:, None])[..., 0]
        return xp.linalg.solve(t, b)

    def _phi(self, x):
        """The lower triangle of ``x`` with its diagonal halved."""
        return self.xp.tril(x) - 0.5 * x * self.xp.eye(x.shape[-1], dtype=x.dtype)

    def cholesky_adjoint(self, l, g):
        """``sym(L⁻ᵀ Φ(Lᵀ G) L⁻¹)`` for the lower triangles ``L`` of ``l`` and ``G`` of
        ``g`` (see symgrad.runtime.cholesky_adjoint), with two triangular solves."""
        xp = self.xp
        l = xp.tril(l)
        swap = lambda m: xp.swapaxes(m, -1, -2)  # noqa: E731
        p = self._phi(swap(l) @ xp.tril(g))
        x = self.triangular_solve(l, p, lower=True, trans=1)  # L⁻ᵀ P
        s = swap(self.triangular_solve(l, swap(x), lower=True, trans=1))  # (L⁻ᵀ Xᵀ)ᵀ = X L⁻¹
        return 0.5 * (s + swap(s))

    def eigh_packed(self, a):
        """Eigenvalues (ascending) in row 0, the eigenvectors below (see symgrad.runtime)."""
        xp = self.xp
        w, v = xp.linalg.eigh(0.5 * (a + xp.swapaxes(a, -1, -2)))
        return xp.concatenate([w[..., None, :], v], axis=-2)


class ArrayBackend(Backend):
    """A backend running NumPy's source against the module ``xp`` with ``runtime`` as ``rt``;
    calls take arrays of class ``array_type`` as they are and convert others with
    ``xp.asarray``; with ``buffers`` the code writes into dead arrays (``out=``).

    >>> sg.function([x], sg.exp(x), backend=cupy_backend(np, scipy.special))
    """

    def __init__(self, name: str, xp, runtime: Runtime, *, array_type: type,
                 buffers: bool) -> None:
        super().__init__(name, {"np": xp, "rt": runtime},
                         {"argsort": lambda op, args, params, ctx, out:
                          f"rt.argsort({args[0]}, {params['axis']})"}, buffers=buffers)
        self.xp = xp
        self.runtime = runtime
        self.array_type = array_type
        self.quiet_numpy = xp is np  # NumPy standing in for another module warns as NumPy
        self._known: dict = {}  # a name the source reaches -> whether it exists here

    def emit(self, op, args: list, params: dict, ctx, out: str | None) -> str:
        """The op's NumPy source (or this backend's own), checked to reach only names that
        exist here; an elementwise op with a Python implementation becomes a callback."""
        source = super().emit(op, args, params, ctx, out)
        for match in _NAMES.finditer(source):
            if match.group(3) is not None:  # an implementation of the user's (or a lambda)
                if not op.elementwise:
                    raise UnsupportedError(
                        f"the backend {self.name!r} cannot express the op {op.name!r}: its "
                        f"implementation is a Python function of NumPy arrays, which "
                        f"{self.xp.__name__} code cannot call")
                return (f"rt.callback({match.group(3)}, {ctx.dtype}, {', '.join(args)}"
                        f"{''.join(f', {k}={v!r}' for k, v in params.items())})")
            name = match.group(0)
            if name not in self._known:
                owner = self.xp if match.group(1) == "np" else self.runtime
                for part in match.group(2).split(".")[1:]:
                    owner = getattr(owner, part, None)
                self._known[name] = owner is not None
            if not self._known[name]:
                where = self.xp.__name__ if match.group(1) == "np" else \
                    f"symgrad's runtime for {self.xp.__name__}"
                raise UnsupportedError(
                    f"the backend {self.name!r} cannot express the op {op.name!r}: its "
                    f"NumPy code calls {name}, which {where} does not have")
        return source

    def lower(self, plan) -> list:
        return [f"    # np is {self.xp.__name__} here, rt symgrad's helpers for it"] + \
            plan.generic(self)

    def asarray(self, value):
        return self.xp.asarray(value)

    def constant(self, value: np.ndarray):
        """A constant as an array of this module (copied to the device once)."""
        return self.xp.asarray(value)


def cupy_backend(xp, special, to_host=np.asarray) -> ArrayBackend:
    """The cupy backend over the array module ``xp`` and its ``special`` functions (``cupy``
    and ``cupyx.scipy.special``; NumPy and SciPy stand in for them where there is no GPU):
    buffers are reused (``out=``) and calls take and give ``xp``'s arrays.

    >>> f = sg.function([x], sg.exp(x), backend=cupy_backend(np, scipy.special))
    """
    return ArrayBackend("cupy", xp, Runtime(xp, special, to_host), array_type=xp.ndarray,
                        buffers=True)
