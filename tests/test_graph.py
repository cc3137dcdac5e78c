"""The graph: hash-consing, graphs kept apart, gradient nodes marked in the same networkx
graph, dtypes and named dimensions, and a 100,000-node chain without recursion."""
from __future__ import annotations

import time

import networkx as nx
import numpy as np
import pytest

import symgrad as sg


def test_same_expression_twice_is_one_node(fresh_graph):
    x, y = sg.scalars("x y")
    f = sg.exp(sg.sin(x) * y + 2.0) / (x - y)
    size = len(fresh_graph)
    again = sg.exp(sg.sin(x) * y + 2.0) / (x - y)
    assert again == f and again.node == f.node
    assert len(fresh_graph) == size
    assert sg.constant(2.0) == sg.constant(np.float64(2.0))
    assert sg.constant(np.arange(3.0)) == sg.constant([0.0, 1.0, 2.0])


def test_symbols_are_distinct_even_with_equal_names(fresh_graph):
    a, b = sg.scalar("x"), sg.scalar("x")
    assert a != b and (a + 1) != (b + 1)
    assert sg.function([a, b], a - b)(3.0, 1.0) == 2.0


def test_repeated_differentiation_reuses_nodes(fresh_graph):
    x, y = sg.scalars("x y")
    f = sg.sin(x * y) * sg.exp(x)
    gx = sg.grad(f, x)
    size = len(fresh_graph)
    assert sg.grad(f, x) == gx and len(fresh_graph) == size


def test_gradient_nodes_are_marked_in_the_same_graph(fresh_graph):
    x, y, z = sg.scalars("x y z")
    f = sg.sin(x + y) * z
    forward = set(fresh_graph.nx.nodes)
    graph = f.graph
    grads = sg.grad(f, [x, y, z])
    assert f.graph is graph is fresh_graph.nx and isinstance(graph, nx.DiGraph)
    new = set(graph.nodes) - forward
    assert new and all(graph.nodes[n]["grad"] for n in new)
    assert not any(graph.nodes[n]["grad"] for n in forward)
    assert all(g.node in graph for g in grads)
    assert any(g.is_gradient for g in grads) and not f.is_gradient
    for node in graph.nodes:  # edges run from each argument to its user
        assert set(graph.predecessors(node)) == set(graph.nodes[node]["args"])
    assert nx.is_directed_acyclic_graph(graph)


def test_graph_context_isolates(fresh_graph):
    x = sg.scalar("x")
    outer = len(fresh_graph)
    with sg.Graph() as inner:
        y = sg.scalar("y")
        assert sg.default_graph() is inner and y.g is inner
        f = sg.sin(y) * 2
        assert len(inner) > 1
    assert sg.default_graph() is fresh_graph and len(fresh_graph) == outer
    assert x.g is fresh_graph and f.graph is inner.nx
    assert sg.function([y], f)(0.5) == pytest.approx(2 * np.sin(0.5))


@pytest.mark.parametrize("combine", [lambda a, b: a + b, lambda a, b: a @ b, sg.maximum,
                                     lambda a, b: sg.where(a > 0, a, b),
                                     lambda a, b: sg.concatenate([a, b]),
                                     lambda a, b: sg.grad(sg.sum(a), b),
                                     lambda a, b: sg.function([a], b)])
def test_mixing_graphs_is_an_error(combine):
    a = sg.vector("a", 2)
    with sg.Graph():
        b = sg.vector("b", 2)
    with pytest.raises(sg.GraphMismatchError, match="two different graphs"):
        combine(a, b)


def test_dtypes():
    x, y = sg.scalar("x"), sg.vector("y", 3, dtype="float32")
    assert x.dtype == np.float64 and y.dtype == np.float32
    assert (y * 2).dtype == np.float32 and (y * 2.5).dtype == np.float32  # Python scalars are weak
    assert (y + x).dtype == np.float64  # as NumPy: a float64 array operand wins
    assert (y > 0).dtype == bool and (x <= y).dtype == bool
    assert sg.sum(y).dtype == np.float32 and sg.exp(y).dtype == np.float32
    assert sg.constant(3).dtype == np.int64 and (sg.constant(3) * x).dtype == np.float64


def test_named_dimensions_broadcast():
    X, b = sg.matrix("X", ("n", 3)), sg.vector("b", 3)
    assert (X + b).dims == ("n", 3) and (X @ sg.matrix("W", (3, "k"))).dims == ("n", "k")
    assert sg.sum(X, axis=0).dims == (3,) and (X.T).dims == (3, "n")
    assert (X + sg.matrix("Z", ("n", 1))).dims == ("n", 3)
    with pytest.raises(sg.ShapeError, match="'m' against 'n'"):
        X + sg.matrix("Y", ("m", 3))
    assert X.ndim == 2 and X.shape[1] == 3 and X.shape[0].op == "shape_of"


def test_expression_has_no_truth_value():
    x = sg.scalar("x")
    with pytest.raises(sg.SymgradError, match="no truth value"):
        if x > 0:
            pass


def test_long_chain_builds_differentiates_and_compiles():
    """sin(sin(...sin(x))) 100,000 deep: every walk is iterative, so no RecursionError
    (the phases' times are printed with -s, never asserted)."""
    depth = 100_000
    x = sg.scalar("x")
    start = time.perf_counter()
    y = x
    for _ in range(depth):
        y = sg.sin(y)
    built = time.perf_counter()
    g, = sg.grad(y, [x])  # the list form: the reverse sweep
    grads = time.perf_counter()
    fn = sg.function([x], [y, g])
    compiled = time.perf_counter()
    print(f"\nchain of {depth} sines, {len(y.g)} nodes with the gradient: build "
          f"{built - start:.1f} s, grad {grads - built:.1f} s, compile {compiled - grads:.1f} s")
    value, slope = fn(0.3)
    v, d = 0.3, 1.0  # by hand: y <- sin(y), dy/dx <- dy/dx * cos(y)
    for _ in range(depth):
        v, d = np.sin(v), d * np.cos(v)
    assert value == pytest.approx(v, rel=1e-12) and slope == pytest.approx(d, rel=1e-9)
