"""Function transforms with JAX's names (symgrad.transforms): grad, value_and_grad, jacobian,
hessian, jvp, vjp, vmap, jit, ravel_pytree, their nesting, and the expression forms they keep.
Every expected number is a closed form or a finite difference computed by NumPy."""
from __future__ import annotations

import collections

import numpy as np
import pytest

import symgrad as sg

Params = collections.namedtuple("Params", "W b")


def central(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar NumPy function ``f`` at ``x``, shape ``x.shape``."""
    x = np.asarray(x, float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


# -- grad, argnums, pytrees, value_and_grad --------------------------------------------------
def test_grad_of_tanh_is_a_scalar():
    g = sg.grad(sg.tanh)(2.0)
    assert np.ndim(g) == 0 and isinstance(g, (float, np.floating))
    assert g == pytest.approx(1 - np.tanh(2.0) ** 2, rel=1e-14)


def test_argnums_int_tuple_and_negative(rng):
    x, y = rng.standard_normal(4), rng.standard_normal(4)
    f = lambda x, y: sg.sum(sg.sin(x) * y ** 2)  # noqa: E731
    np.testing.assert_allclose(sg.grad(f)(x, y), np.cos(x) * y ** 2, rtol=1e-13)
    np.testing.assert_allclose(sg.grad(f, argnums=1)(x, y), 2 * y * np.sin(x), rtol=1e-13)
    np.testing.assert_allclose(sg.grad(f, argnums=-1)(x, y), 2 * y * np.sin(x), rtol=1e-13)
    gx, gy = sg.grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, np.cos(x) * y ** 2, rtol=1e-13)
    np.testing.assert_allclose(gy, 2 * y * np.sin(x), rtol=1e-13)
    (only,) = sg.grad(f, argnums=(1,))(x, y)
    np.testing.assert_allclose(only, 2 * y * np.sin(x), rtol=1e-13)


def test_pytree_arguments_and_results(rng):
    """A dict of arrays (with a list inside) and a namedtuple: the gradient has the argument's
    structure, against central differences of the same loss written in NumPy."""
    X = rng.standard_normal((5, 3))
    params = {"W": rng.standard_normal((3, 2)), "b": [rng.standard_normal(2), 0.3]}

    def loss(p, X):
        return sg.sum(sg.tanh(X @ p["W"] + p["b"][0]) ** 2) * p["b"][1]

    def np_loss(W, b0, s):
        return np.sum(np.tanh(X @ W + b0) ** 2) * s

    g = sg.grad(loss)(params, X)
    assert set(g) == {"W", "b"} and isinstance(g["b"], list) and len(g["b"]) == 2
    W, (b0, s) = params["W"], params["b"]
    np.testing.assert_allclose(g["W"], central(lambda w: np_loss(w, b0, s), W), rtol=1e-7)
    np.testing.assert_allclose(g["b"][0], central(lambda v: np_loss(W, v, s), b0), rtol=1e-7)
    assert np.ndim(g["b"][1]) == 0
    assert g["b"][1] == pytest.approx(np_loss(W, b0, 1.0), rel=1e-12)

    nt = Params(W=rng.standard_normal((3, 2)), b=rng.standard_normal(2))
    gnt = sg.grad(lambda p: sg.sum((X @ p.W + p.b) ** 2))(nt)
    assert isinstance(gnt, Params)
    residual = X @ nt.W + nt.b
    np.testing.assert_allclose(gnt.W, 2 * X.T @ residual, rtol=1e-12)
    np.testing.assert_allclose(gnt.b, 2 * residual.sum(0), rtol=1e-12)


def test_value_and_grad(rng):
    x = rng.standard_normal(5)
    value, g = sg.value_and_grad(lambda x: sg.sum(sg.exp(x) * x))(x)
    assert value == pytest.approx(np.sum(np.exp(x) * x), rel=1e-13)
    np.testing.assert_allclose(g, np.exp(x) * (1 + x), rtol=1e-13)
    value, (gx, gy) = sg.value_and_grad(lambda x, y: x * sg.sin(y), argnums=(0, 1))(2.0, 0.5)
    assert (value, gx, gy) == pytest.approx((2 * np.sin(0.5), np.sin(0.5), 2 * np.cos(0.5)))


# -- jacobian, hessian, jvp, vjp -------------------------------------------------------------
def test_jacobian_of_a_vector_function(rng):
    x = rng.standard_normal(4)
    J = sg.jacobian(lambda x: sg.sin(x) * sg.sum(x))(x)
    np.testing.assert_allclose(J, np.diag(np.cos(x)) * x.sum() + np.sin(x)[:, None], rtol=1e-13)
    A = rng.standard_normal((2, 3, 4))
    J = sg.jacobian(lambda x: A @ x)(x)  # output (2, 3), input (4,): JAX's layout (2, 3, 4)
    np.testing.assert_allclose(J, A, rtol=1e-14)
    # a tree of outputs and argnums a tuple: the outputs' structure of the arguments' tuples
    out = sg.jacobian(lambda x, s: {"v": x * s, "t": sg.sum(x) * s}, argnums=(0, 1))(x, 1.5)
    np.testing.assert_allclose(out["v"][0], 1.5 * np.eye(4))
    np.testing.assert_allclose(out["v"][1], x)
    np.testing.assert_allclose(out["t"][0], np.full(4, 1.5))
    assert out["t"][1] == pytest.approx(x.sum())


def test_hessian_of_a_function_of_a_vector(rng):
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal(4)
    H = sg.hessian(lambda x: sg.sum(x ** 3) + x @ A @ x)(x)
    np.testing.assert_allclose(H, np.diag(6 * x) + A + A.T, rtol=1e-12)
    # a dict argument: blocks nested {row: {column: block}}, as JAX's hessian
    H = sg.hessian(lambda p: sg.sum(p["a"] ** 2 * p["b"]))({"a": np.array([1.0, 2.0]),
                                                          "b": np.array([3.0, 4.0])})
    np.testing.assert_allclose(H["a"]["a"], np.diag([6.0, 8.0]))
    np.testing.assert_allclose(H["a"]["b"], np.diag([2.0, 4.0]))
    np.testing.assert_allclose(H["b"]["a"], np.diag([2.0, 4.0]))
    np.testing.assert_allclose(H["b"]["b"], np.zeros((2, 2)))


def test_jvp_and_vjp(rng):
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    dx, dy = rng.standard_normal(3), rng.standard_normal(3)

    def f(x, y):
        return x * y, sg.sum(sg.sin(x))
    (p, s), (tp, ts) = sg.jvp(f, (x, y), (dx, dy))
    np.testing.assert_allclose(p, x * y)
    assert s == pytest.approx(np.sin(x).sum())
    np.testing.assert_allclose(tp, dx * y + x * dy, rtol=1e-13)
    assert ts == pytest.approx(np.cos(x) @ dx, rel=1e-13)

    (p, s), vjp_fn = sg.vjp(f, x, y)
    np.testing.assert_allclose(p, x * y)
    c = rng.standard_normal(3)
    bx, by = vjp_fn((c, 2.0))
    np.testing.assert_allclose(bx, c * y + 2.0 * np.cos(x), rtol=1e-13)
    np.testing.assert_allclose(by, c * x, rtol=1e-13)
    (only,) = sg.vjp(sg.exp, 0.5)[1](1.0)  # one primal: a tuple of one
    assert only == pytest.approx(np.exp(0.5))


# -- vmap -------------------------------------------------------------------------------------
def test_vmap_in_axes_against_a_loop(rng):
    X, w = rng.standard_normal((6, 3)), rng.standard_normal(3)
    f = lambda x, w: sg.tanh(x @ w) * x  # noqa: E731
    expected = np.stack([np.tanh(x @ w) * x for x in X])
    np.testing.assert_allclose(sg.vmap(f, in_axes=(0, None))(X, w), expected, rtol=1e-13)
    # the mapped axis of X last, the outputs' mapped axis last
    out = sg.vmap(f, in_axes=(1, None), out_axes=1)(X.T.copy(), w)
    np.testing.assert_allclose(out, expected.T, rtol=1e-13)
    # every argument mapped (a pytree argument too)
    W = rng.standard_normal((6, 3))
    out = sg.vmap(lambda d: sg.sum(d["x"] * d["w"]))({"x": X, "w": W})
    np.testing.assert_allclose(out, np.sum(X * W, axis=1), rtol=1e-13)


def test_vmap_errors():
    with pytest.raises(sg.UnsupportedError, match="vmap: in_axes"):
        sg.vmap(sg.sin, in_axes={"a": 0})
    with pytest.raises(sg.ShapeError, match="vmap: the mapped axes have different sizes"):
        sg.vmap(lambda a, b: a * b)(np.ones(3), np.ones(4))
    with pytest.raises(sg.SymgradError, match="vmap: in_axes has 1 entries"):
        sg.vmap(lambda a, b: a * b, in_axes=(0,))(np.ones(3), np.ones(3))


# -- jit --------------------------------------------------------------------------------------
def test_jit_one_trace_serves_every_size(rng):
    traces = []

    def f(x, y):
        traces.append(1)
        return {"dot": sg.sum(x * y), "scaled": x / sg.sum(y)}
    jf = sg.jit(f)
    for n in (3, 7, 2):
        x, y = rng.standard_normal(n), rng.standard_normal(n)
        out = jf(x, y)
        assert out["dot"] == pytest.approx(x @ y)
        np.testing.assert_allclose(out["scaled"], x / y.sum(), rtol=1e-14)
    assert len(traces) == 1


def test_jit_retraces_when_sizes_relate_differently(rng):
    traces = []

    def f(x, y):
        traces.append((x.dims, y.dims))
        return sg.sum(x) * sg.sum(y)
    jf = sg.jit(f)
    assert jf(np.ones(3), np.ones(3)) == 9.0
    assert jf(np.ones(5), np.ones(5)) == 25.0
    assert len(traces) == 1 and traces[0][0] == traces[0][1]  # one name for the equal axes
    assert jf(np.ones(4), np.ones(5)) == 20.0  # the sizes now differ: a new trace
    assert len(traces) == 2 and traces[1][0] != traces[1][1]
    assert jf(np.ones(6), np.ones(8)) == 48.0
    assert jf(np.ones(2), np.ones(2)) == 4.0
    assert len(traces) == 2


def test_jit_static_argnums(rng):
    traces = []

    def f(x, n):
        traces.append(n)
        for _ in range(n):
            x = sg.sin(x)
        return x
    jf = sg.jit(f, static_argnums=1)
    x = rng.standard_normal(4)
    np.testing.assert_allclose(jf(x, 2), np.sin(np.sin(x)), rtol=1e-14)
    np.testing.assert_allclose(jf(x[:3], 2), np.sin(np.sin(x[:3])), rtol=1e-14)
    np.testing.assert_allclose(jf(x, 3), np.sin(np.sin(np.sin(x))), rtol=1e-14)
    assert traces == [2, 3]
    with pytest.raises(sg.ArgumentError, match="jit: static argument 1 .list. is not hashable"):
        sg.jit(lambda x, s: x * s[0], static_argnums=1)(x, [2.0])


def test_jit_keeps_dtypes_and_fixed_size_captures(rng):
    f = sg.jit(lambda x: x * 2)
    assert f(np.ones(3, np.float32)).dtype == np.float32
    assert f(np.ones(3)).dtype == np.float64
    W = rng.standard_normal((3, 2))
    g = sg.jit(lambda x: sg.tanh(x @ W))  # a captured array of fixed shape: compiled per size
    x = rng.standard_normal((5, 3))
    np.testing.assert_allclose(g(x), np.tanh(x @ W), rtol=1e-14)
    np.testing.assert_allclose(g(x[:2]), np.tanh(x[:2] @ W), rtol=1e-14)


# -- nesting ----------------------------------------------------------------------------------
def test_jit_of_hessian_serves_two_sizes(rng):
    traces = []

    def f(x):
        traces.append(1)
        return sg.sum(x[1:] * x[:-1] ** 2)
    H = sg.jit(sg.hessian(f))
    for n in (4, 6):
        x = rng.standard_normal(n)
        expected = np.zeros((n, n))
        for i in range(n - 1):  # d²/dx² of x[i+1] x[i]²
            expected[i, i] += 2 * x[i + 1]
            expected[i, i + 1] += 2 * x[i]
            expected[i + 1, i] += 2 * x[i]
        np.testing.assert_allclose(H(x), expected, rtol=1e-13)
    assert len(traces) == 1


def test_grad_of_grad():
    d2 = sg.grad(sg.grad(lambda x: sg.sin(x) * x))
    x = 0.7
    assert d2(x) == pytest.approx(2 * np.cos(x) - x * np.sin(x), rel=1e-13)


def test_vmap_of_grad_per_example_gradients(rng):
    X, w = rng.standard_normal((5, 3)), rng.standard_normal(3)
    per_example = sg.vmap(sg.grad(lambda w, x: sg.tanh(x @ w) ** 2), in_axes=(None, 0))(w, X)
    z = np.tanh(X @ w)
    np.testing.assert_allclose(per_example, (2 * z * (1 - z ** 2))[:, None] * X, rtol=1e-13)
    # and compiled: one trace for two batch sizes
    traces = []

    def loss(w, x):
        traces.append(1)
        return sg.tanh(x @ w) ** 2
    jitted = sg.jit(sg.vmap(sg.grad(loss), in_axes=(None, 0)))
    np.testing.assert_allclose(jitted(w, X), per_example, rtol=1e-13)
    np.testing.assert_allclose(jitted(w, X[:2]), per_example[:2], rtol=1e-13)
    assert len(traces) == 1


def test_jacobian_of_grad_is_the_hessian(rng):
    x = rng.standard_normal(3)
    H = sg.jacobian(sg.grad(lambda x: sg.sum(sg.exp(x)) * sg.sum(x)))(x)
    expected = np.diag(np.exp(x) * x.sum()) + np.exp(x)[:, None] + np.exp(x)[None, :]
    np.testing.assert_allclose(H, expected, rtol=1e-13)


def test_transformed_functions_called_on_expressions():
    x = sg.scalar("x")
    e = sg.grad(sg.sin)(x)  # an expression in the caller's graph
    assert isinstance(e, sg.Expr)
    assert sg.function([x], e)(0.3) == pytest.approx(np.cos(0.3))
    assert isinstance(sg.grad(sg.sin).trace(x), sg.Expr)


# -- ravel_pytree -----------------------------------------------------------------------------
def test_ravel_pytree_arrays(rng):
    tree = {"W": rng.standard_normal((2, 3)), "b": [np.arange(3), 1.5]}
    flat, unravel = sg.ravel_pytree(tree)
    assert flat.shape == (10,) and flat.dtype == np.float64
    np.testing.assert_array_equal(flat, np.concatenate([tree["W"].ravel(), [0, 1, 2], [1.5]]))
    back = unravel(flat)
    np.testing.assert_array_equal(back["W"], tree["W"])
    assert back["b"][0].dtype == tree["b"][0].dtype
    np.testing.assert_array_equal(back["b"][0], tree["b"][0])
    assert back["b"][1] == 1.5
    with pytest.raises(sg.ShapeError, match="ravel_pytree: unravel takes a flat vector of size 10"):
        unravel(np.zeros(9))


def test_ravel_pytree_expressions(rng):
    W, b = sg.matrix("W", (2, 3)), sg.vector("b", 3)
    flat, unravel = sg.ravel_pytree((W, {"b": b}))
    assert isinstance(flat, sg.Expr) and flat.dims == (9,)
    W2, rest = unravel(flat * 2)
    assert W2.dims == (2, 3) and rest["b"].dims == (3,)
    w, bb = rng.standard_normal((2, 3)), rng.standard_normal(3)
    f = sg.function([W, b], [flat, W2, rest["b"]])
    got_flat, got_W, got_b = f(w, bb)
    np.testing.assert_array_equal(got_flat, np.concatenate([w.ravel(), bb]))
    np.testing.assert_array_equal(got_W, 2 * w)
    np.testing.assert_array_equal(got_b, 2 * bb)
    # an optimizer step written on the flat vector, compiled: gradient descent on a quadratic
    def step(p):
        v, back = sg.ravel_pytree(p)
        g, _ = sg.ravel_pytree(sg.grad(lambda q: sg.sum(q["a"] ** 2) + sg.sum(q["c"] ** 2))(p))
        return back(v - 0.25 * g)
    p = {"a": np.array([1.0, -2.0]), "c": np.array([[4.0]])}
    new = sg.jit(step)(p)
    np.testing.assert_allclose(new["a"], 0.5 * p["a"])
    np.testing.assert_allclose(new["c"], 0.5 * p["c"])


# -- the expression forms are unchanged ------------------------------------------------------
def test_expression_forms_still_work(rng):
    x, y = sg.scalars("x y")
    gx, gy = sg.grad(x * sg.sin(y), [x, y])
    assert sg.function([x, y], [gx, gy])(2.0, 0.5) == pytest.approx((np.sin(0.5), 2 * np.cos(0.5)))
    assert isinstance(sg.grad(sg.tanh(x), x), sg.Expr)
    v, u = sg.vector("v", "n"), sg.vector("u", "n")
    J = sg.jacobian(sg.sin(v), v)
    H = sg.hessian(sg.sum(v ** 3), v)
    (jv,) = sg.jvp([sg.sin(v)], [v], [u])
    vj = sg.vjp(sg.sin(v), v, u)
    assert sg.vjp(sg.sin(v), [v], u, disconnected="raise")[0].dims == ("n",)
    a, b = rng.standard_normal(4), rng.standard_normal(4)
    J_, H_, jv_, vj_ = sg.function([v, u], [J, H, jv, vj])(a, b)
    np.testing.assert_allclose(J_, np.diag(np.cos(a)))
    np.testing.assert_allclose(H_, np.diag(6 * a))
    np.testing.assert_allclose(jv_, np.cos(a) * b)
    np.testing.assert_allclose(vj_, np.cos(a) * b)
    assert sg.hessian(sg.sum(v ** 3), v, sparse=True) is not None


# -- errors -----------------------------------------------------------------------------------
def test_errors_name_the_transform_and_the_argument():
    with pytest.raises(sg.SymgradError, match="grad: argnums must be an int or a non-empty tuple"):
        sg.grad(sg.sin, argnums="x")
    with pytest.raises(sg.SymgradError, match="grad: argnums refers to argument 2, but the "
                                              "function was called with 2"):
        sg.grad(lambda a, b: a * b, argnums=2)(1.0, 2.0)
    with pytest.raises(sg.ShapeError, match=r"grad: the function must return a floating-point "
                                            r"scalar, got shape \(3,\)"):
        sg.grad(sg.sin)(np.ones(3))
    with pytest.raises(sg.ShapeError, match="value_and_grad: the function must return one scalar"):
        sg.value_and_grad(lambda x: (x, x))(1.0)
    with pytest.raises(sg.SymgradError, match="grad: argument 1 has dtype int64; only "
                                              "floating-point"):
        sg.grad(lambda a, n: a * n, argnums=(0, 1))(1.0, 3)
    with pytest.raises(sg.ArgumentError, match="jit: argument 0 holds str"):
        sg.jit(sg.sin)("a")
    with pytest.raises(sg.SymgradError, match="jit: expected a function"):
        sg.jit(3)
    with pytest.raises(sg.SymgradError, match="jit: static_argnums refers to argument 4"):
        sg.jit(sg.sin, static_argnums=4)(1.0)
    with pytest.raises(sg.SymgradError, match="jvp: the tangents' structure"):
        sg.jvp(lambda a, b: a * b, (1.0, 2.0), (1.0, [2.0]))
    with pytest.raises(sg.SymgradError, match="jvp: primals must be a tuple"):
        sg.jvp(sg.sin, 1.0, 1.0)
    with pytest.raises(sg.SymgradError, match="vjp: the cotangent's structure"):
        sg.vjp(lambda a: (a, a), 1.0)[1](1.0)


# -- the JAX cookbook's first examples, with sg. for jax. and jnp. ----------------------------
def test_cookbook_grad_of_tanh():
    t = np.tanh(2.0)
    assert sg.grad(sg.tanh)(2.0) == pytest.approx(1 - t ** 2, rel=1e-14)
    assert sg.grad(sg.grad(sg.grad(sg.tanh)))(2.0) == pytest.approx((1 - t ** 2) * (6 * t ** 2 - 2),
                                                                 rel=1e-12)


INPUTS = np.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30],
                   [0.74, -2.49, 1.39]])
TARGETS = np.array([True, True, False, True])


def sigmoid(x):
    return 0.5 * (sg.tanh(x / 2) + 1)


def predict(W, b, inputs):
    return sigmoid(sg.dot(inputs, W) + b)


def loss(W, b):
    preds = predict(W, b, INPUTS)
    label_probs = preds * TARGETS + (1 - preds) * (1 - TARGETS)
    return -sg.sum(sg.log(label_probs))


def test_cookbook_logistic_regression(rng):
    W, b = rng.standard_normal(3), float(rng.standard_normal())
    p = 1 / (1 + np.exp(-(INPUTS @ W + b)))

    def np_loss(W, b):
        q = 1 / (1 + np.exp(-(INPUTS @ W + b)))
        return -np.sum(np.log(np.where(TARGETS, q, 1 - q)))
    W_grad_np, b_grad_np = INPUTS.T @ (p - TARGETS), np.sum(p - TARGETS)
    np.testing.assert_allclose(sg.grad(loss, argnums=0)(W, b), W_grad_np, rtol=1e-12)
    np.testing.assert_allclose(sg.grad(loss)(W, b), W_grad_np, rtol=1e-12)
    assert sg.grad(loss, 1)(W, b) == pytest.approx(b_grad_np, rel=1e-12)
    W_grad, b_grad = sg.grad(loss, (0, 1))(W, b)
    np.testing.assert_allclose(W_grad, W_grad_np, rtol=1e-12)
    assert b_grad == pytest.approx(b_grad_np, rel=1e-12)
    # the cookbook's dict of parameters
    loss2 = lambda params: loss(params["W"], params["b"])  # noqa: E731
    g = sg.grad(loss2)({"W": W, "b": b})
    np.testing.assert_allclose(g["W"], W_grad_np, rtol=1e-12)
    # value_and_grad, and the cookbook's finite-difference check on b
    value, (Wg, bg) = sg.value_and_grad(loss, (0, 1))(W, b)
    assert value == pytest.approx(np_loss(W, b), rel=1e-12)
    eps = 1e-4
    assert bg == pytest.approx((np_loss(W, b + eps / 2) - np_loss(W, b - eps / 2)) / eps, rel=1e-6)
    # jacobian, jvp and vjp of predict with respect to W
    J = sg.jacobian(predict)(W, b, INPUTS)
    np.testing.assert_allclose(J, (p * (1 - p))[:, None] * INPUTS, rtol=1e-12)
    v = rng.standard_normal(3)
    y, u = sg.jvp(lambda W: predict(W, b, INPUTS), (W,), (v,))
    np.testing.assert_allclose(y, p, rtol=1e-12)
    np.testing.assert_allclose(u, p * (1 - p) * (INPUTS @ v), rtol=1e-12)
    y, vjp_fun = sg.vjp(lambda W: predict(W, b, INPUTS), W)
    c = rng.standard_normal(4)
    np.testing.assert_allclose(vjp_fun(c)[0], INPUTS.T @ (p * (1 - p) * c), rtol=1e-12)


def test_cookbook_hessian_and_hvp(rng):
    A = rng.standard_normal((4, 4))
    A = A + A.T
    c = rng.standard_normal(4)
    f = lambda x: 0.5 * x @ A @ x + c @ x  # noqa: E731
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    np.testing.assert_allclose(sg.hessian(f)(x), A, rtol=1e-13)
    np.testing.assert_allclose(sg.jacobian(sg.jacobian(f))(x), A, rtol=1e-13)

    def hvp(f, x, v):
        return sg.grad(lambda x: sg.dot(sg.grad(f)(x), v))(x)
    np.testing.assert_allclose(hvp(f, x, v), A @ v, rtol=1e-13)
    # forward over reverse, as the cookbook writes it
    np.testing.assert_allclose(sg.jvp(sg.grad(f), (x,), (v,))[1], A @ v, rtol=1e-13)
