"""The dask backend: data chunked along a named dimension runs as ``dask.array`` graphs.

Inputs whose shape has the named dimension (``"n"`` unless told otherwise) are chunked along
it: a dask array is used as it is, a NumPy array is split into chunks of rows (those of the
first dask array among the inputs, else ``chunks`` rows, by default as many as fit in dask's
``array.chunk-size``).  Everything computed from them is a dask array.  Ops that act along
the chunked axis keep its chunks: elementwise ops run blockwise, sums and other reductions
reduce each chunk and then across chunks (as ``X.T @ r`` and ``einsum`` do), slices, running
sums, concatenations, broadcasts and the adjoint of slicing (padding with zero chunks) keep
the axis in pieces.  An op that would need a whole chunked axis in one chunk (sorting, a
solve along it, gathers) is an UnsupportedError at compile time.  Values without the named
dimension are small: those computed from NumPy inputs alone run as NumPy calls (parameters
such as ``W`` and ``b``); those computed from dask values stay lazy (one NumPy call on the
whole small array as a task, where dask has no such op).  Inputs without the named
dimension are NumPy values (a dask array given for one is computed first).

A call computes every output with one ``dask.compute`` (so shared work is done once), on
the current ``dask.distributed`` client if there is one (as dask itself does), else on
dask's default scheduler, and returns NumPy arrays; with ``lazy=True`` it returns the dask
arrays, uncomputed.  ``backend="dask"`` is ``DaskBackend()``; options take an instance:

>>> import dask.array as da, numpy as np, symgrad as sg
>>> from symgrad.backends.dask import DaskBackend
>>> X = sg.matrix("X", ("n", 3)); w = sg.vector("w", 3)
>>> loss = sg.sum(sg.softplus(X @ w))
>>> f = sg.function([X, w], [loss, sg.grad(loss, w)], backend="dask")
>>> f(da.ones((10, 3), chunks=(5, 3)), np.zeros(3))
(np.float64(6.931471805599453), array([5., 5., 5.]))
>>> g = sg.function([X, w], loss, backend=DaskBackend(dim="n", chunks=4, lazy=True))
>>> g(np.ones((10, 3)), np.zeros(3)).compute()
np.float64(6.931471805599453)
"""
from __future__ import annotations

import functools

import dask
import dask.array as da
import numpy as np
from dask.array.core import elemwise, normalize_chunks
from dask.base import tokenize
from dask.utils import parse_bytes

from .. import dims as D
from .. import runtime
from ..errors import ArgumentError, UnsupportedError
from ..op import REGISTRY, kwargs_code
from ..ops.shape import index_text
from . import Backend, Plan

HOST, LAZY, CHUNKED = 0, 1, 2  # a NumPy value; a small dask value; one chunked along the dim


@functools.cache
def _mentions(d, dim: str) -> bool:
    """Whether the size ``d`` (``"n"``, ``"n-1"``, 3) involves the dimension ``dim``."""
    return isinstance(d, str) and dim in D.affine(d)[0]


def _chunked(shape: tuple, dim: str) -> bool:
    return any(_mentions(d, dim) for d in shape)


class DaskBackend(Backend):
    """Generated code on ``dask.array``, chunked along the dimension ``dim``.

    ``chunks``: rows per chunk for NumPy inputs when no input is a dask array (an int, or
    ``"auto"``: as many rows of the widest input as fit in dask's ``array.chunk-size``).
    ``lazy``: return dask arrays instead of computing them.

    >>> sg.function([X, y, w], [loss, grad], backend=DaskBackend(chunks=1_000_000))
    """

    quiet_numpy = True  # the NumPy calls on small values; the blocks quiet themselves
    numpy_scalars = True

    def __init__(self, dim: str = "n", chunks: int | str = "auto", lazy: bool = False) -> None:
        if not isinstance(dim, str) or not dim.isidentifier():
            raise ArgumentError(f"DaskBackend: dim must be the name of a dimension, such as "
                                f"'n'; got {dim!r}")
        if chunks != "auto" and (not isinstance(chunks, int) or isinstance(chunks, bool)
                                 or chunks < 1):
            raise ArgumentError(f"DaskBackend: chunks must be a positive number of rows or "
                                f"'auto'; got {chunks!r}")
        super().__init__("dask", {"np": np, "rt": runtime, "da": da, "dk": self},
                         fallback=False, buffers=False)
        self.dim, self.chunks, self.lazy = dim, chunks, bool(lazy)

    def lower(self, plan: Plan) -> list:
        """The NumPy body with chunked inputs split, each node printed for its kind (see
        :class:`_Lowering`) and the results computed together by :meth:`finish`."""
        lowering = _Lowering(self, plan)
        return lowering.prologue() + plan.generic(lowering)[:-1] + [lowering.returns()]

    def asarray(self, value):
        """A dask array as it is (the generated code splits NumPy ones), else NumPy's."""
        return value if isinstance(value, da.Array) else np.asarray(value)

    def options(self) -> dict:
        return {"dim": self.dim, "chunks": self.chunks, "lazy": self.lazy}

    def __repr__(self) -> str:
        return (f"<symgrad.Backend dask: dim {self.dim!r}, chunks {self.chunks!r}"
                f"{', lazy' if self.lazy else ''}>")

    # -- what the generated code calls as dk.NAME ------------------------------------------
    def rows(self, size: int, *pairs) -> tuple:
        """The chunks of the named axis: those of the first dask array among ``pairs``
        ``(array, its named axis)``, else ``chunks`` rows each."""
        for a, axis in pairs:
            if isinstance(a, da.Array):
                return a.chunks[axis]
        rows = self.chunks
        if rows == "auto":
            widest = max(a.nbytes // max(a.shape[axis], 1) for a, axis in pairs)
            rows = max(1, parse_bytes(dask.config.get("array.chunk-size")) // max(widest, 1))
        return normalize_chunks(rows, (size,))[0]

    @staticmethod
    def split(a, chunks: tuple):
        """A NumPy array as a dask array of ``chunks``; a dask array as it is."""
        return a if isinstance(a, da.Array) else da.from_array(a, chunks=chunks, name=False)

    @staticmethod
    def host(a):
        """An input without the named dimension as NumPy (a dask array is computed)."""
        return a if isinstance(a, (np.ndarray, np.generic)) else np.asarray(a)

    @staticmethod
    def map(fn, dtype, /, *args, **params):
        """``fn(*blocks, **params)`` blockwise with NumPy's broadcasting, as a ufunc."""
        return elemwise(_Block(fn, params), *args, dtype=dtype)

    @staticmethod
    def whole(fn, shape: tuple, dtype, *args):
        """``fn(*args)`` as one task on whole (small) arrays."""
        return da.from_delayed(dask.delayed(_Block(fn, {}))(*args), shape, dtype=dtype)

    @staticmethod
    def broadcast_to(x, shape: tuple, chunks: tuple):
        """``x`` broadcast to ``shape``: new and stretched axes get ``chunks``."""
        x = da.asarray(x)
        new = len(shape) - x.ndim
        kept = tuple(c if old == size else spec for c, old, size, spec in
                     zip(x.chunks, x.shape, shape[new:], chunks[new:]))
        return da.broadcast_to(x, shape, chunks=chunks[:new] + kept)

    @staticmethod
    def scatter(g, shape: tuple, index, chunks: tuple):
        """Zeros of ``shape`` with ``g`` at the basic ``index`` (steps of 1), made of zero
        chunks concatenated around ``g``, in the inputs' chunks along the named axis: an
        adjoint of slicing that keeps every axis in pieces."""
        index = index if isinstance(index, tuple) else () if index is Ellipsis else (index,)
        g = da.asarray(g)
        g = g[tuple(0 if e is None else slice(None) for e in index if not isinstance(e, int))]
        g = g[tuple(None if isinstance(e, int) else slice(None) for e in index if e is not None)]
        for axis, (e, size) in enumerate(zip((e for e in index if e is not None), shape)):
            where = slice(e % size, e % size + 1) if isinstance(e, int) else e
            start, stop, _ = where.indices(size)
            rows = max(chunks[axis]) if isinstance(chunks[axis], tuple) else chunks[axis]

            def zeros(width, axis=axis, rows=rows):
                return da.zeros(g.shape[:axis] + (width,) + g.shape[axis + 1:], g.dtype,
                                chunks=g.chunks[:axis] + (rows,) + g.chunks[axis + 1:])
            after = size - max(start, stop)
            pieces = [zeros(start)] * bool(start) + [g] + [zeros(after)] * bool(after)
            if len(pieces) > 1:
                g = da.concatenate(pieces, axis)
        named = {axis: c for axis, c in enumerate(chunks) if isinstance(c, tuple)}
        if any(g.chunks[axis] != c for axis, c in named.items()):
            g = g.rechunk(named)  # the inputs' chunks again: each from at most three pieces
        return g

    def finish(self, results: tuple) -> tuple:
        """The results computed together, as fresh NumPy arrays (scalars for 0-d ones); with
        ``lazy``, as dask arrays."""
        if self.lazy:
            return tuple(r if isinstance(r, da.Array) else da.from_array(np.array(r))
                         for r in results)
        out, seen = [], set()
        for r in dask.compute(*results):
            r = np.asarray(r)
            if r.ndim == 0:
                r = r[()]
            elif r.base is not None or not r.flags.writeable or id(r) in seen:
                r = r.copy()  # a view of an input or of another result
            seen.add(id(r))
            out.append(r)
        return tuple(out)


class _Block:
    """``fn(*blocks, **params)`` with NumPy's floating-point warnings off, as the NumPy
    backend runs (an overflow to inf that gives an exact limit stays silent)."""

    def __init__(self, fn, params: dict) -> None:
        self.fn, self.params = fn, params
        self.__name__ = getattr(fn, "__name__", "block")

    def __call__(self, *blocks):
        state = runtime.quiet(runtime.QUIET)
        try:
            return self.fn(*blocks, **self.params)
        finally:
            runtime.restore(state)

    def __dask_tokenize__(self):
        return ("symgrad-block", tokenize(self.fn), tokenize(self.params))


class _Context:
    """The compiler's emit context with ``chunks(shape)``: the chunks of a new dask array
    of ``shape`` as source (``(chunks, -1)``: the named axis as the inputs', others whole)."""

    def __init__(self, ctx, dim: str) -> None:
        self._ctx, self._dim = ctx, dim

    def __getattr__(self, name: str):
        return getattr(self._ctx, name)

    def chunks(self, shape: tuple) -> str:
        return _chunk_spec(shape, self._dim)


def _chunk_spec(shape: tuple, dim: str) -> str:
    """The chunks of a dask array of ``shape`` as source: ``(chunks, -1)`` (the named axis
    in the inputs' chunks, an axis of ``n-1`` entries in automatic ones, others whole)."""
    specs = ["chunks" if d == dim else "'auto'" if _mentions(d, dim) else "-1" for d in shape]
    return f"({', '.join(specs)}{',' if len(specs) == 1 else ''})"


class _Lowering:
    """One function's lowering: each node's kind (HOST, LAZY or CHUNKED, from its inputs),
    checked at compile time, then the emitter for that kind.  The compiler's generic body
    calls :meth:`emit` for every node (see symgrad.compile._body)."""

    buffers = False  # dask arrays are immutable; NumPy values here are small
    loop_steps = "numpy"  # loops run on values without the named dimension: NumPy's

    def __init__(self, backend: DaskBackend, plan: Plan) -> None:
        self.backend, self.plan = backend, plan
        dim, g = backend.dim, plan.g
        self.kinds = {x.node: CHUNKED if _chunked(x.dims, dim) else HOST for x in plan.inputs}
        self.native = set()  # nodes printed with their op's dask emitter
        for node in plan.order:
            attrs = g[node]
            op = REGISTRY[attrs["op"]]
            kind = max((self.kinds[a] for a in attrs["args"]), default=HOST)
            emit = op.emitters.get("dask")
            if emit is not None and _WHEN.get(op.name, _always)(g, node, dim):
                self.native.add(node)
            if op.name == "shape_of":
                kind = HOST  # a size: known without computing
            elif op.bodies is not None and kind != HOST:
                raise UnsupportedError(
                    f"the backend 'dask' runs loops and branches ({op.name!r}) on values "
                    f"without the dimension {dim!r} only, as NumPy; this one reads values "
                    f"computed from inputs chunked along {dim!r}: run it with another backend")
            elif kind == CHUNKED or _chunked(attrs["shape"], dim):
                if node not in self.native and not op.elementwise:
                    raise UnsupportedError(
                        f"the backend 'dask' cannot compute the op {op.name!r} on arrays "
                        f"chunked along the dimension {dim!r} (result shape "
                        f"{D.fmt_shape(attrs['shape'])}): it has no form here that keeps that "
                        "axis in chunks, and one chunk would hold a whole input on one worker; "
                        f"compute it on values without {dim!r} (after a sum over it) or with "
                        "another backend")
                kind = CHUNKED if _chunked(attrs["shape"], dim) else LAZY
            self.kinds[node] = kind

    def constant(self, value):
        return self.backend.constant(value)

    def emit(self, op, args: list, params: dict, ctx, out) -> str:
        node = ctx.node
        if self.kinds[node] == HOST:
            return op.emitters["numpy"](args, params, ctx)
        if node in self.native:
            return op.emitters["dask"](args, params, _Context(ctx, self.backend.dim))
        if op.elementwise:
            return (f"dk.map({ctx.ref(op.impl)}, {ctx.dtype}, {', '.join(args)}"
                    f"{kwargs_code(params)})")
        # a small value computed from dask values by an op dask lacks: NumPy on the whole
        nodes = self.plan.g[node]["args"]
        lazy = list(dict.fromkeys(a for a, n in zip(args, nodes) if self.kinds[n] != HOST))
        return (f"dk.whole(lambda {', '.join(lazy)}: {op.emitters['numpy'](args, params, ctx)}, "
                f"{ctx.shape(self.plan.g[node]['shape'])}, {ctx.dtype}, {', '.join(lazy)})")

    def prologue(self) -> list:
        """Chunked inputs split along the named axis (all alike), the others as NumPy."""
        dim, dim_vars = self.backend.dim, self.plan.dim_vars
        lines, pairs = [], []
        for i, x in enumerate(self.plan.inputs):
            if self.kinds[x.node] == HOST:
                lines.append(f"    a{i} = dk.host(a{i})")
                continue
            if dim in x.dims:
                pairs.append(f"(a{i}, {x.dims.index(dim)})")
            lines.append(f"    a{i} = dk.split(a{i}, {_chunk_spec(x.dims, dim)})")
        if dim in dim_vars and pairs:
            lines.insert(0, f"    chunks = dk.rows({dim_vars[dim]}, {', '.join(pairs)})")
        return lines

    def returns(self) -> str:
        """``return dk.finish((results,))``: inputs and constants among them copied."""
        names = []
        inputs = {x.node: i for i, x in enumerate(self.plan.inputs)}
        for e in self.plan.outputs:
            if e.node in inputs:
                names.append(f"a{inputs[e.node]}.copy()")
            elif self.plan.g[e.node]["op"] == "constant":
                self.plan.namespace[f"c{e.node}"] = self.constant(self.plan.g[e.node]["value"])
                names.append(f"c{e.node}.copy()")
            else:
                names.append(f"t{e.node}")
        return f"    return dk.finish(({', '.join(names)}{',' if len(names) == 1 else ''}))"


# -- the ops dask computes along a chunked axis (elementwise ops run blockwise, dk.map) -----
def _always(g, node, dim) -> bool:
    return True


def _reshape_keeps(g, node, dim) -> bool:
    """A reshape keeps the chunks of the named axis when that axis stays one axis with the
    same size behind it (dask merges and splits only the axes around it)."""
    def behind(shape):
        hits = [i for i, d in enumerate(shape) if _mentions(d, dim)]
        return D.size_of(shape[hits[0] + 1:]) if len(hits) == 1 and shape[hits[0]] == dim else -1
    src = g[g[node]["args"][0]]["shape"]
    return not _chunked(src, dim) or behind(src) == behind(g[node]["shape"]) not in (-1, None)


def _unit_steps(g, node, dim) -> bool:
    index = dict(g[node]["params"])["index"]
    return all(e[0] != "slice" or e[3] in (None, 1) for e in index if e != ("new",))


_WHEN = {"reshape": _reshape_keeps, "scatter": _unit_steps}


def _call(name: str):
    return lambda args, params, ctx: f"da.{name}({', '.join(args)}{kwargs_code(params)})"


_EMITTERS = {
    **{name: _call(name) for name in ("sum", "prod", "max", "min", "any", "all", "argmax",
                                       "argmin", "cumsum", "cumprod", "matmul")},
    "einsum": lambda args, params, ctx: f"da.einsum({params['subscripts']!r}, {', '.join(args)})",
    "transpose": lambda args, params, ctx: f"da.transpose({args[0]}, {params['axes']})",
    "concatenate": lambda args, params, ctx: (
        f"da.concatenate(({', '.join(args)},), axis={params['axis']})"),
    "getitem": REGISTRY["getitem"].emitters["numpy"],  # x[1:, 0] slices dask arrays alike
    "reshape": REGISTRY["reshape"].emitters["numpy"],
    "name": REGISTRY["name"].emitters["numpy"],
    "broadcast_to": lambda args, params, ctx: (
        f"dk.broadcast_to({args[0]}, {ctx.shape(params['shape'])}, {ctx.chunks(params['shape'])})"),
    "fill": lambda args, params, ctx: (
        f"da.full({ctx.shape(params['shape'])}, {params['value']!r}, dtype=np.{params['dtype']}, "
        f"chunks={ctx.chunks(params['shape'])})"),
    "scatter": lambda args, params, ctx: (
        f"dk.scatter({args[0]}, {ctx.shape(params['shape'])}, "
        f"np.s_[{index_text(params['index'], ctx.dim)}], {ctx.chunks(params['shape'])})"),
    "stop_gradient": lambda args, params, ctx: args[0],
}
for _name, _emit in _EMITTERS.items():
    REGISTRY[_name].emitter("dask")(_emit)

BACKEND = DaskBackend()
