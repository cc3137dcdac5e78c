"""Graph pictures: DOT text and matplotlib drawings show every needed node, gradient nodes
apart from forward ones, argument order on edges, and a layout in topological layers."""
from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import symgrad as sg
from symgrad.viz import STYLES, layout, node_label


def _circuit_gradients():
    """(x + y) z and its gradient, every local-gradient product kept (no rewrites)."""
    with sg.Graph(rewrite=False) as g:
        x, y, z = sg.scalars("x y z")
        f = (x + y) * z
        return g, [f, *sg.grad(f, [x, y, z])]


def _dot_nodes(dot: str) -> dict:
    return {int(n): attrs for n, attrs in re.findall(r"^  n(\d+) \[(.*)\];$", dot, re.M)}


def _dot_edges(dot: str) -> list:
    return [(int(a), int(b), label) for a, b, label in
            re.findall(r'^  n(\d+) -> n(\d+) \[color="[^"]*"(?:, label="([^"]*)")?\];$', dot, re.M)]


def test_dot_shows_every_needed_node_and_marks_gradient_nodes():
    g, outputs = _circuit_gradients()
    dot = sg.to_dot(outputs)
    nodes = _dot_nodes(dot)
    assert set(nodes) == g.ancestors([e.node for e in outputs])
    gradient_fill = STYLES["gradient"][0]
    marked = {n for n, attrs in nodes.items() if gradient_fill in attrs and "dashed" in attrs}
    assert marked == {n for n in nodes if g[n]["grad"]} and marked
    assert all(f"label=\"{node_label(sg.Expr(g, n), chr(10))}\"".replace("\n", "\\n") in attrs
               for n, attrs in nodes.items())
    for i, e in enumerate(outputs):
        assert f"n{e.node} -> out{i};" in dot


def test_dot_edges_carry_argument_order_and_repeats():
    a, b = sg.scalars("a b")
    d, sq = a - b, a * a
    dot = sg.to_dot([d, sq])
    edges = {(x, y): label for x, y, label in _dot_edges(dot)}
    assert edges[(a.node, d.node)] == "0" and edges[(b.node, d.node)] == "1"
    with sg.Graph(rewrite=False):
        c = sg.scalar("c")
        cc = c * c
        assert {(x, y): label for x, y, label in _dot_edges(sg.to_dot(cc))} == {(c.node, cc.node): "×2"}


def test_dot_edges_of_one_argument_ops_carry_no_label():
    x = sg.scalar("x")
    e = sg.sin(x)
    assert _dot_edges(sg.to_dot(e)) == [(x.node, e.node, "")]


def test_dot_edge_order_for_matmul_follows_the_arguments():
    W, v = sg.matrix("W", (3, 4)), sg.vector("v", 4)
    y = W @ v
    edges = {(x, u): label for x, u, label in _dot_edges(sg.to_dot(y))}
    assert edges == {(W.node, y.node): "0", (v.node, y.node): "1"}


def test_layout_puts_every_argument_left_of_its_user():
    g, outputs = _circuit_gradients()
    nodes = sorted(g.ancestors([e.node for e in outputs]))
    pos = layout(g, nodes)
    assert len(set(pos.values())) == len(nodes)
    for node in nodes:
        for arg in g[node]["args"]:
            assert pos[arg][0] < pos[node][0]
    symbols = [n for n in nodes if g[n]["op"] == "symbol"]
    assert {pos[n][0] for n in symbols} == {0}


def test_layout_of_a_long_chain_is_iterative():
    x = sg.scalar("x")
    e = x
    for _ in range(20_000):
        e = sg.sin(e)
    pos = layout(e.g, sorted(e.g.ancestors([e.node])))
    assert pos[e.node][0] == 20_000 and pos[x.node] == (0, 0.0)


def test_node_labels_give_op_name_params_and_shape():
    v = sg.vector("v", "n")
    assert node_label(v) == "v (n,)"
    assert node_label(sg.sum(v[1:] ** 3), "|") == "sum|axis=0"
    assert node_label(v[1:] ** 3) == "int_power n=3 (n-1,)"
    assert node_label(sg.constant(2.5)) == "2.5"


def test_draw_styles_gradient_nodes_apart_and_labels_every_node():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex
    g, outputs = _circuit_gradients()
    ax = sg.draw(outputs)
    ax.figure.canvas.draw()
    nodes = sorted(g.ancestors([e.node for e in outputs]))
    boxes = [t for t in ax.texts if t.get_bbox_patch() is not None and t.get_fontsize() == 9]
    by_fill: dict = {}
    for t in boxes:
        by_fill.setdefault(to_hex(t.get_bbox_patch().get_facecolor()), []).append(t.get_text())
    want = lambda pred: sorted(node_label(sg.Expr(g, n), "\n") for n in nodes if pred(n))
    assert sorted(by_fill[STYLES["gradient"][0]]) == want(lambda n: g[n]["grad"])
    assert sorted(by_fill[STYLES["input"][0]]) == want(lambda n: g[n]["op"] == "symbol")
    assert len(boxes) == len(nodes)
    assert sum(p.get_linestyle() == "dashed" for p in (t.get_bbox_patch() for t in boxes)) == \
        sum(g[n]["grad"] for n in nodes)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [STYLES[k][4] for k in ("input", "forward", "gradient")]
    outputs_text = sorted(t.get_text() for t in ax.texts if t.get_text().startswith("output"))
    assert outputs_text == ["output 0", "output 1, 2", "output 3"]
    plt.close(ax.figure)


def test_draw_onto_a_given_axes_and_without_gradient_nodes():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x, y = sg.scalars("x y")
    fig, axes = plt.subplots(1, 2)
    assert sg.draw(x * y + 1.0, ax=axes[1]) is axes[1]
    legend = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert legend == [STYLES["input"][4], STYLES["forward"][4]]
    assert not axes[0].texts
    plt.close(fig)


def test_draw_without_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(sg.UnsupportedError, match=r"symgrad\[plot\]"):
        sg.draw(sg.scalar("x") * 2.0)


def test_draw_and_dot_reject_non_expressions():
    with pytest.raises(sg.SymgradError, match="expression"):
        sg.to_dot([1.0])
    with pytest.raises(sg.SymgradError, match="expression"):
        sg.to_dot([])


def test_circuit_gradient_nodes_compute_the_chain_rule():
    """The drawn gradient nodes are the real gradient: -4, -4, 3 at (-2, 5, -4)."""
    g, (f, *grads) = _circuit_gradients()
    x, y, z = (sg.Expr(g, n) for n in sorted(g.nx.nodes)[:3])
    values = sg.function([x, y, z], [f, *grads])(-2.0, 5.0, -4.0)
    np.testing.assert_array_equal(values, [(-2 + 5) * -4, -4, -4, -2 + 5])


def test_expression_shows_its_formula_shape_and_graph_size_in_notebooks():
    x, y = sg.scalars("x y")
    gx = sg.grad(sg.sin(x) * y, x)
    text = gx._repr_markdown_()
    formula = text.split("$$")[1]
    assert formula == sg.latex(gx, cse=True)
    needed = gx.g.ancestors([gx.node])
    added = sum(gx.g[n]["grad"] for n in needed)
    assert added > 0
    assert f"needs {len(needed)} nodes ({added} added by derivatives) of a graph of {len(gx.g)}" in text
    assert "shape `()`, dtype `float64`" in text


def test_large_expression_shows_no_formula():
    x = sg.scalar("x")
    e = x
    for _ in range(sg.viz.FORMULA_NODES):
        e = sg.sin(e)
    assert "$$" not in e._repr_markdown_() and "(sin)" in e._repr_markdown_()


def test_function_shows_inputs_outputs_and_source_in_notebooks():
    X, w = sg.matrix("X", ("n", 3)), sg.vector("w", 3)
    fn = sg.function([X, w], [X @ w, sg.sum(w)])
    text = fn._repr_markdown_()
    assert "`X` (n, 3), `w` (3,)" in text and "2 output(s), shape (n,), ()" in text
    assert f"```python\n{fn.source}```" in text
