"""Lowering to NumPy: ``function`` emits one line of Python per graph node.

The emitter takes the nodes the outputs need (nothing else), in topological order, and
prints each op's NumPy expression into a real Python function (``exec`` of source that
only ever contains symgrad's own identifiers: ``a0`` for inputs, ``d0`` for named
dimensions, ``t12`` for node 12, ``c12`` for array constants).  A buffer whose value is
dead is handed to the next elementwise op of the same shape as ``out=``, and an array
variable is deleted after the last line that names it.  Arguments are checked and named
dimensions bound before the generated code runs.
"""
from __future__ import annotations

import itertools
import linecache
import math

import numpy as np

from . import dims as D
from . import runtime
from .errors import ArgumentError
from .expr import Expr, as_expr
from .graph import common_graph, paused_gc
from .ops.base import REGISTRY

_ids = itertools.count()


class _EmitContext:
    """What emitters may ask for: the variable of a named dimension, shapes as source."""

    def __init__(self, dim_vars: dict) -> None:
        self.dim_vars = dim_vars

    def _name(self, name: str) -> str:
        if name not in self.dim_vars:
            raise ArgumentError(f"the dimension {name!r} is not the size of any input's axis, "
                                "so its run-time value is unknown")
        return self.dim_vars[name]

    def dim(self, d) -> str:
        return D.dim_code(d, self._name)

    def shape(self, shape: tuple) -> str:
        inner = ", ".join(self.dim(d) for d in shape)
        return f"({inner},)" if len(shape) == 1 else f"({inner})"


class Backend:
    """Where generated code runs: the modules its source names and each op's emitter.

    Code generation is pluggable per backend: ``emitters`` maps an op name to an emitter
    ``(op, args, params, ctx, out) -> source`` that replaces the op's own NumPy emitter, and
    ``namespace`` binds the names the source uses (``np``, ``rt``).  A backend for another
    array library (CuPy, Dask through the array API) or a fused one is an addition: a new
    Backend with its namespace and the emitters that differ.

    >>> sg.function([x], sg.exp(x), backend=sg.NUMPY)
    """

    def __init__(self, name: str, namespace: dict, emitters: dict | None = None) -> None:
        self.name = name
        self.namespace = namespace
        self.emitters = emitters or {}

    def emit(self, op, args: list, params: dict, ctx, out: str | None) -> str:
        """Source of one node: this backend's emitter for the op, else the op's own."""
        custom = self.emitters.get(op.name)
        return op.emit(args, params, ctx, out) if custom is None else custom(op, args, params, ctx, out)

    def __repr__(self) -> str:
        return f"<symgrad.Backend {self.name}>"


NUMPY = Backend("numpy", {"np": np, "rt": runtime})


def _literal(value: np.ndarray) -> str:
    v = value[()]
    if isinstance(v, (bool, np.bool_)):
        return repr(bool(v))
    if value.dtype.kind in "iu":
        return repr(int(v))
    v = float(v)
    if math.isnan(v):
        return "np.nan"
    if math.isinf(v):
        return "np.inf" if v > 0 else "-np.inf"
    return repr(v)


def _plan_buffers(order: list, g, outputs: set, last_use: dict) -> dict:
    """``{node: dead node whose buffer it writes into}`` for in-place capable ops.

    A buffer is owned by the node that allocated it and shared by views and by nodes
    written into it; it is free once every holder is past its last use.
    """
    storage, holders_end, free, reuse = {}, {}, {}, {}
    for step, node in enumerate(order):
        attrs = g[node]
        op = REGISTRY.get(attrs["op"])
        args = attrs["args"]
        view = op is not None and op.view
        if attrs["shape"] == () and not view:
            continue  # a scalar: no buffer to plan
        if view:
            storage[node] = storage.get(args[0])
        elif op is not None and args and node not in outputs:
            key = (attrs["shape"], attrs["dtype"])
            pool = free.get(key, [])
            buffer = None
            if op.inplace:
                for candidate in pool:
                    if holders_end[candidate] <= step:
                        buffer = candidate
                        break
            if buffer is not None:
                pool.remove(buffer)
                reuse[node] = buffer
            else:
                buffer = node
            storage[node] = buffer
        else:
            storage[node] = None
        b = storage[node]
        if b is not None:
            holders_end[b] = max(holders_end.get(b, -1), last_use.get(node, math.inf))
            key = (g[b]["shape"], g[b]["dtype"])
            if b in free.get(key, ()) or holders_end[b] == math.inf:
                continue
            free.setdefault(key, []).append(b)
    return reuse


def _releases(computed: list, g, last_use: dict, reuse: dict, outputs: set) -> dict:
    """``{step: nodes}`` whose array variables to ``del`` after that step, the last one that
    names them (as an argument or as ``out=``): freed memory goes to the next allocation,
    where fresh pages would each cost a page fault (holding every temporary until the
    return made the MLP gradient 25% slower)."""
    last = dict(last_use)
    step_of = {node: step for step, node in enumerate(computed)}
    for node, buffer in reuse.items():
        last[buffer] = max(last[buffer], step_of[node])
    release: dict = {}
    for node, step in last.items():
        if node in step_of and node not in outputs and g[node]["shape"] != ():
            release.setdefault(step, []).append(node)
    return release


class Function:
    """A compiled NumPy function; call it with arrays positionally or by input name.

    >>> f = sg.function([x, y], x * y); f(2.0, 3.0)
    6.0
    """

    def __init__(self, inputs: list, outputs: list, single: bool, backend: Backend = NUMPY) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.backend = backend
        self._single = single
        with paused_gc():
            self.source, self._fn, self._dim_names = _generate(inputs, outputs, backend)
        self._specs = [(x.dtype, x.dims) for x in inputs]  # read once per argument per call
        self._positions = {}
        for i, x in enumerate(inputs):
            self._positions.setdefault(x.name, []).append(i)

    def __call__(self, *args, **kwargs):
        if kwargs:
            args = self._merge(args, kwargs)
        if len(args) != len(self.inputs):
            names = ", ".join(repr(x.name) for x in self.inputs)
            raise ArgumentError(f"the function takes {len(self.inputs)} arguments ({names}), "
                                f"got {len(args)}")
        bound: dict = {}
        arrays = [self._check(i, value, bound) for i, value in enumerate(args)]
        with np.errstate(all="ignore"):
            result = self._fn(*arrays, *[bound[n] for n in self._dim_names])
        return result[0] if self._single else result

    def _merge(self, args: tuple, kwargs: dict) -> tuple:
        merged = list(args) + [_MISSING] * (len(self.inputs) - len(args))
        for name, value in kwargs.items():
            where = self._positions.get(name)
            if where is None:
                raise ArgumentError(f"no input is named {name!r}; inputs are "
                                    + ", ".join(repr(x.name) for x in self.inputs))
            if len(where) > 1:
                raise ArgumentError(f"several inputs are named {name!r}; pass them positionally")
            if where[0] < len(args) or merged[where[0]] is not _MISSING:
                raise ArgumentError(f"input {name!r} was given twice")
            merged[where[0]] = value
        missing = [repr(self.inputs[i].name) for i, v in enumerate(merged) if v is _MISSING]
        if missing:
            raise ArgumentError("missing argument(s) " + ", ".join(missing))
        return tuple(merged)

    def _check(self, i: int, value, bound: dict) -> np.ndarray:
        dtype, expected = self._specs[i]
        x = self.inputs[i]
        array = value
        if type(array) is not np.ndarray:
            try:
                array = np.asarray(value)
            except Exception as err:  # ragged lists and the like
                raise ArgumentError(f"argument {i} ({x.name!r}) is not an array: {err}") from None
        if array.dtype != dtype:
            if not np.can_cast(array.dtype, dtype, "same_kind") and array.dtype.kind not in "biu":
                raise ArgumentError(f"argument {i} ({x.name!r}) has dtype {array.dtype}, which "
                                    f"cannot be cast to {dtype}")
            array = array.astype(dtype)
        if array.shape == expected:  # every size is fixed and right: nothing to bind
            return array
        if array.ndim != len(expected):
            raise ArgumentError(f"argument {i} ({x.name!r}) must have {len(expected)} "
                                f"dimension(s), shape {D.fmt_shape(expected)}; got shape {array.shape}")
        for axis, (want, got) in enumerate(zip(expected, array.shape)):
            if isinstance(want, int):
                if want != got:
                    raise ArgumentError(f"argument {i} ({x.name!r}) must have shape "
                                        f"{D.fmt_shape(expected)}; got {array.shape} (axis {axis})")
            elif bound.setdefault(want, got) != got:
                raise ArgumentError(f"argument {i} ({x.name!r}) has shape {array.shape}, so "
                                    f"{want!r} = {got} on axis {axis}, but an earlier argument "
                                    f"set {want!r} = {bound[want]}")
        return array

    def __repr__(self) -> str:
        ins = ", ".join(f"{x.name}{D.fmt_shape(x.dims)}" for x in self.inputs)
        return f"<symgrad.Function ({ins}) -> {len(self.outputs)} output(s)>"

    def _repr_markdown_(self) -> str:
        """Notebook display: inputs, outputs and the generated source."""
        from .viz import function_markdown
        return function_markdown(self)


_MISSING = object()


def _generate(inputs: list, outputs: list, backend: Backend):
    g = common_graph([e.g for e in inputs + outputs], "function")
    input_nodes = [x.node for x in inputs]
    given = set(input_nodes)
    order = []
    for node in sorted(g.ancestors([e.node for e in outputs], stop=given)):
        if node in given:
            continue
        if g[node]["op"] == "symbol":
            raise ArgumentError(f"an output depends on the symbol {Expr(g, node)!r}, which is "
                                "not among the inputs")
        order.append(node)

    dim_vars: dict = {}
    for x in inputs:
        for d in x.dims:
            if isinstance(d, str) and d not in dim_vars:
                dim_vars[d] = f"d{len(dim_vars)}"
    ctx = _EmitContext(dim_vars)

    names = {node: f"a{i}" for i, node in enumerate(input_nodes)}
    constants, computed, last_use = {}, [], {}
    for node in order:
        attrs = g[node]
        if attrs["op"] == "constant":
            if attrs["shape"] == ():
                names[node] = _literal(attrs["value"])
            else:
                names[node] = f"c{node}"
                constants[names[node]] = attrs["value"]
            continue
        names[node] = f"t{node}"
        for a in attrs["args"]:
            last_use[a] = len(computed)
        computed.append(node)

    out_nodes = {e.node for e in outputs}
    for node in out_nodes:
        last_use[node] = math.inf
    reuse = _plan_buffers(computed, g, out_nodes, last_use)
    release = _releases(computed, g, last_use, reuse, out_nodes)

    lines = []
    for i, x in enumerate(inputs):
        lines.append(f"    # a{i}: input {i}, {ascii(x.name)}, shape "
                     f"{ascii(D.fmt_shape(x.dims))}, {x.dtype}")
    for name, var in dim_vars.items():
        lines.append(f"    # {var}: the size named {ascii(name)}")
    for step, node in enumerate(computed):
        attrs = g[node]
        op = REGISTRY[attrs["op"]]
        args = [names[a] for a in attrs["args"]]
        out = names[reuse[node]] if node in reuse else None
        lines.append(f"    {names[node]} = {backend.emit(op, args, dict(attrs['params']), ctx, out)}")
        if step in release:
            lines.append(f"    del {', '.join(names[n] for n in release[step])}")
    roots: set = set()
    results = [_output_code(g, e.node, names, input_nodes, roots) for e in outputs]
    lines.append(f"    return ({', '.join(results)}{',' if len(results) == 1 else ''})")

    fn_name = f"symgrad_fn_{next(_ids)}"
    params = [f"a{i}" for i in range(len(inputs))] + list(dim_vars.values())
    source = f"def {fn_name}({', '.join(params)}):\n" + "\n".join(lines) + "\n"
    filename = f"<{fn_name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {**backend.namespace, **constants}
    exec(compile(source, filename, "exec"), namespace)  # source is symgrad's own, see above
    return source, namespace[fn_name], list(dim_vars)


def _output_code(g, node: int, names: dict, input_nodes: list, roots: set) -> str:
    """Outputs are fresh, writable arrays: 0-d values become NumPy scalars; views of an
    input, of a constant, of an earlier output's buffer or of a broadcast become copies."""
    attrs = g[node]
    name = names[node]
    if attrs["shape"] == ():
        return f"np.{attrs['dtype'].name}({name})"
    root, broadcast = node, False
    while getattr(REGISTRY.get(g[root]["op"]), "view", False):
        broadcast |= g[root]["op"] == "broadcast_to"  # a read-only NumPy view
        root = g[root]["args"][0]
    shared = root in roots
    roots.add(root)
    if shared or broadcast or root in input_nodes or g[root]["op"] in ("constant", "symbol"):
        return f"{name}.copy()"  # a method scipy.sparse outputs have too
    return name


def function(inputs, outputs, backend: Backend = NUMPY) -> Function:
    """Compile ``outputs`` as a NumPy function of the symbols ``inputs``.

    One output gives one array, a list gives a tuple.  ``.source`` shows the code.
    ``backend`` chooses where it runs and how each op is printed (see :class:`Backend`).

    >>> x, y, z = sg.scalars("x y z")
    >>> f = sg.function([x, y, z], (x + y) * z); f(-2.0, 5.0, -4.0)
    -12.0
    """
    inputs = [inputs] if isinstance(inputs, Expr) else list(inputs)
    single = isinstance(outputs, Expr) or not isinstance(outputs, (list, tuple))
    outs = [as_expr(o, inputs[0] if inputs else None) for o in ([outputs] if single else outputs)]
    for i, x in enumerate(inputs):
        if not isinstance(x, Expr) or x.op != "symbol":
            raise ArgumentError(f"input {i} must be a symbol made by sg.scalar, sg.vector, "
                                f"sg.matrix or sg.tensor; got {x!r}")
    if len({x.node for x in inputs}) != len(inputs):
        raise ArgumentError("the same symbol appears twice among the inputs")
    return Function(inputs, outs, single, backend)


def evaluate(e: Expr, values: dict):
    """``e.eval(values)``: compile ``e`` for the symbols it depends on and those given (they
    bind named dimensions, as for a gradient ``fill(("n", 3), 1.0)``), cached, then run."""
    symbols = {n for n in e.g.ancestors([e.node]) if e.g[n]["op"] == "symbol"}
    given = {}
    for key, value in values.items():
        if not isinstance(key, Expr):
            raise ArgumentError(f"eval takes {{symbol: value}}; got the key {key!r}")
        common_graph([e.g, key.g], "eval")
        given[key.node] = value
    symbols = sorted(symbols | set(given))
    missing = [repr(Expr(e.g, n)) for n in symbols if n not in given]
    if missing:
        raise ArgumentError("eval needs a value for " + ", ".join(missing))
    key = ("eval", e.node, tuple(symbols))
    fn = e.g.cache.get(key)
    if fn is None:
        fn = e.g.cache[key] = function([Expr(e.g, n) for n in symbols], e)
    return fn(*(given[n] for n in symbols))
