"""Reverse mode: grad and vjp wrt inputs, intermediates and lists; disconnected inputs;
zero-gradient ops; n-th derivatives against closed forms; no NaN from a branch not taken."""
from __future__ import annotations

import math

import numpy as np
import pytest

import symgrad as sg

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import PROGRAMS, check_grads, random_program


def test_circuit():
    """f = (x + y) z: df/dx = df/dy = z, df/dz = x + y (the chain rule by hand)."""
    x, y, z = sg.scalars("x y z")
    f = (x + y) * z
    fn = sg.function([x, y, z], [f, *sg.grad(f, [x, y, z])])
    assert fn(-2.0, 5.0, -4.0) == (-12.0, -4.0, -4.0, 3.0)


def test_grad_wrt_intermediates(rng):
    """With u = sin(x) y and f = u**2 + u x: df/du = 2u + x, and the total df/dx."""
    x, y = sg.scalars("x y")
    u = sg.sin(x) * y
    f = u * u + u * x
    du, dx, dy = sg.grad(f, [u, x, y])
    fn = sg.function([x, y], [du, dx, dy])
    xv, yv = 0.3, 2.0
    uv = math.sin(xv) * yv
    got = fn(xv, yv)
    assert got[0] == pytest.approx(2 * uv + xv)
    assert got[1] == pytest.approx((2 * uv + xv) * math.cos(xv) * yv + uv)
    assert got[2] == pytest.approx((2 * uv + xv) * math.sin(xv))


def test_grad_of_vector_intermediate(rng):
    """For h = W v and C = sum(tanh(h)): dC/dh = 1 - tanh(h)**2, dC/dW = outer(dC/dh, v)."""
    W, v = sg.matrix("W", (3, 4)), sg.vector("v", 4)
    h = W @ v
    C = sg.sum(sg.tanh(h))
    dh, dW, dv = sg.grad(C, [h, W, v])
    Wv, vv = rng.standard_normal((3, 4)), rng.standard_normal(4)
    got = sg.function([W, v], [dh, dW, dv])(Wv, vv)
    delta = 1 - np.tanh(Wv @ vv) ** 2
    np.testing.assert_allclose(got[0], delta)
    np.testing.assert_allclose(got[1], np.outer(delta, vv))
    np.testing.assert_allclose(got[2], Wv.T @ delta)


def test_wrt_single_and_list():
    x, y = sg.scalars("x y")
    f = x * y
    assert isinstance(sg.grad(f, x), sg.Expr)
    assert isinstance(sg.grad(f, [x]), list) and len(sg.grad(f, [x])) == 1
    assert sg.grad(f, (x, y)) == (y, x)  # the structure of wrt; d(xy)/dx is the node y itself


def test_disconnected_gives_zeros_or_raises(rng):
    x, z = sg.scalars("x z")
    W = sg.matrix("W", ("n", 3))
    f = sg.sin(x)
    gz, gW = sg.grad(f, [z, W])
    assert gz.dims == () and gW.dims == ("n", 3)
    assert sg.function([x, z], gz)(1.0, 2.0) == 0.0
    np.testing.assert_array_equal(sg.function([W], gW)(np.ones((5, 3))), np.zeros((5, 3)))
    with pytest.raises(sg.DisconnectedInputError, match="does not depend on .*'z'"):
        sg.grad(f, [x, z], disconnected="raise")
    assert sg.grad(f, x, disconnected="raise").op == "cos"
    with pytest.raises(sg.SymgradError, match="disconnected must be"):
        sg.grad(f, x, disconnected="ignore")


def test_stop_gradient_path_is_connected_but_zero():
    """A path through stop_gradient exists, so 'raise' does not raise; the gradient is 0."""
    x = sg.scalar("x")
    g = sg.grad(sg.stop_gradient(x) * 3.0, x, disconnected="raise")
    assert g.eval({x: 2.0}) == 0.0


@pytest.mark.parametrize("make", [lambda x: (x > 0.5).astype("float64") * 3.0,
                                  lambda x: sg.sign(x) * 2.0,
                                  lambda x: sg.where(x >= 0, 1.0, -1.0),
                                  lambda x: sg.stop_gradient(x)])
def test_zero_gradient_ops(make):
    """Comparisons and sign give zero gradients, not errors."""
    x = sg.vector("x", 3)
    g = sg.grad(sg.sum(make(x)), x)
    np.testing.assert_array_equal(g.eval({x: np.array([-1.0, 0.2, 2.0])}), np.zeros(3))


def test_broadcasting_is_undone_by_summing(rng):
    """X (n, 3) + b (3,) + c (n, 1) + s (): each gradient sums over its broadcast axes."""
    X, b, c, s = sg.matrix("X", ("n", 3)), sg.vector("b", 3), sg.matrix("c", ("n", 1)), sg.scalar("s")
    G = sg.matrix("G", ("n", 3))
    C = sg.sum((X + b + c + s) * G)
    grads = sg.grad(C, [X, b, c, s])
    assert [g.dims for g in grads] == [("n", 3), (3,), ("n", 1), ()]
    Gv = rng.standard_normal((4, 3))
    gX, gb, gc, gs = sg.function([X, b, c, s, G], grads)(np.zeros((4, 3)), np.zeros(3),
                                                          np.zeros((4, 1)), 0.0, Gv)
    np.testing.assert_allclose(gX, Gv)
    np.testing.assert_allclose(gb, Gv.sum(0))
    np.testing.assert_allclose(gc, Gv.sum(1, keepdims=True))
    assert gs == pytest.approx(Gv.sum())


def test_vjp(rng):
    """vjp(W @ x, x, ybar) = W.T @ ybar; vjp(W @ x, W, ybar) = outer(ybar, x)."""
    W, x, ybar = sg.matrix("W", (3, 4)), sg.vector("x", 4), sg.vector("ybar", 3)
    gx, gW = sg.vjp(W @ x, [x, W], ybar)
    Wv, xv, yv = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)
    got = sg.function([W, x, ybar], [gx, gW])(Wv, xv, yv)
    np.testing.assert_allclose(got[0], Wv.T @ yv)
    np.testing.assert_allclose(got[1], np.outer(yv, xv))
    constant_cotangent = sg.vjp(sg.sin(x), x, np.arange(4.0))
    np.testing.assert_allclose(constant_cotangent.eval({x: xv}), np.cos(xv) * np.arange(4.0))


# -- higher derivatives: closed forms written by hand -------------------------------------------
# d/dx in both API forms: ``grad(f, x)`` for one scalar (which may sweep forward) and
# ``grad(f, [x])[0]`` (the reverse sweep)
DERIVATIVE = {"grad(f, x)": lambda f, x: sg.grad(f, x),
              "grad(f, [x])": lambda f, x: sg.grad(f, [x])[0]}

DIFF = [
    (lambda x: sg.exp(2 * x), lambda x, n: 2 ** n * math.exp(2 * x)),
    (sg.sin, lambda x, n: math.sin(x + n * math.pi / 2)),
    (lambda x: x ** 5, lambda x, n: math.perm(5, n) * x ** (5 - n) if n <= 5 else 0.0),
    (lambda x: 1 / x, lambda x, n: (-1) ** n * math.factorial(n) / x ** (n + 1)),
    (sg.log, lambda x, n: math.log(x) if n == 0 else (-1) ** (n - 1) * math.factorial(n - 1) / x ** n),
    (lambda x: x * sg.exp(x), lambda x, n: (x + n) * math.exp(x)),
]


@pytest.mark.parametrize("f, closed", DIFF)
@pytest.mark.parametrize("n", range(7))
def test_diff_against_closed_forms(f, closed, n):
    x = sg.scalar("x")
    d = sg.diff(f(x), x, n)
    by_reverse = f(x)
    for _ in range(n):
        by_reverse = DERIVATIVE["grad(f, [x])"](by_reverse, x)
    fn = sg.function([x], [d, by_reverse])
    for xv in (0.7, 1.9):
        assert fn(xv) == pytest.approx((closed(xv, n),) * 2, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("derivative", sorted(DERIVATIVE))
def test_grad_of_grad(derivative):
    """d²/dx² (x³ y + sin(x y)) = 6 x y - y² sin(x y); the mixed d²/dxdy = 3x² + cos(xy) - xy sin(xy)."""
    d = DERIVATIVE[derivative]
    x, y = sg.scalars("x y")
    f = x ** 3 * y + sg.sin(x * y)
    gx = d(f, x)
    fn = sg.function([x, y], [d(gx, x), d(gx, y)])
    xv, yv = 0.8, -1.3
    dxx, dxy = fn(xv, yv)
    assert dxx == pytest.approx(6 * xv * yv - yv ** 2 * math.sin(xv * yv), rel=1e-13)
    assert dxy == pytest.approx(3 * xv ** 2 + math.cos(xv * yv) - xv * yv * math.sin(xv * yv),
                                rel=1e-13)
    assert sg.diff(f, x, 2) == sg.diff(f, x, 2)  # the same nodes, by hash-consing


def test_diff_needs_scalar_and_valid_n():
    x, v = sg.scalar("x"), sg.vector("v", 2)
    assert sg.diff(sg.sin(x), x, 0) == sg.sin(x)
    with pytest.raises(sg.ShapeError, match="is not a scalar"):
        sg.diff(sg.sum(v), v)
    with pytest.raises(sg.SymgradError, match="non-negative integer"):
        sg.diff(x, x, -1)


def test_second_derivatives_of_a_network_cost(rng):
    """Reverse over reverse through matmul, sigmoid, logsumexp and indexing."""
    W, x = sg.matrix("W", (3, 4)), sg.vector("x", 4)
    out = sg.logsumexp(sg.sigmoid(W @ x)[1:] * 2.0) + sg.sum(sg.softplus(W[0] * x))
    check_grads(out, [W, x], {W: rng.standard_normal((3, 4)), x: rng.standard_normal(4)})


@settings(max_examples=25)
@given(program=PROGRAMS, pick=st.integers(0, 99), seed=st.integers(0, 2**32 - 1))
def test_random_programs_derivatives(program, pick, seed):
    """First and second derivatives of random compositions against finite differences."""
    with sg.Graph():
        inputs, arrays, exprs, values, _ = random_program(program[:10], seed)
        out = exprs[-1 - pick % (len(exprs) - len(inputs))] if len(exprs) > len(inputs) else exprs[0]
        check_grads(out, inputs, dict(zip(inputs, arrays)), seed=seed)


# -- the branch not taken contributes an exact zero, never NaN -----------------------------------
def _masked_cases():
    return {
        "sqrt": lambda x: sg.where(x > 0, sg.sqrt(x), 0.0),
        "log_sqrt": lambda x: sg.where(x > 0, sg.log(sg.sqrt(x)), 0.0),
        "shared_sqrt": lambda x: sg.where(x > 0, sg.sqrt(x) * sg.sin(sg.sqrt(x)), 0.0),
        "log_times_sqrt": lambda x: sg.where(x > 0, sg.log(x) * sg.sqrt(x), 0.0),
        "else_branch": lambda x: sg.where(x <= 0, 0.0, sg.sqrt(x) ** 3 / (1 + x)),
        "scaled": lambda x: 3.0 * sg.where(x > 0, sg.sqrt(x), 0.0) - 1.0,
    }


def _masked_reference(name, x, order):
    """The derivative of the taken branch, written by hand; 0 where x <= 0."""
    if x <= 0:
        return 0.0
    s = math.sqrt(x)
    first = {"sqrt": 0.5 / s, "log_sqrt": 0.5 / x,
             "shared_sqrt": 0.5 / s * (math.sin(s) + s * math.cos(s)),
             "log_times_sqrt": s / x + math.log(x) * 0.5 / s,
             "else_branch": 1.5 * s / (1 + x) - x * s / (1 + x) ** 2,
             "scaled": 1.5 / s}
    second = {"sqrt": -0.25 / (x * s), "log_sqrt": -0.5 / x ** 2,
              "shared_sqrt": (-0.25 / (x * s)) * (math.sin(s) + s * math.cos(s))
              + 0.25 / x * (2 * math.cos(s) - s * math.sin(s)),
              "log_times_sqrt": -0.5 / (x * s) + 0.5 / (x * s) - 0.25 * math.log(x) / (x * s),
              "else_branch": 0.75 / s / (1 + x) - 3 * s / (1 + x) ** 2 + 2 * x * s / (1 + x) ** 3,
              "scaled": -0.75 / (x * s)}
    return (first if order == 1 else second)[name]


@pytest.mark.parametrize("derivative", sorted(DERIVATIVE))
@pytest.mark.parametrize("name", sorted(_masked_cases()))
def test_where_branch_not_taken_gives_zero_not_nan(name, derivative):
    """grad(where(x > 0, sqrt(x), 0)) at x = -1 is exactly 0: scalars, mixed-sign vectors,
    deeper chains, a value used twice inside the branch, and second derivatives."""
    f = _masked_cases()[name]
    d = DERIVATIVE[derivative]
    x = sg.scalar("x")
    d1 = d(f(x), x)
    d2 = d(d1, x)
    fn = sg.function([x], [d1, d2])
    for xv in (-1.0, -0.0, 0.0, 2.0):
        got = fn(xv)
        if xv > 0:
            assert got == pytest.approx((_masked_reference(name, xv, 1),
                                         _masked_reference(name, xv, 2)), rel=1e-12)
        else:
            assert got == (0.0, 0.0), f"{name} at {xv}: {got}"
    v = sg.vector("v", 4)
    g = sg.grad(sg.sum(f(v)), v)
    values = np.array([-1.0, 4.0, 0.0, -3.0])
    got = sg.function([v], [g, sg.grad(sg.sum(g), v)])(values)
    for order, array in zip((1, 2), got):
        np.testing.assert_allclose(array, [_masked_reference(name, xv, order) for xv in values],
                                   rtol=1e-12)


def test_check_grad():
    """sg.check_grad is small for a correct gradient and sees a wrong one: the symbolic
    gradient of x * stop_gradient(x) is x, central differences give 2x."""
    x, y, v = sg.scalar("x"), sg.scalar("y"), sg.vector("v", 3)
    cost = sg.sin(x) * y + sg.sum(v ** 3) * x
    assert sg.check_grad(cost, [x, y, v], {x: 0.3, y: 2.0, v: np.array([0.5, -1.0, 2.0])}) < 1e-7
    assert sg.check_grad(x * sg.stop_gradient(x), x, {x: 1.5}) == pytest.approx(0.5, rel=1e-6)


W32, W23 = np.arange(6.0).reshape(3, 2), np.arange(6.0).reshape(2, 3)
MASK_MOVES = {  # f(V) whose gradient is factor * d sqrt(V) where V > 0, else 0
    "transpose": (lambda V: sg.where(V.T > 0, sg.sqrt(V).T, 0.0), 1.0),
    "reshape": (lambda V: sg.where(V.reshape(4) > 0, sg.sqrt(V).reshape(4), 0.0), 1.0),
    "index": (lambda V: sg.where(V[0] > 0, sg.sqrt(V)[0], 0.0), np.array([[1.0], [0.0]])),
    "broadcast_rows": (lambda V: sg.where(V[0] > 0, sg.sqrt(V[0]), 0.0) * W32,
                       np.array([[6.0, 9.0], [0.0, 0.0]])),
    "broadcast_columns": (lambda V: sg.where(V[0, :, None] > 0, sg.sqrt(V[0, :, None]), 0.0) * W23,
                          np.array([[3.0, 12.0], [0.0, 0.0]])),
}


@pytest.mark.parametrize("name", sorted(MASK_MOVES))
def test_where_mask_survives_moves_and_broadcasting(name):
    """The mask stays around the product when the adjoint is transposed, reshaped, sliced,
    scattered or summed back over broadcast axes."""
    make, factor = MASK_MOVES[name]
    V = sg.matrix("V", (2, 2))
    g = sg.grad(sg.sum(make(V)), V)
    h = sg.grad(sg.sum(g), V)
    value = np.array([[-1.0, 4.0], [0.0, 9.0]])
    safe = np.where(value > 0, value, 1.0)
    d1 = np.where(value > 0, 0.5 * safe ** -0.5, 0.0)
    d2 = np.where(value > 0, -0.25 * safe ** -1.5, 0.0)
    got1, got2 = sg.function([V], [g, h])(value)
    np.testing.assert_allclose(got1, factor * d1, rtol=1e-15)
    np.testing.assert_allclose(got2, factor * d2, rtol=1e-15)
