"""Graph substitution (PyTensor's ``clone(..., replace=...)``): the same graph with some
expressions replaced, rebuilt node by node through :func:`symgrad.expr.apply` so shape
checks and rewrites run on the new nodes.
"""
from __future__ import annotations

from collections.abc import Mapping

from . import dims as D
from .errors import ShapeError, SymgradError
from .expr import Expr, apply, as_expr
from .graph import common_graph
from .trees import tree_flatten, tree_unflatten


def clone(outputs, replace: Mapping | None = None):
    """``outputs`` (an expression or a tree of them) with every occurrence of each key of
    ``replace`` replaced by its value, all at once (a value is not itself searched for keys).

    Keys are expressions of any kind (symbols or intermediates); each value must have its
    key's shape (ShapeError naming both otherwise) and may be a number or an array.  Nodes
    that depend on no key are kept; the others are rebuilt in topological order, without
    recursion, so deep graphs are fine.  The result has the structure of ``outputs``.

    >>> x, y = sg.scalars("x y")
    >>> sg.clone(sg.sin(x) * x, replace={x: y + 1})      # sin(y + 1) * (y + 1)
    """
    leaves, treedef = tree_flatten(outputs)
    outs = []
    for leaf in leaves:
        if not isinstance(leaf, Expr):
            raise SymgradError(f"clone: outputs must be expressions or trees of them, got "
                               f"{type(leaf).__name__} {leaf!r}")
        outs.append(leaf)
    if replace is not None and not isinstance(replace, Mapping):
        raise SymgradError(f"clone: replace must be a dict {{old: new}}, got {type(replace).__name__}")
    values: dict = {}
    for old, new in (replace or {}).items():
        if not isinstance(old, Expr):
            raise SymgradError(f"clone: the keys of replace are expressions, got {old!r}")
        new = as_expr(new, old)
        if new.dims != old.dims:
            raise ShapeError(f"clone: {old!r} has shape {D.fmt_shape(old.dims)}, but its "
                             f"replacement {new!r} has shape {D.fmt_shape(new.dims)}")
        values[old.node] = new
    if not values or not outs:
        return tree_unflatten(treedef, outs)
    g = common_graph([e.g for e in outs] + [e.g for e in values.values()]
                     + [old.g for old in replace], "clone")
    needed = g.ancestors([e.node for e in outs], stop=set(values))
    for node in sorted(g.descendants(list(values), needed) - values.keys()):
        attrs = g[node]
        args = [values[a] if a in values else Expr(g, a) for a in attrs["args"]]
        values[node] = apply(attrs["op"], *args, **dict(attrs["params"]))
    return tree_unflatten(treedef, [values.get(e.node, e) for e in outs])
