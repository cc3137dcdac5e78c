"""Serialisation: pickle of graphs, expressions and compiled functions (also to a spawned
process), and save/load of graphs as node-link JSON that loading checks and never runs."""
from __future__ import annotations

import json
import math
import multiprocessing
import pickle
import time

import networkx
import numpy as np
import pytest

import symgrad as sg
from symgrad.op import REGISTRY
from symgrad.serialize import FileFormatError


def _define_ops():
    """The user op of these tests (a pool's worker defines it before it unpickles)."""
    return sg.defop("ser_cube", impl=lambda x: x ** 3, partials=[lambda out, x: 3 * x * x])


def _call(job):
    fn, args = job
    return fn(*args)


def _roundtrip(obj):
    return pickle.loads(pickle.dumps(obj))


def _net():
    x = sg.vector("x", "n")
    W = sg.matrix("W", ("n", 3))
    f = sg.sum(sg.tanh(x @ W) ** 2) + sg.sum(x[1:] * x[:-1])
    return x, W, f, sg.grad(f, [x, W])


def _same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


# -- pickle ------------------------------------------------------------------------------
def test_pickle_expressions_share_one_fresh_graph(rng):
    x, W, f, (gx, gW) = _net()
    x2, W2, f2, gx2, gW2 = _roundtrip([x, W, f, gx, gW])
    assert x2.g is W2.g is f2.g is gx2.g and x2.g is not x.g and len(x2.g) == len(x.g)
    assert (x2.name, x2.dims, f2.op, gW2.dims) == ("x", ("n",), f.op, ("n", 3))
    xv, Wv = rng.standard_normal(5), rng.standard_normal((5, 3))
    _same(sg.function([x2, W2], [f2, gx2, gW2])(xv, Wv), sg.function([x, W], [f, gx, gW])(xv, Wv))
    with x2.g:  # new symbols in an unpickled graph are new nodes
        z = sg.vector("x", "n")
    assert z.node not in (x2.node, W2.node) and len(x2.g) == len(x.g) + 1
    assert _roundtrip(f2).g is not _roundtrip(f2).g  # separate pickles, separate graphs
    X = sg.matrix("X", (4, 3))
    b = _roundtrip(sg.Batched(X, 1))
    assert type(b) is sg.Batched and (b.nb, b.dims, b.value.dims) == (1, (3,), (4, 3))
    g2 = _roundtrip(x.g)
    assert isinstance(g2, sg.Graph) and len(g2) == len(x.g) and g2.nx.number_of_nodes() == len(x.g)


def test_pickle_graph_after_eval_cached_functions():
    x = sg.vector("x", 3)
    e = sg.exp(x) * 2 + 1
    v = np.array([0.0, 1.0, -1.0])
    expected = e.eval({x: v})
    assert any(isinstance(fn, sg.Function) for fn in x.g.cache.values())
    x2, e2 = _roundtrip([x, e])
    assert not any(isinstance(fn, sg.Function) for fn in x2.g.cache.values())
    np.testing.assert_array_equal(e2.eval({x2: v}), expected)


def test_pickle_function_with_trees_defaults_updates_and_shared():
    w = sg.shared(np.zeros(3), name="w")
    x = sg.vector("x", 3)
    lr, k = sg.scalar("lr"), sg.scalar("k")
    cost = k * sg.sum((w - x) ** 2)
    step = sg.function([{"x": x, "k": k}, lr], {"cost": cost, "g": sg.grad(cost, w)},
                       defaults={lr: 0.1}, updates={w: w - lr * sg.grad(cost, w)})
    step2, w2 = _roundtrip([step, w])
    assert w2.get_value().tolist() == [0.0, 0.0, 0.0] and isinstance(w2, sg.SharedVariable)
    xv = np.array([1.0, 2.0, 3.0])
    for _ in range(2):
        out, out2 = step({"x": xv, "k": 2.0}), step2({"x": xv, "k": 2.0})
        assert out.keys() == out2.keys() == {"cost", "g"}
        _same([out["cost"], out["g"]], [out2["cost"], out2["g"]])
    _same([w.get_value()], [w2.get_value()])
    step2({"x": xv, "k": 1.0}, lr=0.5)  # the copy updates its own shared variable
    assert not np.array_equal(w.get_value(), w2.get_value())


def test_pickle_user_op_by_name(monkeypatch):
    cube = _define_ops()
    x = sg.vector("x", "n")
    fn = sg.function([x], [cube(x), sg.grad(sg.sum(cube(x)), x)])
    v = np.array([1.0, -2.0, 0.5])
    _same(_roundtrip(fn)(v), [v ** 3, 3 * v ** 2])
    data = pickle.dumps(fn)
    monkeypatch.delitem(REGISTRY, "ser_cube")
    with pytest.raises(sg.SymgradError, match="ser_cube"):
        pickle.loads(data)


def test_pickled_functions_run_in_a_spawned_pool():
    cube = _define_ops()
    x, W, f, grads = _net()
    fn = sg.function([x, W], [f, *grads])
    y = sg.vector("y", 2)
    fc = sg.function([y], cube(y) + 1)
    rng = np.random.default_rng(1)
    xv, Wv = rng.standard_normal(4), rng.standard_normal((4, 3))
    with multiprocessing.get_context("spawn").Pool(1, initializer=_define_ops) as pool:
        got, got_c = pool.map(_call, [(fn, (xv, Wv)), (fc, (np.array([2.0, 3.0]),))])
    _same(got, fn(xv, Wv))
    _same([got_c], [np.array([9.0, 28.0])])


# -- save and load -----------------------------------------------------------------------
def test_save_load_values_gradients_names_and_structure(tmp_path, rng):
    x, W, f, (gx, gW) = _net()
    path = tmp_path / "net.json"
    sg.save(path, {"inputs": (x, W), "f": f, "grads": [gx, gW]})
    out = sg.load(path)
    (x2, W2), f2, (gx2, gW2) = out["inputs"], out["f"], out["grads"]
    assert isinstance(out["inputs"], tuple) and isinstance(out["grads"], list)
    assert x2.g is f2.g and x2.g is not x.g
    assert (x2.name, x2.dims, W2.name, W2.dims) == ("x", ("n",), "W", ("n", 3))
    assert gx2.is_gradient and not f2.is_gradient
    xv, Wv = rng.standard_normal(6), rng.standard_normal((6, 3))
    _same(sg.function([x2, W2], [f2, gx2, gW2])(xv, Wv), sg.function([x, W], [f, gx, gW])(xv, Wv))
    again = sg.function([x2, W2], sg.grad(f2, [x2, W2]))(xv, Wv)  # the loaded graph differentiates
    for a, b in zip(again, sg.function([x, W], [gx, gW])(xv, Wv)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    sg.save(path, f)
    assert sg.load(path).op == f.op  # one expression in, one out
    with open(path) as fh:  # networkx reads it as node-link data
        graph = networkx.node_link_graph(json.load(fh), edges="edges")
    assert graph.number_of_nodes() == len(f.g.ancestors([f.node]))


def test_constants_exact_and_named_dimensions(tmp_path):
    floats = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, 1 / 3])
    arrays = [floats, floats.astype(np.float32), np.array([[1, -2], [3, 2**40]]),
              np.array([1, 2], dtype=np.int32), np.array([True, False]), np.array(-0.0)]
    x = sg.vector("x", "n")
    outputs = [sg.constant(a, a.dtype) for a in arrays] + [x, x[1:] * x[:-1], sg.sum(x) * 2.5]
    sg.save(tmp_path / "c.json", outputs)
    loaded = sg.load(tmp_path / "c.json")
    for a, c in zip(arrays, loaded):
        value = c.attrs["value"]
        assert value.dtype == a.dtype and value.shape == a.shape and value.tobytes() == a.tobytes()
    x2, y2, s2 = loaded[len(arrays):]
    assert y2.dims == ("n-1",)
    v = np.array([1.0, 2.0, 3.0, 4.0])
    _same(sg.function([x2], [y2, s2])(v), sg.function([x], outputs[-2:])(v))


def test_shared_variables_and_unrewritten_graphs_come_back(tmp_path):
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    sg.save(tmp_path / "w.json", [w, w * 3])
    w2, e2 = sg.load(tmp_path / "w.json")
    assert isinstance(w2, sg.SharedVariable) and w2.get_value().tolist() == [1.0, 2.0]
    assert sg.function([], e2)().tolist() == [3.0, 6.0]
    with sg.Graph(rewrite=False):
        z = sg.scalar("z")
        kept = z + 0.0
    assert kept.op == "add"
    sg.save(tmp_path / "r.json", [z, kept])
    z2, kept2 = sg.load(tmp_path / "r.json")
    assert kept2.op == "add" and kept2.g.rewrite is False


def test_long_chain_saves_loads_and_pickles_in_seconds(tmp_path):
    s = y = sg.scalar("s")
    for _ in range(100_000):
        y = sg.sin(y)
    start = time.perf_counter()
    sg.save(tmp_path / "chain.json", [s, y])
    s2, y2 = sg.load(tmp_path / "chain.json")
    y3 = _roundtrip(y)
    elapsed = time.perf_counter() - start
    print(f"100,000-node chain: save, load and pickle in {elapsed:.1f} s")
    assert elapsed < 30
    assert len(y2.g) == len(y3.g) == 100_001 and y2.op == "sin"
    expected = 0.5
    for _ in range(100_000):
        expected = math.sin(expected)
    assert sg.function([s2], y2)(0.5) == pytest.approx(expected, rel=1e-9)


# -- files that must not load ------------------------------------------------------------
def _saved(tmp_path, outputs):
    path = tmp_path / "g.json"
    sg.save(path, outputs)
    with open(path) as fh:
        return path, json.load(fh)


def _write(path, data):
    with open(path, "w") as fh:
        json.dump(data, fh)
    return path


def _node(data, op):
    return next(n for n in data["nodes"] if n["op"] == op)


def test_unknown_op_and_tampered_shapes_are_refused(tmp_path):
    x, y = sg.vector("x", 3), sg.vector("y", 3)
    path, data = _saved(tmp_path, [x, y, sg.exp(x) + y])
    _node(data, "exp")["op"] = "no_such_op"
    with pytest.raises(sg.SymgradError, match="unknown op 'no_such_op'"):
        sg.load(_write(path, data))
    path, data = _saved(tmp_path, [x, y, x + y])
    data["nodes"][0]["shape"] = [4]  # x claims 4 entries: add's shape rule refuses
    with pytest.raises(sg.ShapeError, match="add"):
        sg.load(_write(path, data))
    path, data = _saved(tmp_path, [x, y, sg.exp(x) + y])
    _node(data, "exp")["shape"] = [3, 1]
    with pytest.raises(sg.ShapeError, match=r"exp\): the file says shape \(3, 1\)"):
        sg.load(_write(path, data))


def test_code_in_a_file_is_never_run(tmp_path):
    sentinel = tmp_path / "pwned"
    code = f"__import__('pathlib').Path({str(sentinel)!r}).touch()"
    x = sg.symbol(code, (2,))
    path, data = _saved(tmp_path, [x, sg.name(x * 2, "doubled").astype("float32")])
    x2, e2 = sg.load(path)
    assert x2.name == code
    assert sg.function([x2], e2)(np.ones(2)).tolist() == [2.0, 2.0]
    repr(x2), sg.to_sympy(e2)
    _node(data, "cast")["params"] = [["dtype", f"float32)+0*({code}"]]
    with pytest.raises(FileFormatError, match="could be code"):
        sg.load(_write(path, data))
    _node(data, "cast")["params"] = [["dtype=np.float32),print(1", "float32"]]
    with pytest.raises(FileFormatError, match="parameter"):
        sg.load(_write(path, data))
    assert not sentinel.exists()


@pytest.mark.parametrize("spoil", [
    lambda d: "not json {",
    lambda d: [1, 2],
    lambda d: {**d, "graph": {**d["graph"], "format": "other"}},
    lambda d: {k: v for k, v in d.items() if k != "nodes"},
    lambda d: {**d, "nodes": [{k: v for k, v in n.items() if k != "op"} for n in d["nodes"]]},
    lambda d: {**d, "nodes": d["nodes"][::-1]},  # arguments used before they are defined
    lambda d: {**d, "nodes": d["nodes"] + d["nodes"][-1:]},
    lambda d: {**d, "edges": d["edges"][1:]},
    lambda d: {**d, "graph": {**d["graph"], "outputs": [99]}},
    lambda d: {**d, "graph": {**d["graph"], "structure": {"list": ["leaf"]}}},
    lambda d: {**d, "nodes": [{**n, "value": {**n["value"], "base64": "AAA"}}
                              if n["op"] == "constant" else n for n in d["nodes"]]},
    lambda d: {**d, "nodes": [{**n, "dtype": "object"} for n in d["nodes"]]},
    lambda d: {**d, "nodes": [{**n, "params": [["axis", {"eval": "1"}]]} for n in d["nodes"]]},
    lambda d: {**d, "nodes": [{**n, "args": "0"} for n in d["nodes"]]},
])
def test_malformed_files_raise_a_clear_error(tmp_path, spoil):
    x = sg.vector("x", 3)
    path, data = _saved(tmp_path, [x, sg.sum(x * np.arange(3.0))])
    spoiled = spoil(data)
    if isinstance(spoiled, str):
        path.write_text(spoiled)
    else:
        _write(path, spoiled)
    with pytest.raises(FileFormatError, match=str(path).replace("\\", "\\\\")):
        sg.load(path)
