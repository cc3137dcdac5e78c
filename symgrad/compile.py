"""Lowering to NumPy: ``function`` emits one line of Python per graph node.

The emitter takes the nodes the outputs need (nothing else), in topological order, and
prints each op's expression into a real Python function (``exec`` of source that only ever
contains symgrad's own identifiers: ``a0`` for inputs, ``d0`` for named dimensions, ``t12``
for node 12, ``c12`` for constants, ``f0`` for an implementation that is neither NumPy's
nor symgrad's).  A buffer whose value is dead is handed to the next elementwise op of the
same shape as ``out=``, and an array variable is deleted after the last line that names
it.  A backend (symgrad.backends) supplies the emitters, the modules the source names and
how the function is loaded.

Each function's source also holds its call: arguments already of the declared array class,
dtype and shape (and floats for float64 scalars) go straight to the body, binding named
sizes as they are read; anything else takes the checked path (keywords, defaults, trees,
conversions, errors).  Where every value is a float64 scalar, a second body computes on
Python floats with ``math`` (see symgrad.scalar_math) and the NumPy body runs only where
that one raises.
"""
from __future__ import annotations

import functools
import heapq
import itertools
import linecache
import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from . import dims as D
from . import runtime
from . import scalar_math  # noqa: F401  (registers the ops' "math" emitters)
from .backends import NUMPY, Backend, Plan, resolve
from .errors import ArgumentError, ShapeError
from .expr import Expr, as_expr, expr_method
from .graph import common_graph, paused_gc
from .op import REGISTRY
from .trees import LEAF, TreeDef, tree_flatten, tree_unflatten

_ids = itertools.count()
_LITERAL_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(bool))


class _EmitContext:
    """What emitters may ask for: a named dimension's variable, shapes as source, the
    current node's dtype (``np.float64``) and id (``node``, in the graph ``g``), a name for
    an implementation (``ref``), the ``backend``, the nodes the function computes
    (``order``), and ``shared``, a dict the emitters of one function share (a loop's
    results, computed by the first of its output nodes)."""

    def __init__(self, dim_vars: dict, namespace: dict, g=None, backend=None,
                 order: list = ()) -> None:
        self.g = g
        self.backend = backend
        self.shared: dict = {}  # what emitters of one function share (a loop's results)
        self.dim_vars = dim_vars
        self.namespace = namespace
        self.dtype = ""
        self.node = None
        self.order = order
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


# -- structures of inputs and outputs -----------------------------------------------------
class _Name:
    """A leaf written as its symbol's name where an input's structure is described."""

    __slots__ = ("name",)

    def __init__(self, name) -> None:
        self.name = name

    def __repr__(self) -> str:
        return repr(self.name)


def _describe(treedef: TreeDef, leaves: list) -> str:
    """The structure ``treedef`` with its symbols' names as leaves: ``{'W': 'W', 'b': 'b'}``."""
    return repr(tree_unflatten(treedef, [_Name(x.name) for x in leaves]))


def _labels(d: TreeDef) -> list:
    """How each child of ``d`` is reached: ``['W']``, ``[1]``, ``.b`` (namedtuple fields)."""
    if d.kind == "dict":
        return [f"[{k!r}]" for k in d.keys]
    if isinstance(d.kind, str):
        return [f"[{i}]" for i in range(len(d.children))]
    return [f".{field}" for field in d.kind._fields]


def _paths(treedef: TreeDef) -> list:
    """Each leaf's place in the tree, ``['W']`` or ``[1][0]``; ``""`` for a lone leaf."""
    paths, todo = [], [(treedef, "")]
    while todo:
        d, path = todo.pop()
        if d.kind == "leaf":
            paths.append(path)
        todo += reversed([(c, path + label) for c, label in zip(d.children, _labels(d))])
    return paths


def _lists_as_tuples(d: TreeDef) -> TreeDef:
    """Output structures give tuples where lists were given (as before trees)."""
    return TreeDef("tuple" if d.kind == "list" else d.kind, d.keys,
                   tuple(_lists_as_tuples(c) for c in d.children))


def _what(value) -> str:
    """A short description of a call's argument for error messages."""
    name = type(value).__name__
    if isinstance(value, Mapping):
        return f"a {name} with keys {sorted(map(repr, value))}"
    if isinstance(value, (list, tuple)):
        return f"a {name} of {len(value)} entries"
    shape = getattr(value, "shape", None)
    return f"{name} of shape {shape}" if shape is not None else name


def _read(d: TreeDef, value, out: list, path: str, fail) -> None:
    """Append the leaves of ``value`` read with the declared structure ``d`` to ``out``: a
    leaf position takes the value whole (a nested list of numbers is one array)."""
    kind = d.kind
    if kind == "leaf":
        out.append(value)
        return
    if kind == "none":
        if value is not None:
            fail(path, "None", value)
        return
    if kind == "dict":
        if not isinstance(value, Mapping) or set(value) != set(d.keys):
            fail(path, f"a dict with keys {list(d.keys)}", value)
        values = [value[k] for k in d.keys]
    else:
        if not isinstance(value, (list, tuple)) or len(value) != len(d.children):
            fail(path, f"a list or tuple of {len(d.children)} entries", value)
        values = value
    for child, v, label in zip(d.children, values, _labels(d)):
        _read(child, v, out, path + label, fail)


_SPREAD = object()  # the key under which _check notes arrays given for scalars


def _spread(results: tuple, shape: tuple, arrays: list) -> tuple:
    """Each result broadcast to ``shape`` as a fresh array (a function of scalars called on
    arrays: an output that is an argument, or one computed twice, is copied)."""
    seen = {id(a) for a in arrays}
    out = []
    for r in results:
        if getattr(r, "shape", None) != shape:
            r = np.broadcast_to(r, shape).copy()
        elif id(r) in seen:
            r = r.copy()
        seen.add(id(r))
        out.append(r)
    return tuple(out)


class Function:
    """A compiled NumPy function; call it with arrays positionally or by input name.

    Each positional argument has the structure its input was declared with (a symbol, or a
    tree of them); inputs with defaults may be left out; shared variables are read, and
    updated after the call, by the function itself (see :func:`function`).

    >>> f = sg.function([x, y], x * y); f(2.0, 3.0)
    6.0
    """

    def __init__(self, inputs: list, outputs: list, structure: TreeDef | None = None,
                 backend: Backend | str = NUMPY, *, trees: list | None = None,
                 defaults: dict | None = None, updates: list = ()) -> None:
        self.inputs = inputs  # the leaf symbols, in order
        self.outputs = outputs
        self.updates = list(updates)  # (shared variable, its new value)
        self.backend = backend = resolve(backend)
        self._structure = structure
        self._flat_out = structure is not None and structure.kind == "tuple" and all(
            c.kind == "leaf" for c in structure.children)
        trees = [LEAF] * len(inputs) if trees is None else trees
        self._trees = None if all(t.kind == "leaf" for t in trees) else trees
        returns = "{}[0]" if structure is None else "{}" if self._flat_out else \
            "unflatten(structure, {})"
        with paused_gc():
            generated = _generate(inputs, outputs + [new for _, new in self.updates], backend,
                                  updates=bool(self.updates), returns=returns,
                                  fast=self._trees is None and not self.updates)
        generated.namespace.update(slow=self._checked_call, structure=structure,
                                   unflatten=tree_unflatten)
        self.source = generated.source
        self._fn, self._math, self._call = generated.body, generated.math, generated.call
        self._dim_names, self.shared = generated.dim_names, generated.shared
        self._spread_error = generated.spread_error
        self._storages = [s.attrs["shared"] for s in self.shared]  # read at each call
        self._updated = [s.attrs["shared"] for s, _ in self.updates]
        self._specs = [(x.dtype, x.dims) for x in inputs]  # read once per argument per call
        self._nargs = len(trees)
        self._entries, self._where = [], []  # the leaves of each argument; each leaf's place
        for k, t in enumerate(trees):
            first = len(self._where)
            self._where += [(k, path) for path in _paths(t)]
            self._entries.append((first, t))
        self._positions = {}
        for k, (first, t) in enumerate(self._entries):
            if t.kind == "leaf":
                self._positions.setdefault(inputs[first].name, []).append(k)
        self._defaults = {k: self._default(k, value) for k, value in
                          self._default_entries(defaults or {}).items()}

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def _checked_call(self, args: tuple, kwargs: dict):
        """A call whose arguments are not all of the declared dtype and shape already (the
        generated code's fast path takes those): keywords, defaults, trees, conversions,
        arrays for scalars, shared variables' updates, and the errors."""
        if kwargs or len(args) != self._nargs:
            args = self._merge(args, kwargs)
        if self._trees is not None:
            args = self._leaves_of(args)
        bound: dict = {}
        arrays = [self._check(i, value, bound) for i, value in enumerate(args)]
        spread = self._spread_shape(bound.pop(_SPREAD)) if _SPREAD in bound else None
        if self._storages:
            arrays += [s.value for s in self._storages]
        result = self._run(arrays, [bound[n] for n in self._dim_names], spread is None)
        if self._updated:  # every new value is computed: assign them all
            k = len(self._updated)
            for storage, value in zip(self._updated, result[-k:]):
                storage.assign(value)
            result = result[:-k]
        if spread is not None:
            result = _spread(result, spread, arrays)
        structure = self._structure
        if structure is None:
            return result[0]
        if self._flat_out:
            return result
        return tree_unflatten(structure, result)

    def _run(self, arrays: list, sizes: list, scalars: bool) -> tuple:
        """The generated body on checked arguments: first on Python floats where it can
        (see symgrad.scalar_math), then on the arrays."""
        if self._math is not None and scalars:
            try:
                return self._math(*[float(a) for a in arrays])
            except (ArithmeticError, ValueError):
                pass
        return self._fn(*arrays, *sizes)

    # -- arguments ---------------------------------------------------------------------
    def _entry(self, k: int) -> str:
        """Argument ``k`` in words: its symbol's name, or its structure with names."""
        first, t = self._entries[k]
        if t.kind == "leaf":
            return repr(self.inputs[first].name)
        return _describe(t, self.inputs[first:first + t.num_leaves])

    def _takes(self) -> str:
        n, d = self._nargs, len(self._defaults)
        names = ", ".join(self._entry(k) + (" (has a default)" if k in self._defaults else "")
                          for k in range(n))
        return f"the function takes {n - d} to {n} arguments ({names})" if d else \
            f"the function takes {n} arguments ({names})"

    def _label(self, i: int) -> str:
        """Leaf ``i`` as error messages name it: ``argument 0 ('X')``, or with its place in
        a tree argument, ``argument 0 ('W' at ['W'])``."""
        k, path = self._where[i]
        return f"argument {k} ({self.inputs[i].name!r}{' at ' + path if path else ''})"

    def _merge(self, args: tuple, kwargs: dict) -> list:
        """Positional and keyword arguments, and defaults, as one positional list."""
        n = self._nargs
        if len(args) > n:
            raise ArgumentError(f"{self._takes()}, got {len(args)}")
        merged = list(args) + [_MISSING] * (n - len(args))
        for name, value in kwargs.items():
            where = self._positions.get(name)
            if where is None:
                raise ArgumentError(f"no input is named {name!r}; inputs are "
                                    + ", ".join(self._entry(k) for k in range(n)))
            if len(where) > 1:
                raise ArgumentError(f"several inputs are named {name!r}; pass them positionally")
            if where[0] < len(args) or merged[where[0]] is not _MISSING:
                raise ArgumentError(f"input {name!r} was given twice")
            merged[where[0]] = value
        missing = []
        for k, value in enumerate(merged):
            if value is _MISSING:
                if k in self._defaults:
                    merged[k] = self._defaults[k]
                else:
                    missing.append(k)
        if missing and not kwargs:
            raise ArgumentError(f"{self._takes()}, got {len(args)}")
        if missing:
            raise ArgumentError("missing argument(s) " + ", ".join(self._entry(k) for k in missing))
        return merged

    def _leaves_of(self, args) -> list:
        """The leaves of each argument, read with the structure its input was declared with."""
        leaves: list = []
        for k, (value, (first, t)) in enumerate(zip(args, self._entries)):
            if t.kind == "leaf":
                leaves.append(value)
                continue

            def fail(path, expected, got, k=k):
                where = f" at {path}" if path else ""
                raise ArgumentError(f"argument {k} must have the structure {self._entry(k)}: "
                                    f"expected{where} {expected}, got {_what(got)}")
            _read(t, value, leaves, "", fail)
        return leaves

    def _default_entries(self, defaults: dict) -> dict:
        """``{argument index: value}`` from ``{symbol or its name: value}``."""
        found = {}
        for key, value in defaults.items():
            if isinstance(key, str):
                where = self._positions.get(key, [])
                if len(where) != 1:
                    raise ArgumentError(f"defaults: {'no' if not where else 'more than one'} "
                                        f"input is named {key!r}")
                found[where[0]] = value
                continue
            leaf = next((i for i, x in enumerate(self.inputs)
                         if isinstance(key, Expr) and x.node == key.node), None)
            if leaf is None:
                raise ArgumentError(f"defaults: {key!r} is not among the inputs")
            k, path = self._where[leaf]
            if path:
                raise ArgumentError(f"defaults: {key.name!r} is inside argument {k}, "
                                    f"{self._entry(k)}; defaults are for inputs given as one symbol")
            found[k] = value
        return found

    def _default(self, k: int, value) -> np.ndarray:
        """A default checked as an argument would be, kept as a read-only copy."""
        array = np.array(self._check(self._entries[k][0], value, {}))
        array.flags.writeable = False
        return array

    def _check(self, i: int, value, bound: dict) -> np.ndarray:
        dtype, expected = self._specs[i]
        array = value
        if type(array) is not self.backend.array_type:
            try:
                array = self.backend.asarray(value)
            except Exception as err:  # ragged lists and the like
                raise ArgumentError(f"{self._label(i)} is not an array: {err}") from None
        if array.dtype != dtype:
            if not np.can_cast(array.dtype, dtype, "same_kind") and array.dtype.kind not in "biu":
                raise ArgumentError(f"{self._label(i)} has dtype {array.dtype}, which "
                                    f"cannot be cast to {dtype}")
            array = self.backend.astype(array, dtype)
        if array.shape == expected:  # every size is fixed and right: nothing to bind
            return array
        if not expected and self._spread_error is None:  # a function of scalars on arrays
            bound.setdefault(_SPREAD, []).append((i, array.shape))
            return array
        if array.ndim != len(expected):
            hint = ""
            if not expected and self._spread_error:
                hint = (". A function of scalars runs elementwise on arrays only when its graph "
                        f"is elementwise, and {self._spread_error}: map it over arrays with "
                        "sg.vectorize(outputs, {x: X}) (X an array symbol), or declare "
                        "array inputs")
            raise ArgumentError(f"{self._label(i)} must have {len(expected)} "
                                f"dimension(s), shape {D.fmt_shape(expected)}; got shape "
                                f"{array.shape}{hint}")
        for axis, (want, got) in enumerate(zip(expected, array.shape)):
            if isinstance(want, int):
                if want != got:
                    raise ArgumentError(f"{self._label(i)} must have shape "
                                        f"{D.fmt_shape(expected)}; got {array.shape} (axis {axis})")
            elif bound.setdefault(want, got) != got:
                raise ArgumentError(f"{self._label(i)} has shape {array.shape}, so "
                                    f"{want!r} = {got} on axis {axis}, but an earlier argument "
                                    f"set {want!r} = {bound[want]}")
        return array

    def _spread_shape(self, given: list) -> tuple:
        """The broadcast shape of the arrays given for scalar inputs."""
        try:
            return np.broadcast_shapes(*(shape for _, shape in given))
        except ValueError:
            shapes = ", ".join(f"{self._label(i)} {shape}" for i, shape in given)
            raise ArgumentError("a function of scalars called on arrays broadcasts them "
                                f"together, but these shapes do not broadcast: {shapes}") from None

    def __repr__(self) -> str:
        ins = ", ".join(f"{x.name}{D.fmt_shape(x.dims)}" for x in self.inputs)
        on = "" if self.backend is NUMPY else f" on {self.backend!r}"
        return f"<symgrad.Function ({ins}) -> {len(self.outputs)} output(s){on}>"


_MISSING = object()


def _schedule(g, inputs: list, outputs: list) -> tuple:
    """``(nodes to compute in id order, shared variables read)``: what the outputs need,
    stopping at the inputs."""
    given = {x.node for x in inputs}
    order, shared = [], []
    for node in sorted(g.ancestors([e.node for e in outputs], stop=given)):
        if node in given:
            continue
        attrs = g[node]
        if attrs["op"] == "symbol":
            if "shared" in attrs:
                shared.append(Expr(g, node))
                continue
            raise ArgumentError(f"an output depends on the symbol {Expr(g, node)!r}, which is "
                                "not among the inputs")
        order.append(node)
    return order, shared


def _why_not_elementwise(g, order: list, inputs: list, updates: bool) -> str | None:
    """None when the function may run on arrays given for its scalar inputs (every node a
    0-d elementwise op or leaf, so NumPy broadcasts the generated code as it is), else why
    not (``""`` when the inputs are not all scalars)."""
    if any(x.dims for x in inputs):
        return ""
    if updates:
        return "this function updates shared variables"
    for node in order:
        attrs = g[node]
        op = REGISTRY[attrs["op"]]
        if attrs["shape"] != ():
            return f"this one computes arrays (a {op.name!r} of shape {D.fmt_shape(attrs['shape'])})"
        if attrs["args"] and not op.elementwise and op.name != "name":
            return f"this one uses the op {op.name!r}, which is not elementwise"
    return None


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


MATH = Backend("math", {"math": math}, fallback=False, buffers=False)
_MATH_DTYPES = (np.dtype(np.float64), np.dtype(bool))


class _Generated(NamedTuple):
    source: str
    namespace: dict  # the functions' globals; the Function binds ``slow`` and ``structure``
    body: Callable  # (*inputs, *shared values, *sizes) -> tuple of results
    math: Callable | None  # the same on Python floats, when every value is a float64 scalar
    call: Callable  # (*args, **kwargs) -> results, as Function.__call__
    dim_names: list
    shared: list
    spread_error: str | None


def _generate(inputs: list, outputs: list, backend: Backend, *, updates: bool = False,
              fast: bool = False, returns: str = "{}") -> _Generated:
    """The source of the function's body (the inputs, then the shared variables' values,
    then the sizes of named dimensions, to a tuple of results), of the same on Python floats
    where every value is a float64 scalar and ``backend.scalar_math``, and of the call: with
    ``fast``, positional arguments already of the declared dtype and shape go straight to the
    body (``returns`` formats its result), anything else to ``slow(args, kwargs)``."""
    g = common_graph([e.g for e in inputs + outputs], "function")
    order, shared = _schedule(g, inputs, outputs)
    spread_error = _why_not_elementwise(g, order, inputs + shared, updates)
    explicit = len(inputs)
    inputs = inputs + shared
    dim_vars: dict = {}
    for x in inputs:
        for d in x.dims:
            if isinstance(d, str) and d not in dim_vars:
                dim_vars[d] = f"d{len(dim_vars)}"
    namespace = dict(backend.namespace)
    n = next(_ids)
    names = {"body": f"symgrad_fn_{n}", "math": f"symgrad_math_{n}", "call": f"symgrad_call_{n}"}
    header = [f"    # a{i}: {'input ' + str(i) if i < explicit else 'shared variable'}, "
              f"{ascii(x.name)}, shape {ascii(D.fmt_shape(x.dims))}, {x.dtype}"
              for i, x in enumerate(inputs)]
    header += [f"    # {var}: the size named {ascii(name)}" for name, var in dim_vars.items()]
    params = [f"a{i}" for i in range(len(inputs))] + list(dim_vars.values())
    plan = Plan(g, order, inputs, outputs, dim_vars, namespace, functools.partial(
        _body, g, order, inputs, outputs, dim_vars=dim_vars, namespace=namespace))
    body = backend.lower(plan)
    if backend.quiet_numpy:  # NumPy's floating-point warnings off while the body runs
        body = ["    _state = quiet(QUIET)", "    try:"] + ["    " + line for line in body] + \
            ["    finally:", "        restore(_state)"]
        namespace.update(quiet=runtime.quiet, QUIET=runtime.QUIET, restore=runtime.restore)
    source = f"def {names['body']}({', '.join(params)}):\n" + "\n".join(header + body) + "\n"
    filename = f"<symgrad_fn_{n}>"
    scalar = backend.scalar_math and _all_float_scalars(g, order, inputs)
    if scalar:  # the body runs only where Python's floats raise: compiled when first needed
        numpy_lines = source.count("\n")
        namespace["math"] = math
        namespace[names["body"]] = _compiled_on_first_call(
            source, filename, names["body"], namespace,
            lambda fn: backend.load(fn, len(dim_vars)))
        lines = plan.generic(MATH)
        source += f"\n\ndef {names['math']}({', '.join(params)}):\n" + "\n".join(lines) + "\n"
    checks = _fast_checks(inputs[:explicit], dim_vars, backend, namespace) if fast else None
    source += "\n\n" + _call_source(names, checks, len(shared), list(dim_vars.values()),
                                     scalar, returns)
    namespace.update(MATH_ERRORS=(ArithmeticError, ValueError),
                     shared=[s.attrs["shared"] for s in shared])
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    # without the body when it waits for its first call; blank lines keep the line numbers
    compiled = "\n" * numpy_lines + source.split("\n", numpy_lines)[-1] if scalar else source
    exec(compile(compiled, filename, "exec"), namespace)  # source is symgrad's own, see above
    if not scalar:
        namespace[names["body"]] = backend.load(namespace[names["body"]], len(dim_vars))
    return _Generated(source, namespace, namespace[names["body"]],
                      namespace[names["math"]] if scalar else None, namespace[names["call"]],
                      list(dim_vars), shared, spread_error)


def _compiled_on_first_call(source: str, filename: str, name: str, namespace: dict,
                            load: Callable):
    """A stand-in for the function ``name`` that ``source`` defines: its first call compiles
    the source into ``namespace`` (so later lookups find the function itself, as ``load``
    makes it) and calls it."""
    def first_call(*args):
        if namespace[name] is first_call:
            exec(compile(source, filename, "exec"), namespace)  # symgrad's own source
            namespace[name] = load(namespace[name])
        return namespace[name](*args)
    return first_call


class _View(dict):
    """The graph with some nodes' attributes replaced (a group's outputs, for the buffer
    planner, read as computed from the group's inputs)."""

    def __init__(self, g) -> None:
        super().__init__()
        self.g = g

    def __missing__(self, node):
        return self.g[node]


def _body(g, order: list, inputs: list, outputs: list, backend: Backend, *, dim_vars: dict,
          namespace: dict, groups: list = ()) -> list:
    """The lines computing ``outputs`` from ``inputs`` with ``backend``'s emitters, ending
    in ``return (results,)``; constants not printed as literals are bound in ``namespace``.

    ``groups``: nodes computed together by one call (a fused region), each with ``members``
    and ``outputs`` (in order), ``inputs`` (the values it reads) and ``lines(names, ctx)``
    (the call, writing its outputs).  Its outputs are allocated (or given dead buffers)
    where its last member was, as if computed from its inputs, then the call follows."""
    ctx = _EmitContext(dim_vars, namespace, g, backend, order)
    names = {x.node: f"a{i}" for i, x in enumerate(inputs)}
    literals = _literal_constants(g, order) if backend is not MATH else set(order)
    group_of = {m: group for group in groups for m in group.members}
    view, computed = _View(g), []
    for node in order:
        attrs = g[node]
        if attrs["op"] == "constant":
            if node in literals:
                names[node] = _literal(attrs["value"])
            else:
                names[node] = f"c{node}"
                namespace[names[node]] = backend.constant(attrs["value"])
            continue
        names[node] = f"t{node}"
        group = group_of.get(node)
        if group is None:
            computed.append(node)
        elif node == group.members[-1]:
            for o in group.outputs:
                view[o] = {**g[o], "args": tuple(group.inputs)}
            computed += group.outputs
    last_use = {a: step for step, node in enumerate(computed) for a in view[node]["args"]}
    out_nodes = {e.node for e in outputs}
    for node in out_nodes:
        last_use[node] = math.inf
    # a matrix transpose read once is written where it is read (``a0 + a0.T``): its argument
    # lives until then
    uses = Counter(a for node in computed for a in view[node]["args"])
    inlined = set()
    for node in computed:
        if g[node]["op"] == "transpose" and uses[node] == 1 and node not in group_of \
                and node not in out_nodes:
            ctx.node = node
            if backend.emit(REGISTRY["transpose"], ["x"], dict(g[node]["params"]), ctx,
                            None) == "x.T":
                inlined.add(node)
    for node in sorted(inlined, reverse=True):  # the outer of two nested transposes first
        arg = g[node]["args"][0]
        last_use[arg] = max(last_use[arg], last_use[node])
    reuse, release = {}, {}
    if backend.buffers:
        reuse = _plan_buffers(computed, view, out_nodes, last_use)
        release = _releases(computed, view, last_use, reuse, out_nodes)
    lines = []
    for step, node in enumerate(computed):
        attrs = g[node]
        out = names[reuse[node]] if node in reuse else None
        ctx.dtype, ctx.node = _dtype_code(attrs["dtype"]), node
        group = group_of.get(node)
        if group is None:
            op = REGISTRY[attrs["op"]]
            args = [names[a] for a in attrs["args"]]
            code = backend.emit(op, args, dict(attrs["params"]), ctx, out)
        else:
            code = out or f"np.empty({ctx.shape(attrs['shape'])}, {ctx.dtype})"
        if node in inlined:
            names[node] = code
        else:
            lines.append(f"    {names[node]} = {code}")
        if group is not None and node == group.outputs[-1]:
            lines += group.lines(names, ctx)
        dead = [names[n] for n in release.get(step, ()) if n not in inlined]
        if dead:
            lines.append(f"    del {', '.join(dead)}")
    roots: set = set()
    input_nodes = {x.node for x in inputs}
    results = [_output_code(g, e.node, names, input_nodes, roots) for e in outputs]
    lines.append(f"    return ({', '.join(results)}{',' if len(results) == 1 else ''})")
    return lines


def _all_float_scalars(g, order: list, inputs: list) -> bool:
    """Whether every input is a float64 scalar, every value a float64 or bool scalar and
    every op has a ``math`` emitter (so the function runs on Python floats)."""
    return all(x.dims == () and x.dtype == np.float64 for x in inputs) and all(
        g[n]["shape"] == () and g[n]["dtype"] in _MATH_DTYPES
        and (g[n]["op"] == "constant" or "math" in REGISTRY[g[n]["op"]].emitters)
        for n in order)


def _fast_checks(inputs: list, dim_vars: dict, backend: Backend, namespace: dict):
    """``(conditions, arguments for the body, arguments for the math body)`` as source: the
    conditions hold when each argument is already of its input's array class, dtype and
    shape (binding the named sizes as it reads them), or a float for a float64 scalar; None
    when some input's shape is not made of integers and names."""
    namespace["ARRAY"] = backend.array_type
    conditions, args, floats = [], [], []
    bound: set = set()
    for i, x in enumerate(inputs):
        a = f"a{i}"
        dtype = f"T{i}"
        namespace[dtype] = x.dtype
        floats.append(f"float({a})")
        if not x.dims and backend.numpy_scalars:
            namespace[f"S{i}"] = x.dtype.type
            if x.dtype == np.float64:  # a Python float becomes a NumPy scalar (its errors)
                conditions.append(f"(type({a}) is float or type({a}) is S{i})")
                args.append(f"S{i}({a})")
            else:
                conditions.append(f"type({a}) is S{i}")
                args.append(a)
            continue
        sizes, new = [], False
        for axis, d in enumerate(x.dims):
            if isinstance(d, int):
                sizes.append(str(d))
            elif isinstance(d, str) and d in bound:
                sizes.append(dim_vars[d])
            elif isinstance(d, str):
                bound.add(d)
                new = True
                sizes.append(f"({dim_vars[d]} := {a}.shape[{axis}])")
            else:
                return None
        shape = f"({', '.join(sizes)}{',' if len(sizes) == 1 else ''})"
        conditions.append(f"type({a}) is ARRAY and {a}.dtype is {dtype}"
                          + (f" and {a}.ndim == {len(x.dims)}" if new else "")
                          + f" and {a}.shape == {shape}")
        args.append(a)
    if bound != set(dim_vars):  # a size only a shared variable's shape gives
        return None
    return conditions, args, floats


def _call_source(names: dict, checks, n_shared: int, sizes: list, scalar: bool,
                 returns: str) -> str:
    """The source of the function that calls take (see _generate)."""
    lines = [f"def {names['call']}(*args, **kwargs):"]
    if checks is not None:
        conditions, args, floats = checks
        n = len(args)
        values = [f"shared[{k}].value" for k in range(n_shared)]
        lines.append(f"    if len(args) == {n} and not kwargs:")
        if n:
            lines.append(f"        {', '.join(f'a{i}' for i in range(n))}{',' if n == 1 else ''} = args")
        lines.append(f"        if ({(chr(10) + ' ' * 16 + 'and ').join(conditions) or 'True'}):")
        if scalar:
            call = f"{names['math']}({', '.join(floats + [f'float({v})' for v in values])})"
            lines += ["            try:", f"                return {returns.format(call)}",
                      "            except MATH_ERRORS:", "                pass"]
        call = f"{names['body']}({', '.join(args + values + sizes)})"
        lines.append(f"            return {returns.format(call)}")
    lines.append("    return slow(args, kwargs)")
    return "\n".join(lines) + "\n"


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


def _update_pairs(updates) -> list:
    """``[(shared variable, new value)]`` from a dict or pairs, each checked."""
    if updates is None:
        return []
    pairs = list(updates.items()) if isinstance(updates, Mapping) else list(updates)
    seen, checked = set(), []
    for pair in pairs:
        try:
            s, new = pair
        except (TypeError, ValueError):
            raise ArgumentError("updates: give {shared variable: new value} or (shared variable, "
                                f"new value) pairs; got {pair!r}") from None
        if not isinstance(s, Expr) or "shared" not in s.attrs:
            raise ArgumentError(f"updates: {s!r} is not a shared variable (made by sg.shared)")
        if s.node in seen:
            raise ArgumentError(f"updates: the shared variable {s.name!r} is updated twice")
        seen.add(s.node)
        new = as_expr(new, s)
        if new.dims != s.dims or new.dtype != s.dtype:
            raise ShapeError(f"updates: the new value of the shared variable {s.name!r} has shape "
                             f"{D.fmt_shape(new.dims)} and dtype {new.dtype}; the variable has "
                             f"shape {D.fmt_shape(s.dims)} and dtype {s.dtype}")
        checked.append((s, new))
    return checked


def function(inputs, outputs, backend: Backend | str = NUMPY, *, defaults: dict | None = None,
             updates=None) -> Function:
    """Compile ``outputs`` as a NumPy function of the symbols ``inputs``.

    ``inputs`` is one symbol, or a list or tuple of arguments, each a symbol or a tree of
    symbols (dicts, lists, tuples, namedtuples): the function takes one positional argument
    per entry, a tree with the same structure (a leaf's value is taken whole, so a nested
    list of numbers is one array).  Arguments given as one symbol may also be passed by the
    symbol's name, and left out when ``defaults={symbol or name: value}`` gives a value.

    ``outputs`` is one expression (one array) or a tree of them, returned with the same
    structure: lists and tuples as tuples, dicts as dicts, namedtuples as namedtuples.

    Shared variables (:func:`symgrad.shared`) are not arguments: the function reads their
    current values.  ``updates={shared: new value}`` (or pairs) computes the outputs and the
    new values, then assigns every new value after the call (each must have the shared
    variable's shape and dtype: a ShapeError here otherwise).

    A function whose inputs are all scalars and whose graph is elementwise may be called
    with arrays: the generated NumPy code broadcasts them and every output gets their
    broadcast shape.  Other graphs refuse arrays for scalars (map them with
    :func:`symgrad.vectorize`).  ``.source`` shows the code; ``backend`` chooses where it
    runs and how each op is printed: ``"numpy"`` (the default; a function of float64
    scalars runs on Python floats with ``math``), ``"numba"``, ``"jax"``, ``"cupy"``,
    ``"dask"`` (optional extras), or a :class:`Backend`.

    >>> x, y, z = sg.scalars("x y z")
    >>> f = sg.function([x, y, z], (x + y) * z); f(-2.0, 5.0, -4.0)
    -12.0
    >>> g = sg.function([x, y], {"sum": x + y}, defaults={y: 1.0}); g(2.0)
    {'sum': 3.0}
    """
    if isinstance(inputs, Mapping):
        raise ArgumentError("inputs must be a symbol, or a list or tuple of arguments (each a "
                            "symbol or a tree of symbols); for one dict argument write [inputs]")
    entries = [inputs] if isinstance(inputs, Expr) else list(inputs)
    leaves, trees = [], []
    for k, entry in enumerate(entries):
        items, treedef = tree_flatten(entry)
        for x, path in zip(items, _paths(treedef)):
            where = f"input {k}" + (f" at {path}" if path else "")
            if not isinstance(x, Expr) or x.op != "symbol":
                raise ArgumentError(f"{where} must be a symbol made by sg.scalar, sg.vector, "
                                    f"sg.matrix or sg.tensor; got {x!r}")
            if "shared" in x.attrs:
                raise ArgumentError(f"{where} ({x.name!r}) is a shared variable: a function "
                                    "reads its current value itself, so it is no argument")
        leaves += items
        trees.append(treedef)
    if len({x.node for x in leaves}) != len(leaves):
        raise ArgumentError("the same symbol appears twice among the inputs")
    single = not isinstance(outputs, (list, tuple, dict))
    outs, structure = ([outputs], None) if single else tree_flatten(outputs)
    outs = [as_expr(o, leaves[0] if leaves else None) for o in outs]
    return Function(leaves, outs, None if single else _lists_as_tuples(structure), backend,
                    trees=trees, defaults=defaults, updates=_update_pairs(updates))


@expr_method("eval")
def evaluate(e: Expr, values: dict | None = None):
    """Evaluate with ``{symbol: value}``; compiles once (cached in the graph) and runs.

    The symbols given bind named dimensions too, as for a gradient ``fill(("n", 3), 1.0)``.
    Shared variables not given are read at their current values.

    >>> (x * 2).eval({x: 3.0})
    6.0
    """
    values = values or {}
    given = {}
    for key, value in values.items():
        if not isinstance(key, Expr) or key.op != "symbol":
            raise ArgumentError(f"eval takes {{symbol: value}}; got the key {key!r}")
        common_graph([e.g, key.g], "eval")
        given[key.node] = value
    g = e.g
    symbols = {n for n in g.ancestors([e.node]) if g[n]["op"] == "symbol" and "shared" not in g[n]}
    symbols = sorted(symbols | set(given))
    missing = [repr(Expr(g, n)) for n in symbols if n not in given]
    if missing:
        raise ArgumentError("eval needs a value for " + ", ".join(missing))
    key = ("eval", e.node, tuple(symbols))
    fn = g.cache.get(key)
    if fn is None:
        fn = g.cache[key] = Function([Expr(g, n) for n in symbols], [e])
    return fn(*(given[n] for n in symbols))
