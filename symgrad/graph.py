"""The graph: a networkx.DiGraph of hash-consed nodes, and iterative walks over it.

A node is an int id.  Its attributes are ``op`` (the op's name), ``args`` (a tuple of node
ids; order matters and repeats are allowed), ``params`` (a tuple of ``(key, value)``
pairs), ``shape``, ``dtype``, ``grad`` (True for nodes a derivative added) and for leaves
``name`` or ``value``.  Edges run from each argument to its user.  Ids grow as nodes are
made and a node's args always exist first, so sorting ids gives a topological order.

Symgrad's own walks read a plain dict of node attributes kept beside the networkx graph,
and nodes reach the ``networkx.DiGraph`` in bulk when it is next looked at (``g.nx``):
building a 100,000-node derivative then costs no networkx call per node.  A node's
attributes never change once it is made.
"""
from __future__ import annotations

import contextlib
import gc
import itertools

import numpy as np

from .errors import GraphMismatchError


class Graph:
    """Owner of one expression graph; ``with sg.Graph():`` makes it the default.

    ``rewrite=False`` keeps every node as built (no folding or simplification): derivative
    graphs then show each local-gradient product, as a textbook draws them.

    >>> with sg.Graph() as g:
    ...     x = sg.scalar("x")
    """

    def __init__(self, rewrite: bool = True) -> None:
        self.rewrite = rewrite
        self._nx = None  # networkx is imported when the graph is first looked at
        self._cons: dict = {}
        self._attrs: dict = {}  # node -> its attributes
        self._synced = 0  # nodes below this id are in the networkx graph
        self._ids = itertools.count()
        self._marking_gradient = 0
        self.numbers: dict = {}  # (Python number, dtype) -> its constant node
        self.cache: dict = {}  # memos that live as long as the graph: Expr.eval's compiled
        # functions, the canonical sums the rewrites have seen, earlier jvp sweeps

    def add(self, op: str, args: tuple, params: tuple, shape: tuple, dtype: np.dtype,
            key=None, **leaf) -> int:
        """The node for ``(op, args, params)``, made if it does not exist yet (hash-consing)."""
        key = (op, args, params) if key is None else key
        node = self._cons.get(key)
        if node is not None:
            return node
        node = next(self._ids)
        self._attrs[node] = dict(op=op, args=args, params=params, shape=shape, dtype=dtype,
                                 grad=self._marking_gradient > 0, **leaf)
        self._cons[key] = node
        return node

    @property
    def nx(self) -> "networkx.DiGraph":
        """The ``networkx.DiGraph`` (always the same object), given the nodes made since the
        last look; an edge's ``positions`` are the argument positions it fills."""
        if self._nx is None:
            import networkx
            self._nx = networkx.DiGraph()
        pending = range(self._synced, len(self._attrs))
        self._synced = len(self._attrs)
        if pending:
            self._nx.add_nodes_from((node, self._attrs[node]) for node in pending)
            self._nx.add_edges_from(
                (arg, node, {"positions": tuple(i for i, a in enumerate(args) if a == arg)})
                for node in pending for args in [self._attrs[node]["args"]]
                for arg in dict.fromkeys(args))
        return self._nx

    def find(self, op: str, args: tuple, params: tuple) -> int | None:
        """The existing node for ``(op, args, params)``, or None."""
        return self._cons.get((op, args, params))

    def __getitem__(self, node: int) -> dict:
        return self._attrs[node]

    def __len__(self) -> int:
        return len(self._attrs)

    @contextlib.contextmanager
    def marking_gradient(self):
        """Nodes made inside this block are marked as gradient nodes (a derivative sweep,
        which makes many nodes at once: the cyclic garbage collector pauses meanwhile)."""
        self._marking_gradient += 1
        try:
            with paused_gc():
                yield
        finally:
            self._marking_gradient -= 1

    def ancestors(self, nodes, stop=frozenset()) -> set:
        """``nodes`` and everything they depend on, not walking past ``stop`` (iterative)."""
        seen = set(nodes)
        todo = list(seen)
        while todo:
            node = todo.pop()
            if node in stop:
                continue
            for arg in self._attrs[node]["args"]:
                if arg not in seen:
                    seen.add(arg)
                    todo.append(arg)
        return seen

    def descendants(self, nodes, within: set) -> set:
        """``nodes`` and every node in ``within`` that depends on them through ``within``:
        one pass in id order (a topological order), so no map of users is kept."""
        seen = set(nodes)
        for node in sorted(within):
            if node not in seen and any([a in seen for a in self._attrs[node]["args"]]):
                seen.add(node)
        return seen

    def __enter__(self) -> "Graph":
        _stack.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _stack.pop()  # the innermost entry: a graph may be entered again inside itself

    def __repr__(self) -> str:
        return f"<symgrad.Graph with {len(self)} nodes>"


@contextlib.contextmanager
def paused_gc():
    """Pause Python's cyclic garbage collector: building tens of thousands of nodes creates
    no cycles, yet triggers full collections whose cost grows with the graph."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_stack: list = [Graph()]


def default_graph() -> Graph:
    """The graph new symbols go into: the innermost ``with Graph():`` or the global one.

    >>> len(sg.default_graph())
    """
    return _stack[-1]


def common_graph(graphs, op: str) -> Graph:
    """The one graph all operands live in; mixing two graphs is an error."""
    found = None
    for g in graphs:
        if found is None:
            found = g
        elif g is not found:
            raise GraphMismatchError(
                f"{op}: operands come from two different graphs; build expressions that are "
                "combined inside the same `with sg.Graph():` block")
    return found if found is not None else default_graph()
