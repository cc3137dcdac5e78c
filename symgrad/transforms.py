"""Function transforms on Python callables, with JAX's names and semantics: ``grad``,
``value_and_grad``, ``jacobian``, ``hessian``, ``jvp``, ``vjp``, ``vmap``, ``jit`` and
``ravel_pytree``.

A transform returns a :class:`Transformed` function.  Called with arrays (numbers, or
pytrees of them) it traces the function on fresh symbols in a fresh graph, builds the
derivative with :mod:`symgrad.autodiff`, compiles it with :func:`symgrad.function` and
caches the compiled code; called with expressions (inside another transform, or inside a
function being traced) it returns expressions, so transforms nest: ``jit(hessian(f))``,
``grad(grad(f))``, ``vmap(grad(f))``.  Given an expression instead of a function, ``grad``,
``jacobian``, ``hessian``, ``jvp`` and ``vjp`` are :mod:`symgrad.autodiff`'s, unchanged.

Axes are traced as named dimensions: axes of equal size share a name, and sizes 0 and 1 stay
fixed (they broadcast).  So one compilation serves every call whose sizes relate alike (JAX
compiles once per shape), and a call whose sizes relate differently traces again.  A function
that needs fixed sizes (an array of fixed shape captured from outside, a loop over an axis)
is traced again with the call's sizes and from then on compiled per size, as JAX does.
"""
from __future__ import annotations

import functools
import operator
from typing import Callable, Sequence

import numpy as np

from . import autodiff
from . import dims as D
from .batching import vectorize
from .compile import NUMPY, Backend, function
from .errors import ArgumentError, ShapeError, SymgradError, UnsupportedError
from .expr import Expr, as_expr, symbol
from .graph import Graph, common_graph
from .ops.arrays import moveaxis
from .ops.shape import concatenate, reshape, zeros_like
from .trees import tree_flatten, tree_unflatten

Argnums = int | Sequence[int]
_FIXED = object()  # cache entry: this pattern of sizes is compiled per size


class Transformed:
    """A function made by a transform.  ``f(*arrays)`` runs compiled NumPy code (traced and
    compiled once per argument structure, dtypes and pattern of sizes); ``f(*exprs)`` and
    ``f.trace(*exprs)`` return expressions, which is how transforms nest.

    >>> df = sg.grad(sg.tanh); df(2.0)        # 1 - tanh(2)**2
    """

    def __init__(self, build: Callable, fun: Callable, what: str,
                 static_argnums: Sequence[int] = (), backend: Backend = NUMPY) -> None:
        functools.update_wrapper(self, fun, updated=())
        self.build, self.what = build, what
        self.static_argnums, self.backend = tuple(static_argnums), backend
        self._cache: dict = {}

    def __repr__(self) -> str:
        return f"<symgrad.{self.what} of {getattr(self, '__qualname__', repr(self.__wrapped__))}>"

    def trace(self, *args):
        """The outputs as expressions (a pytree) for arguments that are pytrees of
        expressions (static arguments as Python values).

        >>> sg.grad(sg.tanh).trace(sg.scalar("x"))      # an Expr
        """
        return self.build(*args)

    def __call__(self, *args):
        static = set(_positions(self.static_argnums, len(args), self.what, "static_argnums"))
        leaves, defs, owner = [], [], []
        for i, arg in enumerate(args):
            if i not in static:
                found, treedef = tree_flatten(arg)
                leaves += found
                defs.append(treedef)
                owner += [i] * len(found)
        if any(isinstance(x, Expr) for x in leaves):
            return self.trace(*args)
        statics = tuple((i, _hashable(args[i], i, self.what)) for i in sorted(static))
        arrays = [_array(x, i, self.what) for x, i in zip(leaves, owner)]
        shapes = tuple(a.shape for a in arrays)
        dims = _named(shapes)
        key = (tuple(defs), statics, tuple(a.dtype for a in arrays), dims)
        entry = self._cache.get(key)
        if entry is None:
            try:
                entry = self._cache[key] = self._compile(args, static, defs, arrays, dims)
            except Exception:
                if dims == shapes:
                    raise
                entry = _FIXED  # retried with the call's sizes below; raises if f is wrong
        if entry is _FIXED:
            entry = self._cache.get((key, shapes))
            if entry is None:
                entry = self._compile(args, static, defs, arrays, shapes)
                self._cache[key], self._cache[(key, shapes)] = _FIXED, entry
        fn, out_def = entry
        return tree_unflatten(out_def, fn(*arrays) if fn is not None else [])

    def _compile(self, args: tuple, static: set, defs: list, arrays: list, dims: tuple):
        """``(compiled function or None, output structure)``: ``self.trace`` on symbols of
        shapes ``dims`` in a fresh graph, compiled."""
        with Graph():
            symbols = [symbol(f"x{i}", d, a.dtype) for i, (a, d) in enumerate(zip(arrays, dims))]
            it, trees = iter(symbols), iter(defs)
            full = [args[i] if i in static else tree_unflatten(next(trees), it)
                    for i in range(len(args))]
            outs, out_def = tree_flatten(self.trace(*full))
            outs = [_output(o, self.what) for o in outs]
            return (function(symbols, outs, self.backend) if outs else None), out_def


# -- helpers shared by the transforms --------------------------------------------------------
def _named(shapes: tuple) -> tuple:
    """The shapes with each size above 1 replaced by a name shared by equal sizes."""
    names: dict = {}
    return tuple(tuple(s if s < 2 else names.setdefault(s, f"n{len(names)}") for s in shape)
                 for shape in shapes)


def _array(x, i: int, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise ArgumentError(f"{what}: argument {i} holds {type(x).__name__} {x!r}, not a number "
                            "or an array of numbers (pass Python values as static arguments "
                            "of sg.jit)")
    return a


def _hashable(value, i: int, what: str):
    try:
        hash(value)
    except TypeError:
        raise ArgumentError(f"{what}: static argument {i} ({type(value).__name__}) is not "
                            "hashable; static arguments key the cache of compilations, pass a "
                            "tuple instead of a list") from None
    return value


def _output(value, what: str) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, (int, float, bool, np.ndarray, np.generic)):
        return as_expr(value)
    raise SymgradError(f"{what}: the function returned {type(value).__name__} {value!r}, "
                       "where arrays or expressions are expected")


def _traceable(f, what: str) -> Callable:
    """What builds ``f``'s output expressions from input expressions."""
    if isinstance(f, Transformed):
        return f.trace
    if not callable(f):
        raise SymgradError(f"{what}: expected a function, got {type(f).__name__} {f!r}")
    return f


def _argnums(argnums, what: str, name: str = "argnums") -> tuple:
    """``(tuple of ints, whether one int was given)``, checked when the transform is made."""
    single = isinstance(argnums, (int, np.integer))
    nums = (argnums,) if single else argnums
    if (not isinstance(nums, (tuple, list)) or (not nums and name == "argnums")
            or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in nums)):
        raise SymgradError(f"{what}: {name} must be an int or a "
                           f"{'non-empty ' if name == 'argnums' else ''}tuple of ints, "
                           f"got {argnums!r}")
    return tuple(int(a) for a in nums), single


def _positions(nums: tuple, nargs: int, what: str, name: str) -> tuple:
    """``nums`` as indices into ``nargs`` arguments (negative ones count from the end)."""
    for a in nums:
        if not -nargs <= a < nargs:
            raise SymgradError(f"{what}: {name} refers to argument {a}, but the function was "
                               f"called with {nargs} positional argument(s)")
    return tuple(a % nargs for a in nums)


def _wrt(args: Sequence, nums: Sequence[int], what: str) -> tuple:
    """``(leaves, unflatten)``: the leaves of the arguments ``nums``, each checked to be
    floating point, and ``unflatten(results, single)`` putting one result per leaf back into
    their structures (one tree, or a tuple of trees)."""
    leaves, defs = [], []
    for a in nums:
        found, treedef = tree_flatten(args[a])
        for x in found:
            dtype = x.dtype if isinstance(x, Expr) else np.asarray(x).dtype
            if dtype.kind != "f":
                raise SymgradError(f"{what}: argument {a} has dtype {dtype}; only floating-point "
                                   "arguments can be differentiated")
        leaves += found
        defs.append(treedef)

    def unflatten(results: list, single: bool):
        it = iter(results)
        trees = tuple(tree_unflatten(d, it) for d in defs)
        return trees[0] if single else trees
    return leaves, unflatten


def _or_expression(expression_form: Callable) -> Callable:
    """Decorate a transform so that a first argument that is not a function (an Expr, or for
    jvp a list of them) goes to ``expression_form``, symgrad.autodiff's, with the same
    arguments."""
    def decorate(transform: Callable) -> Callable:
        @functools.wraps(transform)
        def dispatch(f, *args, **kwargs):
            if isinstance(f, Expr) or not callable(f):
                return expression_form(f, *args, **kwargs)
            return transform(f, *args, **kwargs)
        return dispatch
    return decorate


@functools.lru_cache(maxsize=64)
def _cached(make: Callable, f: Callable, what: str) -> Transformed:
    """``Transformed(make(f))``, made once per function, so that repeated ``sg.jvp(f, ...)``
    and ``sg.vjp(f, ...)`` calls reuse their compilations."""
    return Transformed(make(f), f, what)


def _transformed(make: Callable, f: Callable, what: str) -> Transformed:
    try:
        hash(f)
    except TypeError:  # an unhashable callable: not cached
        return Transformed(make(f), f, what)
    return _cached(make, f, what)


# -- the transforms --------------------------------------------------------------------------
def _value_and_grad(f: Callable, argnums: Argnums, what: str) -> Callable:
    """``build(*args) -> (value, gradient)`` for a function with a float scalar output."""
    fun = _traceable(f, what)
    nums, single = _argnums(argnums, what)

    def build(*args):
        wrt, unflatten = _wrt(args, _positions(nums, len(args), what, "argnums"), what)
        out = fun(*args)
        if isinstance(out, (list, tuple, dict)) or out is None:
            raise ShapeError(f"{what}: the function must return one scalar, got "
                             f"{type(out).__name__}; use sg.jacobian for other outputs")
        out = as_expr(out)
        if out.ndim != 0 or out.dtype.kind != "f":
            raise ShapeError(f"{what}: the function must return a floating-point scalar, got "
                             f"shape {D.fmt_shape(out.dims)} and dtype {out.dtype}; use "
                             "sg.jacobian for other outputs")
        return out, unflatten(autodiff.grad(out, wrt), single)
    return build


@_or_expression(autodiff.grad)
def grad(f: Callable, argnums: Argnums = 0) -> Transformed:
    """The gradient of ``f``, a function with a float scalar output, with respect to its
    argument ``argnums`` (an int: one gradient of that argument's structure; a tuple: a tuple
    of them), as JAX's ``grad``.  ``sg.grad(cost, wrt, disconnected="zero")`` with an
    expression ``cost`` is :func:`symgrad.autodiff.grad`.

    >>> sg.grad(sg.tanh)(2.0)                    # 1 - tanh(2)**2
    >>> sg.grad(lambda w, b: sg.sum(x @ w + b), argnums=(0, 1))(w, b)
    """
    build = _value_and_grad(f, argnums, "grad")
    return Transformed(lambda *args: build(*args)[1], f, "grad")


def value_and_grad(f: Callable, argnums: Argnums = 0) -> Transformed:
    """``(f(*args), grad(f, argnums)(*args))`` from one compiled function, as JAX's.

    >>> value, g = sg.value_and_grad(lambda x: sg.sum(x ** 2))(np.ones(3))   # 3.0, [2, 2, 2]
    """
    return Transformed(_value_and_grad(f, argnums, "value_and_grad"), f, "value_and_grad")


def _jacobian(f: Callable, argnums: Argnums, what: str) -> Callable:
    """``build(*args)``: for each output leaf (shape ``out``) the Jacobian with respect to
    each leaf of the arguments ``argnums`` (shape ``out + in``) in JAX's layout: the output's
    structure of the arguments' structures.  A scalar output's is its gradient."""
    fun = _traceable(f, what)
    nums, single = _argnums(argnums, what)

    def build(*args):
        wrt, unflatten = _wrt(args, _positions(nums, len(args), what, "argnums"), what)
        outs, out_def = tree_flatten(fun(*args))
        results = []
        for y in outs:
            y = as_expr(y)
            if y.dtype.kind != "f":
                raise SymgradError(f"{what}: an output of dtype {y.dtype} has no derivative; "
                                   "only floating-point outputs do")
            d = autodiff.grad(y, wrt) if y.ndim == 0 else autodiff.jacobian(y, wrt)
            results.append(unflatten(d, single))
        return tree_unflatten(out_def, results)
    return build


@_or_expression(autodiff.jacobian)
def jacobian(f: Callable, argnums: Argnums = 0) -> Transformed:
    """The Jacobian of ``f`` with respect to its argument ``argnums``, in the layout of JAX's
    ``jacfwd``/``jacrev``: each output's entry has shape ``output.shape + input.shape``.
    ``sg.jacobian(y, wrt)`` with an expression ``y`` is :func:`symgrad.autodiff.jacobian`.

    >>> sg.jacobian(lambda x: sg.sin(x))(np.zeros(3))          # diag(cos(0)) = eye(3)
    """
    return Transformed(_jacobian(f, argnums, "jacobian"), f, "jacobian")


@_or_expression(autodiff.hessian)
def hessian(f: Callable, argnums: Argnums = 0) -> Transformed:
    """The Hessian of ``f`` with respect to its argument ``argnums``: the Jacobian of the
    Jacobian (forward over reverse), shape ``output.shape + input.shape + input.shape``,
    nested by structure as JAX's ``hessian``.  ``sg.hessian(cost, wrt, sparse=False)`` with an
    expression ``cost`` is :func:`symgrad.autodiff.hessian`.

    >>> sg.hessian(lambda x: sg.sum(x ** 3))(np.ones(2))       # diag(6 x)
    """
    return Transformed(_jacobian(_jacobian(f, argnums, "hessian"), argnums, "hessian"),
                       f, "hessian")


def _jvp(f: Callable) -> Callable:
    fun = _traceable(f, "jvp")

    def build(primals, tangents):
        xs, _ = _wrt(primals, range(len(primals)), "jvp")
        ts, tangent_def = tree_flatten(list(tangents))
        primal_def = tree_flatten(list(primals))[1]
        if primal_def != tangent_def:
            raise SymgradError(f"jvp: the tangents' structure {tangent_def!r} differs from the "
                               f"primals' {primal_def!r}")
        ts = [as_expr(t, x) for x, t in zip(xs, ts)]
        for x, t in zip(xs, ts):
            if isinstance(x, Expr) and x.dims != t.dims:
                raise ShapeError(f"jvp: a tangent has shape {D.fmt_shape(t.dims)}, its primal "
                                 f"{D.fmt_shape(x.dims)}")
        out = fun(*primals)
        ys, out_def = tree_flatten(out)
        ys = [as_expr(y) for y in ys]
        return out, tree_unflatten(out_def, autodiff.jvp(ys, xs, ts) if ys else [])
    return build


@_or_expression(autodiff.jvp)
def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple:
    """``(f(*primals), J · tangents)``: the forward-mode product, as JAX's ``jvp``; ``primals``
    and ``tangents`` are tuples of the same structure.  ``sg.jvp(y, wrt, tangent)`` with an
    expression (or a list of expressions) ``y`` is :func:`symgrad.autodiff.jvp`.

    >>> y, dy = sg.jvp(sg.sin, (0.5,), (1.0,))                # sin(0.5), cos(0.5)
    """
    for name, value in (("primals", primals), ("tangents", tangents)):
        if not isinstance(value, (tuple, list)):
            raise SymgradError(f"jvp: {name} must be a tuple of arguments, got "
                               f"{type(value).__name__}")
    if len(primals) != len(tangents):
        raise SymgradError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    return _transformed(_jvp, f, "jvp")(tuple(primals), tuple(tangents))


def _primal(f: Callable) -> Callable:
    return _traceable(f, "vjp")


def _vjp(f: Callable) -> Callable:
    fun = _traceable(f, "vjp")

    def build(primals, cotangent):
        xs, unflatten = _wrt(primals, range(len(primals)), "vjp")
        ys, out_def = tree_flatten(fun(*primals))
        cs, cotangent_def = tree_flatten(cotangent)
        if cotangent_def != out_def:
            raise SymgradError(f"vjp: the cotangent's structure {cotangent_def!r} differs from "
                               f"the output's {out_def!r}")
        parts = [autodiff.vjp(as_expr(y), xs, c) for y, c in zip(ys, cs)]
        total = ([functools.reduce(operator.add, column) for column in zip(*parts)] if parts
                 else [zeros_like(as_expr(x)) for x in xs])
        return unflatten(total, False)
    return build


@_or_expression(autodiff.vjp)
def vjp(f: Callable, *primals) -> tuple:
    """``(f(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` is the reverse-mode product
    ``cotangentᵀ J``: a tuple with one entry per primal, as JAX's ``vjp``.
    ``sg.vjp(y, wrt, cotangent, disconnected="zero")`` with an expression ``y`` is
    :func:`symgrad.autodiff.vjp`.

    >>> y, vjp_fn = sg.vjp(lambda x: x ** 2, np.arange(3.0)); vjp_fn(np.ones(3))   # ([0, 2, 4],)
    """
    if not primals:
        raise SymgradError("vjp: give the primal arguments: sg.vjp(f, *primals)")
    backward = _transformed(_vjp, f, "vjp")
    return _transformed(_primal, f, "vjp")(*primals), lambda cotangent: backward(primals, cotangent)


def vmap(f: Callable, in_axes: int | None | Sequence[int | None] = 0,
         out_axes: int = 0) -> Transformed:
    """``f`` mapped over an axis of its arguments, as JAX's ``vmap``: ``in_axes`` is the
    mapped axis of every argument (an int), or a tuple with one int or None (not mapped) per
    argument; the outputs carry the mapped axis at ``out_axes``.  Traced once for one
    example, then batched by :func:`symgrad.vectorize`.

    >>> sg.vmap(lambda x, w: sg.tanh(x @ w), in_axes=(0, None))(X, w)   # tanh(X @ w)
    """
    fun = _traceable(f, "vmap")
    per_arg = isinstance(in_axes, (tuple, list))
    for ax in (in_axes if per_arg else [in_axes]):
        if ax is not None and not isinstance(ax, (int, np.integer)) or isinstance(ax, bool):
            raise UnsupportedError(f"vmap: in_axes must be an int, None or a tuple of them (one "
                                   f"per argument), got {in_axes!r}")
    if not isinstance(out_axes, (int, np.integer)) or isinstance(out_axes, bool):
        raise UnsupportedError(f"vmap: out_axes must be an int, got {out_axes!r}")

    def build(*args):
        axes = in_axes if per_arg else (in_axes,) * len(args)
        if len(axes) != len(args):
            raise SymgradError(f"vmap: in_axes has {len(axes)} entries but the function was "
                               f"called with {len(args)} positional argument(s)")
        exprs = [x for a in args for x in tree_flatten(a)[0] if isinstance(x, Expr)]
        with common_graph([x.g for x in exprs], "vmap"):
            examples, batched = [], {}
            for i, (arg, ax) in enumerate(zip(args, axes)):
                if ax is None:
                    examples.append(arg)
                    continue
                leaves, treedef = tree_flatten(arg)
                mine = []
                for x in map(as_expr, leaves):
                    if not -x.ndim <= ax < x.ndim:
                        raise ShapeError(f"vmap: in_axes maps axis {ax} of argument {i}, which "
                                         f"has a leaf of shape {D.fmt_shape(x.dims)}")
                    x = moveaxis(x, ax, 0)
                    mine.append(symbol(f"vmap_x{i}", x.dims[1:], x.dtype))
                    batched[mine[-1]] = x
                examples.append(tree_unflatten(treedef, mine))
            if not batched:
                raise SymgradError("vmap: in_axes maps no argument (every entry is None, or the "
                                   "mapped arguments have no leaves)")
            sizes = {x.dims[0] for x in batched.values()}
            if len(sizes) > 1:
                raise ShapeError(f"vmap: the mapped axes have different sizes "
                                 f"{', '.join(map(str, sizes))}")
            outs, out_def = tree_flatten(fun(*examples))
            results = vectorize([_output(o, "vmap") for o in outs], batched) if outs else []
            return tree_unflatten(out_def, [moveaxis(r, 0, out_axes) for r in results])
    return Transformed(build, f, "vmap")


def jit(f: Callable, static_argnums: Argnums = (), backend: Backend = NUMPY) -> Transformed:
    """``f`` compiled to NumPy: traced on symbols whose axes are named dimensions (axes of
    equal size share a name), so one compilation serves every size; a call whose sizes relate
    differently (two axes equal before now differ, or the reverse) traces again.
    ``static_argnums`` are passed to ``f`` as Python values and key the cache.  The results
    have the structure ``f`` returns.

    >>> f = sg.jit(lambda x, y: sg.sum(x * y)); f(np.ones(3), np.ones(3)); f(np.ones(7), np.ones(7))
    """
    nums, _ = _argnums(static_argnums, "jit", "static_argnums")
    return Transformed(_traceable(f, "jit"), f, "jit", nums, backend)


def ravel_pytree(tree) -> tuple:
    """``(flat, unravel)``: the leaves of ``tree`` as one flat vector, and ``unravel(flat)``
    rebuilding the tree, as JAX's.  A tree of arrays or numbers gives a float ndarray; a tree
    with expressions a flat Expr (``unravel`` then slices and reshapes an Expr vector; it needs
    leaves of fixed sizes).  ``unravel`` accepts either kind of vector.

    >>> flat, unravel = sg.ravel_pytree({"W": np.ones((2, 3)), "b": np.zeros(3)})  # size 9
    """
    leaves, treedef = tree_flatten(tree)
    exprs = [x for x in leaves if isinstance(x, Expr)]
    if exprs:
        with exprs[0].g:
            leaves = [as_expr(x) for x in leaves]
    else:
        leaves = [_array(x, 0, "ravel_pytree") for x in leaves]
    dtype = np.result_type(*(x.dtype for x in leaves)) if leaves else np.dtype(float)
    dtype = dtype if dtype.kind == "f" else np.dtype(float)
    specs = [(x.dims if exprs else x.shape, x.dtype) for x in leaves]
    unravel = functools.partial(_unravel, treedef, specs)
    if exprs:
        parts = [reshape(x, (-1,)) for x in leaves]
        return concatenate([p if p.dtype == dtype else p.astype(dtype) for p in parts]), unravel
    flat = np.concatenate([x.ravel() for x in leaves]) if leaves else np.zeros(0)
    return flat.astype(dtype, copy=False), unravel


def _unravel(treedef, specs: list, flat):
    """The tree of ``specs`` (shape, dtype) cut from the flat vector ``flat``."""
    sizes = [D.size_of(shape) for shape, _ in specs]
    if None in sizes:
        raise UnsupportedError("ravel_pytree: unravel needs leaves of fixed sizes, got shapes "
                               + ", ".join(D.fmt_shape(s) for s, _ in specs))
    is_expr = isinstance(flat, Expr)
    if not is_expr:
        flat = np.asarray(flat)
    if tuple(flat.dims if is_expr else flat.shape) != (sum(sizes),):
        raise ShapeError(f"ravel_pytree: unravel takes a flat vector of size {sum(sizes)}, got "
                         f"shape {D.fmt_shape(flat.dims if is_expr else flat.shape)}")
    leaves, start = [], 0
    for (shape, dtype), size in zip(specs, sizes):
        piece = flat[start:start + size]
        piece = reshape(piece, shape) if is_expr else piece.reshape(shape)
        leaves.append(piece if piece.dtype == dtype else piece.astype(dtype))
        start += size
    return tree_unflatten(treedef, leaves)
