"""Wrong results and crashes found by users and by differential testing against JAX, each
kept as a test; and the conventions holding with and without rewrites."""
from __future__ import annotations

import math

import numpy as np
import pytest

import symgrad as sg

from conftest import check_grads


# -- conventions are semantics: the same values and derivatives without rewrites -------------
CONVENTIONS = {  # name: (f of a vector x, points where a convention decides the derivative)
    "where_sqrt": (lambda x: sg.where(x > 0, sg.sqrt(x), 0.0), [-1.0, 0.0, 4.0]),
    "where_log_nested": (lambda x: sg.where(x > 0, sg.where(x > 1, sg.log(x - 1), 0.0), x),
                         [-1.0, 0.5, 3.0]),
    "where_moved": (lambda x: sg.where(x[::-1] > 0, sg.sqrt(x[::-1]) * 2, 1.0).T, [-1.0, 2.0, 0.0]),
    "two_wheres": (lambda x: sg.where(x > 0, sg.sqrt(x), 0.0) + sg.where(x > 1, sg.sqrt(x - 1), 0.0),
                   [-1.0, 0.5, 2.0]),
    "abs_relu": (lambda x: abs(x) + sg.relu(x), [0.0, -1.0, 2.0]),
    "maximum_tie": (lambda x: sg.maximum(x, 1.0) * sg.minimum(x, 1.0), [1.0, 0.0, 2.0]),
    "max_ties": (lambda x: sg.max(x * sg.constant(np.array([1.0, 1.0, 0.0]))), [2.0, 2.0, 1.0]),
    "int_powers": (lambda x: x ** 3 + x ** 2, [0.0, 1.0, -1.0]),
}


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_conventions_hold_without_rewrites(name):
    """First and second derivatives (reverse, forward and the Hessian) agree exactly in
    finiteness and to rounding in value between ``Graph()`` and ``Graph(rewrite=False)``."""
    build, point = CONVENTIONS[name]
    results = []
    for rewrite in (True, False):
        with sg.Graph(rewrite=rewrite):
            x = sg.vector("x", 3)
            f = sg.sum(build(x))
            g = sg.grad(f, x)
            outs = [f, g, sg.jvp(f, x, 1.0), sg.hessian(f, x), sg.grad(sg.sum(g), x)]
            results.append(sg.function([x], outs)(np.array(point)))
    for with_rules, without in zip(*results):
        assert np.all(np.isfinite(with_rules)), (name, with_rules)
        np.testing.assert_allclose(without, with_rules, rtol=1e-12, atol=1e-12)


def test_where_gradient_at_the_branch_not_taken():
    """The README's example: 0 where JAX, TensorFlow and autograd give NaN."""
    for rewrite in (True, False):
        with sg.Graph(rewrite=rewrite):
            x = sg.scalar("x")
            f = sg.where(x > 0, sg.sqrt(x), 0.0)
            assert sg.grad(f, [x])[0].eval({x: -1.0}) == 0.0
            assert sg.diff(f, x, 2).eval({x: -1.0}) == 0.0


def test_where_with_a_constant_mask():
    v = sg.vector("v", 2)
    mask = np.array([False, True])
    g = sg.grad(sg.sum(sg.where(mask, sg.sqrt(v), 0.0)), v)
    np.testing.assert_array_equal(g.eval({v: np.array([0.0, 1.0])}), [0.0, 0.5])


def test_lennard_jones_forces_with_a_triangular_mask(rng):
    """Pairs i < j by a constant triu mask: the diagonal (r = 0) must not leak NaN."""
    n = 4
    X = sg.matrix("X", (n, 3))
    d = X[:, None, :] - X[None, :, :]
    r = sg.sqrt(sg.sum(d * d, axis=-1))
    mask = np.triu(np.ones((n, n), bool), 1)
    energy = sg.sum(sg.where(mask, 4 * (r ** -12 - r ** -6), 0.0))
    forces = -sg.grad(energy, X)
    positions = rng.uniform(0, 3, (n, 3))
    got = sg.function([X], forces)(positions)
    assert np.all(np.isfinite(got))
    expected = np.zeros((n, 3))
    for i in range(n):
        for j in range(i + 1, n):
            delta = positions[i] - positions[j]
            dist = np.linalg.norm(delta)
            dE = 4 * (-12 * dist ** -13 + 6 * dist ** -7)
            expected[i] -= dE * delta / dist
            expected[j] += dE * delta / dist
    np.testing.assert_allclose(got, expected, rtol=1e-10)


# -- shapes and rewrites -------------------------------------------------------------------------
def test_broadcast_of_a_reshape_keeps_the_broadcast(rng):
    x = sg.vector("x", 2)
    value = rng.standard_normal(2)
    np.testing.assert_array_equal(sg.broadcast_to(x.reshape((1, 2)), (3, 2)).eval({x: value}),
                                  np.broadcast_to(value, (3, 2)))
    g = sg.grad(sg.tanh(sg.reshape(sg.sum(x), (1,)).sum()), x)
    np.testing.assert_allclose(g.eval({x: value}), np.full(2, 1 - np.tanh(value.sum()) ** 2))
    y = sg.matrix("y", (2, 3))
    for f in (sg.sum(sg.logsumexp(y, 1, keepdims=True) * y), sg.sum(sg.mean(y, 0) * y),
              sg.sum(sg.outer(x, x) * y[:, :2])):
        check_grads(f, [x, y], {x: value, y: rng.standard_normal((2, 3))})


def test_reshape_to_another_size_is_an_error_when_built():
    x = sg.vector("x", 6)
    with pytest.raises(sg.ShapeError, match="reshape"):
        sg.apply("reshape", x, shape=(4,))
    with pytest.raises(sg.ShapeError, match="reshape"):
        sg.reshape(x, (4, -1))


def test_stacked_named_slices_reshape_and_differentiate(rng):
    x = sg.vector("x", "n")
    y = sg.stack([x[3:], x[3:]], 1).reshape(-1)
    assert y.dims == ("2*n-6",)
    value = rng.standard_normal(7)
    g = sg.grad(sg.sum(y * y), x)
    expected = np.concatenate([np.zeros(3), 4 * value[3:]])
    np.testing.assert_allclose(g.eval({x: value}), expected)


def test_expand_dims_takes_ints_and_negative_axes(rng):
    x = sg.matrix("x", (2, 3))
    value = rng.standard_normal((2, 3))
    for axis in (-1, 0, 1, -3, (0, -1), (1, 3)):
        np.testing.assert_array_equal(sg.expand_dims(x, axis).eval({x: value}),
                                      np.expand_dims(value, axis))
    with pytest.raises(sg.ShapeError, match="expand_dims"):
        sg.expand_dims(x, 3)
    with pytest.raises(sg.ShapeError, match="expand_dims"):
        sg.expand_dims(x, (0, 0))


def test_gradient_of_the_last_entry_of_a_named_vector():
    x = sg.vector("x", "n")
    np.testing.assert_array_equal(sg.function([x], sg.grad(x[-1], x))(np.ones(3)), [0, 0, 1.0])


def test_zero_dimensional_constants_without_rewrites():
    """Constants are bound as NumPy scalars where a method or an index follows them."""
    with sg.Graph(rewrite=False):
        x = sg.vector("x", "n")
        c = sg.constant(1.0)
        outs = [c.reshape((1,)), c[None], c.astype("float32"), sg.grad(x[-1], x),
                sg.grad(sg.sum(x * 2.0), x)]
        got = sg.function([x], outs)(np.ones(3))
    assert got[0].tolist() == [1.0] and got[1].tolist() == [1.0] and got[2].dtype == np.float32
    assert got[3].tolist() == [0, 0, 1.0] and got[4].tolist() == [2.0, 2.0, 2.0]


# -- dtypes ----------------------------------------------------------------------------------
def test_only_python_numbers_are_weak():
    x = sg.vector("x", 3, dtype="float32")
    assert (x * 2.0).dtype == np.float32 and (2 * x).dtype == np.float32
    assert (x * np.float64(2.0)).dtype == np.float64
    assert (x * np.array(2.0)).dtype == np.float64
    assert (x * np.float32(2.0)).dtype == np.float32
    v = sg.vector("v", "n", dtype="float32")
    assert (v / v.shape[0]).dtype == np.float32  # a run-time size stands for a Python int
    k = sg.vector("k", 3, dtype="int32")
    assert (k + 1).dtype == np.int32 and (k * 1.5).dtype == np.float64


@pytest.mark.parametrize("build", [sg.relu, lambda x: sg.maximum(x, 0.5), lambda x: sg.minimum(x, 0.5),
                                   lambda x: sg.where(x > 0, x * x, -x), lambda x: sg.max(x * x),
                                   lambda x: abs(x)])
def test_float32_forward_mode_stays_float32(build):
    x = sg.scalar("x", dtype="float32")
    f = build(x)
    for d in (sg.jvp(f, x, 1.0), sg.diff(f, x, 2), sg.grad(f, x), sg.grad(f, [x])[0]):
        assert d.dtype == np.float32, d
        assert sg.function([x], d)(np.float32(0.7)).dtype == np.float32


def test_power_exponent_derivative_at_a_zero_base():
    x, b = sg.vector("x", 3), sg.scalar("b")
    f = sg.sum(x ** b)
    xv = np.array([0.0, 1.0, 2.0])
    g, h = sg.function([x, b], [sg.grad(f, b), sg.diff(f, b, 2)])(xv, 2.5)
    assert g == pytest.approx(2 ** 2.5 * math.log(2))
    assert h == pytest.approx(2 ** 2.5 * math.log(2) ** 2)


# -- numerically stable spellings -----------------------------------------------------------------
BIG = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])


def test_logistic_sigmoid_spelled_out_is_stable():
    """PyTensor's logistic-regression tutorial: p = 1/(1 + exp(-x·w - b)) and the
    cross-entropy; finite loss and gradients at scores of ±1000."""
    x, w, b, y = sg.vector("x", 5), sg.scalar("w"), sg.scalar("b"), sg.vector("y", 5)
    p = 1 / (1 + sg.exp(-x * w - b))
    assert p.op == "sigmoid"
    loss = sg.sum(-y * sg.log(p) - (1 - y) * sg.log(1 - p))
    yv = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    value, gw, gb = sg.function([x, w, b, y], [loss, *sg.grad(loss, [w, b])])(BIG, 1.0, 0.0, yv)
    scores = BIG
    exact = np.sum(yv * np.logaddexp(0, -scores) + (1 - yv) * np.logaddexp(0, scores))
    assert value == pytest.approx(exact, rel=1e-15)
    sig = 1 / (1 + np.exp(-np.clip(scores, -700, 700)))
    assert gw == pytest.approx(np.sum((sig - yv) * scores), rel=1e-12)
    assert gb == pytest.approx(np.sum(sig - yv), rel=1e-12)


def test_log_of_one_minus_a_spelled_out_sigmoid_is_stable():
    z = sg.vector("z", 5)
    f = sg.log(1 - 1 / (1 + sg.exp(-z)))
    value = f.eval({z: BIG})
    np.testing.assert_allclose(value, -np.logaddexp(0, BIG), rtol=1e-15)


def test_log_softmax_and_log_sum_exp_spelled_out_are_stable():
    z = sg.vector("z", 3)
    point = np.array([1000.0, 0.0, -1000.0])
    lsm = sg.log(sg.softmax(z))
    value, grad = sg.function([z], [lsm, sg.grad(sg.sum(lsm * np.array([1.0, 2.0, 3.0])), z)])(point)
    np.testing.assert_allclose(value, [0.0, -1000.0, -2000.0])
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [1.0, 2.0, 3.0] - 6.0 * np.array([1.0, 0.0, 0.0]), atol=1e-12)
    lse = sg.log(sg.sum(sg.exp(z)))
    assert lse.eval({z: point}) == pytest.approx(1000.0, rel=1e-15)
    np.testing.assert_allclose(sg.grad(lse, z).eval({z: point}), [1.0, 0.0, 0.0], atol=1e-300)


# -- Python protocols ---------------------------------------------------------------------------
def test_unpacking_and_iteration_follow_numpy(rng):
    u = sg.vector("u", 3)
    x, y, z = u
    value = rng.standard_normal(3)
    assert [e.eval({u: value}) for e in (x, y, z)] == value.tolist()
    X = sg.matrix("X", (2, 4))
    rows = [row for row in X]
    assert len(rows) == 2 == len(X) and rows[1].dims == (4,)
    with pytest.raises(TypeError, match="named dimension"):
        list(sg.vector("v", "n"))
    with pytest.raises(TypeError, match="0-d"):
        iter(sg.scalar("s"))


def test_comparisons_with_numbers_are_elementwise(rng):
    x = sg.vector("x", 4)
    value = np.array([0.0, 1.0, -2.0, 0.0])
    ne, eq = x != 0, x == 0
    assert isinstance(ne, sg.Expr) and ne.dtype == bool and eq.op == "equal"
    f = sg.where(x != 0, 1 / x, 0.0)
    np.testing.assert_array_equal(f.eval({x: value}), [0.0, 1.0, -0.5, 0.0])
    assert (x == x) is True and (x != x) is False  # two expressions: structural identity
    assert {x: 1}[x] == 1


def test_nested_outputs_keep_their_nesting(rng):
    a, b = sg.vector("a", 2), sg.scalar("b")
    c = sg.sum(a * a) * b * b
    blocks = sg.hessian(c, [a, b])
    out = sg.function([a, b], blocks)(np.array([1.0, 2.0]), 3.0)
    assert len(out) == 2 and len(out[0]) == 2
    np.testing.assert_allclose(out[0][0], 2 * 9 * np.eye(2))
    np.testing.assert_allclose(out[0][1], [12.0, 24.0])
    np.testing.assert_allclose(out[1][1], 2 * 5.0)
    single, (pair, nested) = sg.function([b], [b, (b * 2, [b * 3])])(2.0)
    assert (single, pair, nested) == (2.0, 4.0, (6.0,))


@pytest.mark.parametrize("differentiate", [
    lambda c, y: sg.grad(c * c, c), lambda c, y: sg.grad(c * c * y, c),
    lambda c, y: sg.jvp(c * c, c, 1.0), lambda c, y: sg.diff(c * c, c),
    lambda c, y: sg.grad(sg.sum(sg.constant(np.ones(3)) * y), sg.constant(np.ones(3))),
    lambda c, y: sg.hessian(c * y, c), lambda c, y: sg.jacobian(c * y, c)])
def test_derivatives_wrt_a_constant_are_an_error(differentiate):
    c, y = sg.constant(3.0), sg.scalar("y")
    with pytest.raises(sg.SymgradError, match="constant"):
        differentiate(c, y)
