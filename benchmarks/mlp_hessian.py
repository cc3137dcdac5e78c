"""The Hessian of a small network's loss with respect to its first weight matrix.

The network 10-20-5 (tanh hidden layer, linear output), loss ``½ ‖tanh(X W1 + b1) W2 + b2 - Y‖²``,
batch 256: the Hessian wrt ``W1`` is 200 x 200 (shape (10, 20, 10, 20)).  It compares

- symgrad: ``sg.function([X, Y, W1, b1, W2, b2], sg.hessian(loss, W1))``;
- JAX: ``jit(hessian)`` of the same loss (when importable), timed after a warm-up call;
- the hand-written formula: with ``H = tanh(X W1 + b1)``, ``S = 1 - H²``,
  ``R = H W2 + b2 - Y``, ``H[a j, b l] = Σₙ X[n,a] X[n,b] (S[n,j] (W2 W2ᵀ)[j,l] S[n,l]
  - 2 δⱼₗ (R W2ᵀ ∘ H ∘ S)[n,j])``, as two matrix products over the batch (see ``hand``).

Target (the matrix-calculus issue): symgrad within 2x of the hand formula.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/mlp_hessian.py
"""
from __future__ import annotations

import _harness as H  # first: pins the thread count before NumPy loads

import numpy as np

import symgrad as sg

N, D, HIDDEN, OUT = 256, 10, 20, 5


def loss(X, Y, W1, b1, W2, b2, tanh, total):
    return 0.5 * total((tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)


def build():
    with sg.Graph():
        X, Y = sg.matrix("X", ("n", D)), sg.matrix("Y", ("n", OUT))
        W1, b1 = sg.matrix("W1", (D, HIDDEN)), sg.vector("b1", HIDDEN)
        W2, b2 = sg.matrix("W2", (HIDDEN, OUT)), sg.vector("b2", OUT)
        cost = loss(X, Y, W1, b1, W2, b2, sg.tanh, sg.sum)
        return sg.function([X, Y, W1, b1, W2, b2], sg.hessian(cost, W1))


def hand(X, Y, W1, b1, W2, b2):
    """The Hessian, shape (10, 20, 10, 20): with ``P[n, ab] = X[n,a] X[n,b]`` and
    ``Q[n, jl] = S[n,j] S[n,l]``, the first term is ``(Pᵀ Q) ∘ (W2 W2ᵀ)`` and the second
    ``Pᵀ d`` on the diagonal ``j = l``, where ``d = -2 (R W2ᵀ) ∘ H ∘ S``."""
    h = np.tanh(X @ W1 + b1)
    s = 1 - h * h
    d = -2 * ((h @ W2 + b2 - Y) @ W2.T) * h * s
    p = (X[:, :, None] * X[:, None, :]).reshape(len(X), D * D)
    q = (s[:, :, None] * s[:, None, :]).reshape(len(X), HIDDEN * HIDDEN)
    first = (p.T @ q).reshape(D, D, HIDDEN, HIDDEN) * (W2 @ W2.T)
    j = np.arange(HIDDEN)
    first[:, :, j, j] += (p.T @ d).reshape(D, D, HIDDEN)
    return first.transpose(0, 2, 1, 3)


def jax_hessian():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    f = jax.jit(jax.hessian(lambda W1, X, Y, b1, W2, b2:
                            loss(X, Y, W1, b1, W2, b2, jnp.tanh, jnp.sum)))
    return lambda *a: f(a[2], a[0], a[1], *a[3:]).block_until_ready()


def main():
    print(H.environment())
    print(H.threads())
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((N, D)), rng.standard_normal((N, OUT)),
            rng.standard_normal((D, HIDDEN)) / np.sqrt(D), rng.standard_normal(HIDDEN) * 0.1,
            rng.standard_normal((HIDDEN, OUT)) / np.sqrt(HIDDEN), rng.standard_normal(OUT) * 0.1)
    fn, seconds = H.timed(build)
    expected = hand(*args)
    np.testing.assert_allclose(fn(*args), expected, rtol=1e-10, atol=1e-10)
    contenders = {"symgrad": lambda: fn(*args), "hand": lambda: hand(*args)}
    jax_fn = jax_hessian()
    if jax_fn is not None:
        np.testing.assert_allclose(jax_fn(*args), expected, rtol=1e-10, atol=1e-10)
        contenders["jax"] = lambda: jax_fn(*args)
    t = H.per_call(contenders)
    print(f"MLP {D}-{HIDDEN}-{OUT}, batch {N}: Hessian wrt W1 ({D * HIDDEN} x {D * HIDDEN}), "
          f"per call (min; median)")
    H.report(t, "hand")
    print(f"symgrad build + hessian + compile: {H.ms(seconds)}  (target: symgrad/hand <= 2)")


if __name__ == "__main__":
    main()
