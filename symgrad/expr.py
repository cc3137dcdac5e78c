"""Expr, the light handle ``(graph, node)`` with operator overloading, and ``apply``.

No math lives here: every operator forwards to a registered op through :func:`apply`,
which wraps Python numbers and arrays as constants, infers the shape (raising a ShapeError
that names the op and operands), runs the construction-time rewrites and hash-conses.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import dims as D
from .errors import ShapeError, SymgradError
from .graph import Graph, common_graph, default_graph

_symbol_ids = iter(range(1 << 62))


class Expr:
    """A node of a symgrad graph, used like an array.

    ``e.op`` is the op's name and ``e.dims`` the shape as ints and dimension names, e.g.
    ``('n', 64)``; both are read once from the node (rewrite rules ask for them constantly).

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
        return dict(attrs["params"])["name"] if attrs["op"] == "name" else attrs.get("name")

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

    def _repr_markdown_(self) -> str:
        """Notebook display: the formula, shape, dtype and graph size."""
        from .viz import expr_markdown
        return expr_markdown(self)

    # -- identity: Expr is hashable, `==` is identity (comparisons use < <= > >=) ------
    def __hash__(self) -> int:
        return hash((id(self.g), self.node))

    def __eq__(self, other) -> bool:
        return isinstance(other, Expr) and other.g is self.g and other.node == self.node

    def __bool__(self):
        raise SymgradError("a symbolic expression has no truth value; use sg.where for choices")

    # -- arithmetic -------------------------------------------------------------------
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

    def __pow__(self, other):
        from .ops.elementwise import power
        return power(self, other)

    def __rpow__(self, other):
        from .ops.elementwise import power
        return power(other, self)

    # -- shape methods ----------------------------------------------------------------
    def __getitem__(self, index):
        from .ops.shape import getitem
        return getitem(self, index)

    @property
    def T(self) -> "Expr":
        from .ops.linalg import transpose
        return transpose(self)

    def sum(self, axis=None, keepdims: bool = False) -> "Expr":
        from .ops.reduce import sum as sum_
        return sum_(self, axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> "Expr":
        from .ops.reduce import mean
        return mean(self, axis, keepdims)

    def max(self, axis=None, keepdims: bool = False) -> "Expr":
        from .ops.reduce import max as max_
        return max_(self, axis, keepdims)

    def reshape(self, *shape) -> "Expr":
        from .ops.shape import reshape
        return reshape(self, shape[0] if len(shape) == 1 else shape)

    def astype(self, dtype) -> "Expr":
        return apply("cast", self, dtype=np.dtype(dtype).name)

    def eval(self, values: dict | None = None):
        """Evaluate with ``{symbol: value}``; compiles once and caches.

        >>> (x * 2).eval({x: 3.0})
        6.0
        """
        from .compile import evaluate
        return evaluate(self, values or {})


# -- leaves -----------------------------------------------------------------------------
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


def _wrap(value, like, g: Graph, op: str) -> Expr:
    """A Python number or array as a constant, taking the dtype of a float operand."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, np.generic):
        floats = [e.dtype for e in like if e.dtype.kind in "fc"]
        if isinstance(value, (bool, np.bool_)):
            dtype = np.dtype(bool)
        elif floats:
            dtype = floats[0]
        elif isinstance(value, numbers.Integral):
            dtype = np.dtype(np.int64)
        else:
            dtype = np.dtype(np.float64)
        return constant(value, dtype, g)
    if isinstance(value, (np.ndarray, np.generic, list, tuple, numbers.Number)):
        return constant(value, graph=g)
    raise SymgradError(f"{op}: cannot use {type(value).__name__} {value!r} as an operand")


def apply(op_name: str, *args, **params) -> Expr:
    """Build ``op(*args, **params)``: wrap constants, infer the shape, rewrite, hash-cons.

    >>> sg.apply("mul", x, 2.0)      # the same node as x * 2.0
    """
    op = REGISTRY[op_name]
    exprs = [a for a in args if isinstance(a, Expr)]
    g = common_graph([e.g for e in exprs], op_name)
    args = tuple([_wrap(a, exprs, g, op_name) for a in args])
    nodes = tuple([a.node for a in args])
    params = tuple(sorted(params.items()))
    existing = g.find(op_name, nodes, params)
    if existing is not None:  # built before, so its shape checked and no rule applied
        return Expr(g, existing)
    shape, dtype = op.infer(*args, **dict(params))
    better = rewrite(op, args, params, shape, dtype) if g.rewrite else None
    if better is not None:
        return better
    return Expr(g, g.add(op_name, nodes, params, tuple(shape), np.dtype(dtype)))


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


# imported last: the ops and the rules import this module's names (a cycle broken here)
from .ops.base import REGISTRY  # noqa: E402
from .rewrite import rewrite  # noqa: E402
