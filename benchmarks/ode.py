"""Sensitivities through an ODE integrator: RK4 over 1,000 steps of a 10-state system.

``dx/dt = tanh(A x + b) - 0.5 x``; the cost is ``½‖x(T)‖²`` after 1,000 RK4 steps of
``dt = 0.01``, differentiated wrt ``A``, ``b`` and ``x0``.  It compares

- symgrad with ``sg.fori_loop`` (one scan node; its gradient one scan back) on the numpy
  backend and, when JAX is importable, on the jax backend (``lax.scan``);
- the same on the numba backend (when importable): a step on small arrays of fixed shapes
  is written entry by entry into one tape, so the loop and its reverse each run as one
  compiled call of numba's tape interpreter;
- the same RK4 unrolled in Python into one graph (what symgrad did before loops): derive +
  compile time, and per call;
- JAX ``jit(value_and_grad)`` with ``lax.fori_loop`` (when importable).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/ode.py
"""
from __future__ import annotations

import _harness as H  # first: pins the thread count before NumPy loads

import numpy as np

import symgrad as sg

N, STEPS, DT = 10, 1000, 0.01


def rk4(f, x):
    k1 = f(x)
    k2 = f(x + 0.5 * DT * k1)
    k3 = f(x + 0.5 * DT * k2)
    k4 = f(x + DT * k3)
    return x + DT / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def build(unroll: bool, backend: str = "numpy"):
    with sg.Graph():
        A, b, x0 = sg.matrix("A", (N, N)), sg.vector("b", N), sg.vector("x0", N)
        f = lambda x: sg.tanh(A @ x + b) - 0.5 * x  # noqa: E731
        if unroll:
            x = x0
            for _ in range(STEPS):
                x = rk4(f, x)
        else:
            x = sg.fori_loop(0, STEPS, lambda i, x: rk4(f, x), x0)
        cost = 0.5 * sg.sum(x ** 2)
        return sg.function([A, b, x0], [cost] + sg.grad(cost, [A, b, x0]), backend)


def jax_function():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def cost(A, b, x0):
        f = lambda x: jnp.tanh(A @ x + b) - 0.5 * x  # noqa: E731
        x = jax.lax.fori_loop(0, STEPS, lambda i, x: rk4(f, x), x0)
        return 0.5 * jnp.sum(x ** 2)
    g = jax.jit(jax.value_and_grad(cost, argnums=(0, 1, 2)))
    return lambda *a: jax.block_until_ready(g(*a))


def main():
    print(H.environment())
    print(H.threads())
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((N, N)) / np.sqrt(N), rng.standard_normal(N), rng.standard_normal(N))
    looped, loop_build = H.timed(lambda: build(unroll=False))
    unrolled, unroll_build = H.timed(lambda: build(unroll=True))
    ours, theirs = looped(*args), unrolled(*args)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    contenders = {"scan": lambda: looped(*args), "unrolled": lambda: unrolled(*args)}
    if "numba" in sg.backends.available():
        def numba_ready():  # the first call writes the steps' tapes
            fn = build(unroll=False, backend="numba")
            return fn, fn(*args)
        (on_numba, first), numba_build = H.timed(numba_ready)
        for a, b in zip(first, ours):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        contenders["scan numba"] = lambda: on_numba(*args)
    jax_fn = jax_function()
    if jax_fn is not None:
        import jax  # importable: jax_function found it
        on_jax = build(unroll=False, backend="jax")
        np.testing.assert_allclose(on_jax(*args)[0], ours[0], rtol=1e-10)
        contenders["scan jax"] = lambda: jax.block_until_ready(on_jax(*args))
        value, grads = jax_fn(*args)
        np.testing.assert_allclose(ours[0], value, rtol=1e-10)
        contenders["jax"] = lambda: jax_fn(*args)
    t = H.per_call(contenders, repeats=7)
    print(f"RK4, {N} states, {STEPS} steps: cost + gradient wrt A, b, x0 per call (min; median)")
    H.report(t, "jax", 1)
    print(f"derive + compile: scan {H.ms(loop_build)}, unrolled {H.ms(unroll_build)}"
          + (f", scan on numba (with its first call) {H.ms(numba_build)}"
             if "numba" in sg.backends.available() else ""))


if __name__ == "__main__":
    main()
