"""``sg.vectorize``: a graph mapped over a batch of examples by the ops' batching rules."""
from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg


def test_per_example_gradients(rng):
    """The gradient of a loss for one example, mapped over a batch of n examples."""
    x, y, w, b = sg.vector("x", 3), sg.scalar("y"), sg.vector("w", 3), sg.scalar("b")
    loss = (sg.tanh(x @ w + b) - y) ** 2
    gw, gb = sg.grad(loss, [w, b])
    X, Y = sg.matrix("X", ("n", 3)), sg.vector("Y", "n")
    per_w, per_b = sg.vectorize([gw, gb], {x: X, y: Y})
    assert per_w.dims == ("n", 3) and per_b.dims == ("n",)
    fn = sg.function([X, Y, w, b], [per_w, per_b])
    xv, yv, wv, bv = rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal(3), 0.3
    got_w, got_b = fn(xv, yv, wv, bv)
    z = np.tanh(xv @ wv + bv)
    delta = 2 * (z - yv) * (1 - z ** 2)
    np.testing.assert_allclose(got_w, delta[:, None] * xv, rtol=1e-13)
    np.testing.assert_allclose(got_b, delta, rtol=1e-13)


def test_vectorize_over_several_batch_axes_and_unbatched_outputs(rng):
    x, c = sg.vector("x", 2), sg.scalar("c")
    f = sg.softmax(x * c)
    T = sg.tensor("T", (2, 3, 2))
    mapped, constant_part = sg.vectorize([f, c * 2], {x: T})
    assert mapped.dims == (2, 3, 2) and constant_part.dims == (2, 3)
    tv = rng.standard_normal((2, 3, 2))
    got, twice = sg.function([T, c], [mapped, constant_part])(tv, 1.5)
    e = np.exp(tv * 1.5)
    np.testing.assert_allclose(got, e / e.sum(-1, keepdims=True), rtol=1e-13)
    np.testing.assert_array_equal(twice, np.full((2, 3), 3.0))


def test_vectorize_errors():
    x, y = sg.vector("x", 3), sg.scalar("y")
    with pytest.raises(sg.ShapeError, match="batch axes"):
        sg.vectorize(x * 2, {x: sg.vector("X", 3)})
    with pytest.raises(sg.ShapeError, match="different batch axes"):
        sg.vectorize(x * y, {x: sg.matrix("X", (2, 3)), y: sg.vector("Y", 4)})
    with pytest.raises(sg.UnsupportedError, match="batching rule"):
        sg.vectorize(sg.hessian(sg.sum(x ** 3), x, sparse=True), {x: sg.matrix("X", (2, 3))})


def test_jacobians_and_hessians_run_the_batching_rules(rng):
    """A Hessian whose seeds cannot stay banded (a matrix product): the dense batch of
    tangents goes through matmul's batching rule; checked against the closed form."""
    A = sg.matrix("A", (3, 3))
    x = sg.vector("x", 3)
    f = sg.sum(sg.exp(A @ x))
    H = sg.hessian(f, x)
    av, xv = rng.standard_normal((3, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(sg.function([A, x], H)(av, xv),
                               av.T @ np.diag(np.exp(av @ xv)) @ av, rtol=1e-12)
