"""A 2-layer LSTM's loss and gradient per call: symgrad's scan against JAX's lax.scan.

Hidden size 128, input size 32, sequence length 100, batch 32; the loss is the mean squared
error of a linear read-out of the top layer at every step.  symgrad traces one step (both
layers) into a ``scan`` node; its gradient is one scan back.  It compares

- symgrad: ``sg.function(inputs, [loss, *sg.grad(loss, params)])`` with the sequence length
  a named dimension, on the numpy backend (a Python loop over the compiled step; the loop
  keeping the values the reverse pass reads, and with ``checkpoint=True`` recomputing them
  from the carries), on the numba backend (its fused regions in the step; the loop is
  Python's) and, when JAX is importable, on the jax backend (one ``lax.scan`` each way);
- JAX: ``jit(value_and_grad)`` of the same loss written with ``lax.scan`` (when importable),
  timed after a warm-up call.

It also times deriving and compiling symgrad's gradient (target: independent of the length
and under 0.5 s), and checks both give the same numbers.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/lstm.py
"""
from __future__ import annotations

import _harness as H  # first: pins the thread count before NumPy loads

import numpy as np

import symgrad as sg

T, BATCH, INPUT, HIDDEN, OUT = 100, 32, 32, 128, 8
SHAPES = {"Wx1": (INPUT, 4 * HIDDEN), "Wh1": (HIDDEN, 4 * HIDDEN), "b1": (4 * HIDDEN,),
          "Wx2": (HIDDEN, 4 * HIDDEN), "Wh2": (HIDDEN, 4 * HIDDEN), "b2": (4 * HIDDEN,),
          "V": (HIDDEN, OUT)}


def cell(x, h, c, Wx, Wh, b, sigmoid, tanh, split):
    """One LSTM cell: gates from the input and the previous state, new (h, c)."""
    z = x @ Wx + h @ Wh + b
    i, f, o, g = split(z)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    return tanh(c) * sigmoid(o), c


def step_fn(p, sigmoid, tanh, split):
    def step(state, inputs):
        (h1, c1, h2, c2), (x, y) = state, inputs
        h1, c1 = cell(x, h1, c1, p["Wx1"], p["Wh1"], p["b1"], sigmoid, tanh, split)
        h2, c2 = cell(h1, h2, c2, p["Wx2"], p["Wh2"], p["b2"], sigmoid, tanh, split)
        return (h1, c1, h2, c2), ((h2 @ p["V"] - y) ** 2).sum() / (BATCH * OUT)
    return step


def build(backend: str = "numpy", checkpoint: bool = False):
    with sg.Graph():
        p = {k: sg.symbol(k, s) for k, s in SHAPES.items()}
        xs, ys = sg.tensor("xs", ("T", BATCH, INPUT)), sg.tensor("ys", ("T", BATCH, OUT))
        zero = sg.fill((BATCH, HIDDEN), 0.0)
        split = lambda z: [z[:, k * HIDDEN:(k + 1) * HIDDEN] for k in range(4)]  # noqa: E731
        _, losses = sg.scan(step_fn(p, sg.sigmoid, sg.tanh, split), (zero,) * 4, (xs, ys),
                            checkpoint=checkpoint)
        loss = sg.sum(losses) / losses.shape[0]
        params = list(p.values())
        return sg.function(params + [xs, ys], [loss] + sg.grad(loss, params), backend)


def jax_function():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    split = lambda z: jnp.split(z, 4, axis=1)  # noqa: E731

    def loss(p, xs, ys):
        zero = jnp.zeros((BATCH, HIDDEN))
        _, losses = jax.lax.scan(step_fn(p, jax.nn.sigmoid, jnp.tanh, split), (zero,) * 4, (xs, ys))
        return losses.mean()
    f = jax.jit(jax.value_and_grad(loss))
    return lambda p, xs, ys: jax.block_until_ready(f(p, xs, ys))


def main():
    print(H.environment())
    print(H.threads())
    rng = np.random.default_rng(0)
    p = {k: rng.standard_normal(s) / np.sqrt(s[0]) for k, s in SHAPES.items()}
    xs, ys = rng.standard_normal((T, BATCH, INPUT)), rng.standard_normal((T, BATCH, OUT))
    fn, seconds = H.timed(build)
    ours = fn(*p.values(), xs, ys)
    recomputing = build(checkpoint=True)
    np.testing.assert_allclose(recomputing(*p.values(), xs, ys)[0], ours[0], rtol=1e-12)
    contenders = {"symgrad": lambda: fn(*p.values(), xs, ys),
                  "symgrad checkpoint": lambda: recomputing(*p.values(), xs, ys)}
    if "numba" in sg.backends.available():
        on_numba = build("numba")
        np.testing.assert_allclose(on_numba(*p.values(), xs, ys)[0], ours[0], rtol=1e-12)
        contenders["symgrad numba"] = lambda: on_numba(*p.values(), xs, ys)
    jax_fn = jax_function()
    if jax_fn is not None:
        import jax  # importable: jax_function found it
        on_jax = build("jax")
        np.testing.assert_allclose(on_jax(*p.values(), xs, ys)[0], ours[0], rtol=1e-10)
        contenders["symgrad jax"] = lambda: jax.block_until_ready(on_jax(*p.values(), xs, ys))
        value, grads = jax_fn(p, xs, ys)
        np.testing.assert_allclose(ours[0], value, rtol=1e-10)
        for k, g in zip(p, ours[1:]):
            np.testing.assert_allclose(g, grads[k], rtol=1e-8, atol=1e-12)
        contenders["jax"] = lambda: jax_fn(p, xs, ys)
    t = H.per_call(contenders, repeats=7)
    print(f"2-layer LSTM, hidden {HIDDEN}, length {T}, batch {BATCH}: loss + gradient per call "
          "(min; median)")
    H.report(t, "jax", 2)
    print(f"symgrad build + scan + grad + compile (any length): {H.ms(seconds)} (target < 500 ms)")


if __name__ == "__main__":
    main()
