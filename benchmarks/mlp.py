"""Compiled cost + gradient of a 64-128-64-10 sigmoid network against hand-written backprop.

Batch 512, float64, one BLAS thread, quadratic cost ``0.5 * sum((a3 - Y)**2) / n`` with the
batch size ``n`` symbolic.  Prints the per-call times of both (interleaved in one run), their
ratio (target <= 1.15) and the time to build, differentiate and compile the gradient
(target < 0.3 s).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/mlp.py
"""
from __future__ import annotations

import _harness as H  # first: pins the thread count before NumPy loads

import numpy as np

import symgrad as sg

SIZES = (64, 128, 64, 10)
BATCH = 512


def build_symgrad(sizes: tuple = SIZES, backend: str = "numpy") -> sg.Function:
    """The network written with symgrad, differentiated and compiled in a fresh graph."""
    with sg.Graph():
        X = sg.matrix("X", ("n", sizes[0]))
        Y = sg.matrix("Y", ("n", sizes[-1]))
        params, a = [], X
        for i, (m, k) in enumerate(zip(sizes, sizes[1:]), start=1):
            W, b = sg.matrix(f"W{i}", (m, k)), sg.vector(f"b{i}", k)
            params += [W, b]
            a = sg.sigmoid(a @ W + b)
        cost = 0.5 * sg.sum((a - Y) ** 2) / X.shape[0]
        return sg.function([X, Y, *params], [cost, *sg.grad(cost, params)], backend=backend)


def _sigmoid_layer(a, W, b):
    """sigmoid(a @ W + b) = 1 / (1 + exp(-z)), every step in the matmul's buffer."""
    z = a @ W
    z += b
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    return np.reciprocal(z, out=z)


def numpy_step(X, Y, *params):
    """Hand-written backprop: delta_L = (a_L - Y)/n * a_L (1 - a_L), then layer by layer
    grad W = a_{l-1}^T delta_l, grad b = sum(delta_l), delta_{l-1} = (delta_l W^T) * a (1 - a).

    Each array is deleted once it is dead, so its memory serves the next allocation: fresh
    pages cost a page fault each, about a tenth of the run time here if all are kept."""
    n = X.shape[0]
    weights, biases = params[0::2], params[1::2]
    activations = [X]
    for W, b in zip(weights, biases):
        activations.append(_sigmoid_layer(activations[-1], W, b))
    a = activations.pop()
    delta = a - Y
    cost = 0.5 * np.vdot(delta, delta) / n
    delta *= 1.0 / n
    grads = []
    for W in reversed(weights):
        a *= 1.0 - a
        delta *= a
        del a
        a = activations.pop()
        grads[:0] = [a.T @ delta, delta.sum(axis=0)]
        if activations:  # no delta is needed for the input X
            delta = delta @ W.T
    return (cost, *grads)


def data(rng: np.random.Generator) -> list:
    X = rng.standard_normal((BATCH, SIZES[0]))
    Y = rng.uniform(0, 1, (BATCH, SIZES[-1]))
    params = []
    for m, k in zip(SIZES, SIZES[1:]):
        params += [rng.standard_normal((m, k)) / np.sqrt(m), 0.1 * rng.standard_normal(k)]
    return [X, Y, *params]


def main() -> None:
    print(H.environment())
    print(H.threads())
    builds = [H.timed(build_symgrad) for _ in range(5)]
    step = builds[0][0]
    first, best = builds[0][1], min(t for _, t in builds)
    print(f"mlp build + grad + compile: first {first:.3f} s, best of 5 {best:.3f} s "
          f"(target < 0.3 s: {'met' if first < 0.3 else 'MISSED'})")

    args = data(np.random.default_rng(0))
    ours, theirs = step(*args), numpy_step(*args)
    for name, a, b in zip(["cost", "W1", "b1", "W2", "b2", "W3", "b3"], ours, theirs):
        if not np.allclose(a, b, rtol=1e-10, atol=1e-14):
            raise SystemExit(f"mlp: symgrad and NumPy disagree on {name}")
    print("mlp: symgrad and hand-written NumPy agree on the cost and all six gradients")

    H.against_numpy("mlp", lambda: step(*args), lambda: numpy_step(*args), target=1.15)


if __name__ == "__main__":
    main()
