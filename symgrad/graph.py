"""The graph: a networkx.DiGraph of hash-consed nodes, and iterative walks over it.

A node is an int id.  Its attributes are ``op`` (the op's name), ``args`` (a tuple of node
ids; order matters and repeats are allowed), ``params`` (a tuple of ``(key, value)``
pairs), ``shape``, ``dtype``, ``grad`` (True for nodes a derivative added) and for leaves
``name`` or ``value``.  Edges run from each argument to its user.  Ids grow as nodes are
made and a node's args always exist first, so sorting ids gives a topological order.
"""
from __future__ import annotations

import contextlib
import itertools

import networkx as nx
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
        self.nx = nx.DiGraph()
        self._cons: dict = {}
        self._ids = itertools.count()
        self._marking_gradient = 0
        self.cache: dict = {}  # compiled functions for Expr.eval, keyed by output nodes

    def add(self, op: str, args: tuple, params: tuple, shape: tuple, dtype: np.dtype,
            key=None, **leaf) -> int:
        """The node for ``(op, args, params)``, made if it does not exist yet (hash-consing)."""
        key = (op, args, params) if key is None else key
        node = self._cons.get(key)
        if node is not None:
            return node
        node = next(self._ids)
        self.nx.add_node(node, op=op, args=args, params=params, shape=shape, dtype=dtype,
                         grad=self._marking_gradient > 0, **leaf)
        for position, arg in enumerate(args):
            if self.nx.has_edge(arg, node):
                self.nx.edges[arg, node]["positions"] += (position,)
            else:
                self.nx.add_edge(arg, node, positions=(position,))
        self._cons[key] = node
        return node

    def __getitem__(self, node: int) -> dict:
        return self.nx.nodes[node]

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    @contextlib.contextmanager
    def marking_gradient(self):
        """Nodes made inside this block are marked as gradient nodes."""
        self._marking_gradient += 1
        try:
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
            for arg in self.nx.nodes[node]["args"]:
                if arg not in seen:
                    seen.add(arg)
                    todo.append(arg)
        return seen

    def descendants(self, nodes, within: set) -> set:
        """``nodes`` and every node in ``within`` that depends on them (iterative)."""
        seen = set(nodes)
        todo = list(seen)
        while todo:
            for user in self.nx.successors(todo.pop()):
                if user in within and user not in seen:
                    seen.add(user)
                    todo.append(user)
        return seen

    def __enter__(self) -> "Graph":
        _stack.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _stack.remove(self)

    def __repr__(self) -> str:
        return f"<symgrad.Graph with {len(self)} nodes>"


_stack: list = [Graph()]


def default_graph() -> Graph:
    """The graph new symbols go into: the innermost ``with Graph():`` or the global one."""
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
