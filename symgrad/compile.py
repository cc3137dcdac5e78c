"""Lowering to NumPy: ``function`` emits one line of Python per graph node.

The emitter takes the nodes the outputs need (nothing else), in topological order, and
prints each op's expression into a real Python function (``exec`` of source that only ever
contains symgrad's own identifiers: ``a0`` for inputs, ``d0`` for named dimensions, ``t12``
for node 12, ``c12`` for constants, ``f0`` for an implementation that is neither NumPy's
nor symgrad's).  A buffer whose value is dead is handed to the next elementwise op of the
same shape as ``out=``, and an array variable is deleted after the last line that names
it.  Arguments are checked and named dimensions bound before the generated code runs.
"""
from __future__ import annotations

import functools
import heapq
import itertools
import linecache
import math

import numpy as np

from . import dims as D
from . import runtime
from .errors import ArgumentError, UnsupportedError
from .expr import Expr, as_expr, expr_method
from .graph import common_graph, paused_gc
from .op import REGISTRY, kwargs_code

_ids = itertools.count()
_LITERAL_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(bool))


class _EmitContext:
    """What emitters may ask for: a named dimension's variable, shapes as source, the
    current node's dtype (``np.float64``), and a name for an implementation (``ref``)."""

    def __init__(self, dim_vars: dict, namespace: dict) -> None:
        self.dim_vars = dim_vars
        self.namespace = namespace
        self.dtype = ""
        self._refs: dict = {}

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

    def ref(self, fn) -> str:
        """How the source names ``fn``: ``np.exp``, ``rt.sigmoid``, else ``f0``, ``f1``...
        bound in the function's namespace (never a name taken from ``fn`` itself)."""
        name = self._refs.get(id(fn))
        if name is None:
            name = _library_name(fn)
            if name is None:
                name = f"f{len(self._refs)}"
                self.namespace[name] = fn
            self._refs[id(fn)] = name
        return name


def _library_name(fn) -> str | None:
    """``rt.NAME``, ``np.NAME`` or ``np.linalg.NAME`` when ``fn`` is that very object (found
    by its own name in its own module), else None."""
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier():
        return None
    if getattr(runtime, name, None) is fn:  # asked first: NumPy's lookup of a missing name is slow
        return f"rt.{name}"
    module = getattr(fn, "__module__", None) or ""
    path = ["np"] + (module.split(".")[1:] if module.startswith("numpy.") else [])
    if not all(part.isidentifier() and not part.startswith("_") for part in path[1:]):
        path = ["np"]
    owner = np
    for part in path[1:]:
        owner = getattr(owner, part, None)
    if owner is not None and getattr(owner, name, None) is fn:
        return ".".join(path + [name])
    if getattr(np, name, None) is fn:
        return f"np.{name}"
    return None


class Backend:
    """Where generated code runs: the modules its source names and each op's emitter.

    An op's emitter for a backend is ``op.emitters[backend.name]``; ops register theirs
    there (``@op.emitter("name")``) without being edited, and ``emitters`` maps op names to
    emitters ``(op, args, params, ctx, out) -> source`` that this backend object prefers.
    ``namespace`` binds the names the source uses (``np``, ``rt``).  With ``fallback`` the
    NumPy emitter serves ops that have none for this backend; without it such an op is an
    UnsupportedError at compile time.

    >>> sg.function([x], sg.exp(x), backend=sg.NUMPY)
    """

    def __init__(self, name: str, namespace: dict, emitters: dict | None = None,
                 fallback: bool = True) -> None:
        self.name = name
        self.namespace = namespace
        self.emitters = emitters or {}
        self.fallback = fallback

    def emit(self, op, args: list, params: dict, ctx, out: str | None) -> str:
        """Source of one node: this backend's emitter for the op, else the op's own."""
        custom = self.emitters.get(op.name)
        if custom is not None:
            return custom(op, args, params, ctx, out)
        if out is not None:
            return f"{ctx.ref(op.impl)}({', '.join(args)}{kwargs_code(params)}, out={out})"
        emit = op.emitters.get(self.name)
        if emit is None and self.fallback:
            emit = op.emitters["numpy"]
        if emit is None:
            raise UnsupportedError(f"the backend {self.name!r} cannot express the op {op.name!r}")
        return emit(args, params, ctx)

    def __repr__(self) -> str:
        return f"<symgrad.Backend {self.name}>"


NUMPY = Backend("numpy", {"np": np, "rt": runtime})


@functools.cache
def _dtype_code(dtype: np.dtype) -> str:
    """``np.float64`` for float64 (NumPy computes a dtype's name anew each time)."""
    return f"np.{dtype.name}"


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
    written into it; it is free once every holder is past its last use.  Free buffers wait
    in a heap per (shape, dtype) keyed by the step they free at (an entry whose buffer got
    a later holder is pushed again), so planning is O(n log n).
    """
    storage, holders_end, pools, reuse = {}, {}, {}, {}
    for step, node in enumerate(order):
        attrs = g[node]
        op = REGISTRY[attrs["op"]]
        args = attrs["args"]
        if attrs["shape"] == () and not op.view:
            continue  # a scalar: no buffer to plan
        if op.view:
            storage[node] = storage.get(args[0])
        elif args and node not in outputs:
            buffer = _take(pools.get((attrs["shape"], attrs["dtype"])), holders_end, step) \
                if op.inplace else None
            if buffer is not None:
                reuse[node] = buffer
            else:
                buffer = node
            storage[node] = buffer
        else:
            storage[node] = None
        b = storage[node]
        if b is not None:
            end = max(holders_end.get(b, -1), last_use.get(node, math.inf))
            if end == math.inf or end == holders_end.get(b):
                holders_end[b] = end
                continue
            holders_end[b] = end
            heapq.heappush(pools.setdefault((g[b]["shape"], g[b]["dtype"]), []), (end, b))
    return reuse


def _take(pool, holders_end: dict, step: int):
    """A buffer from ``pool`` free at ``step`` (its holders all past their last use), or None."""
    while pool and pool[0][0] <= step:
        end, b = heapq.heappop(pool)
        if holders_end.get(b) == end:
            del holders_end[b]  # now owned by the node that takes it
            return b
    return None


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


def _flatten(outputs) -> tuple:
    """``(list of leaves, structure)`` of nested lists and tuples of outputs."""
    leaves: list = []

    def walk(item):
        if isinstance(item, (list, tuple)):
            return type(item), [walk(i) for i in item]
        leaves.append(item)
        return None
    return leaves, walk(outputs)


def _unflatten(structure, values: list):
    """The nesting ``structure`` filled with ``values`` in order (tuples for both kinds)."""
    it = iter(values)

    def build(s):
        return next(it) if s is None else tuple(build(i) for i in s[1])
    return build(structure)


class Function:
    """A compiled NumPy function; call it with arrays positionally or by input name.

    >>> f = sg.function([x, y], x * y); f(2.0, 3.0)
    6.0
    """

    def __init__(self, inputs: list, outputs: list, structure, backend: Backend = NUMPY) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.backend = backend
        self._structure = structure
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
        structure = self._structure
        if structure is None:
            return result[0]
        if structure[0] is tuple and all(s is None for s in structure[1]):
            return result
        return _unflatten(structure, result)

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


_MISSING = object()


def _schedule(g, inputs: list, outputs: list) -> list:
    """The nodes to compute, in id order: what the outputs need, stopping at the inputs."""
    given = {x.node for x in inputs}
    order = []
    for node in sorted(g.ancestors([e.node for e in outputs], stop=given)):
        if node in given:
            continue
        if g[node]["op"] == "symbol":
            raise ArgumentError(f"an output depends on the symbol {Expr(g, node)!r}, which is "
                                "not among the inputs")
        order.append(node)
    return order


def _literal_constants(g, order: list) -> set:
    """0-d constants to print as literals: float64, int64 or bool ones whose every user is
    an infix operator on operands of that same dtype (so Python's weak numbers give NumPy's
    result; any other is bound as a NumPy scalar of its own dtype)."""
    candidates = {n for n in order if g[n]["op"] == "constant" and g[n]["shape"] == ()
                  and g[n]["dtype"] in _LITERAL_DTYPES}
    for node in order:
        args = g[node]["args"]
        if not candidates.intersection(args):
            continue
        infix = REGISTRY[g[node]["op"]].infix is not None
        for a in args:
            if a in candidates and not (infix and all(g[b]["dtype"] == g[a]["dtype"] for b in args)):
                candidates.discard(a)
    return candidates


def _generate(inputs: list, outputs: list, backend: Backend):
    g = common_graph([e.g for e in inputs + outputs], "function")
    order = _schedule(g, inputs, outputs)
    dim_vars: dict = {}
    for x in inputs:
        for d in x.dims:
            if isinstance(d, str) and d not in dim_vars:
                dim_vars[d] = f"d{len(dim_vars)}"
    namespace = dict(backend.namespace)
    ctx = _EmitContext(dim_vars, namespace)

    names = {x.node: f"a{i}" for i, x in enumerate(inputs)}
    literals = _literal_constants(g, order)
    computed, last_use = [], {}
    for node in order:
        attrs = g[node]
        if attrs["op"] == "constant":
            if node in literals:
                names[node] = _literal(attrs["value"])
            else:
                names[node] = f"c{node}"
                value = attrs["value"]
                namespace[names[node]] = value[()] if value.ndim == 0 else value
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
        ctx.dtype = _dtype_code(attrs["dtype"])
        lines.append(f"    {names[node]} = {backend.emit(op, args, dict(attrs['params']), ctx, out)}")
        if step in release:
            lines.append(f"    del {', '.join(names[n] for n in release[step])}")
    roots: set = set()
    input_nodes = {x.node for x in inputs}
    results = [_output_code(g, e.node, names, input_nodes, roots) for e in outputs]
    lines.append(f"    return ({', '.join(results)}{',' if len(results) == 1 else ''})")

    fn_name = f"symgrad_fn_{next(_ids)}"
    params = [f"a{i}" for i in range(len(inputs))] + list(dim_vars.values())
    source = f"def {fn_name}({', '.join(params)}):\n" + "\n".join(lines) + "\n"
    filename = f"<{fn_name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)  # source is symgrad's own, see above
    return source, namespace[fn_name], list(dim_vars)


def _output_code(g, node: int, names: dict, input_nodes: set, roots: set) -> str:
    """Outputs are fresh, writable arrays: 0-d values become NumPy scalars; views of an
    input, of a constant, of an earlier output's buffer or of a read-only view become copies."""
    attrs = g[node]
    name = names[node]
    if attrs["shape"] == ():
        return f"{_dtype_code(attrs['dtype'])}({name})"
    root, readonly = node, False
    while REGISTRY[g[root]["op"]].view:
        readonly |= REGISTRY[g[root]["op"]].readonly
        root = g[root]["args"][0]
    shared = root in roots
    roots.add(root)
    if shared or readonly or root in input_nodes or g[root]["op"] in ("constant", "symbol"):
        return f"{name}.copy()"  # a method scipy.sparse outputs have too
    return name


def function(inputs, outputs, backend: Backend = NUMPY) -> Function:
    """Compile ``outputs`` as a NumPy function of the symbols ``inputs``.

    One output gives one array; a list or tuple gives a tuple, nested lists and tuples
    (Hessian blocks) nested tuples of the same structure.  ``.source`` shows the code.
    ``backend`` chooses where it runs and how each op is printed (see :class:`Backend`).

    >>> x, y, z = sg.scalars("x y z")
    >>> f = sg.function([x, y, z], (x + y) * z); f(-2.0, 5.0, -4.0)
    -12.0
    """
    inputs = [inputs] if isinstance(inputs, Expr) else list(inputs)
    single = not isinstance(outputs, (list, tuple))
    leaves, structure = _flatten([outputs] if single else outputs)
    outs = [as_expr(o, inputs[0] if inputs else None) for o in leaves]
    for i, x in enumerate(inputs):
        if not isinstance(x, Expr) or x.op != "symbol":
            raise ArgumentError(f"input {i} must be a symbol made by sg.scalar, sg.vector, "
                                f"sg.matrix or sg.tensor; got {x!r}")
    if len({x.node for x in inputs}) != len(inputs):
        raise ArgumentError("the same symbol appears twice among the inputs")
    return Function(inputs, outs, None if single else structure, backend)


@expr_method("eval")
def evaluate(e: Expr, values: dict | None = None):
    """Evaluate with ``{symbol: value}``; compiles once (cached in the graph) and runs.

    The symbols given bind named dimensions too, as for a gradient ``fill(("n", 3), 1.0)``.

    >>> (x * 2).eval({x: 3.0})
    6.0
    """
    values = values or {}
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
