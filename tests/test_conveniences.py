"""Conveniences of issue 12: trees in and out of compiled functions, defaults, shared
variables with updates, graph substitution (clone), SymPy with the caller's symbols,
objectives for scipy.optimize, functions of scalars called on arrays, and PyTensor's
tutorial basics.  Every value is checked against an independent NumPy (or SciPy) result."""
from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
import scipy.optimize
import sympy

import symgrad as sg
from conftest import foreign_identifiers

Params = namedtuple("Params", ["W", "b"])


def _message(fn, *args, error=sg.ArgumentError, **kwargs) -> str:
    with pytest.raises(error) as info:
        fn(*args, **kwargs)
    return str(info.value)


# -- trees in and out of sg.function --------------------------------------------------------
def test_dict_argument_and_dict_output(rng):
    X, W, b = sg.matrix("X", ("n", 3)), sg.matrix("W", (3, 2)), sg.vector("b", 2)
    fn = sg.function([{"W": W, "b": b}, X], {"out": X @ W + b, "norm": sg.sum(W * W)})
    Xv, Wv, bv = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    got = fn({"b": bv, "W": Wv}, Xv)
    assert set(got) == {"out", "norm"}
    np.testing.assert_allclose(got["out"], Xv @ Wv + bv, rtol=1e-14)
    assert got["norm"] == pytest.approx(np.sum(Wv ** 2), rel=1e-14)
    np.testing.assert_allclose(fn({"W": Wv, "b": bv}, X=Xv)["out"], Xv @ Wv + bv, rtol=1e-14)


def test_nested_lists_in_and_out():
    a, b, c = sg.scalars("a b c")
    fn = sg.function([[a, [b, c]]], [a + b, [b * c, (c,)]])
    got = fn([1.0, (2.0, 3.0)])
    assert got == (3.0, (6.0, (3.0,)))
    assert isinstance(got[1], tuple) and isinstance(got[1][1], tuple)


def test_namedtuple_in_and_out(rng):
    W, b, x = sg.matrix("W", (2, 3)), sg.vector("b", 2), sg.vector("x", 3)
    fn = sg.function([Params(W, b), x], Params(W * 2, sg.tanh(W @ x + b)))
    Wv, bv, xv = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal(3)
    got = fn(Params(Wv, bv), xv)
    assert type(got) is Params
    np.testing.assert_allclose(got.W, 2 * Wv, rtol=1e-15)
    np.testing.assert_allclose(got.b, np.tanh(Wv @ xv + bv), rtol=1e-14)
    np.testing.assert_allclose(fn((Wv, bv), xv).b, np.tanh(Wv @ xv + bv), rtol=1e-14)


def test_nested_numbers_are_one_array_where_an_array_is_declared():
    v, M = sg.vector("v", 2), sg.matrix("M", (2, 2))
    np.testing.assert_array_equal(sg.function([v], 2 * v)([1.0, 2.0]), [2.0, 4.0])
    fn = sg.function([{"v": v, "M": M}], M @ v)
    np.testing.assert_array_equal(fn({"v": [1.0, 2.0], "M": [[1, 2], [3, 4]]}),
                                  np.array([[1, 2], [3, 4]]) @ np.array([1.0, 2.0]))
    pair = sg.function([[v, M]], sg.sum(M) + sg.sum(v))
    assert pair([[1.0, 2.0], [[1.0, 1.0], [1.0, 1.0]]]) == 7.0


def test_old_output_structures_are_kept():
    x = sg.scalar("x")
    assert isinstance(sg.function([x], x * 2)(1.0), np.float64)
    assert sg.function([x], [x * 2, x * 3])(1.0) == (2.0, 3.0)
    assert sg.function([x], [[x, x * 2], [x * 3]])(1.0) == ((1.0, 2.0), (3.0,))
    assert sg.function(x, x + 1)(1.0) == 2.0


def test_wrong_structures_name_the_argument_and_the_structure():
    W, b, x = sg.matrix("W", (2, 2)), sg.vector("b", 2), sg.scalar("x")
    fn = sg.function([x, {"W": W, "b": b}], sg.sum(W) + sg.sum(b) * x)
    ok = {"W": np.ones((2, 2)), "b": np.ones(2)}
    assert fn(2.0, ok) == 8.0
    msg = _message(fn, 2.0, {"W": ok["W"]})
    assert "argument 1" in msg and "{'W': 'W', 'b': 'b'}" in msg and "keys ['W', 'b']" in msg
    msg = _message(fn, 2.0, [ok["W"], ok["b"]])
    assert "argument 1" in msg and "a list of 2 entries" in msg
    msg = _message(fn, 2.0, {"W": np.ones(3), "b": ok["b"]})
    assert "argument 1 ('W' at ['W'])" in msg and "(2, 2)" in msg
    pair = sg.function([[x, [b, W]]], x)
    msg = _message(pair, [1.0, np.ones(2)])
    assert "argument 0" in msg and "['x', ['b', 'W']]" in msg and "at [1]" in msg
    assert "ndarray of shape (2,)" in msg
    nt = sg.function([Params(W, b)], sg.sum(W))
    msg = _message(nt, (ok["W"],))
    assert "Params(W='W', b='b')" in msg and "a tuple of 1 entries" in msg
    assert "takes 2 arguments" in _message(fn, 2.0)
    assert "no input is named 'W'" in _message(fn, 2.0, W=ok["W"])


def test_tree_inputs_are_checked_when_built():
    x = sg.scalar("x")
    with pytest.raises(sg.ArgumentError, match=r"input 0 at \['a'\] must be a symbol"):
        sg.function([{"a": x * 2}], x)
    with pytest.raises(sg.ArgumentError, match="appears twice"):
        sg.function([{"a": x}, [x]], x)
    with pytest.raises(sg.ArgumentError, match=r"write \[inputs\]"):
        sg.function({"x": x}, x)


# -- defaults -------------------------------------------------------------------------------
def test_defaults_pytensor_tutorial():
    """PyTensor's ``f = function([x, In(y, value=1), In(w, value=2, name='w_by_name')], z)``."""
    x, y, w = sg.scalars("x y w")
    f = sg.function([x, y, w], (x + y) * w, defaults={y: 1, "w": 2})
    assert f(33) == (33 + 1) * 2
    assert f(33, 2) == (33 + 2) * 2
    assert f(33, 0, 1) == 33
    assert f(33, w=1) == 34
    assert f(33, w=1, y=0) == 33
    assert f(w=3, x=1) == 6
    msg = _message(f)
    assert "takes 1 to 3 arguments" in msg and "'y' (has a default)" in msg and "got 0" in msg
    assert "missing argument(s) 'x'" in _message(f, w=1)


def test_default_arrays_are_checked_and_kept(rng):
    X, v = sg.matrix("X", ("n", 2)), sg.vector("v", 2)
    start = np.array([1.0, -1.0])
    f = sg.function([X, v], X @ v, defaults={v: start})
    start[:] = 0.0  # the function kept a copy
    Xv = rng.standard_normal((3, 2))
    np.testing.assert_allclose(f(Xv), Xv @ np.array([1.0, -1.0]), rtol=1e-15)
    with pytest.raises(sg.ArgumentError, match=r"argument 1 \('v'\) must have shape"):
        sg.function([X, v], X @ v, defaults={v: np.ones(3)})
    with pytest.raises(sg.ArgumentError, match="not among the inputs"):
        sg.function([X], X, defaults={v: start})
    with pytest.raises(sg.ArgumentError, match="inside argument 0"):
        sg.function([[X, v]], X @ v, defaults={v: start})


# -- shared variables and updates -------------------------------------------------------------
def test_shared_values_are_copied_and_checked():
    data = np.arange(3.0)
    w = sg.shared(data, name="w")
    data[0] = 99.0
    got = w.get_value()
    np.testing.assert_array_equal(got, [0.0, 1.0, 2.0])
    got[1] = 99.0
    np.testing.assert_array_equal(w.get_value(), [0.0, 1.0, 2.0])
    w.set_value([1, 2, 3])  # ints cast to the variable's float64
    assert w.get_value().dtype == np.float64
    assert "shape (2,)" in _message(w.set_value, np.ones(2))
    assert "complex128" in _message(w.set_value, np.ones(3, dtype=complex))
    assert w == sg.Expr(w.g, w.node) and sg.Expr(w.g, w.node) == w
    assert {sg.Expr(w.g, w.node): 1}[w] == 1


def test_accumulator_pytensor_tutorial():
    state = sg.shared(0, name="state")
    inc = sg.scalar("inc", dtype="int64")
    accumulator = sg.function([inc], state, updates=[(state, state + inc)])
    assert accumulator(1) == 0 and state.get_value() == 1
    assert accumulator(300) == 1 and state.get_value() == 301
    state.set_value(-1)
    assert accumulator(3) == -1 and state.get_value() == 2
    decrementor = sg.function([inc], state, updates={state: state - inc})
    assert decrementor(2) == 2 and state.get_value() == 0
    # PyTensor's `givens`: the same formula with the state as an ordinary input
    foo = sg.scalar("foo", dtype="int64")
    skip_shared = sg.function([inc, foo], sg.clone(state * 2 + inc, replace={state: foo}))
    assert skip_shared(1, 3) == 7 and state.get_value() == 0


def test_gradient_descent_on_least_squares(rng):
    A, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    w = sg.shared(np.zeros(3), name="w")
    X, t = sg.matrix("X", ("n", 3)), sg.vector("t", "n")
    cost = sg.mean((X @ w - t) ** 2)
    step = sg.function([X, t], cost, updates={w: w - 0.1 * sg.grad(cost, w)})
    wn, costs = np.zeros(3), []
    for _ in range(5):
        r = A @ wn - y
        costs.append(np.mean(r ** 2))
        wn = wn - 0.1 * (2 / len(y)) * A.T @ r
    got = [step(A, y) for _ in range(5)]
    np.testing.assert_allclose(got, costs, rtol=1e-13)
    np.testing.assert_allclose(w.get_value(), wn, rtol=1e-13)
    np.testing.assert_allclose(cost.eval({X: A, t: y}), np.mean((A @ wn - y) ** 2), rtol=1e-13)


def test_updates_are_assigned_together_after_the_call():
    a, b = sg.shared(np.array([1.0, 2.0]), name="a"), sg.shared(np.array([3.0, 4.0]), name="b")
    swap = sg.function([], [a, b], updates={a: b, b: a})
    first = swap()
    np.testing.assert_array_equal(first[0], [1.0, 2.0])
    np.testing.assert_array_equal(a.get_value(), [3.0, 4.0])
    np.testing.assert_array_equal(b.get_value(), [1.0, 2.0])
    first[0][0] = 99.0  # outputs are the caller's: the state is not touched
    np.testing.assert_array_equal(b.get_value(), [1.0, 2.0])


def test_update_errors():
    w = sg.shared(np.zeros(3), name="w")
    x = sg.vector("x", 2)
    with pytest.raises(sg.ShapeError, match=r"'w' has shape \(2,\).*shape \(3,\)"):
        sg.function([x], sg.sum(x), updates={w: x * 2})
    with pytest.raises(sg.ShapeError, match="dtype float32.*dtype float64"):
        sg.function([], w, updates={w: w.astype("float32")})
    with pytest.raises(sg.ArgumentError, match="not a shared variable"):
        sg.function([x], x, updates={x: x})
    with pytest.raises(sg.ArgumentError, match=r"input 0 \('w'\) is a shared variable"):
        sg.function([w], w)
    with pytest.raises(sg.ArgumentError, match="updated twice"):
        sg.function([], w, updates=[(w, w), (w, w + 1)])


@pytest.mark.parametrize("name", ["np", "a0", "x); import os #", "t1"])
def test_shared_names_are_never_identifiers(name):
    w = sg.shared(np.ones(2), name=name)
    x = sg.vector(name, 2)
    fn = sg.function([x], sg.sum(w * x), updates={w: w + x})
    assert fn(np.array([1.0, 2.0])) == 3.0 and fn(np.ones(2)) == 5.0  # w is [2, 3] now
    assert not foreign_identifiers(fn.source)


# -- clone -----------------------------------------------------------------------------------
def test_clone_replaces_symbols_and_intermediates(rng):
    x, y = sg.scalars("x y")
    s = sg.sin(x)
    e = s * y + x
    r = sg.clone(e, replace={x: y ** 2})
    v = 0.7
    assert sg.function([y], r)(v) == pytest.approx(np.sin(v * v) * v + v * v, rel=1e-14)
    r2 = sg.clone({"e": e, "both": [e, s]}, replace={s: sg.cos(x)})
    got = sg.function([x, y], r2)(0.3, 2.0)
    assert got["e"] == pytest.approx(np.cos(0.3) * 2.0 + 0.3, rel=1e-14)
    assert got["both"][1] == pytest.approx(np.cos(0.3), rel=1e-14)
    assert sg.clone(e, replace={}) is e
    W, X = sg.matrix("W", (3, 2)), sg.matrix("X", ("n", 3))
    out = sg.tanh(X @ W)
    Wv, Xv = rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(sg.function([X], sg.clone(out, replace={W: Wv}))(Xv),
                               np.tanh(Xv @ Wv), rtol=1e-14)


def test_clone_replaces_all_at_once():
    x, y = sg.scalars("x y")
    swapped = sg.clone(x - 2 * y, replace={x: y, y: x})
    assert sg.function([x, y], swapped)(1.0, 10.0) == 10.0 - 2.0


def test_clone_shape_mismatch_names_both():
    x, v = sg.vector("x", 3), sg.vector("v", 4)
    msg = _message(sg.clone, sg.sum(x), error=sg.ShapeError, replace={x: v})
    assert "'x'" in msg and "'v'" in msg and "(3,)" in msg and "(4,)" in msg


def test_clone_of_a_deep_graph_does_not_recurse():
    x, y = sg.scalars("x y")
    e = x
    for _ in range(5000):
        e = sg.sin(e) * 0.5 + x
    r = sg.clone(e, replace={x: y * 0.5})
    v, ref = 0.25, 0.25
    for _ in range(5000):
        ref = np.sin(ref) * 0.5 + v
    assert sg.function([y], r)(0.5) == pytest.approx(ref, rel=1e-12)


# -- to_sympy with the caller's symbols ------------------------------------------------------
def test_to_sympy_with_the_callers_symbols():
    x, y = sg.scalars("x y")
    X, Y = sympy.Symbol("x"), sympy.Symbol("y")
    cases = [(sg.sin(x) * sg.exp(x * y), sympy.sin(X) * sympy.exp(X * Y)),
             (x ** 3 * y + sg.log(x), X ** 3 * Y + sympy.log(X)),
             (sg.tanh(x * y), sympy.tanh(X * Y))]
    for f, F in cases:
        assert sg.to_sympy(sg.grad(f, x), symbols={x: X, y: Y}) == sympy.diff(F, X)
        assert sg.to_sympy(sg.grad(f, x), symbols={"x": X, "y": Y}) == sympy.diff(F, X)
        assert sg.to_sympy(sg.grad(f, x)) != sympy.diff(F, X)  # symgrad's own are real symbols
    f = sg.exp(sg.sin(x)) / (1 + x ** 2)
    F = sympy.exp(sympy.sin(X)) / (1 + X ** 2)
    assert sympy.simplify(sg.to_sympy(sg.diff(f, x, 3), symbols={x: X}) - sympy.diff(F, X, 3)) == 0
    v = sg.vector("v", 2)
    w = sympy.IndexedBase("w")
    assert list(sg.to_sympy(sg.grad(sg.sum(v * v), v), symbols={v: w})) == [2 * w[0], 2 * w[1]]
    V = sympy.MatrixSymbol("V", 2, 1)
    assert sg.to_sympy(sg.sum(v * v), symbols={v: V}, form="matrix") == (V.T * V)[0, 0]
    with pytest.raises(sg.SymgradError, match="for 'v' of shape"):
        sg.to_sympy(sg.sum(v), symbols={v: sympy.Symbol("v")})
    with pytest.raises(sg.SymgradError, match="keys of symbols"):
        sg.to_sympy(x + 1, symbols={x * 2: X})


# -- objectives for scipy.optimize --------------------------------------------------------------
def _rosenbrock(x):
    return sg.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def test_objective_from_an_expression_matches_scipy_rosenbrock(rng):
    x = sg.vector("x", "n")
    obj = sg.scipy.objective(_rosenbrock(x), x)
    point, p = rng.standard_normal(6), rng.standard_normal(6)
    assert obj.fun(point) == pytest.approx(scipy.optimize.rosen(point), rel=1e-13)
    np.testing.assert_allclose(obj.jac(point), scipy.optimize.rosen_der(point), rtol=1e-12)
    np.testing.assert_allclose(obj.hess(point), scipy.optimize.rosen_hess(point), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(obj.hessp(point, p), scipy.optimize.rosen_hess_prod(point, p),
                               rtol=1e-12)
    start = np.array([1.3, 0.7, 0.8, 1.9, 1.2])  # SciPy tutorial's (from some starts: a local minimum)
    result = scipy.optimize.minimize(obj.fun, start, jac=obj.jac, hess=obj.hess,
                                     method="Newton-CG", options={"xtol": 1e-10})
    np.testing.assert_allclose(result.x, np.ones(5), atol=1e-6)
    result = scipy.optimize.minimize(obj.fun, start, jac=obj.jac, hessp=obj.hessp,
                                     method="Newton-CG", options={"xtol": 1e-10})
    np.testing.assert_allclose(result.x, np.ones(5), atol=1e-6)
    assert obj.x0 is None


def test_objective_from_a_callable_on_a_tree():
    def rosen(p):  # x[0] alone and the rest as a vector
        return 100 * (p["rest"][0] - p["first"] ** 2) ** 2 + (1 - p["first"]) ** 2 \
            + _rosenbrock(p["rest"])
    point = {"first": np.array(1.3), "rest": np.array([0.7, 0.8, 1.9])}
    obj = sg.scipy.objective(rosen, point)
    np.testing.assert_array_equal(obj.x0, [1.3, 0.7, 0.8, 1.9])
    assert obj.fun(obj.x0) == pytest.approx(scipy.optimize.rosen(obj.x0), rel=1e-13)
    np.testing.assert_allclose(obj.jac(obj.x0), scipy.optimize.rosen_der(obj.x0), rtol=1e-12)
    result = scipy.optimize.minimize(obj.fun, obj.x0, jac=obj.jac, hess=obj.hess,
                                     method="trust-exact", options={"gtol": 1e-10})
    np.testing.assert_allclose(result.x, np.ones(4), atol=1e-6)
    best = obj.unravel(result.x)
    assert set(best) == {"first", "rest"} and best["first"].shape == () and best["rest"].shape == (3,)
    np.testing.assert_array_equal(obj.ravel(best), result.x)


def test_objective_with_fixed_values_and_a_matrix_wrt(rng):
    A, b = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    M, W = sg.matrix("M", (8, 3)), sg.matrix("W", (3, 2))
    B = sg.matrix("B", (8, 2))
    obj = sg.scipy.objective(sg.sum((M @ W - B) ** 2), W, values={M: A, B: b}, x0=np.zeros((3, 2)))
    result = scipy.optimize.minimize(obj.fun, obj.x0, jac=obj.jac, hess=obj.hess,
                                     method="trust-exact")
    np.testing.assert_allclose(obj.unravel(result.x), np.linalg.lstsq(A, b, rcond=None)[0],
                               rtol=1e-6, atol=1e-8)
    with pytest.raises(sg.ArgumentError, match="x0 gives shape"):
        sg.scipy.objective(sg.sum(W), W, x0=np.zeros(3))


def test_objective_errors():
    X = sg.matrix("X", ("n", 2))
    with pytest.raises(sg.ShapeError, match="fixed shapes"):
        sg.scipy.objective(sg.sum(X), [X])
    with pytest.raises(sg.ShapeError, match="scalar"):
        sg.scipy.objective(X * 2, X)
    with pytest.raises(sg.ArgumentError, match="tree of symbols"):
        sg.scipy.objective(sg.sum(X), X * 2)


# -- functions of scalars called on arrays -------------------------------------------------------
def test_scalar_functions_run_elementwise_on_arrays():
    x, y = sg.scalars("x y")
    f = sg.exp(sg.sin(x)) / (1 + x ** 2) + x * y
    fn = sg.function([x, y], [f, sg.grad(f, x), sg.diff(f, x, 2), x, sg.constant(2.0) * 3])
    xs, ys = np.linspace(-2.0, 2.0, 5), np.array([[1.0], [2.0]])
    value, slope, curvature, same, six = fn(xs, ys)
    e, q = np.exp(np.sin(xs)), 1 + xs ** 2
    np.testing.assert_allclose(value, e / q + xs * ys, rtol=1e-14)
    d1 = e * np.cos(xs) / q - 2 * xs * e / q ** 2
    np.testing.assert_allclose(slope, np.broadcast_to(d1 + ys, (2, 5)), rtol=1e-13)
    pointwise = [fn(v, 1.0)[2] for v in xs]
    np.testing.assert_allclose(curvature, np.broadcast_to(pointwise, (2, 5)), rtol=1e-13)
    assert same.shape == (2, 5) and six.shape == (2, 5) and np.all(six == 6.0)
    assert not np.shares_memory(fn(xs, 1.0)[3], xs)
    assert isinstance(fn(0.5, 1.0)[0], np.float64)  # scalars stay scalars


def test_scalar_functions_that_are_not_elementwise_refuse_arrays():
    x, y = sg.scalars("x y")
    fn = sg.function([x], sg.sum(sg.stack([x, x * 2])))
    msg = _message(fn, np.arange(3.0))
    assert "argument 0 ('x')" in msg and "sg.vectorize" in msg and "shape (3,)" in msg
    msg = _message(sg.function([x, y], x * y), np.ones(3), np.ones(4))
    assert "do not broadcast" in msg and "(3,)" in msg and "(4,)" in msg
    s = sg.shared(1.0, name="s")
    msg = _message(sg.function([x], x * s, updates={s: s + 1}), np.ones(3))
    assert "updates shared variables" in msg
    v = sg.vector("v", 3)
    msg = _message(sg.function([x, v], x * v), np.ones(3), np.ones(3))
    assert "must have 0 dimension(s)" in msg and "vectorize" not in msg


# -- PyTensor's tutorial basics, the import changed ---------------------------------------------
def test_logistic_function_on_a_matrix():
    x = sg.matrix("x", ("m", "n"))
    s = 1 / (1 + sg.exp(-x))
    logistic = sg.function([x], s)
    data = np.array([[0.0, 1.0], [-1.0, -2.0]])
    expected = np.array([[0.5, 0.73105858], [0.26894142, 0.11920292]])  # the tutorial's
    np.testing.assert_allclose(logistic(data), 1 / (1 + np.exp(-data)), rtol=1e-15)
    np.testing.assert_allclose(logistic([[0, 1], [-1, -2]]), expected, rtol=1e-7)
    s2 = (1 + sg.tanh(x / 2)) / 2
    np.testing.assert_allclose(sg.function([x], s2)(data), expected, rtol=1e-7)


def test_several_outputs():
    a, b = sg.matrix("a", ("m", "n")), sg.matrix("b", ("m", "n"))
    diff = a - b
    f = sg.function([a, b], [diff, abs(diff), diff ** 2])
    got = f([[1, 1], [1, 1]], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(got[0], [[1.0, 0.0], [-1.0, -2.0]])
    np.testing.assert_array_equal(got[1], [[1.0, 0.0], [1.0, 2.0]])
    np.testing.assert_array_equal(got[2], [[1.0, 0.0], [1.0, 4.0]])


def test_logistic_regression_training_loop():
    rng = np.random.default_rng(1)
    N, feats, steps = 100, 20, 30
    D = (rng.standard_normal((N, feats)), rng.integers(0, 2, size=N))
    x, y = sg.matrix("x", ("N", feats)), sg.vector("y", "N")
    w0 = rng.standard_normal(feats)
    w, b = sg.shared(w0, name="w"), sg.shared(0.0, name="b")
    p_1 = 1 / (1 + sg.exp(-sg.dot(x, w) - b))
    prediction = p_1 > 0.5
    xent = -y * sg.log(p_1) - (1 - y) * sg.log(1 - p_1)
    cost = sg.mean(xent) + 0.01 * sg.sum(w ** 2)
    gw, gb = sg.grad(cost, [w, b])
    train = sg.function([x, y], [prediction, xent], updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))
    predict = sg.function([x], prediction)
    wn, bn = w0.copy(), 0.0
    for _ in range(steps):
        pred, err = train(D[0], D[1])
        p = 1 / (1 + np.exp(-(D[0] @ wn) - bn))
        np.testing.assert_array_equal(pred, p > 0.5)
        np.testing.assert_allclose(err, -D[1] * np.log(p) - (1 - D[1]) * np.log(1 - p), rtol=1e-8)
        wn, bn = wn - 0.1 * (D[0].T @ (p - D[1]) / N + 0.02 * wn), bn - 0.1 * np.mean(p - D[1])
    np.testing.assert_allclose(w.get_value(), wn, rtol=1e-11)
    assert b.get_value() == pytest.approx(bn, rel=1e-11, abs=1e-14)
    np.testing.assert_array_equal(predict(D[0]), 1 / (1 + np.exp(-(D[0] @ wn) - bn)) > 0.5)
