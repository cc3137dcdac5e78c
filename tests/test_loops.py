"""Loops as graph nodes: ``sg.scan`` and ``sg.fori_loop`` against the unrolled graph.

The same step function is traced once into a scan and applied step by step in Python
(the unrolled graph symgrad built before loops existed); values, gradients, forward-mode
products, Hessians and reverse-over-reverse derivatives must agree.
"""
from __future__ import annotations

import importlib.util
import pickle
import re

import numpy as np
import pytest
import scipy.special
import sympy

import symgrad as sg
from symgrad.backends.array_api import cupy_backend
from symgrad.serialize import FileFormatError


def unrolled(step, init, xs, length, reverse=False):
    """``step`` applied ``length`` times in Python (from the end with ``reverse``): the
    final carry and the outputs stacked in the inputs' order."""
    carry, ys = init, [None] * length
    for t in (reversed(range(length)) if reverse else range(length)):
        x = sg.tree_map(lambda a: a[t], xs) if xs is not None else None
        carry, ys[t] = step(carry, x)
    flat = [sg.tree_flatten(y)[0] for y in ys]
    treedef = sg.tree_flatten(ys[0])[1]
    return carry, sg.tree_unflatten(treedef, [sg.stack(list(col)) for col in zip(*flat)])


def rnn():
    """A small recurrent network: a tuple carry, a dict of inputs, two outputs per step."""
    W, U, b = sg.matrix("W", (3, 3)), sg.matrix("U", (2, 3)), sg.vector("b", 3)
    h0, xs, ws = sg.vector("h0", 3), sg.matrix("xs", ("T", 2)), sg.vector("ws", "T")
    V = W @ W.T  # computed outside the loop, read inside (a closure value)

    def step(carry, x):
        h, total = carry
        h = sg.tanh(h @ V * 0.3 + x["x"] @ U + b)
        return (h, total + x["w"] * sg.sum(h ** 2)), {"h": h, "s": sg.sin(sg.sum(h))}

    inputs = [W, U, b, h0, xs, ws]
    init, seq = (h0, sg.constant(0.0)), {"x": xs, "w": ws}
    return inputs, step, init, seq


def loss_of(carry, ys):
    h, total = carry
    return sg.sum(h) + total + sg.sum(ys["h"] ** 2) + sg.sum(ys["s"] * sg.arange(ys["s"].shape[0]))


def values(rng, length):
    return [rng.standard_normal((3, 3)), rng.standard_normal((2, 3)), rng.standard_normal(3),
            rng.standard_normal(3), rng.standard_normal((length, 2)), rng.standard_normal(length)]


@pytest.mark.parametrize("checkpoint", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_values_and_gradients_equal_the_unrolled_graph(rng, reverse, checkpoint):
    inputs, step, init, seq = rnn()
    loss = loss_of(*sg.scan(step, init, seq, reverse=reverse, checkpoint=checkpoint))
    f = sg.function(inputs, [loss] + sg.grad(loss, inputs))
    for length in (1, 4, 7):  # one compiled function for every length T
        vals = values(rng, length)
        expected = loss_of(*unrolled(step, init, seq, length, reverse))
        g = sg.function(inputs, [expected] + sg.grad(expected, inputs))
        for a, b in zip(f(*vals), g(*vals)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba", "jax", "dask"])
def test_a_loop_of_no_steps(rng, backend):
    """T = 0, as in JAX: the carry as given, outputs stacked empty in their shapes and
    dtypes, the loss sum(h0) differentiated through the empty loops."""
    pytest.importorskip(backend)
    inputs, step, init, seq = rnn()
    (h, total), ys = sg.scan(step, init, seq)
    loss = loss_of((h, total), ys)
    f = sg.function(inputs, [h, total, ys["h"], ys["s"], loss, *sg.grad(loss, inputs)],
                    backend=backend)
    vals = values(rng, 0)
    h, total, hs, ss, value, *grads = map(np.asarray, f(*vals))
    np.testing.assert_array_equal(h, vals[3])
    assert total == 0.0 and value == pytest.approx(np.sum(vals[3]), rel=1e-15)
    assert (hs.shape, hs.dtype, ss.shape, ss.dtype) == ((0, 3), np.float64, (0,), np.float64)
    for grad, expected in zip(grads, [np.zeros((3, 3)), np.zeros((2, 3)), np.zeros(3),
                                      np.ones(3), np.zeros((0, 2)), np.zeros(0)]):
        np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("checkpoint", [False, True])
def test_scan_forward_mode_hessians_and_second_reverse(rng, checkpoint):
    inputs, step, init, seq = rnn()
    loss = loss_of(*sg.scan(step, init, seq, checkpoint=checkpoint))
    expected = loss_of(*unrolled(step, init, seq, 5))
    vals = values(rng, 5)
    dirs = [sg.symbol(f"v{i}", x.dims) for i, x in enumerate(inputs)]
    dvals = [rng.standard_normal(v.shape) for v in vals]
    W, h0 = inputs[0], inputs[3]
    V = sg.matrix("VW", (3, 3))
    for ours, theirs in [
            (sg.jvp(loss, inputs, dirs), sg.jvp(expected, inputs, dirs)),
            (sg.hvp(loss, inputs, dirs), sg.hvp(expected, inputs, dirs)),
            (sg.hessian(loss, [W, h0]), sg.hessian(expected, [W, h0])),
            (sg.grad(sg.sum(sg.grad(loss, W) * V), inputs),
             sg.grad(sg.sum(sg.grad(expected, W) * V), inputs))]:
        args = inputs + dirs + [V]
        point = vals + dvals + [rng.standard_normal((3, 3))]
        a = sg.function(args, ours)(*point)
        b = sg.function(args, theirs)(*point)
        for x, y in zip(sg.tree_flatten(a)[0], sg.tree_flatten(b)[0]):
            np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-11)


def test_check_grad_through_a_scan(rng):
    inputs, step, init, seq = rnn()
    loss = loss_of(*sg.scan(step, init, seq))
    sg.check_grad(loss, inputs[:4], dict(zip(inputs, values(rng, 3))), order=2, tol=1e-5)


@pytest.mark.parametrize("checkpoint", [False, True])
def test_nested_scans(rng, checkpoint):
    """A scan whose step runs a scan over the rows of its input."""
    A, x0, xs = sg.matrix("A", (2, 2)), sg.vector("x0", 2), sg.tensor("xs", (3, 4, 2))

    def inner(x, row):
        return sg.tanh(A @ x + row), sg.sum(x)

    def outer(x, block):
        x, s = sg.scan(inner, x, block, checkpoint=checkpoint)
        return x * 0.5, s

    def outer_unrolled(x, block):
        x, s = unrolled(inner, x, block, 4)
        return x * 0.5, s

    loss = sg.sum(sg.scan(outer, x0, xs, checkpoint=checkpoint)[1] ** 2)
    expected = sg.sum(unrolled(outer_unrolled, x0, xs, 3)[1] ** 2)
    point = [rng.standard_normal((2, 2)), rng.standard_normal(2), rng.standard_normal((3, 4, 2))]
    a = sg.function([A, x0, xs], [loss] + sg.grad(loss, [A, x0, xs]))(*point)
    b = sg.function([A, x0, xs], [expected] + sg.grad(expected, [A, x0, xs]))(*point)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    H = sg.function([A, x0, xs], [sg.hessian(loss, A), sg.hessian(expected, A)])(*point)
    np.testing.assert_allclose(H[0], H[1], rtol=1e-11, atol=1e-11)


def test_fori_loop_runs_gradient_descent(rng):
    """Ten steps of gradient descent on a quadratic, the step size differentiated through."""
    A, b, x0, lr = sg.matrix("A", (3, 3)), sg.vector("b", 3), sg.vector("x0", 3), sg.scalar("lr")
    f = lambda x: 0.5 * x @ A @ x - b @ x  # noqa: E731

    def descend(i, x):
        return x - lr * sg.grad(f(x), x) / (1.0 + i)

    x10 = sg.fori_loop(0, 10, descend, x0)
    a = rng.standard_normal((3, 3))
    a = a @ a.T + 3 * np.eye(3)
    bv, xv = rng.standard_normal(3), rng.standard_normal(3)
    fn = sg.function([A, b, x0, lr], [x10, sg.grad(f(x10), lr), sg.jvp(x10, lr, 1.0)])
    x, g, dx = fn(a, bv, xv, 0.1)
    y = xv.copy()
    for i in range(10):
        y = y - 0.1 * (0.5 * (a + a.T) @ y - bv) / (1.0 + i)
    np.testing.assert_allclose(x, y, rtol=1e-12)
    eps = 1e-6
    np.testing.assert_allclose(dx, (fn(a, bv, xv, 0.1 + eps)[0] - fn(a, bv, xv, 0.1 - eps)[0])
                               / (2 * eps), rtol=1e-6, atol=1e-9)
    fx = lambda z: 0.5 * z @ a @ z - bv @ z  # noqa: E731
    assert g == pytest.approx((fx(fn(a, bv, xv, 0.1 + eps)[0]) - fx(fn(a, bv, xv, 0.1 - eps)[0]))
                              / (2 * eps), rel=1e-6)


@pytest.mark.parametrize("checkpoint", [False, True])
def test_vectorize_sees_through_a_scan(rng, checkpoint):
    inputs, step, init, seq = rnn()
    W, h0 = inputs[0], inputs[3]
    loss = loss_of(*sg.scan(step, init, seq, checkpoint=checkpoint))
    expected = loss_of(*unrolled(step, init, seq, 4))
    H0 = sg.matrix("H0", (5, 3))
    vals = values(rng, 4)
    many = rng.standard_normal((5, 3))
    args = [W, inputs[1], inputs[2], H0, inputs[4], inputs[5]]
    point = vals[:3] + [many] + vals[4:]
    a = sg.function(args, sg.vectorize(sg.grad(loss, W), {h0: H0}))(*point)
    b = sg.function(args, sg.vectorize(sg.grad(expected, W), {h0: H0}))(*point)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_one_loop_per_scan_and_graphs_independent_of_the_length():
    """Every output of a scan reads one run of the loop; the derivative graph of the body is
    built once, so a loss over a named length T has the same graph for any T."""
    inputs, step, init, seq = rnn()
    loss = loss_of(*sg.scan(step, init, seq))
    grads = sg.grad(loss, inputs)
    source = sg.function(inputs, [loss] + grads).source
    assert len(re.findall(r"\(s\d+ := ", source)) == 2  # the loop forward, and one back
    before = len(loss.g)
    sg.grad(loss, inputs)
    assert len(loss.g) == before  # built once: a second request adds nothing


@pytest.mark.parametrize("checkpoint", [False, True])
def test_reverse_pass_reads_kept_values_or_recomputes_the_step(rng, checkpoint):
    """By default the loop stacks what the step's vjp reads, and the reverse loop's step
    runs no tanh; with checkpoint=True it keeps only the carries and runs the step again."""
    W, h0, xs = sg.matrix("W", (3, 3)), sg.vector("h0", 3), sg.matrix("xs", ("T", 3))
    hs = sg.scan(lambda h, x: (sg.tanh(h @ W + x),) * 2, h0, xs, checkpoint=checkpoint)[1]
    loss = sg.sum(hs ** 2)
    grads = sg.grad(loss, [W, h0, xs])
    g = loss.g
    loops = sorted(n for n in g.ancestors([e.node for e in grads]) if g[n]["op"] == "scan")
    bodies = list(dict.fromkeys(dict(g[n]["params"])["body"] for n in loops))
    assert len(bodies) == 2  # the loop, and the loop back
    runs_tanh = [any(g[n]["op"] == "tanh" for n in g.ancestors(
        b.new_carries + b.ys, stop=set(b.carries + b.xs + b.closure))) for b in bodies]
    assert runs_tanh == [True, checkpoint]
    f = sg.function([W, h0, xs], grads)
    point = [rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal((6, 3))]
    expected = sg.sum(unrolled(lambda h, x: (sg.tanh(h @ W + x),) * 2, h0, xs, 6)[1] ** 2)
    for a, b in zip(f(*point), sg.function([W, h0, xs], sg.grad(expected, [W, h0, xs]))(*point)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", ["numba", "jax", "cupy", "dask"])
def test_other_backends_run_the_loop(rng, backend):
    """numba and cupy (NumPy standing in) run the Python loop over their compiled step,
    jax one lax.scan, dask (whose values without its named dimension are NumPy's) NumPy's."""
    if backend == "cupy":
        backend = cupy_backend(np, scipy.special)
    else:
        pytest.importorskip(backend)
    inputs, step, init, seq = rnn()
    loss = loss_of(*sg.scan(step, init, seq))
    vals = values(rng, 3)
    outputs = [loss] + sg.grad(loss, inputs) + [sg.hessian(loss, inputs[2])]
    for a, b in zip(sg.function(inputs, outputs, backend=backend)(*vals),
                    sg.function(inputs, outputs)(*vals)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_numba_runs_loops_of_small_steps_as_one_compiled_call(rng, monkeypatch):
    """A step on scalars or small arrays of fixed shapes (float, bool, int) is written
    entry by entry into one tape: the numba backend runs the whole loop, its derivatives'
    loops (batched ones of Hessians included) and while loops in its interpreter, never
    the Python loop, with the numpy backend's numbers; a step too long for a tape runs as
    NumPy calls."""
    pytest.importorskip("numba")
    a, c0, xs = sg.scalar("a"), sg.scalar("c0"), sg.vector("xs", "T")
    root = sg.while_loop(lambda x: abs(x * x - a) > 1e-12, lambda x: (x + a / x) / 2, a)
    bounded = newton_sqrt(a, max_steps=40)  # a masked scan with a bool carry
    last, ys = sg.scan(lambda c, x: (sg.sin(c) * a + x, c * x), c0, xs, reverse=True)
    counted = sg.fori_loop(0, 6, lambda i, c: c * a + i, c0)  # an int64 index
    loss = sg.sum(ys) + last + counted
    inputs, step, init, seq = rnn()  # matrices, a tuple carry, dict inputs
    network = loss_of(*sg.scan(step, init, seq))
    b = inputs[2]
    args = [a, c0, xs] + inputs
    outputs = [root, sg.diff(root, a), sg.diff(root, a, 2), bounded, sg.grad(bounded, a),
               sg.hessian(bounded, a), loss, *sg.grad(loss, [a, c0, xs]), sg.hessian(loss, a),
               network, *sg.grad(network, inputs), sg.hessian(network, b)]
    point = [1.7, 0.3, rng.standard_normal(4)] + values(rng, 4)  # one T
    expected = sg.function(args, outputs)(*point)
    compiled = sg.function(args, outputs, backend="numba")
    wide = sg.matrix("wide", (200, 200))  # 40,000 entries a step: NumPy's
    big = sg.fori_loop(0, 3, lambda i, m: sg.tanh(m @ wide), wide)
    big_fn = sg.function([wide], big, backend="numba")
    for name in ("scan", "while_loop"):
        monkeypatch.setattr(sg.runtime, name, lambda *args: pytest.fail("a Python loop ran"))
    for got, want in zip(compiled(*point), expected):
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    monkeypatch.undo()
    w = rng.standard_normal((200, 200)) / 20
    np.testing.assert_allclose(big_fn(w), np.tanh(np.tanh(np.tanh(w @ w) @ w) @ w), rtol=1e-12)


def test_errors_name_the_problem(tmp_path):
    h, xs = sg.vector("h", 3), sg.matrix("xs", (4, 2))
    with pytest.raises(sg.ShapeError, match=r"new carry .*\(2,\).*carry .*\(3,\)"):
        sg.scan(lambda c, x: (x, None), h, xs)
    with pytest.raises(sg.ShapeError, match="same length"):
        sg.scan(lambda c, x: (c, None), h, (xs, sg.matrix("ys", (5, 2))))
    with pytest.raises(sg.SymgradError, match="a pair"):
        sg.scan(lambda c, x: c, h, xs)
    with pytest.raises(sg.SymgradError, match="give length"):
        sg.scan(lambda c, x: (c, None), h)
    with pytest.raises(sg.SymgradError, match="checkpoint must be True or False, got 'yes'"):
        sg.scan(lambda c, x: (c, None), h, xs, checkpoint="yes")
    if importlib.util.find_spec("dask") is not None:
        rows = sg.matrix("rows", ("n", 3))
        over_rows, _ = sg.scan(lambda c, x: (c + x, None), rows[0], rows)
        with pytest.raises(sg.UnsupportedError, match="'dask' runs loops .* without the "
                                                       "dimension 'n' only"):
            sg.function([rows], over_rows, backend="dask")


def test_to_sympy_writes_loops_out_step_by_step(rng):
    """A loop of a fixed length is written out step by step: Newton's three steps are the
    hand-written formula; an RNN's loss and gradient, given numbers, are NumPy's loss and
    its differences; cond is a Piecewise; loops of unknown length raise."""
    a, x = sg.scalars("a x")
    s, t = sympy.symbols("a x", real=True)
    newton = sg.fori_loop(0, 3, lambda i, v: (v + a / v) / 2, a)
    expected = s
    for _ in range(3):
        expected = (expected + s / expected) / 2
    assert sympy.simplify(sg.to_sympy(newton) - expected) == 0
    assert sympy.simplify(sg.to_sympy(sg.grad(newton, a)) - sympy.diff(expected, s)) == 0
    branch = sg.cond(x > 0, lambda x: sg.log(x) * x, lambda x: -x ** 3, x)
    assert sg.to_sympy(branch) == sympy.Piecewise((t * sympy.log(t), t > 0), (-t ** 3, True))

    W, h0, xs = sg.matrix("W", (2, 2)), sg.vector("h0", 2), sg.matrix("xs", (3, 2))
    loss = sg.sum(sg.scan(lambda h, x: (sg.tanh(W @ h + x),) * 2, h0, xs)[1] ** 2)
    w, h, u = rng.standard_normal((2, 2)), rng.standard_normal(2), rng.standard_normal((3, 2))

    def numpy_loss(w):
        total, state = 0.0, h
        for row in u:
            state = np.tanh(w @ state + row)
            total += np.sum(state ** 2)
        return total
    numbers = {W: sympy.Matrix(w), h0: sympy.Matrix(h), xs: sympy.Matrix(u)}
    assert float(sg.to_sympy(loss, symbols=numbers)) == pytest.approx(numpy_loss(w), rel=1e-14)
    eps, differences = 1e-6, np.zeros((2, 2))
    for i, j in np.ndindex(2, 2):
        step = np.zeros((2, 2))
        step[i, j] = eps
        differences[i, j] = (numpy_loss(w + step) - numpy_loss(w - step)) / (2 * eps)
    np.testing.assert_allclose(np.array(sg.to_sympy(sg.grad(loss, W), symbols=numbers), float),
                               differences, rtol=1e-7, atol=1e-9)

    v = sg.vector("v", 2)
    for unknown, message in [
            (sg.scan(lambda c, _: (c * 2, None), v, length="T")[0], "must be a number of steps"),
            (sg.while_loop(lambda c: c > 1.0, lambda c: c * 0.5, x), "known only from values")]:
        with pytest.raises(sg.UnsupportedError, match=message):
            sg.to_sympy(unknown)
    with pytest.raises(sg.UnsupportedError, match="'scan' has no matrix expression"):
        sg.to_sympy(loss, form="matrix")


def test_loops_and_branches_are_saved_and_loaded(rng, tmp_path):
    """A file holds each loop's body (its nodes named by id in the loop's parameters):
    loaded, the loops compute the same values, and differentiate again; a compiled loop
    pickles."""
    inputs, step, init, seq = rnn()
    loss = loss_of(*sg.scan(step, init, seq))
    grads = sg.grad(loss, inputs)
    x = sg.scalar("x")
    branch = sg.cond(x > 0, lambda x: sg.log(x), lambda x: -x, x)
    halved = sg.while_loop(lambda v: v > 1.0, lambda v: v * 0.5, x)
    path = str(tmp_path / "loops.json")
    sg.save(path, [inputs, loss, grads, x, branch, halved])
    inputs2, loss2, grads2, x2, branch2, halved2 = sg.load(path)
    vals = values(rng, 4)
    again = sg.function(inputs2, [loss2] + grads2 + sg.grad(loss2, inputs2))(*vals)
    compiled = sg.function(inputs, [loss] + grads)
    expected = compiled(*vals)
    for a, b in zip(pickle.loads(pickle.dumps(compiled))(*vals), expected):  # pickled too
        np.testing.assert_array_equal(a, b)
    for a, b in zip(again, expected + expected[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for v in (5.0, -2.0):
        assert sg.function([x2], [branch2, halved2, sg.diff(halved2, x2)])(v) == \
            sg.function([x], [branch, halved, sg.diff(halved, x)])(v)
    text = open(path).read()
    for bad, message in [(text.replace('["Body"', '["Bogus"', 1), "not a parameter holding nodes"),
                         (re.sub(r'\{"ids":\[\d+', '{"ids":[99999', text, count=1),
                          "names a node not defined before it")]:
        with open(path, "w") as f:
            f.write(bad)
        with pytest.raises(FileFormatError, match=message):
            sg.load(path)


def newton_sqrt(a, max_steps=60):
    return sg.while_loop(lambda x: abs(x * x - a) > 1e-12, lambda x: (x + a / x) / 2, a,
                         max_steps=max_steps)


def test_while_loop_values_and_derivatives_in_both_modes():
    """Newton's iteration for √a stops when converged; its derivatives through the loop,
    reverse and forward, first and second, are those of √a (and match differences)."""
    a = sg.scalar("a")
    root = newton_sqrt(a)
    f = sg.function([a], [root, sg.grad(root, a), sg.diff(root, a), sg.diff(root, a, 2)])
    for v in (0.5, 2.0, 9.0):
        value, reverse, forward, second = f(v)
        assert value == pytest.approx(np.sqrt(v), rel=1e-14)
        assert reverse == pytest.approx(0.5 / np.sqrt(v), rel=1e-10)
        assert forward == pytest.approx(0.5 / np.sqrt(v), rel=1e-10)
        assert second == pytest.approx(-0.25 * v ** -1.5, rel=1e-8)
        eps = 1e-6
        assert forward == pytest.approx((f(v + eps)[0] - f(v - eps)[0]) / (2 * eps), rel=1e-7)


def test_while_loop_stops_at_max_steps_and_per_example_under_vectorize():
    a, A = sg.scalar("a"), sg.vector("A", 4)
    three = newton_sqrt(a, max_steps=3)
    x = 9.0
    for _ in range(3):
        x = (x + 9.0 / x) / 2
    assert sg.function([a], three)(9.0) == pytest.approx(x, rel=1e-15)
    roots = sg.vectorize([newton_sqrt(a), sg.grad(newton_sqrt(a), a)], {a: A})
    values = np.array([0.25, 2.0, 100.0, 1e4])  # converging after different numbers of steps
    got, slopes = sg.function([A], roots)(values)
    np.testing.assert_allclose(got, np.sqrt(values), rtol=1e-14)
    np.testing.assert_allclose(slopes, 0.5 / np.sqrt(values), rtol=1e-9)


@pytest.mark.parametrize("backend", ["numpy", "numba", "jax", "dask"])
def test_while_loop_without_a_bound_in_forward_mode(backend):
    """Without max_steps the loop runs until cond fails: values, forward-mode derivatives of
    any order, Jacobians and per-example loops under vectorize; reverse mode asks for
    max_steps."""
    pytest.importorskip(backend)
    a, A, v = sg.scalar("a"), sg.vector("A", 4), sg.vector("v", 3)
    root = sg.while_loop(lambda x: abs(x * x - a) > 1e-12, lambda x: (x + a / x) / 2, a)
    f = sg.function([a], [root, sg.diff(root, a), sg.diff(root, a, 2)], backend=backend)
    assert f(2.0) == pytest.approx((np.sqrt(2), 0.5 / np.sqrt(2), -0.25 * 2 ** -1.5), rel=1e-9)
    values = np.array([0.25, 2.0, 100.0, 1e4])
    got, slopes = sg.function([A], sg.vectorize([root, sg.diff(root, a)], {a: A}),
                              backend=backend)(values)
    np.testing.assert_allclose(got, np.sqrt(values), rtol=1e-14)
    np.testing.assert_allclose(slopes, 0.5 / np.sqrt(values), rtol=1e-9)
    halved = sg.while_loop(lambda x: sg.sum(x * x) > 1.0, lambda x: x * 0.5, v)
    value, jac = sg.function([v], [halved, sg.jacobian(halved, v)], backend=backend)(
        np.array([3.0, 1.0, 2.0]))
    np.testing.assert_allclose(value, [0.75, 0.25, 0.5])
    np.testing.assert_allclose(jac, 0.25 * np.eye(3))
    with pytest.raises(sg.UnsupportedError, match="reverse mode needs max_steps"):
        sg.grad(sg.sum(halved), v)


def test_while_loop_errors():
    x = sg.scalar("x")
    with pytest.raises(sg.ShapeError, match="boolean scalar"):
        sg.while_loop(lambda c: c, lambda c: c - 1, x, max_steps=5)
    with pytest.raises(sg.ShapeError, match="boolean scalar"):
        sg.while_loop(lambda c: c, lambda c: c - 1, x)
    with pytest.raises(sg.ShapeError, match="new carry"):
        sg.while_loop(lambda c: c > 0, lambda c: sg.stack([c, c]), x)


# -- cond -------------------------------------------------------------------------------------
def test_cond_values_and_derivatives_of_both_branches():
    x = sg.scalar("x")
    y = sg.cond(x > 0, lambda x: sg.log(x) * x, lambda x: -x ** 3, x)
    f = sg.function([x], [y, sg.grad(y, x), sg.diff(y, x), sg.diff(y, x, 2)])
    assert f(2.0) == pytest.approx((2 * np.log(2), np.log(2) + 1, np.log(2) + 1, 0.5), rel=1e-14)
    assert f(-2.0) == pytest.approx((8.0, -12.0, -12.0, 12.0), rel=1e-14)
    sg.check_grad(y, x, {x: 1.5}, order=2, tol=1e-6)
    sg.check_grad(y, x, {x: -0.7}, order=2, tol=1e-6)


def test_cond_never_evaluates_the_branch_not_taken():
    calls = []

    def loud(a):
        calls.append(a)
        raise FloatingPointError("the branch not taken ran")
    blow_up = sg.defop("blow_up_in_cond_test", loud, partials=[lambda out, a: out])
    x, w = sg.scalar("x"), sg.vector("w", 2)
    y = sg.cond(x > 0, lambda x, w: sg.sum(w) * x, lambda x, w: blow_up(x) * sg.sum(w), x, w)
    f = sg.function([x, w], [y, sg.grad(y, [x, w])[0], sg.hessian(y, w)])
    value, slope, hessian = f(2.0, np.array([1.0, 3.0]))
    assert (value, slope) == (8.0, 4.0) and not hessian.any() and not calls
    with pytest.raises(FloatingPointError):
        f(-2.0, np.array([1.0, 3.0]))


def test_cond_under_vectorize_selects_per_example():
    x, X = sg.scalar("x"), sg.vector("X", 4)
    y = sg.cond(x > 0, lambda x: sg.sqrt(x), lambda x: x * x, x)
    values, slopes = sg.function([X], sg.vectorize([y, sg.grad(y, x)], {x: X}))(
        np.array([-1.0, 0.25, 4.0, -3.0]))
    np.testing.assert_allclose(values, [1.0, 0.5, 2.0, 9.0], rtol=1e-15)
    np.testing.assert_allclose(slopes, [-2.0, 1.0, 0.25, -6.0], rtol=1e-15)


@pytest.mark.parametrize("backend", ["numba", "jax", "dask"])
def test_cond_on_other_backends(backend):
    pytest.importorskip(backend)
    v = sg.vector("v", 3)
    z = sg.cond(sg.sum(v) > 0, lambda a: a * sg.sin(a), lambda a: sg.exp(a), v)
    outputs = [z, sg.hessian(sg.sum(z), v)]
    for point in (np.array([1.0, 2.0, 0.5]), np.array([-1.0, -2.0, 0.5])):
        for a, b in zip(sg.function([v], outputs, backend=backend)(point),
                        sg.function([v], outputs)(point)):
            np.testing.assert_allclose(a, b, rtol=1e-13)


def test_cond_errors():
    x = sg.scalar("x")
    with pytest.raises(sg.ShapeError, match="boolean scalar"):
        sg.cond(x, lambda x: x, lambda x: -x, x)
    with pytest.raises(sg.ShapeError, match="branches return"):
        sg.cond(x > 0, lambda x: x, lambda x: sg.stack([x, x]), x)


def test_pictures_show_bodies_as_clusters():
    """to_dot and draw show each loop's and branch's traced body in a frame of its own,
    nested loops included."""
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.patches import Rectangle
    A, x0, xs = sg.matrix("A", (2, 2)), sg.vector("x0", 2), sg.tensor("xs", (3, 4, 2))

    def outer(x, block):
        x, s = sg.scan(lambda x, row: (sg.tanh(A @ x + row), sg.sum(x)), x, block)
        return sg.cond(sg.sum(x) > 0, lambda x: x, lambda x: -x, x), s
    last, _ = sg.scan(outer, x0, xs)
    dot = sg.to_dot(last)
    assert dot.count("subgraph cluster_") == 4  # the outer body, the inner one, two branches
    for label in ("scan body", "cond: true", "cond: false"):
        assert f'label="{label}"' in dot
    ax = sg.draw(last)
    frames = [p for p in ax.patches if isinstance(p, Rectangle)]
    texts = [t.get_text() for t in ax.texts]
    assert len(frames) == 4 and texts.count("scan body") == 2 and "cond: true" in texts
