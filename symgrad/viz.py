"""Graphviz DOT text of a graph, with gradient nodes drawn apart."""
from __future__ import annotations

from . import dims as D
from .expr import Expr


def node_label(e: Expr) -> str:
    """A short label: the op, the name or value of a leaf, the shape when not scalar."""
    if e.op == "symbol":
        text = str(e.name)
    elif e.op == "constant":
        value = e.attrs["value"]
        text = f"{value[()]:g}" if value.ndim == 0 else f"const{D.fmt_shape(value.shape)}"
    else:
        text = e.op
    return text if e.ndim == 0 else f"{text} {D.fmt_shape(e.dims)}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(outputs) -> str:
    """DOT source of the subgraph ``outputs`` need; gradient nodes are orange ellipses,
    inputs boxes, and an edge's label gives the argument position when order matters.

    >>> print(sg.to_dot(sg.grad((x + y) * z, x)))
    """
    outputs = [outputs] if isinstance(outputs, Expr) else list(outputs)
    g = outputs[0].g
    nodes = sorted(g.ancestors([e.node for e in outputs]))
    lines = ["digraph symgrad {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node in nodes:
        e = Expr(g, node)
        style = ('shape=box, style=filled, fillcolor="#dbe8f7"' if e.op == "symbol" else
                 'shape=ellipse, style=filled, fillcolor="#ffd8a8", color="#d9480f"' if e.is_gradient
                 else "shape=ellipse")
        lines.append(f"  n{node} [label={_quote(node_label(e))}, {style}];")
    for node in nodes:
        args = g[node]["args"]
        ordered = len(args) > 1 and g[node]["op"] in ("sub", "div", "power", "matmul", "where",
                                                       "less", "less_equal", "greater",
                                                       "greater_equal", "concatenate")
        for position, arg in enumerate(args):
            label = f' [label="{position}"]' if ordered else ""
            lines.append(f"  n{arg} -> n{node}{label};")
    for i, e in enumerate(outputs):
        lines.append(f'  out{i} [shape=plaintext, label="output {i}"];')
        lines.append(f"  n{e.node} -> out{i};")
    lines.append("}")
    return "\n".join(lines) + "\n"
