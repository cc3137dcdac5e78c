"""Pictures of graphs: Graphviz DOT text, matplotlib drawings, and notebook display.

``to_dot`` and ``draw`` show the same things: every node the outputs need, labelled with its
op (a leaf with its name or value, a named intermediate with its name), short parameters
and its shape when not scalar; input symbols, forward nodes and the gradient nodes a
derivative added, each in its own style; and on each edge the argument position where the
order of arguments matters (``a - b``, ``a @ b``) or a repeat count (``x * x``).
"""
from __future__ import annotations

import collections
import html

from . import dims as D
from .compile import Function
from .errors import SymgradError, UnsupportedError
from .expr import Expr, expr_method
from .graph import Graph
from .op import REGISTRY
from .sympy_bridge import latex

# kind: (fill colour, border colour, border line style, box shape, legend text, look in words)
STYLES = {
    "input": ("#dbe8f7", "#1c5d99", "solid", "square", "input symbols", "blue boxes"),
    "forward": ("#ffffff", "#343a40", "solid", "round", "forward nodes", "white"),
    "gradient": ("#ffd8a8", "#d9480f", "dashed", "round", "gradient nodes (added by a derivative)",
                 "orange, dashed"),
}
_EDGE = "#495057"


def node_kind(e: Expr) -> str:
    """``"gradient"`` for nodes a derivative added, ``"input"`` for symbols, else ``"forward"``.

    >>> sg.viz.node_kind(sg.grad(x * x, x))
    'gradient'
    """
    return "gradient" if e.is_gradient else "input" if e.op == "symbol" else "forward"


def _params_text(e: Expr) -> list:
    """Short parameters: the op's own text for them (``[1:n]``), else ``key=value``."""
    params = e.params
    show = REGISTRY[e.op].show
    if show is not None:
        return [show(**params)]
    parts = []
    for key, value in params.items():
        if key in ("shape", "dtype", "name") or value is None or value is False:
            continue
        value = value[0] if isinstance(value, tuple) and len(value) == 1 else value
        text = f"{key}={value}"
        if len(text) <= 16:
            parts.append(text)
    return parts


def node_label(e: Expr, sep: str = " ") -> str:
    """The op (a symbol's or named intermediate's name, a constant's value), short
    parameters, and the shape when not scalar, joined by ``sep``.

    >>> sg.viz.node_label(sg.vector("v", 3) ** 2)
    'int_power n=2 (3,)'
    """
    if e.name is not None:
        head = str(e.name)
    elif e.op == "constant":
        value = e.attrs["value"]
        head = f"{value[()]:g}" if value.ndim == 0 else "const"
    else:
        head = e.op
    parts = [head, *_params_text(e)]
    if e.ndim:
        parts.append(D.fmt_shape(e.dims))
    return sep.join(parts)


def edge_label(op: str, positions: tuple, nargs: int) -> str:
    """Argument positions where order matters (an op of several arguments), ``×k`` for a
    repeated argument of a commutative op.

    >>> sg.viz.edge_label("sub", (1,), 2), sg.viz.edge_label("mul", (0, 1), 2)
    ('1', '×2')
    """
    if nargs > 1 and not REGISTRY[op].commutative:
        return ",".join(map(str, positions))
    return f"×{len(positions)}" if len(positions) > 1 else ""


def _subgraph(outputs):
    """The outputs as a list, their graph, and the sorted nodes they need."""
    outputs = [outputs] if isinstance(outputs, Expr) else list(outputs)
    if not outputs or not all(isinstance(e, Expr) for e in outputs):
        raise SymgradError(f"draw/to_dot take an expression or a list of expressions, "
                               f"got {outputs!r}")
    g = outputs[0].g
    return outputs, g, sorted(g.ancestors([e.node for e in outputs]))


def _edges(g, nodes):
    """``(arg, user, label)`` for each edge among ``nodes``, in node order."""
    for arg, user, data in sorted(g.nx.subgraph(nodes).edges(data=True)):
        yield arg, user, edge_label(g[user]["op"], data["positions"], len(g[user]["args"]))


def _clusters(g, nodes) -> list:
    """``(owner, label, body nodes)`` for each loop or branch among ``nodes`` and, through a
    worklist, among their bodies: the traced graphs between a body's placeholders and
    results (``Op.bodies``)."""
    clusters, todo, seen = [], collections.deque(sorted(nodes)), set()
    while todo:
        node = todo.popleft()
        op = REGISTRY[g[node]["op"]]
        for label, inputs, results in (op.bodies(dict(g[node]["params"])) if op.bodies else ()):
            if (inputs, results) in seen:  # the same loop's other outputs
                continue
            seen.add((inputs, results))
            body = sorted(g.ancestors(list(results), stop=set(inputs)))
            clusters.append((node, label, body))
            todo += body
    return clusters


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(outputs: Expr | list) -> str:
    """DOT source of the subgraph ``outputs`` need: inputs blue boxes, forward nodes white,
    gradient nodes orange and dashed; edges carry argument positions where order matters.

    >>> print(sg.to_dot(sg.grad((x + y) * z, x)))
    """
    outputs, g, nodes = _subgraph(outputs)
    legend = "; ".join(f"{look}: {text}" for *_, text, look in STYLES.values())
    lines = ["digraph symgrad {", "  rankdir=LR;", '  node [fontname="Helvetica"];',
             f"  label={_quote(legend)}; fontsize=10;"]
    lines += _dot_nodes(g, nodes, "n", "  ")
    drawn = {node: "n" for node in nodes}  # node -> the prefix of its DOT id where it is drawn
    for k, (owner, label, body) in enumerate(_clusters(g, nodes)):
        lines += [f"  subgraph cluster_{k} {{", f"    label={_quote(label)}; style=dashed;"]
        lines += _dot_nodes(g, body, f"c{k}n", "    ") + ["  }"]
        lines.append(f'  {drawn[owner]}{owner} -> c{k}n{body[-1]} [style=dotted, '
                     f'arrowhead=none, color="{_EDGE}"];')
        drawn.update((node, f"c{k}n") for node in body if node not in drawn)
    for i, e in enumerate(outputs):
        lines.append(f'  out{i} [shape=plaintext, label="output {i}"];')
        lines.append(f"  n{e.node} -> out{i};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_nodes(g, nodes, prefix: str, indent: str) -> list:
    """DOT lines for ``nodes`` and the edges among them, ids ``prefix`` + node."""
    lines = []
    for node in nodes:
        e = Expr(g, node)
        fill, border, line, shape, *_ = STYLES[node_kind(e)]
        lines.append(f"{indent}{prefix}{node} [label={_quote(node_label(e, chr(10)))}, "
                     f"shape={'box' if shape == 'square' else 'ellipse'}, "
                     f'style="filled,{line}", fillcolor="{fill}", color="{border}"];')
    for arg, user, label in _edges(g, nodes):
        colour = STYLES["gradient"][1] if g[user]["grad"] else _EDGE
        text = f", label={_quote(label)}" if label else ""
        lines.append(f'{indent}{prefix}{arg} -> {prefix}{user} [color="{colour}"{text}];')
    return lines


def layout(g: Graph, nodes) -> dict:
    """``{node: (x, y)}``: x is the node's topological generation (inputs at 0; a constant
    sits just before its first user), and within a column nodes are ordered by the mean
    height of their arguments, which keeps most edges from crossing.

    >>> sg.viz.layout(f.g, f.g.ancestors([f.node]))[f.node]
    (2, 0.0)
    """
    import networkx
    sub = g.nx.subgraph(nodes)
    column = {n: x for x, layer in enumerate(networkx.topological_generations(sub)) for n in layer}
    for n in nodes:
        if g[n]["op"] == "constant" and sub.out_degree(n):
            column[n] = min(column[u] for u in sub.successors(n)) - 1
    layers: dict = {}
    for n in nodes:
        layers.setdefault(column[n], []).append(n)
    pos: dict = {}
    for x in sorted(layers):
        def height(n):
            ys = [pos[p][1] for p in sub.predecessors(n)]
            return (0, -sum(ys) / len(ys), n) if ys else (1 if x else 0, 0.0, n)
        layer = sorted(layers[x], key=height)
        for i, node in enumerate(layer):
            pos[node] = (x, (len(layer) - 1) / 2 - i)
    return pos


def draw(outputs: Expr | list, ax=None) -> "matplotlib.axes.Axes":
    """Draw the graph ``outputs`` need with matplotlib, in layers from inputs (left) to
    outputs; gradient nodes are orange and dashed.  Returns the matplotlib Axes.

    >>> ax = sg.draw([f, *sg.grad(f, [x, y, z])])
    """
    try:
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch, Rectangle
    except ImportError:
        raise UnsupportedError("sg.draw needs matplotlib, an optional extra: "
                               "pip install 'symgrad[plot]'") from None
    outputs, g, nodes = _subgraph(outputs)
    parts = [(None, None, nodes, layout(g, nodes))]  # (owner, label, nodes, positions)
    bottom = min(y for _, y in parts[0][3].values()) - 1.0
    for owner, label, body in _clusters(g, nodes):  # each body below, in a dashed frame
        pos = layout(g, body)
        shift = bottom - max(y for _, y in pos.values()) - 0.6
        parts.append((owner, label, body, {n: (x, y + shift) for n, (x, y) in pos.items()}))
        bottom = min(y for _, y in parts[-1][3].values()) - 1.0
    every = [p for *_, pos in parts for p in pos.values()]
    columns = max(x for x, _ in every) + 1
    top = max(y for _, y in every)
    rows = top - bottom
    if ax is None:
        _, ax = plt.subplots(figsize=(min(1.6 * columns + 0.8, 40), min(0.9 * rows + 1.0, 40)))
    kinds, boxes, where = set(), {}, {}
    for k, (owner, label, part, pos) in enumerate(parts):
        kinds |= _draw_part(ax, g, part, pos, boxes, k)
        if owner is not None:
            xs, ys = [x for x, _ in pos.values()], [y for _, y in pos.values()]
            frame = (min(xs) - 0.5, min(ys) - 0.5, max(xs) - min(xs) + 1.0, max(ys) - min(ys) + 1.0)
            ax.add_patch(Rectangle(frame[:2], *frame[2:], fill=False, ls="--", lw=0.8,
                                   ec=_EDGE, zorder=1))
            ax.text(frame[0] + 0.05, frame[1] + frame[3] - 0.05, label, fontsize=8, va="top",
                    color=_EDGE, zorder=5)
            ax.annotate("", xy=(frame[0] + frame[2] / 2, frame[1] + frame[3]), xytext=(0.5, 0),
                        textcoords=boxes[where[owner], owner],
                        arrowprops=dict(arrowstyle="-", ls=":", color=_EDGE, lw=1.0), zorder=2)
        where.update((n, k) for n in part if n not in where)
    boxes = {node: box for (k, node), box in boxes.items() if k == 0}
    for node in {e.node for e in outputs}:
        which = ", ".join(str(i) for i, e in enumerate(outputs) if e.node == node)
        ax.annotate(f"output {which}", xy=(0.5, 0), xycoords=boxes[node], xytext=(0, -6),
                    textcoords="offset points", ha="center", va="top", fontsize=7.5,
                    color="#2b8a3e", zorder=5)
    ax.set_xlim(-0.6, columns - 0.4)
    ax.set_ylim(bottom + 0.4, top + 0.6)
    ax.axis("off")
    handles = [Patch(fc=fill, ec=border, ls=line, label=text)
               for kind, (fill, border, line, _, text, _) in STYLES.items() if kind in kinds]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles),
              frameon=False, fontsize=8)
    return ax


def _draw_part(ax, g, nodes, pos: dict, boxes: dict, k: int) -> set:
    """Boxes for ``nodes`` at ``pos`` (kept in ``boxes`` under ``(k, node)``) and the arrows
    among them; returns the kinds of node drawn."""
    from matplotlib.patches import FancyArrowPatch
    kinds = set()
    for node in nodes:
        e = Expr(g, node)
        kinds.add(node_kind(e))
        fill, border, line, shape, *_ = STYLES[node_kind(e)]
        boxes[k, node] = ax.text(*pos[node], node_label(e, "\n"), ha="center", va="center",
                                 fontsize=9, zorder=3,
                                 bbox=dict(boxstyle=f"{shape},pad=0.4", fc=fill, ec=border,
                                           ls=line, lw=1.3))
    for arg, user, label in _edges(g, nodes):
        colour = STYLES["gradient"][1] if g[user]["grad"] else _EDGE
        # the arrow is clipped to both boxes; boxes are drawn first (lower zorder), so
        # their positions are known when the arrow is drawn
        ax.add_patch(FancyArrowPatch(pos[arg], pos[user], patchA=boxes[k, arg].get_bbox_patch(),
                                     patchB=boxes[k, user].get_bbox_patch(), arrowstyle="-|>",
                                     mutation_scale=11, color=colour, lw=1.0, shrinkB=1,
                                     zorder=4))
        if label:
            (xa, ya), (xb, yb) = pos[arg], pos[user]
            t = 1 - 0.45 / (xb - xa)
            ax.text(xa + t * (xb - xa), ya + t * (yb - ya), label, fontsize=7.5, color=colour,
                    ha="center", va="center", zorder=5,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none"))
    return kinds


FORMULA_NODES = 60  # a larger expression shows no formula in a notebook: it would not be read


@expr_method("_repr_markdown_")
def expr_markdown(e: Expr) -> str:
    """Notebook display of an expression: its formula (small graphs; shared nodes named),
    shape, dtype, and how many nodes it needs, of which a derivative added how many.

    >>> print(sg.viz.expr_markdown(x * y))
    """
    nodes = e.g.ancestors([e.node])
    added = sum(1 for n in nodes if e.g[n]["grad"])
    formula = ""
    if len(nodes) <= FORMULA_NODES:
        try:
            formula = f"$${latex(e, cse=True)}$$\n\n"
        except SymgradError:  # an op or shape without a SymPy form: show the rest
            pass
    what = e.op if e.name is None else f"{e.op} {html.escape(str(e.name))}"
    return (f"{formula}symgrad expression ({what}): shape `{D.fmt_shape(e.dims)}`, dtype "
            f"`{e.dtype}`; needs {len(nodes)} nodes ({added} added by derivatives) of a "
            f"graph of {len(e.g)}")


def function_markdown(fn: Function) -> str:
    """Notebook display of a compiled function: its inputs, outputs and generated source.

    >>> print(sg.viz.function_markdown(sg.function([x], x * 2)))
    """
    ins = ", ".join(f"`{html.escape(str(x.name))}` {D.fmt_shape(x.dims)}" for x in fn.inputs)
    outs = ", ".join(D.fmt_shape(e.dims) for e in fn.outputs)
    lines = fn.source.count("\n")
    return (f"symgrad compiled function of {ins} returning {len(fn.outputs)} output(s), "
            f"shape {outs}\n\n<details><summary>generated NumPy source ({lines} lines)"
            f"</summary>\n\n```python\n{fn.source}```\n\n</details>")


Function._repr_markdown_ = function_markdown
