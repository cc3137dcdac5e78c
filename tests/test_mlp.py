"""The two-layer sigmoid network of the issue, with a symbolic batch size: symgrad's gradient
equals textbook backpropagation written by hand in NumPy, for two batch sizes with one
compiled function."""
from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backprop_by_hand(X, Y, W1, b1, W2, b2):
    """Cost 0.5 |a2 - y|² / n and its gradient, layer by layer (the textbook derivation)."""
    n = X.shape[0]
    a1 = sigmoid(X @ W1 + b1)
    a2 = sigmoid(a1 @ W2 + b2)
    cost = 0.5 * np.sum((a2 - Y) ** 2) / n
    delta2 = (a2 - Y) * a2 * (1 - a2) / n         # output layer: dC/dz2, sigma' = a (1 - a)
    delta1 = (delta2 @ W2.T) * a1 * (1 - a1)      # propagated back through W2
    return cost, X.T @ delta1, delta1.sum(0), a1.T @ delta2, delta2.sum(0)


def test_two_layer_network_gradient_is_backprop(rng):
    X = sg.matrix("X", ("n", 64))
    Y = sg.matrix("Y", ("n", 10))
    W1, b1 = sg.matrix("W1", (64, 128)), sg.vector("b1", 128)
    W2, b2 = sg.matrix("W2", (128, 10)), sg.vector("b2", 10)
    a1 = sg.sigmoid(X @ W1 + b1)
    a2 = sg.sigmoid(a1 @ W2 + b2)
    C = 0.5 * sg.sum((a2 - Y) ** 2) / X.shape[0]
    grads = sg.grad(C, [W1, b1, W2, b2])
    assert [g.dims for g in grads] == [(64, 128), (128,), (128, 10), (10,)]
    step = sg.function([X, Y, W1, b1, W2, b2], [C, *grads])

    params = [rng.normal(scale=0.3, size=s) for s in [(64, 128), (128,), (128, 10), (10,)]]
    for n in (32, 7):
        data, target = rng.standard_normal((n, 64)), rng.uniform(size=(n, 10))
        got = step(data, target, *params)
        expected = backprop_by_hand(data, target, *params)
        assert got[0] == pytest.approx(expected[0], rel=1e-13)
        for name, g, e in zip(["W1", "b1", "W2", "b2"], got[1:], expected[1:]):
            assert g.shape == e.shape
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-15, err_msg=name)


def test_training_reduces_the_cost(rng):
    """Gradient descent with the compiled gradient lowers the cost on a fixed batch."""
    X, Y = sg.matrix("X", ("n", 3)), sg.matrix("Y", ("n", 2))
    W1, b1, W2, b2 = sg.matrix("W1", (3, 8)), sg.vector("b1", 8), sg.matrix("W2", (8, 2)), sg.vector("b2", 2)
    a2 = sg.sigmoid(sg.sigmoid(X @ W1 + b1) @ W2 + b2)
    C = 0.5 * sg.sum((a2 - Y) ** 2) / X.shape[0]
    step = sg.function([X, Y, W1, b1, W2, b2], [C, *sg.grad(C, [W1, b1, W2, b2])])
    data, target = rng.standard_normal((16, 3)), rng.uniform(size=(16, 2))
    params = [rng.normal(scale=0.5, size=s) for s in [(3, 8), (8,), (8, 2), (2,)]]
    costs = []
    for _ in range(200):
        cost, *grads = step(data, target, *params)
        costs.append(cost)
        params = [p - 3.0 * g for p, g in zip(params, grads)]
    assert costs[-1] < 0.8 * costs[0]
    assert all(later <= earlier for earlier, later in zip(costs, costs[1:]))
