"""Expr, the light handle ``(graph, node)`` with operator overloading, and ``apply``.

No math lives here: every operator forwards to a registered op through :func:`apply`, which
wraps Python numbers and arrays as constants, infers the shape (the op's rule raises a
ShapeError naming the op and operands), runs the rewrite hooks and hash-conses.  An argument
that is :class:`Batched` (carrying leading batch axes) sends the op to its batching rule
instead, so a rule written for one example runs for a whole batch.  Methods that need ops
(``e.sum()``, ``e.T``, ``e[i]``, ``e.eval()``) are attached by the modules that define them.
"""
from __future__ import annotations

import numbers
from typing import Callable

import numpy as np

from . import dims as D
from .dtypes import scalar_dtype
from .errors import ShapeError, SymgradError, UnsupportedError
from .graph import Graph, common_graph, default_graph
from .op import REGISTRY, Op, register

_symbol_ids = iter(range(1 << 62))

rewrite_hooks: list = []  # (op, args, params, shape, dtype) -> Expr | None, filled by symgrad.rewrite

_COMPARABLE = (numbers.Number, np.ndarray, np.generic, list, tuple)


class Expr:
    """A node of a symgrad graph, used like an array.

    ``e.op`` is the op's name and ``e.dims`` the shape as ints and dimension names, e.g.
    ``('n', 64)``.  ``==`` and ``!=`` between two expressions are structural identity (graphs
    are hash-consed, so equal structure is one node) and keep expressions usable as dict
    keys; with a number or an array they build the elementwise comparison.

    >>> x = sg.scalar("x"); (x * x + 1).shape
    ()
    """

    __slots__ = ("g", "node", "attrs", "op", "dims")
    __array_priority__ = 1000  # so `ndarray * Expr` defers to Expr.__rmul__
    __array_ufunc__ = None

    def __init__(self, g: Graph, node: int) -> None:
        self.g = g
        self.node = node
        attrs = self.attrs = g[node]  # the node's attributes (op, args, params, shape, ...)
        self.op = attrs["op"]
        self.dims = attrs["shape"]

    @property
    def args(self) -> tuple:
        """The argument expressions."""
        return tuple([Expr(self.g, a) for a in self.attrs["args"]])

    @property
    def params(self) -> dict:
        return dict(self.attrs["params"])

    @property
    def shape(self) -> tuple:
        """Fixed sizes as ints, named sizes as scalar expressions of their run-time value."""
        return tuple(d if isinstance(d, int) else apply("shape_of", self, axis=i)
                     for i, d in enumerate(self.dims))

    @property
    def ndim(self) -> int:
        return len(self.dims)

    @property
    def dtype(self) -> np.dtype:
        return self.attrs["dtype"]

    @property
    def name(self):
        """The symbol's name (or a named intermediate's), else None."""
        attrs = self.attrs
        label = REGISTRY[attrs["op"]].label
        return label(**dict(attrs["params"])) if label is not None else attrs.get("name")

    @property
    def graph(self):
        """The ``networkx.DiGraph`` this expression lives in."""
        return self.g.nx

    @property
    def is_gradient(self) -> bool:
        """True when a derivative added this node to the graph."""
        return self.attrs["grad"]

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name is not None else ""
        return f"<Expr {self.op}{label} shape={D.fmt_shape(self.dims)} dtype={self.dtype}>"

    def __hash__(self) -> int:
        return hash((id(self.g), self.node))

    def __eq__(self, other):
        if isinstance(other, Expr):
            return type(other) is type(self) and other.g is self.g and other.node == self.node
        if isinstance(other, _COMPARABLE):
            return apply("equal", self, other)
        return NotImplemented

    def __ne__(self, other):
        if isinstance(other, Expr):
            return not self.__eq__(other)
        if isinstance(other, _COMPARABLE):
            return apply("not_equal", self, other)
        return NotImplemented

    def __bool__(self):
        raise SymgradError("a symbolic expression has no truth value; use sg.where for choices")

    def __len__(self) -> int:
        return _static_first_axis(self, "len()")

    def __iter__(self):
        """Iteration over a fixed first axis, as NumPy: ``x, y, z = u``, ``for row in X``."""
        return (self[i] for i in range(_static_first_axis(self, "iteration")))

    # -- arithmetic, comparisons and logic: each one op -------------------------------------
    def __add__(self, other): return apply("add", self, other)
    def __radd__(self, other): return apply("add", other, self)
    def __sub__(self, other): return apply("sub", self, other)
    def __rsub__(self, other): return apply("sub", other, self)
    def __mul__(self, other): return apply("mul", self, other)
    def __rmul__(self, other): return apply("mul", other, self)
    def __truediv__(self, other): return apply("div", self, other)
    def __rtruediv__(self, other): return apply("div", other, self)
    def __matmul__(self, other): return apply("matmul", self, other)
    def __rmatmul__(self, other): return apply("matmul", other, self)
    def __neg__(self): return apply("neg", self)
    def __pos__(self): return self
    def __abs__(self): return apply("abs", self)
    def __lt__(self, other): return apply("less", self, other)
    def __le__(self, other): return apply("less_equal", self, other)
    def __gt__(self, other): return apply("greater", self, other)
    def __ge__(self, other): return apply("greater_equal", self, other)
    def __and__(self, other): return apply("logical_and", self, other)
    def __rand__(self, other): return apply("logical_and", other, self)
    def __or__(self, other): return apply("logical_or", self, other)
    def __ror__(self, other): return apply("logical_or", other, self)
    def __xor__(self, other): return apply("logical_xor", self, other)
    def __rxor__(self, other): return apply("logical_xor", other, self)
    def __invert__(self): return apply("logical_not", self)

    def astype(self, dtype) -> "Expr":
        """The values converted to ``dtype``.

        >>> x.astype("float32")
        """
        return apply("cast", self, dtype=np.dtype(dtype).name)


def expr_method(name: str | None = None) -> Callable:
    """Attach a function as an Expr method (``e.sum()``); used by the modules that define it.

    >>> @expr_method("ravel")
    ... def ravel(x): ...
    """
    def attach(fn: Callable) -> Callable:
        setattr(Expr, name or fn.__name__, fn)
        return fn
    return attach


def _static_first_axis(e: Expr, what: str) -> int:
    if e.ndim == 0:
        raise TypeError(f"{what} of a 0-d expression ({e!r})")
    d = e.dims[0]
    if not isinstance(d, int):
        raise TypeError(f"{what} of an expression whose first axis is the named dimension "
                        f"{d!r}: its size is known only at run time, so index it explicitly")
    return d


class Batched(Expr):
    """A value with ``nb`` leading batch axes that rules see as one example.

    ``dims`` is the shape of one example; ``value`` is the whole batch, an ordinary
    expression of shape ``batch + dims``.  An op applied to a Batched argument runs its
    batching rule, so jvp rules written for one tangent push a batch of tangents at once
    (Jacobians, Hessians) and :func:`symgrad.vectorize` maps a graph over examples.  To
    structural inspection (``op``) a Batched value is opaque.

    >>> Batched(T, 1).dims == T.dims[1:]
    True
    """

    __slots__ = ("nb", "value")

    def __init__(self, value: Expr, nb: int) -> None:
        Expr.__init__(self, value.g, value.node)
        self.op = "batched"
        self.dims = value.dims[nb:]
        self.nb = nb
        self.value = value

    @property
    def batch(self) -> tuple:
        """The batch axes' sizes."""
        return self.value.dims[:self.nb]

    def __hash__(self) -> int:
        return hash((id(self.g), self.node, self.nb))

    def __eq__(self, other):
        if isinstance(other, Batched):
            return other.g is self.g and other.node == self.node and other.nb == self.nb
        return False if isinstance(other, Expr) else Expr.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other) if isinstance(other, Expr) else Expr.__ne__(self, other)

    def __repr__(self) -> str:
        return (f"<Batched {D.fmt_shape(self.batch)} of shape {D.fmt_shape(self.dims)} "
                f"dtype={self.dtype}>")


# -- leaves -----------------------------------------------------------------------------
register(Op("symbol", doc="an input symbol"))
register(Op("constant", doc="a constant array"))


def symbol(name: str, shape=(), dtype="float64") -> Expr:
    """A new input symbol of the given shape and dtype in the default graph.

    >>> W = sg.symbol("W", ("n", 3))
    """
    if not isinstance(name, str):
        raise SymgradError(f"a symbol's name must be a string, got {name!r}")
    try:
        shape = D.as_shape(shape)
    except ShapeError as err:
        raise ShapeError(f"symbol {name!r}: {err}") from None
    g = default_graph()
    node = g.add("symbol", (), (), shape, np.dtype(dtype), key=("symbol", next(_symbol_ids)),
                 name=name)
    return Expr(g, node)


def constant(value, dtype=None, graph: Graph | None = None) -> Expr:
    """A constant node; equal constants are one node.

    >>> sg.constant(2.0) * x
    """
    if isinstance(value, Expr):
        return value
    array = np.asarray(value, dtype=dtype)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise SymgradError(f"cannot make a constant from {type(value).__name__} {value!r}")
    if dtype is None and array.dtype.kind == "i":
        array = array.astype(np.int64)
    g = graph or default_graph()
    array = array.copy()
    array.flags.writeable = False
    key = ("constant", array.dtype.str, array.shape, array.tobytes())
    node = g.add("constant", (), (), array.shape, array.dtype, key=key, value=array)
    return Expr(g, node)


def is_constant(e: Expr, value=None) -> bool:
    """True for a constant node, and when ``value`` is given, one equal to it everywhere."""
    if e.op != "constant":
        return False
    if value is None:
        return True
    array = e.attrs["value"]
    return array.item() == value if array.ndim == 0 else bool(np.all(array == value))


def is_symbol(e: Expr) -> bool:
    """True for an input symbol."""
    return e.op == "symbol"


def _wrap(value, like: list, g: Graph, op: str) -> Expr:
    """A Python number as a constant of the dtype NumPy 2 would give it beside ``like``
    (weak), a NumPy scalar or array as a constant of its own dtype (strong)."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, np.generic):
        dtype = scalar_dtype(value, like)
        key = (value, dtype)  # 0 and -0.0 are equal keys, so zeros are not remembered
        node = g.numbers.get(key) if value else None
        if node is None:
            node = constant(value, dtype, g).node
            if value:
                g.numbers[key] = node
        return Expr(g, node)
    if isinstance(value, (np.ndarray, np.generic, list, tuple)):
        return constant(value, graph=g)
    raise SymgradError(f"{op}: cannot use {type(value).__name__} {value!r} as an operand")


def apply(op_name: str, *args, **params) -> Expr:
    """Build ``op(*args, **params)``: wrap constants, infer the shape, rewrite, hash-cons.

    >>> sg.apply("mul", x, 2.0)      # the same node as x * 2.0
    """
    op = REGISTRY[op_name]
    g = None
    wrap = False
    for a in args:
        if isinstance(a, Expr):
            if type(a) is Batched:
                return _batch_apply(op, args, params)
            if g is None:
                g = a.g
            elif a.g is not g:
                common_graph([e.g for e in args if isinstance(e, Expr)], op_name)
        else:
            wrap = True
    if g is None:
        g = default_graph()
    if wrap:
        like = [a for a in args if isinstance(a, Expr)]
        args = tuple([_wrap(a, like, g, op_name) for a in args])
    return make(g, op, args, tuple(sorted(params.items())) if params else ())


def make(g: Graph, op: Op, args: tuple, params: tuple) -> Expr:
    """The node ``op(*args)`` for expressions ``args`` of ``g`` and sorted ``params``: an
    existing node (it was checked and rewritten when first built), a rewrite's result, or a
    new node."""
    nodes = tuple([a.node for a in args])
    existing = g.find(op.name, nodes, params)
    if existing is not None:
        return Expr(g, existing)
    kwargs = dict(params)
    shape, dtype = op.infer(*args, **kwargs)
    if g.rewrite:
        for hook in rewrite_hooks:
            better = hook(op, args, kwargs, shape, dtype)
            if better is not None:
                return better
    return Expr(g, g.add(op.name, nodes, params, tuple(shape), np.dtype(dtype)))


def _batch_apply(op: Op, args: tuple, params: dict) -> Expr:
    """``op`` on arguments some of which are Batched: checked on one example, then built by
    the op's batching rule on the whole batch."""
    exprs = [a for a in args if isinstance(a, Expr)]
    g = common_graph([e.g for e in exprs], op.name)
    args = tuple([_wrap(a, exprs, g, op.name) for a in args])
    batched = tuple([type(a) is Batched for a in args])
    first = next(a for a in args if type(a) is Batched)
    nb, batch = first.nb, first.batch
    for a in args:
        if type(a) is Batched and a.batch != batch:
            raise ShapeError(f"{op.name}: operands carry different batch axes "
                             f"{D.fmt_shape(batch)} and {D.fmt_shape(a.batch)}")
    shape, _ = op.infer(*args, **params)
    if op.batch is None:
        raise UnsupportedError(f"{op.name}: the op has no batching rule, so it cannot run on a "
                               "batch (sg.vectorize, Jacobians and Hessians through it)")
    out = op.batch(nb, batched, *[a.value if b else a for a, b in zip(args, batched)], **params)
    out = as_expr(out, first.value)
    if out.dims == batch + tuple(shape):
        return Batched(out, nb)
    if out.dims == tuple(shape):
        return out
    raise ShapeError(f"{op.name}: its batching rule gave shape {D.fmt_shape(out.dims)}, "
                     f"expected {D.fmt_shape(batch + tuple(shape))}")


def as_expr(value, like: Expr | None = None) -> Expr:
    """An Expr for ``value``: itself if it is one, else a constant in ``like``'s graph."""
    if isinstance(value, Expr):
        return value
    g = like.g if like is not None else default_graph()
    return _wrap(value, [like] if like is not None else [], g, "constant")


def fail(op: str, message: str, *operands: Expr) -> None:
    """Raise a ShapeError naming the op and each operand's shape."""
    desc = ", ".join(f"{D.fmt_shape(e.dims)}" for e in operands)
    raise ShapeError(f"{op}: {message} (operand shapes {desc})")
