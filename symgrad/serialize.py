"""Serialisation: ``pickle`` for graphs, expressions and compiled functions, and
:func:`save`/:func:`load`, a graph as data in one JSON file.

Pickling (registered here with ``copyreg``, so ``pickle``, ``multiprocessing`` and joblib
work): a :class:`~symgrad.Graph` pickles its nodes (not ``g.cache``, whose memos and
compiled functions are rebuilt on demand), an expression pickles as ``(graph, node)`` (so
expressions pickled together share one graph), and a :class:`~symgrad.Function` pickles
what it was compiled from (inputs, outputs, structure, defaults, updates, the backend's
name) and compiles again when unpickled.  Ops are pickled by name: a user op
(``sg.defop``) must be defined in the process that unpickles it.

:func:`save` writes the nodes the outputs need as networkx node-link JSON (each node's op,
args, params, shape, dtype; symbols' names; constants' bytes); :func:`load` rebuilds them
node by node in a fresh graph, so every op's shape rule checks the file.  Loading only
parses JSON: it runs no code from the file.
"""
from __future__ import annotations

import base64
import copyreg
import itertools
import json
import keyword
import math
import re

import numpy as np

from . import dims as D
from .backends import resolve
from .compile import NUMPY, Backend, Function
from .errors import ShapeError, SymgradError, UnsupportedError
from .expr import Batched, Expr, constant, make, symbol
from .graph import Graph, common_graph, paused_gc
from .op import NODE_PARAMS, REGISTRY, holds_nodes, node_refs
from .shared import SharedVariable, _Storage, shared
from .trees import TreeDef, tree_flatten, tree_unflatten

FORMAT, VERSION = "symgrad-graph", 1


class FileFormatError(SymgradError, ValueError):
    """A file given to :func:`load` is not a valid symgrad graph file."""


# -- pickle ------------------------------------------------------------------------------
BACKENDS: dict = {"numpy": NUMPY}  # name -> Backend, for unpickled functions


def register_backend(backend: Backend) -> Backend:
    """Make ``backend`` known by its name, so functions compiled for it can be unpickled.

    >>> register_backend(sg.Backend("mine", sg.NUMPY.namespace))
    """
    BACKENDS[backend.name] = backend
    return backend


def _require_ops(names, what: str) -> None:
    missing = sorted(set(names) - REGISTRY.keys())
    if missing:
        raise SymgradError(f"{what} uses the op(s) {', '.join(map(repr, missing))}, which are "
                           "not defined in this process: define user ops (sg.defop) before "
                           "unpickling")


def _reduce_graph(g: Graph):
    state = {"rewrite": g.rewrite, "attrs": g._attrs, "cons": g._cons, "numbers": g.numbers}
    return _rebuild_graph, (state,)


def _rebuild_graph(state: dict) -> Graph:
    attrs = dict(state["attrs"])
    _require_ops({a["op"] for a in attrs.values()}, "the pickled graph")
    g = Graph(rewrite=state["rewrite"])
    cons, fresh = {}, itertools.count()
    for key, node in state["cons"].items():
        if attrs[node]["op"] == "symbol":  # a symbol's key is a counter of another process:
            key = ("unpickled symbol", next(fresh))  # one that new symbols never take
        cons[key] = node
    for a in attrs.values():
        if isinstance(a.get("value"), np.ndarray):
            a["value"].flags.writeable = False
    g._attrs, g._cons, g.numbers = attrs, cons, dict(state["numbers"])
    g._ids = itertools.count(max(attrs, default=-1) + 1)
    return g


def _rebuild_storage(value) -> _Storage:
    array = np.asarray(value)
    array.flags.writeable = False
    return _Storage(array)


def _reduce_function(fn: Function):
    BACKENDS.setdefault(fn.backend.name, fn.backend)
    trees = [t for _, t in fn._entries]
    defaults = [(fn.inputs[fn._entries[k][0]], value) for k, value in fn._defaults.items()]
    return _rebuild_function, (fn.inputs, fn.outputs, fn._structure,
                               (fn.backend.name, fn.backend.options()), trees, defaults,
                               fn.updates)


def _rebuild_function(inputs, outputs, structure, backend, trees, defaults, updates) -> Function:
    backend, options = backend
    found = BACKENDS.get(backend)
    try:
        if options:  # the backend made again with its options (DaskBackend(chunks=...))
            found = type(found or resolve(backend))(**options)
        return Function(inputs, outputs, structure, backend if found is None else found,
                        trees=trees, defaults=dict(defaults), updates=updates)
    except Exception as err:
        if found is not None:
            raise
        raise SymgradError(f"the pickled function was compiled for the backend {backend!r}, "
                           f"which this process cannot find ({err}): call "
                           "symgrad.serialize.register_backend with it before "
                           "unpickling") from err


copyreg.pickle(Graph, _reduce_graph)
copyreg.pickle(Expr, lambda e: (Expr, (e.g, e.node)))
copyreg.pickle(SharedVariable, lambda e: (SharedVariable, (e.g, e.node)))
copyreg.pickle(Batched, lambda e: (Batched, (e.value, e.nb)))
copyreg.pickle(_Storage, lambda s: (_rebuild_storage, (s.value,)))
copyreg.pickle(Function, _reduce_function)


# -- save: values as JSON ----------------------------------------------------------------
def _encode_array(a: np.ndarray) -> dict:
    return {"dtype": a.dtype.str, "shape": list(a.shape),  # tobytes: in C order
            "base64": base64.b64encode(a.tobytes()).decode("ascii")}


def _encode(value, index: dict | None = None):
    """A parameter (or dict key) as JSON: tuples, non-finite floats and NumPy scalars
    tagged; a parameter holding nodes (``NODE_PARAMS``) with their ids in the file
    (``index``)."""
    if holds_nodes(value):
        return {"nodes": [type(value).__name__, [
            {"ids": [index[n] for n in v]} if type(v) is tuple else _encode(v, index)
            for v in value]]}
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if type(value) is tuple:
        return {"tuple": [_encode(v, index) for v in value]}
    if isinstance(value, list):
        return [_encode(v, index) for v in value]
    if isinstance(value, np.generic):
        return {"scalar": _encode_array(np.asarray(value))}
    raise SymgradError(f"save: cannot write the parameter value {value!r} "
                       f"({type(value).__name__})")


def _encode_tree(d: TreeDef):
    if d.kind == "leaf":
        return "leaf"
    if d.kind == "none":
        return None
    if d.kind in ("list", "tuple"):
        return {d.kind: [_encode_tree(c) for c in d.children]}
    if d.kind == "dict":
        return {"dict": [[_encode(k), _encode_tree(c)] for k, c in zip(d.keys, d.children)]}
    raise SymgradError(f"save: outputs in a {d.kind.__name__} (a namedtuple) cannot be saved; "
                       "use a dict, list or tuple")


def _needed(g: Graph, roots: list) -> set:
    """``roots`` and the nodes they depend on, the nodes their parameters name (loop bodies)
    and what those depend on."""
    seen = set(roots)
    todo = list(seen)
    while todo:
        attrs = g[todo.pop()]
        for n in [*attrs["args"], *(n for _, v in attrs["params"] for n in node_refs(v))]:
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def save(path, outputs) -> None:
    """Write the graph that ``outputs`` (an expression, or a list, tuple or dict tree of
    them) need to one JSON file; :func:`load` gives them back.  Put the input symbols among
    the outputs to get them back too.

    >>> x = sg.scalar("x"); sg.save("f.json", [x, sg.sin(x)])
    """
    leaves, treedef = tree_flatten(outputs)
    for e in leaves:
        if not isinstance(e, Expr):
            raise SymgradError(f"save: outputs must be expressions, got {e!r}")
    structure = _encode_tree(treedef)
    g = common_graph([e.g for e in leaves], "save")
    nodes = sorted(_needed(g, [e.node for e in leaves]))
    index = {n: i for i, n in enumerate(nodes)}
    records, edges = [], []
    for i, n in enumerate(nodes):
        a = g[n]
        args = [index[x] for x in a["args"]]
        try:
            params = [[k, _encode(v, index)] for k, v in a["params"]]
        except SymgradError as err:
            raise UnsupportedError(f"save: the op {a['op']!r} cannot be saved yet ({err})") from None
        record = {"id": i, "op": a["op"], "args": args, "params": params,
                  "shape": list(a["shape"]), "dtype": a["dtype"].name, "grad": a["grad"]}
        if a["op"] == "symbol":
            record["name"] = a["name"]
            if "shared" in a:
                record["shared"] = _encode_array(a["shared"].value)
        elif a["op"] == "constant":
            record["value"] = _encode_array(a["value"])
        records.append(record)
        positions: dict = {}
        for p, x in enumerate(args):
            positions.setdefault(x, []).append(p)
        edges += [{"source": x, "target": i, "positions": ps} for x, ps in positions.items()]
    data = {"directed": True, "multigraph": False,
            "graph": {"format": FORMAT, "version": VERSION, "rewrite": g.rewrite,
                      "outputs": [index[e.node] for e in leaves], "structure": structure},
            "nodes": records, "edges": edges}
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# -- load: JSON, checked -----------------------------------------------------------------
# Parameters are printed into generated code, some without quotes (dtypes, dimensions):
# their strings may hold names, numbers and the signs of dimensions and einsum subscripts,
# nothing that could call anything.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_.,+*>\-]*\Z")


def _fail(message: str):
    raise FileFormatError(message)


def _int(value, what: str) -> int:
    if type(value) is not int:
        _fail(f"{what} must be an int, got {value!r}")
    return value


def _dtype(text, what: str) -> np.dtype:
    try:
        dtype = np.dtype(text) if isinstance(text, str) else None
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in "biufc" or dtype.fields is not None or dtype.shape:
        _fail(f"{what}: {text!r} is not a numeric dtype")
    return dtype


def _decode_array(d, what: str) -> np.ndarray:
    if not isinstance(d, dict) or set(d) != {"dtype", "shape", "base64"}:
        _fail(f"{what} must be an object with dtype, shape and base64")
    dtype = _dtype(d["dtype"], what)
    if not isinstance(d["shape"], list):
        _fail(f"{what}: the shape must be a list")
    shape = tuple(_int(n, f"{what}: a size") for n in d["shape"])
    if any(n < 0 for n in shape):
        _fail(f"{what}: negative size in {shape}")
    try:
        data = base64.b64decode(d["base64"], validate=True)
    except (TypeError, ValueError):
        _fail(f"{what}: the base64 text is not valid")
    if len(data) != math.prod(shape) * dtype.itemsize:
        _fail(f"{what}: {len(data)} bytes do not hold shape {shape} of {dtype}")
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _decode(value, what: str, built: dict | None = None):
    """A value :func:`_encode` wrote; nodes named by file id must be in ``built`` already."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        if not _PLAIN_TEXT.match(value):
            _fail(f"{what}: the string {value!r} is not a name, number, dimension or einsum "
                  "subscripts (strings that could be code are refused)")
        return value
    if isinstance(value, list):
        return [_decode(v, what, built) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        (tag, inner), = value.items()
        if tag == "tuple" and isinstance(inner, list):
            return tuple(_decode(v, what, built) for v in inner)
        if tag == "float" and inner in ("nan", "inf", "-inf"):
            return float(inner)
        if tag == "scalar":
            array = _decode_array(inner, what)
            if array.ndim == 0:
                return array[()]
        if tag == "nodes" and built is not None and isinstance(inner, list) and len(inner) == 2:
            return _decode_nodes(*inner, what, built)
    _fail(f"{what}: cannot read the value {value!r}")


def _decode_nodes(name, fields, what: str, built: dict):
    """A parameter holding nodes: its type by name from ``NODE_PARAMS``, node ids as the
    nodes built before."""
    kind = NODE_PARAMS.get(name) if isinstance(name, str) else None
    if kind is None or not isinstance(fields, list) or len(fields) != len(kind._fields):
        _fail(f"{what}: {name!r} with {fields!r} is not a parameter holding nodes")
    values = []
    for f in fields:
        if isinstance(f, dict) and list(f) == ["ids"] and isinstance(f["ids"], list):
            if any(_int(n, f"{what}: a node id") not in built for n in f["ids"]):
                _fail(f"{what}: names a node not defined before it")
            values.append(tuple(built[n].node for n in f["ids"]))
        else:
            values.append(_decode(f, what, built))
    return kind(*values)


def _decode_tree(value) -> TreeDef:
    if value == "leaf":
        return TreeDef("leaf")
    if value is None:
        return TreeDef("none")
    if isinstance(value, dict) and len(value) == 1:
        (kind, inner), = value.items()
        if kind in ("list", "tuple") and isinstance(inner, list):
            return TreeDef(kind, (), tuple(_decode_tree(c) for c in inner))
        if kind == "dict" and isinstance(inner, list) and all(
                isinstance(p, list) and len(p) == 2 for p in inner):
            keys = tuple(_decode(k, "a dict key of the outputs") for k, _ in inner)
            return TreeDef("dict", keys, tuple(_decode_tree(c) for _, c in inner))
    _fail(f"the outputs' structure {value!r} is not valid")


def _load_node(g: Graph, r, built: dict) -> tuple:
    """``(file id, expression)`` for one node record, built through the op's rules."""
    if not isinstance(r, dict):
        _fail(f"a node must be an object, got {r!r}")
    missing = {"id", "op", "args", "params", "shape", "dtype"} - r.keys()
    if missing:
        _fail(f"a node lacks {sorted(missing)}")
    nid = _int(r["id"], "a node's id")
    if nid in built:
        _fail(f"node {nid} is defined twice")
    op = r["op"]
    if not isinstance(op, str) or op not in REGISTRY:
        raise FileFormatError(f"node {nid}: unknown op {op!r} (a user op must be defined with "
                              "sg.defop before loading)")
    what = f"node {nid} ({op})"
    if not isinstance(r["args"], list) or not isinstance(r["params"], list) \
            or not isinstance(r["shape"], list):
        _fail(f"{what}: args, params and shape must be lists")
    args = []
    for a in r["args"]:
        if _int(a, f"{what}: an argument") not in built:
            _fail(f"{what}: argument {a} is not a node defined before it")
        args.append(built[a])
    params = {}
    for p in r["params"]:
        if not (isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                and p[0].isidentifier() and not keyword.iskeyword(p[0])) or p[0] in params:
            _fail(f"{what}: a parameter must be a [name, value] pair with a unique name, "
                  f"got {p!r}")
        params[p[0]] = _decode(p[1], f"{what}: parameter {p[0]!r}", built)
    shape = D.as_shape(r["shape"])
    dtype = _dtype(r["dtype"], what)
    g._marking_gradient = int(r.get("grad") is True)
    if op == "symbol":
        name = r.get("name")
        if args or params or not isinstance(name, str):
            _fail(f"{what}: a symbol has a name and no args or params")
        e = shared(_decode_array(r["shared"], what), name) if "shared" in r else \
            symbol(name, shape, dtype)
    elif op == "constant":
        if args or params:
            _fail(f"{what}: a constant has no args or params")
        value = _decode_array(r.get("value"), f"{what}: value")
        e = constant(value, value.dtype, g)
    else:
        e = make(g, REGISTRY[op], tuple(args), tuple(sorted(params.items())))
    if e.dims != shape or e.dtype != dtype:
        raise ShapeError(f"{what}: the file says shape {D.fmt_shape(shape)} and dtype {dtype}, "
                         f"but the op gives shape {D.fmt_shape(e.dims)} and dtype {e.dtype}")
    return nid, e


def load(path):
    """The expressions :func:`save` wrote, in the structure they were saved in, rebuilt in a
    fresh graph (each op's shape rule checks the file; nothing in the file is run).

    >>> x, y = sg.load("f.json"); sg.function([x], y)(0.5)
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (ValueError, RecursionError) as err:
        raise FileFormatError(f"{path}: not a symgrad graph file ({err})") from None
    meta = data.get("graph") if isinstance(data, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FileFormatError(f"{path}: not a symgrad graph file")
    if meta.get("version") != VERSION:
        raise FileFormatError(f"{path}: format version {meta.get('version')!r} is not "
                              f"{VERSION}, the one this symgrad reads")
    g = Graph(rewrite=False)  # the nodes exactly as saved (they were rewritten when built)
    built: dict = {}
    where = str(path)
    try:
        with paused_gc(), g:
            if not isinstance(data.get("nodes"), list) or not isinstance(data.get("edges"), list):
                _fail("nodes and edges must be lists")
            for k, record in enumerate(data["nodes"]):
                where = f"{path}: node at position {k}"
                nid, e = _load_node(g, record, built)
                built[nid] = e
            where = str(path)
            expected = {(a, r["id"]) for r in data["nodes"] for a in r["args"]}
            found = set()
            for edge in data["edges"]:
                if not isinstance(edge, dict):
                    _fail(f"an edge must be an object, got {edge!r}")
                found.add((edge.get("source"), edge.get("target")))
            if found != expected:
                _fail("the edges do not match the nodes' args")
            outputs = meta.get("outputs")
            if not isinstance(outputs, list) or any(type(n) is not int or n not in built
                                                    for n in outputs):
                _fail("outputs must be a list of node ids")
            treedef = _decode_tree(meta.get("structure"))
            if treedef.num_leaves != len(outputs):
                _fail(f"the outputs' structure holds {treedef.num_leaves} expressions, "
                      f"the file lists {len(outputs)}")
    except SymgradError as err:
        raise type(err)(f"{where}: {err}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, ArithmeticError,
            RecursionError) as err:
        raise FileFormatError(f"{where}: malformed ({type(err).__name__}: {err})") from None
    finally:
        g._marking_gradient = 0
    g.rewrite = meta.get("rewrite") is not False
    return tree_unflatten(treedef, [built[n] for n in outputs])
