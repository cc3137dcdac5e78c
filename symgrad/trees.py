"""Parameter trees, as JAX's pytrees: nested dicts, lists, tuples and namedtuples whose
leaves are expressions, arrays or numbers.  ``None`` is an empty tree; dict keys are taken in
sorted order, so two dicts with the same keys flatten alike.

>>> leaves, treedef = tree_flatten({"W": W, "b": [b1, b2]})
>>> tree_unflatten(treedef, leaves)
"""
from __future__ import annotations

from typing import Callable

from .errors import SymgradError


class TreeDef:
    """The shape of a tree without its leaves: ``kind`` (``"leaf"``, ``"none"``, ``"dict"``,
    ``"list"``, ``"tuple"`` or a namedtuple class), the dict keys, and the children's defs."""

    __slots__ = ("kind", "keys", "children")

    def __init__(self, kind, keys: tuple = (), children: tuple = ()) -> None:
        self.kind, self.keys, self.children = kind, keys, children

    @property
    def num_leaves(self) -> int:
        count, todo = 0, [self]
        while todo:
            d = todo.pop()
            count += d.kind == "leaf"
            todo += d.children
        return count

    def __eq__(self, other) -> bool:
        return isinstance(other, TreeDef) and (self.kind, self.keys, self.children) == (
            other.kind, other.keys, other.children)

    def __hash__(self) -> int:
        return hash((self.kind, self.keys, self.children))

    def __repr__(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.keys, self.children)) + "}"
        inner = ", ".join(repr(c) for c in self.children)
        if self.kind == "list":
            return f"[{inner}]"
        name = "" if self.kind == "tuple" else self.kind.__name__
        return f"{name}({inner}{',' if len(self.children) == 1 and not name else ''})"


LEAF = TreeDef("leaf")


def is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def tree_flatten(tree) -> tuple:
    """``(leaves, treedef)``: the leaves in order (dicts by sorted key) and the structure.

    >>> tree_flatten([x, {"b": b, "a": a}])      # ([x, a, b], [*, {'a': *, 'b': *}])
    """
    leaves: list = []

    def walk(node) -> TreeDef:
        if node is None:
            return TreeDef("none")
        if isinstance(node, dict):
            keys = tuple(sorted(node))
            return TreeDef("dict", keys, tuple(walk(node[k]) for k in keys))
        if is_namedtuple(node):
            return TreeDef(type(node), (), tuple(walk(c) for c in node))
        if isinstance(node, (list, tuple)):
            return TreeDef("list" if isinstance(node, list) else "tuple", (),
                           tuple(walk(c) for c in node))
        leaves.append(node)
        return LEAF
    return leaves, walk(tree)


def tree_unflatten(treedef: TreeDef, leaves) -> object:
    """The tree of shape ``treedef`` with ``leaves`` in order.

    >>> tree_unflatten(treedef, [1.0, 2.0, 3.0])
    """
    it = iter(leaves)

    def build(d: TreeDef):
        if d.kind == "leaf":
            return next(it)
        if d.kind == "none":
            return None
        children = [build(c) for c in d.children]
        if d.kind == "dict":
            return dict(zip(d.keys, children))
        if d.kind == "list":
            return children
        return tuple(children) if d.kind == "tuple" else d.kind(*children)
    return build(treedef)


def tree_map(fn: Callable, tree, *rest):
    """``fn`` applied leaf by leaf to ``tree`` (and the matching leaves of ``rest``).

    >>> tree_map(lambda w, g: w - 0.1 * g, params, grads)
    """
    leaves, treedef = tree_flatten(tree)
    others = [tree_flatten(r) for r in rest]
    for leaves_r, def_r in others:
        if def_r != treedef:
            raise SymgradError(f"tree_map: trees of different shapes {treedef!r} and {def_r!r}")
    return tree_unflatten(treedef, [fn(*args) for args in zip(leaves, *(l for l, _ in others))])
