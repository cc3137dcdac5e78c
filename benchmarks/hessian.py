"""Compiled gradients and dense Hessians against hand-written NumPy (and JAX when importable).

1. The chained Rosenbrock function ``sum(100 (x[1:] - x[:-1]²)² + (1 - x[:-1])²)`` at
   n = 10, 100, 1000: per-call time of the compiled gradient and dense Hessian beside the
   hand-written ones, ratios (target: Hessian within 2x of NumPy at n = 1000), and the time
   to build, differentiate and compile (target: independent of n, under 0.5 s).  symgrad's
   Hessian keeps the identity seeds banded, so it costs O(n) work plus one n x n fill.
2. The logistic-regression Hessian ``Xᵀ diag(p(1-p)) X`` for X of shape 10000 x 50 against
   ``X.T @ (X * (p*(1-p))[:, None])`` (target: within 1.5x); forward over reverse with a
   50-wide batch of seeds, never a 10000 x 10000 matrix.

Run with one BLAS thread and OpenBLAS's defaults:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/hessian.py
"""
from __future__ import annotations

import _harness as H  # first: pins the thread count before NumPy loads

import numpy as np

import symgrad as sg

SIZES = (10, 100, 1000)


def rosenbrock(x):
    return sg.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def build_rosenbrock(n):
    """Gradient and Hessian functions of Rosenbrock, built and compiled in a fresh graph."""
    with sg.Graph():
        x = sg.vector("x", n)
        f = rosenbrock(x)
        return sg.function([x], sg.grad(f, x)), sg.function([x], sg.hessian(f, x))


def numpy_gradient(x):
    d = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400 * x[:-1] * d - 2 * (1 - x[:-1])
    g[1:] += 200 * d
    return g


def numpy_hessian(x):
    """The dense banded Hessian written out by hand: one zero fill, three diagonals."""
    n = len(x)
    h = np.zeros((n, n))
    diag = np.zeros(n)
    diag[:-1] = 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    diag[1:] += 200
    h.flat[::n + 1] = diag
    off = -400 * x[:-1]
    h.flat[1::n + 1] = off
    h.flat[n::n + 1] = off
    return h


def jax_functions():
    """``jit(grad)`` and ``jit(hessian)`` of Rosenbrock if JAX is importable, else None."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def f(x):
        return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    grad, hess = jax.jit(jax.grad(f)), jax.jit(jax.hessian(f))
    return (lambda x: grad(x).block_until_ready()), (lambda x: hess(x).block_until_ready())


def rosenbrock_table(rng):
    print("Rosenbrock: per call (min of interleaved repeats); ratio = symgrad / NumPy")
    jax_fns = jax_functions()
    print("JAX:", "jit(grad), jit(hessian) timed after a warm-up call" if jax_fns else
          "not importable, left out")
    (_, named_hess), named_build = H.timed(lambda: build_rosenbrock("n"))
    head = (f"{'n':>5} {'build+compile':>14} {'grad':>10} {'numpy grad':>11} {'ratio':>6} "
            f"{'hessian':>10} {'numpy hess':>11} {'ratio':>6}")
    print(head + (f" {'jax grad':>10} {'jax hess':>10}" if jax_fns else ""))
    for n in SIZES:
        (grad, hess), build = H.timed(lambda: build_rosenbrock(n))
        x = rng.uniform(-2, 2, n)
        np.testing.assert_allclose(grad(x), numpy_gradient(x), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(hess(x), numpy_hessian(x), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(named_hess(x), numpy_hessian(x), rtol=1e-12, atol=1e-9)
        fns = {"grad": lambda: grad(x), "numpy grad": lambda: numpy_gradient(x),
               "hess": lambda: hess(x), "numpy hess": lambda: numpy_hessian(x)}
        if jax_fns:
            for fn in jax_fns:
                fn(x)  # compile
            fns["jax grad"], fns["jax hess"] = (lambda: jax_fns[0](x)), (lambda: jax_fns[1](x))
        t = {k: v[0] for k, v in H.per_call(fns).items()}
        row = (f"{n:>5} {H.ms(build):>14} {t['grad'] * 1e6:>8.1f}us {t['numpy grad'] * 1e6:>9.1f}us "
               f"{t['grad'] / t['numpy grad']:>6.2f} {t['hess'] * 1e6:>8.1f}us "
               f"{t['numpy hess'] * 1e6:>9.1f}us {t['hess'] / t['numpy hess']:>6.2f}")
        if jax_fns:
            row += f" {t['jax grad'] * 1e6:>8.1f}us {t['jax hess'] * 1e6:>8.1f}us"
        print(row)
    print(f"build+compile with a named size 'n' (one function for every n): {H.ms(named_build)}")


def logistic_table(rng):
    m, k = 10_000, 50
    print(f"\nLogistic regression Hessian, X {m} x {k}: loss = sum(softplus(X w) - y * (X w))")
    with sg.Graph():
        X, w, y = sg.matrix("X", ("m", k)), sg.vector("w", k), sg.vector("y", "m")
        z = X @ w
        loss = sg.sum(sg.softplus(z) - y * z)
        hess, build = H.timed(lambda: sg.function([X, w, y], sg.hessian(loss, w)))
        g = X.g
        biggest = max((g[n]["shape"] for n in g.ancestors([o.node for o in hess.outputs])),
                      key=lambda s: sum(d == "m" for d in s))
    Xv, wv = rng.standard_normal((m, k)) / np.sqrt(k), rng.standard_normal(k)
    yv = (rng.uniform(size=m) < 0.5).astype(float)

    def numpy_logistic():
        p = 1 / (1 + np.exp(-(Xv @ wv)))
        return Xv.T @ (Xv * (p * (1 - p))[:, None])
    np.testing.assert_allclose(hess(Xv, wv, yv), numpy_logistic(), rtol=1e-10)
    t = {k_: v[0] for k_, v in H.per_call({"symgrad": lambda: hess(Xv, wv, yv),
                                            "numpy": numpy_logistic}).items()}
    print(f"symgrad {H.ms(t['symgrad'])}  numpy {H.ms(t['numpy'])}  "
          f"ratio {t['symgrad'] / t['numpy']:.2f}  (target <= 1.5)  build+compile {H.ms(build)}")
    print(f"largest shape in the Hessian's graph: {biggest} (m = {m}; no m x m array)")


def main():
    print(H.environment())
    print(H.threads())
    rng = np.random.default_rng(0)
    rosenbrock_table(rng)
    logistic_table(rng)


if __name__ == "__main__":
    main()
