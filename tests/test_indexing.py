"""NumPy's advanced indexing, gathers and functional updates against NumPy, with derivatives."""
from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg

from conftest import check_grads

INDICES = [np.array([2, 0, 2]), [1], (np.arange(3), np.array([1, 0, 3])), (slice(None), [1, 1]),
           (1, [0, 2]), ([0, 2], slice(1, 3)), (Ellipsis, [3, 0]), ([[0], [2]], [1, 3]),
           (np.array([True, False, True]),), (slice(None), np.array([True, False, False, True])),
           (np.ones((3, 4), bool) & (np.arange(12).reshape(3, 4) % 3 == 0),), (None, [0, 1]),
           ([-1, -3], -2)]
TENSOR_INDICES = [([0, 1], slice(None), [1, 3]), (slice(None), [2, 0], 1), (None, [1], slice(None), 0),
                  (0, slice(None), [1, 2]), (slice(1, None), [[0, 1]], [[2], [3]]),
                  (Ellipsis, [0, 0], None)]


@pytest.mark.parametrize("index", INDICES, ids=str)
def test_matrix_indexing_matches_numpy(index, rng):
    x = sg.matrix("x", (3, 4))
    value = rng.standard_normal((3, 4))
    out = x[index]
    np.testing.assert_array_equal(out.eval({x: value}), value[index])
    check_grads(sg.sin(out), x, {x: value})


@pytest.mark.parametrize("index", TENSOR_INDICES, ids=str)
def test_tensor_indexing_places_the_block_as_numpy(index, rng):
    t = sg.tensor("t", (2, 3, 4))
    value = rng.standard_normal((2, 3, 4))
    out = t[index]
    assert out.dims == value[index].shape
    np.testing.assert_array_equal(out.eval({t: value}), value[index])


def test_labels_as_an_integer_symbol(rng):
    """A classifier's loss: the log-probability of each row's label; the gradient puts
    -1/n at the labels (softmax cross-entropy: p - onehot)."""
    n = 6
    Z = sg.matrix("Z", (n, 4))
    y = sg.vector("y", n, dtype="int64")
    logp = Z - sg.logsumexp(Z, 1, keepdims=True)
    loss = -sg.mean(logp[np.arange(n), y])
    zv, yv = rng.standard_normal((n, 4)), rng.integers(0, 4, n)
    value, grad = sg.function([Z, y], [loss, sg.grad(loss, Z)])(zv, yv)
    p = np.exp(zv) / np.exp(zv).sum(1, keepdims=True)
    assert value == pytest.approx(-np.mean(np.log(p[np.arange(n), yv])), rel=1e-13)
    onehot = np.eye(4)[yv]
    np.testing.assert_allclose(grad, (p - onehot) / n, atol=1e-14)
    check_grads(loss, Z, {Z: zv, y: yv})


def test_take_along_axis_with_a_named_batch(rng):
    Z = sg.matrix("Z", ("n", 3))
    y = sg.vector("y", "n", dtype="int64")
    picked = sg.take_along_axis(Z, y[:, None], axis=1)
    assert picked.dims == ("n", 1)
    fn = sg.function([Z, y], [picked, sg.grad(sg.sum(picked ** 2), Z)])
    for n in (2, 5):
        zv, yv = rng.standard_normal((n, 3)), rng.integers(0, 3, n)
        got, grad = fn(zv, yv)
        np.testing.assert_array_equal(got, np.take_along_axis(zv, yv[:, None], 1))
        expected = np.zeros((n, 3))
        expected[np.arange(n), yv] = 2 * zv[np.arange(n), yv]
        np.testing.assert_allclose(grad, expected)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_take_and_take_along_axis_match_numpy(axis, rng):
    x = sg.matrix("x", (3, 4))
    value = rng.standard_normal((3, 4))
    idx = np.array([2, 0, 2])
    np.testing.assert_array_equal(sg.take(x, idx, axis).eval({x: value}), np.take(value, idx, axis))
    np.testing.assert_array_equal(sg.take(x, idx).eval({x: value}), np.take(value, idx))
    along = rng.integers(0, value.shape[axis], size=(3, 4))
    np.testing.assert_array_equal(sg.take_along_axis(x, along, axis).eval({x: value}),
                                  np.take_along_axis(value, along, axis))
    check_grads(sg.take_along_axis(x, along, axis) ** 2, x, {x: value})


@pytest.mark.parametrize("axis", [0, 1, None])
def test_sort_and_its_gradient_through_the_permutation(axis, rng):
    x = sg.matrix("x", (3, 4))
    value = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(sg.sort(x, axis).eval({x: value}), np.sort(value, axis))
    np.testing.assert_array_equal(sg.argsort(x, axis).eval({x: value}), np.argsort(value, axis, kind="stable"))
    weights = np.arange(12.0).reshape(np.sort(value, axis).shape)
    g = sg.grad(sg.sum(sg.sort(x, axis) * weights), x).eval({x: value})
    expected = np.zeros(value.size)
    order = np.argsort(value, axis, kind="stable")
    if axis is None:
        expected[order] = weights
    else:
        np.put_along_axis(expected.reshape(3, 4), order, weights, axis)
    np.testing.assert_array_equal(g, expected.reshape(3, 4))
    check_grads(sg.sort(x, axis) ** 3, x, {x: value})


@pytest.mark.parametrize("index", [0, (slice(1, None), 2), [2, 0], (slice(None), [1, 3]),
                                   (1, [0, 2]), np.array([[True, False, False, True]] * 3)], ids=str)
def test_functional_updates(index, rng):
    x = sg.matrix("x", (3, 4))
    v = sg.scalar("v")
    xv = rng.standard_normal((3, 4))
    for kind in ("set", "add", "multiply"):
        out = getattr(x.at[index], kind)(v * 2)
        expected = xv.copy()
        if kind == "set":
            expected[index] = 3.0
        elif kind == "add":
            expected[index] += 3.0
        else:
            expected[index] *= 3.0
        np.testing.assert_allclose(sg.function([x, v], out)(xv, 1.5), expected)
        check_grads(sg.sin(out), [x, v], {x: xv, v: 1.5})
    np.testing.assert_array_equal(x.at[index].get().eval({x: xv}), xv[index])


def test_repeated_indices_add_up_and_their_gradients_too(rng):
    x, v = sg.vector("x", 4), sg.vector("v", 3)
    idx = np.array([1, 3, 1])
    xv, vv = rng.standard_normal(4), rng.standard_normal(3)
    out = x.at[idx].add(v)
    expected = xv.copy()
    np.add.at(expected, idx, vv)
    np.testing.assert_allclose(out.eval({x: xv, v: vv}), expected)
    np.testing.assert_allclose(sg.grad(sg.sum(x[idx] * v), x).eval({x: xv, v: vv}),
                               [0, vv[0] + vv[2], 0, vv[1]])
    check_grads(sg.sin(out), [x, v], {x: xv, v: vv})


def test_vectorized_gathers_per_example_indices(rng):
    """A gather whose index is batched (one label per example) runs on the whole batch."""
    z, y = sg.vector("z", 4), sg.scalar("y", dtype="int64")
    picked = z[y]
    Z, Y = sg.matrix("Z", (5, 4)), sg.vector("Y", 5, dtype="int64")
    mapped = sg.vectorize(picked, {z: Z, y: Y})
    zv, yv = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    np.testing.assert_array_equal(sg.function([Z, Y], mapped)(zv, yv), zv[np.arange(5), yv])
