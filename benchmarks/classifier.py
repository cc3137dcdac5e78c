"""A softmax classifier with integer labels: loss and gradient against hand-written NumPy.

784 features, 10 classes, batch 512 (a named dimension ``n``), float64, one thread:
``loss = -mean(take_along_axis(log_softmax(X W + b), y[:, None], 1))`` with ``y`` an integer
symbol.  Prints the per-call times of symgrad and of hand-written NumPy (interleaved), their
ratio (target <= 1.1), the time to build, differentiate and compile, and checks the Hessian-
vector product against central differences of the gradient.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/classifier.py
"""
from __future__ import annotations

import _harness as H  # first: pins the CPU and the thread count before NumPy loads

import numpy as np

import symgrad as sg

FEATURES, CLASSES, BATCH = 784, 10, 512


def build() -> tuple:
    """``(loss and gradient function, Hessian-vector product function)`` in a fresh graph."""
    with sg.Graph():
        X, y = sg.matrix("X", ("n", FEATURES)), sg.vector("y", "n", dtype="int64")
        W, b = sg.matrix("W", (FEATURES, CLASSES)), sg.vector("b", CLASSES)
        logp = sg.log_softmax(X @ W + b, axis=1)
        loss = -sg.mean(sg.take_along_axis(logp, y[:, None], axis=1))
        grads = sg.grad(loss, [W, b])
        VW, vb = sg.matrix("VW", (FEATURES, CLASSES)), sg.vector("vb", CLASSES)
        hvp = sg.hvp(loss, [W, b], [VW, vb])
        return (sg.function([X, y, W, b], [loss, *grads]),
                sg.function([X, y, W, b, VW, vb], hvp))


def numpy_step(X, y, W, b):
    """Softmax cross-entropy by hand: p = softmax(XW + b), loss = -mean(log p[i, y_i]),
    dZ = (p - onehot(y)) / n, dW = Xᵀ dZ, db = sum(dZ)."""
    n = X.shape[0]
    Z = X @ W
    Z += b
    Z -= Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    total = Z.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = -np.mean(np.log(Z[rows, y] / total[:, 0]))
    Z /= total
    Z[rows, y] -= 1.0
    Z *= 1.0 / n
    return loss, X.T @ Z, Z.sum(axis=0)


def main() -> None:
    print(H.environment())
    print(H.threads())
    (step, hvp), seconds = H.timed(build)
    print(f"classifier build + grad + hvp + compile: {seconds:.3f} s")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, FEATURES))
    y = rng.integers(0, CLASSES, BATCH)
    W = rng.standard_normal((FEATURES, CLASSES)) / np.sqrt(FEATURES)
    b = 0.1 * rng.standard_normal(CLASSES)
    for name, a, e in zip(["loss", "dW", "db"], step(X, y, W, b), numpy_step(X, y, W, b)):
        if not np.allclose(a, e, rtol=1e-10, atol=1e-14):
            raise SystemExit(f"classifier: symgrad and NumPy disagree on {name}")
    print("classifier: symgrad and hand-written NumPy agree on the loss and both gradients")

    VW, vb = rng.standard_normal((FEATURES, CLASSES)), rng.standard_normal(CLASSES)
    eps = 1e-6
    up, down = step(X, y, W + eps * VW, b + eps * vb), step(X, y, W - eps * VW, b - eps * vb)
    numeric = [(u - d) / (2 * eps) for u, d in zip(up[1:], down[1:])]
    exact = hvp(X, y, W, b, VW, vb)
    error = max(float(np.max(np.abs(e - n)) / max(1.0, np.max(np.abs(n))))
                for e, n in zip(exact, numeric))
    print(f"classifier Hessian-vector product against central differences of the gradient: "
          f"largest relative error {error:.2e} ({'correct' if error < 1e-6 else 'WRONG'})")

    H.against_numpy("classifier", lambda: step(X, y, W, b), lambda: numpy_step(X, y, W, b),
                    target=1.1)


if __name__ == "__main__":
    main()
