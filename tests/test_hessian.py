"""Jacobians, Hessians, Hessian-vector products and n-th derivatives against finite
differences of compiled gradients and against closed forms written by hand."""
from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad.check import central_difference

from conftest import check_grads



def _close(actual, expected, tol: float = 1e-5) -> None:
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol * scale)


def differences(fn, point: np.ndarray) -> np.ndarray:
    """Central differences of the array function ``fn`` at ``point``: shape out + point."""
    return central_difference(fn, [point], 0)


# -- random compositions --------------------------------------------------------------------
def _rotate(v):
    return sg.concatenate([v[1:], v[:1]])


UNARY = [sg.sin, sg.tanh, sg.sigmoid, sg.softplus, lambda v: sg.exp(0.3 * v), lambda v: v ** 2,
         _rotate, lambda v: v[::-1] * 1.5, lambda v: v * sg.sum(v), lambda v: sg.softmax(v),
         lambda v: sg.constant(np.arange(16.0).reshape(4, 4) / 10) @ v]
BINARY = [lambda a, b: a * b, lambda a, b: a + b, lambda a, b: a - 0.5 * b,
          lambda a, b: a / (2 + sg.sin(b)), lambda a, b: sg.maximum(a, b)]
PROGRAMS = st.lists(st.tuples(st.integers(0, len(UNARY) + len(BINARY) - 1),
                              st.integers(0, 100), st.integers(0, 100)), min_size=1, max_size=6)


def compose(x, program):
    """A random vector function of x: each step applies an op to earlier values."""
    values = [x]
    for op, i, j in program:
        a, b = values[i % len(values)], values[j % len(values)]
        values.append(UNARY[op](a) if op < len(UNARY) else BINARY[op - len(UNARY)](a, b))
    return values[-1]


@settings(max_examples=15)
@given(program=PROGRAMS, seed=st.integers(0, 2**16))
def test_random_compositions(program, seed):
    """Jacobian against differences of the compiled value; Hessian against differences of
    the compiled gradient, and symmetric."""
    rng = np.random.default_rng(seed)
    with sg.Graph():
        x = sg.vector("x", 4)
        y = compose(x, program)
        cost = sg.sum(y * sg.constant(rng.standard_normal(4))) + sg.sum(sg.sin(y))
        xv = rng.uniform(-1, 1, 4)
        value, gradient = sg.function([x], y), sg.function([x], sg.grad(cost, x))
        jac, hess = sg.function([x], [sg.jacobian(y, x), sg.hessian(cost, x)])(xv)
        _close(jac, differences(value, xv))
        _close(hess, differences(gradient, xv))
        _close(hess, hess.T, tol=1e-9)


# -- closed forms ---------------------------------------------------------------------------
def test_softmax_jacobian(rng):
    x = sg.vector("x", "n")
    fn = sg.function([x], sg.jacobian(sg.softmax(x), x))
    for n in (3, 6):
        xv = rng.standard_normal(n)
        s = np.exp(xv) / np.exp(xv).sum()
        _close(fn(xv), np.diag(s) - np.outer(s, s), tol=1e-12)


THIRD = {  # f, f''' written by hand
    "tanh": (sg.tanh, lambda x: (1 - np.tanh(x) ** 2) * (6 * np.tanh(x) ** 2 - 2)),
    "sigmoid": (sg.sigmoid, lambda x: (lambda s: s * (1 - s) * (1 - 6 * s + 6 * s * s))(1 / (1 + np.exp(-x)))),
    "log": (sg.log, lambda x: 2 / x ** 3),
}


@pytest.mark.parametrize("name", sorted(THIRD))
def test_third_derivatives(name, rng):
    """sg.diff (forward mode), repeated sg.grad (reverse) and a Jacobian of a Hessian
    (batched, elementwise so diagonal) all give the hand-written f'''."""
    f, third = THIRD[name]
    x, v = sg.scalar("x"), sg.vector("v", 3)
    xv, vv = rng.uniform(0.3, 2.0), rng.uniform(0.3, 2.0, 3)
    by_diff = sg.diff(f(x), x, 3)
    by_grad = sg.grad(sg.grad(sg.grad(f(x), x), x), x)
    cube = sg.jacobian(sg.hessian(sg.sum(f(v)), v), v)
    got = sg.function([x, v], [by_diff, by_grad, cube])(xv, vv)
    _close(got[0], third(xv), tol=1e-12)
    _close(got[1], third(xv), tol=1e-12)
    expected = np.zeros((3, 3, 3))
    expected[np.arange(3), np.arange(3), np.arange(3)] = third(vv)
    _close(got[2], expected, tol=1e-12)


def test_nth_derivative_of_the_benchmark_function(rng):
    """d⁵/dx⁵ of exp(sin x)/(1+x²) against SymPy's derivative (an independent engine)."""
    import sympy
    t = sympy.Symbol("t")
    expected = sympy.lambdify(t, sympy.diff(sympy.exp(sympy.sin(t)) / (1 + t ** 2), t, 5))
    x = sg.scalar("x")
    fn = sg.function([x], sg.diff(sg.exp(sg.sin(x)) / (1 + x ** 2), x, 5))
    for xv in rng.uniform(-2, 2, 4):
        _close(fn(xv), expected(xv), tol=1e-12)


def rosenbrock(x):
    return sg.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_hessian(x):
    """The banded Hessian written out by hand."""
    n = len(x)
    h = np.zeros((n, n))
    diag = np.zeros(n)
    diag[:-1] = 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    diag[1:] += 200
    h[np.arange(n), np.arange(n)] = diag
    i = np.arange(n - 1)
    h[i, i + 1] = h[i + 1, i] = -400 * x[:-1]
    return h


def test_named_dimension_hessian_runs_at_every_size(rng):
    """Compiled once for "n"; the banded structure gives one fill of the band."""
    x = sg.vector("x", "n")
    f = rosenbrock(x)
    fn = sg.function([x], [f, sg.grad(f, x), sg.hessian(f, x)])
    assert "rt.band(" in fn.source and "rt.eye" not in fn.source
    for n in (2, 5, 40):
        xv = rng.uniform(-2, 2, n)
        _close(fn(xv)[2], rosenbrock_hessian(xv), tol=1e-12)


def test_sparse_hessian_equals_dense(rng):
    pytest.importorskip("scipy")
    x = sg.vector("x", "n")
    f = rosenbrock(x) + sg.sum(sg.sin(x[2:] * x[:-2]))
    dense, sparse = sg.function([x], [sg.hessian(f, x), sg.hessian(f, x, sparse=True)])(
        rng.uniform(-1, 1, 9))
    assert sparse.format == "csr" and sparse.shape == (9, 9)
    assert sparse.nnz == 9 + 2 * 8 + 2 * 7  # the pattern is the band, five diagonals
    _close(sparse.toarray(), dense, tol=1e-12)


def test_sparse_hessian_results_are_independent(rng):
    """The band's structure is computed once, yet each result owns its arrays: sorted indices,
    and changing one result (``eliminate_zeros`` edits its index arrays in place) leaves the
    next call's and other sizes' results right."""
    pytest.importorskip("scipy")
    x = sg.vector("x", "n")
    f = rosenbrock(x)
    fn = sg.function([x], [sg.hessian(f, x), sg.hessian(f, x, sparse=True)])
    first = fn(np.zeros(6))[1]
    first.data[:] = 0.0
    first.eliminate_zeros()
    for n in (6, 7, 6):
        xv = rng.uniform(-1, 1, n)
        dense, sparse = fn(xv)
        assert sparse.has_sorted_indices and sparse.nnz == 3 * n - 2
        _close(sparse.toarray(), dense, tol=1e-12)


def test_sparse_hessian_without_structure(rng):
    """Through a matrix product the band is lost: the dense Hessian becomes a CSR matrix."""
    pytest.importorskip("scipy")
    x = sg.vector("x", 3)
    a = rng.standard_normal((3, 3))
    f = sg.sum(sg.tanh(sg.constant(a) @ x) ** 2)
    dense, sparse = sg.function([x], [sg.hessian(f, x), sg.hessian(f, x, sparse=True)])(
        rng.standard_normal(3))
    _close(sparse.toarray(), dense, tol=1e-12)


def test_sparse_hessian_blocks(rng):
    """Blocks of [x, s] as CSR matrices, zero and scalar blocks included, equal the dense ones."""
    pytest.importorskip("scipy")
    x, s, free = sg.vector("x", 4), sg.scalar("s"), sg.scalar("free")
    f = sg.sum(x[1:] * x[:-1]) * s + s ** 3 + free
    xv, sv = rng.standard_normal(4), 0.5
    sparse = sg.hessian(f, [x, s, free], sparse=True)
    dense = sg.hessian(f, [x, s, free])
    got = sg.function([x, s, free], [h for row in sparse for h in row])(xv, sv, 1.0)
    want = sg.function([x, s, free], [h for row in dense for h in row])(xv, sv, 1.0)
    for g, w in zip(got, want):
        _close(g.toarray(), np.reshape(w, g.shape), tol=1e-12)
    assert got[0].nnz == 6 and got[8].nnz == 0  # the off-diagonals of x; free's zero block


def test_sparse_hessian_needs_scipy(monkeypatch, rng):
    x = sg.vector("x", 4)
    fn = sg.function([x], sg.hessian(rosenbrock(x), x, sparse=True))
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(ImportError, match="scipy"):
        fn(rng.standard_normal(4))


def test_banded_hessian_of_a_matrix(rng):
    """Offsets on two axes: neighbours along rows and columns of a grid."""
    pytest.importorskip("scipy")
    x = sg.matrix("X", (3, 4))
    f = sg.sum(x[1:, :-1] * sg.sin(x[:-1, 1:])) + sg.sum(x ** 4)
    xv = rng.standard_normal((3, 4))
    hess, sparse = sg.function([x], [sg.hessian(f, x), sg.hessian(f, x, sparse=True)])(xv)
    _close(hess, differences(sg.function([x], sg.grad(f, x)), xv))
    _close(sparse.toarray(), hess.reshape(12, 12), tol=1e-12)


def test_mlp_hessian_wrt_a_weight_matrix(rng):
    """A Hessian of shape W.shape + W.shape, and the blocks of [W, b]."""
    X, W, b = sg.matrix("X", (5, 3)), sg.matrix("W", (3, 4)), sg.vector("b", 4)
    loss = sg.mean(sg.tanh(X @ W + b) ** 2) + sg.sum(sg.softplus(W))
    values = [rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)]
    blocks = sg.hessian(loss, [W, b])
    got = sg.function([X, W, b], [blocks[0][0], blocks[0][1], blocks[1][0], blocks[1][1]])(*values)
    assert got[0].shape == (3, 4, 3, 4) and got[1].shape == (3, 4, 4) and got[2].shape == (4, 3, 4)
    gw, gb = (sg.function([X, W, b], g) for g in sg.grad(loss, [W, b]))
    _close(got[0], differences(lambda w: gw(values[0], w, values[2]), values[1]))
    _close(got[1], differences(lambda v: gw(values[0], values[1], v), values[2]))
    _close(got[2], differences(lambda w: gb(values[0], w, values[2]), values[1]))
    _close(got[3], differences(lambda v: gb(values[0], values[1], v), values[2]))
    _close(got[1], np.moveaxis(got[2], 0, -1), tol=1e-12)


def test_logistic_regression_hessian(rng):
    """Xᵀ diag(p(1-p)) X, without an n x n matrix anywhere in the graph."""
    X, w, y = sg.matrix("X", ("m", 3)), sg.vector("w", 3), sg.vector("y", "m")
    z = X @ w
    loss = sg.sum(sg.softplus(z) - y * z)
    fn = sg.function([X, w, y], sg.hessian(loss, w))
    assert all(d != ("m", "m") for d in _node_shapes(sg.hessian(loss, w)))
    xv, wv = rng.standard_normal((20, 3)), rng.standard_normal(3)
    p = 1 / (1 + np.exp(-xv @ wv))
    _close(fn(xv, wv, rng.integers(0, 2, 20)), xv.T @ (xv * (p * (1 - p))[:, None]), tol=1e-12)


def _node_shapes(e):
    return [e.g[n]["shape"] for n in e.g.ancestors([e.node])]


def test_hvp_matches_the_hessian(rng):
    x, v = sg.vector("x", "n"), sg.vector("v", "n")
    f = rosenbrock(x) * sg.sum(sg.cos(x))
    hvp = sg.hvp(f, x, v)
    assert "band" not in {hvp.g[n]["op"] for n in hvp.g.ancestors([hvp.node])}
    xv, vv = rng.standard_normal(6), rng.standard_normal(6)
    hv, hess = sg.function([x, v], [hvp, sg.hessian(f, x)])(xv, vv)
    _close(hv, hess @ vv, tol=1e-12)
    a, b = sg.vector("a", 2), sg.scalar("c")
    g = sg.sum(sg.exp(a * b))
    got = sg.function([a, b], sg.hvp(g, [a, b], [sg.constant([1.0, 0.0]), 2.0]))([0.3, -0.2], 0.5)
    blocks = sg.function([a, b], [h for row in sg.hessian(g, [a, b]) for h in row])([0.3, -0.2], 0.5)
    _close(got[0], blocks[0] @ [1.0, 0.0] + blocks[1] * 2.0, tol=1e-12)
    _close(got[1], blocks[2] @ [1.0, 0.0] + blocks[3] * 2.0, tol=1e-12)


def test_mixed_partials(rng):
    """grad(grad(f, x)[i], y) against differences, and the block Hessian's off-diagonal."""
    x, y = sg.vector("x", 3), sg.vector("y", 2)
    f = sg.sum(sg.sin(sg.outer(x, y))) + sg.sum(x) ** 2 * sg.sum(y ** 3)
    xv, yv = rng.standard_normal(3), rng.standard_normal(2)
    gx = sg.function([x, y], sg.grad(f, x))
    mixed = sg.function([x, y], [sg.grad(sg.grad(f, x)[i], y) for i in range(3)])(xv, yv)
    numeric = differences(lambda v: gx(xv, v), yv)
    for i in range(3):
        _close(mixed[i], numeric[i])
    block = sg.function([x, y], sg.hessian(f, [x, y])[0][1])(xv, yv)
    _close(block, numeric)


def test_hessian_errors():
    x = sg.vector("x", 3)
    with pytest.raises(sg.ShapeError, match="hessian: the cost must be a scalar"):
        sg.hessian(x * 2, x)
    with pytest.raises(sg.SymgradError):
        sg.jacobian(x, "x")


def test_jacobian_shapes_and_identity(rng):
    X = sg.matrix("X", (2, 3))
    eye = sg.function([X], sg.jacobian(X, X))(rng.standard_normal((2, 3)))
    _close(eye, np.eye(6).reshape(2, 3, 2, 3), tol=0)
    s = sg.scalar("s")
    js = sg.jacobian(s * X, s)
    assert js.dims == (2, 3)
    jx = sg.jacobian(sg.sum(X, axis=1), X)
    assert jx.dims == (2, 2, 3)
    _close(jx.eval({X: np.zeros((2, 3))}), np.repeat(np.eye(2)[:, :, None], 3, axis=2), tol=0)
    assert sg.jacobian(sg.sum(X), sg.scalar("free")).dims == ()


# -- Hessians and Jacobians wrt matrices: contraction batches ---------------------------------
def _matrix_cases():
    """Functions of a matrix W whose seeds pass ``@``, transposes, sums and elementwise ops."""
    W = sg.matrix("W", (3, 4))
    A, B, x, y = sg.matrix("A", (2, 3)), sg.matrix("B", (4, 2)), sg.vector("x", 4), sg.vector("y", 3)
    X = sg.matrix("X", ("n", 3))
    hidden = sg.tanh(X @ W + sg.vector("b", 4))
    return W, {
        "network": sg.sum((hidden @ B - sg.matrix("Y", ("n", 2))) ** 2),
        "A W B": sg.sum(sg.sin(A @ W @ B)),
        "W x and y W": sg.sum(sg.exp(W @ x) * (y @ W @ x)),
        "W Wᵀ W (both operands)": sg.sum((W @ W.T @ W) ** 2),
        "transpose and sum": sg.sum(sg.cos(sg.sum(W.T * sg.exp(W.T), axis=1)) * x),
        "eight products (dense after)": sg.sum(functools.reduce(
            lambda m, _: sg.tanh(m @ sg.matrix("C", (4, 4))), range(9), W)),
    }


@pytest.mark.parametrize("case", list(_matrix_cases()[1]))
def test_hessians_wrt_a_matrix_match_differences(case, rng):
    W, cases = _matrix_cases()
    f = cases[case]
    symbols = sorted((n for n in f.g.ancestors([f.node]) if f.g[n]["op"] == "symbol"))
    values = {}
    for node in symbols:
        s = sg.Expr(f.g, node)
        shape = tuple(5 if d == "n" else d for d in s.dims)
        values[s] = rng.standard_normal(shape) * (0.5 if s.name == "C" else 1.0)
    check_grads(f, W, values)


def test_the_network_hessian_wrt_w1_has_no_batch_of_seed_matrices():
    """Through ``X @ W1`` the 12 seeds stay einsum factors: no array in the graph has both
    the batch axis n and more than two axes (a dense batch would be (3, 4, n, 4))."""
    W, cases = _matrix_cases()
    f = cases["network"]
    h = sg.hessian(f, W)
    shapes = [f.g[n]["shape"] for n in f.g.ancestors([h.node])]
    assert h.dims == (3, 4, 3, 4)
    assert not [s for s in shapes if "n" in s and len(s) > 2]
    assert any(f.g[n]["op"] == "einsum" for n in f.g.ancestors([h.node]))


def test_jacobian_of_a_matrix_product_wrt_a_matrix(rng):
    A, X, B = sg.matrix("A", (2, 3)), sg.matrix("X", (3, 4)), sg.matrix("B", (4, 5))
    J = sg.jacobian(A @ X @ B, X)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 5))
    expected = np.einsum("ik,lj->ijkl", a, b)  # ∂(A X B)[i, j] / ∂X[k, l] = A[i, k] B[l, j]
    np.testing.assert_allclose(sg.function([A, X, B], J)(a, rng.standard_normal((3, 4)), b),
                               expected, rtol=1e-13)
