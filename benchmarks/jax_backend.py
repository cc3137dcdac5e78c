"""The jax backend against JAX's own ``jax.jit(jax.value_and_grad(...))``, the numpy backend beside.

float64 (JAX's x64 mode on for its own functions), one CPU thread, interleaved timing.

(a) MLP 64-128-64-10 and 784-1024-1024-10 (sigmoid layers, cost ``0.5 * sum((a - Y)**2) / n``)
    at batch 64, 512, 4096 and 32,768: cost + gradients per call; target jax backend <= 1.05x
    JAX at every size.
(b) value + gradient of ``sum(tanh(x) * exp(-x**2/2) + log1p(x**2))`` over 10^6 entries;
    target <= 1.05x JAX.
(c) the 8th derivative of ``exp(sin x)/(1+x^2)``: symgrad's graph nodes against the equations
    of JAX's nested ``jax.grad``, derive + compile (first call included) and per call for the
    numpy and jax backends, JAX's jit of the nested grad and SymEngine's LLVM Lambdify;
    targets: the jax backend ahead of JAX in both, the numpy backend <= 4 µs per call and
    ahead of SymEngine.

    flock /tmp/scratch/bench.lock python benchmarks/jax_backend.py [--quick] [--gpu]

``--quick`` stops the MLP at batch 4,096 (the 784-1024-1024-10 network at 32,768 takes
about 10 s per call on one CPU).  ``--gpu`` (automatic where JAX sees a GPU) times the MLP at
batch 32,768 on the GPU against the CPU, for the jax backend and, where CuPy works, the cupy
backend against the numpy one; target >= 10x.
"""
from __future__ import annotations

import _harness as H  # first: pins the thread count before NumPy loads

import gc
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import symgrad as sg
from mlp import build_symgrad
from nth_derivative import symengine_nth

jax.config.update("jax_enable_x64", True)  # JAX's own functions in float64, as symgrad's
NETWORKS = ((64, 128, 64, 10), (784, 1024, 1024, 10))
BATCHES = (64, 512, 4096, 32768)
TARGET = 1.05


def verdict(ratio: float, target: float, above: bool = False) -> str:
    ok = ratio >= target if above else ratio <= target
    return f"{'met' if ok else 'MISSED'} ({ratio:.3f}{' >= ' if above else ' <= '}{target})"


# -- (a) the MLP -------------------------------------------------------------------------------
def jax_mlp_loss(params, X, Y):
    a = X
    for W, b in zip(params[0::2], params[1::2]):
        a = jax.nn.sigmoid(a @ W + b)
    return 0.5 * jnp.sum((a - Y) ** 2) / X.shape[0]


JAX_MLP = jax.jit(jax.value_and_grad(jax_mlp_loss))


def mlp_data(sizes: tuple, batch: int) -> list:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((batch, sizes[0])), rng.uniform(0, 1, (batch, sizes[-1]))]
    for m, k in zip(sizes, sizes[1:]):
        arrays += [rng.standard_normal((m, k)) / np.sqrt(m), 0.1 * rng.standard_normal(k)]
    return arrays


def mlp_contenders(sizes: tuple, batch: int, device=None) -> dict:
    """Zero-argument calls of the numpy backend, the jax backend and JAX on one batch
    (JAX arrays on ``device``), checked to agree."""
    arrays = mlp_data(sizes, batch)
    on = [jax.device_put(a, device) for a in arrays]
    numpy_fn, jax_fn = build_symgrad(sizes, "numpy"), build_symgrad(sizes, "jax")
    calls = {"numpy backend": lambda: numpy_fn(*arrays),
             "jax backend": lambda: jax.block_until_ready(jax_fn(*on)),
             "JAX jit": lambda: jax.block_until_ready(JAX_MLP(on[2:], on[0], on[1]))}
    reference = calls["numpy backend"]()
    value, grads = calls["JAX jit"]()
    for got in (calls["jax backend"](), (value, *grads)):
        for a, b in zip(got, reference):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-9, atol=1e-13)
    return calls


def mlp(quick: bool) -> None:
    print("\n(a) MLP cost + gradients per call, float64 (least of the repeats)")
    print(f"{'network':>17} {'batch':>6} {'numpy backend':>14} {'jax backend':>12} "
          f"{'JAX jit':>10} {'numpy/JAX':>10} {'jax/JAX':>8}  target jax/JAX <= {TARGET}")
    for sizes in NETWORKS:
        for batch in BATCHES:
            big = sizes[1] * batch >= 1024 * 4096
            if quick and batch > 4096:
                print(f"{'-'.join(map(str, sizes)):>17} {batch:>6}  (left out with --quick)")
                continue
            calls = mlp_contenders(sizes, batch)
            times = H.per_call(calls, repeats=3 if big else 11, budget=0.0 if big else 0.05)
            t = {name: least for name, (least, _) in times.items()}
            ratio = t["jax backend"] / t["JAX jit"]
            print(f"{'-'.join(map(str, sizes)):>17} {batch:>6} {H.ms(t['numpy backend']):>14} "
                  f"{H.ms(t['jax backend']):>12} {H.ms(t['JAX jit']):>10} "
                  f"{t['numpy backend'] / t['JAX jit']:>9.3f}x {ratio:>7.3f}x  "
                  f"{verdict(ratio, TARGET)}")


# -- (b) an elementwise function of 10^6 entries ------------------------------------------------
def elementwise() -> None:
    n = 10 ** 6
    with sg.Graph():
        x = sg.vector("x", "n")
        f = sg.sum(sg.tanh(x) * sg.exp(-x ** 2 / 2) + sg.log1p(x ** 2))
        numpy_fn = sg.function([x], [f, sg.grad(f, x)])
        jax_fn = sg.function([x], [f, sg.grad(f, x)], backend="jax")
    reference = jax.jit(jax.value_and_grad(
        lambda v: jnp.sum(jnp.tanh(v) * jnp.exp(-v ** 2 / 2) + jnp.log1p(v ** 2))))
    values = np.random.default_rng(0).standard_normal(n)
    on = jnp.asarray(values)
    calls = {"numpy backend": lambda: numpy_fn(values),
             "jax backend": lambda: jax.block_until_ready(jax_fn(on)),
             "JAX jit": lambda: jax.block_until_ready(reference(on))}
    want = calls["numpy backend"]()
    for got in (calls["jax backend"](), calls["JAX jit"]()):
        for a, b in zip(got, want):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10)
    t = {name: least for name, (least, _) in H.per_call(calls, repeats=11, budget=0.1).items()}
    ratio = t["jax backend"] / t["JAX jit"]
    print("\n(b) value + gradient of sum(tanh(x) * exp(-x**2/2) + log1p(x**2)), 10^6 entries")
    print(f"numpy backend {H.ms(t['numpy backend'])}, jax backend {H.ms(t['jax backend'])}, "
          f"JAX jit {H.ms(t['JAX jit'])}; numpy/JAX {t['numpy backend'] / t['JAX jit']:.3f}x, "
          f"jax/JAX {ratio:.3f}x: {verdict(ratio, TARGET)}")


# -- (c) the 8th derivative of exp(sin x)/(1+x^2) -----------------------------------------------
POINT = 0.7


def jaxpr_equations(jaxpr) -> int:
    """Equations of a jaxpr and of every jaxpr nested in its equations' parameters."""
    count, todo = 0, [jaxpr]
    while todo:
        j = todo.pop()
        count += len(j.eqns)
        for eqn in j.eqns:
            for p in eqn.params.values():
                for sub in p if isinstance(p, (list, tuple)) else [p]:
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        todo.append(inner)
    return count


def symgrad_nth(backend: str, n: int = 8):
    """(compiled n-th derivative, graph nodes, seconds to build + derive + compile + first call)."""
    start = time.perf_counter()
    with sg.Graph() as g:
        x = sg.scalar("x")
        d = sg.diff(sg.exp(sg.sin(x)) / (1 + x ** 2), x, n)
        fn = sg.function([x], d, backend=backend)
    arg = jnp.asarray(POINT) if backend == "jax" else POINT
    jax.block_until_ready(fn(arg))
    return (lambda: fn(arg)), len(g.ancestors([d.node])), time.perf_counter() - start


def jax_nth(n: int = 8):
    """(jitted nested grad, its jaxpr's equations, seconds to derive, trace, compile and
    make the first call)."""
    start = time.perf_counter()
    d = lambda v: jnp.exp(jnp.sin(v)) / (1 + v ** 2)  # noqa: E731
    for _ in range(n):
        d = jax.grad(d)
    fn = jax.jit(d)
    arg = jnp.asarray(POINT)
    jax.block_until_ready(fn(arg))
    seconds = time.perf_counter() - start
    return (lambda: fn(arg)), jaxpr_equations(jax.make_jaxpr(d)(POINT).jaxpr), seconds


def nth_derivative() -> None:
    """Each build from scratch (the function of the one before collected first, so the jax
    backend cannot reuse its jitted code), then one more of each to time calls."""
    makers = {"numpy backend": lambda: symgrad_nth("numpy"),
              "jax backend": lambda: symgrad_nth("jax"), "JAX jit": jax_nth}
    builds: dict = {name: [] for name in makers}
    for name, make in makers.items():
        for _ in range(3):
            gc.collect()
            builds[name].append(make()[1:])
    calls = {name: make()[0] for name, make in makers.items()}
    engine = symengine_nth(8)
    if engine is not None:
        calls["SymEngine LLVM"] = lambda: engine(POINT)
    values = {name: float(np.asarray(fn()).ravel()[0]) for name, fn in calls.items()}
    want = values["numpy backend"]
    assert all(abs(v - want) <= 1e-9 * abs(want) for v in values.values()), values
    t = {name: least for name, (least, _) in H.per_call(calls, repeats=11).items()}
    nodes, equations = builds["numpy backend"][0][0], builds["JAX jit"][0][0]
    print("\n(c) 8th derivative of exp(sin x)/(1+x^2) at 0.7")
    print(f"symgrad graph nodes {nodes}; JAX nested grad jaxpr equations {equations}")
    print(f"{'':>15} {'derive+compile (first, best of 3)':>34} {'per call':>10}")
    for name in calls:
        runs = builds.get(name)
        build = f"{H.ms(runs[0][1])}, {H.ms(min(r[1] for r in runs))}" if runs else "-"
        print(f"{name:>15} {build:>34} {t[name] * 1e6:>8.2f}us")
    best = {name: min(r[1] for r in runs) for name, runs in builds.items()}
    build, call = best["jax backend"] / best["JAX jit"], t["jax backend"] / t["JAX jit"]
    print(f"jax backend / JAX jit: derive+compile {build:.3f}x ({verdict(build, 1.0)}), "
          f"per call {call:.3f}x ({verdict(call, 1.0)})")
    us = t["numpy backend"] * 1e6
    print(f"numpy backend per call {us:.2f}us: {verdict(us, 4.0)} µs"
          + (f"; / SymEngine LLVM {t['numpy backend'] / t['SymEngine LLVM']:.3f}x "
             f"({verdict(t['numpy backend'] / t['SymEngine LLVM'], 1.0)})" if engine else ""))


# -- GPU against CPU ----------------------------------------------------------------------------
def gpu() -> None:
    """The MLP at batch 32,768 on the GPU against the CPU: the jax backend (and JAX) on each
    device, the cupy backend against the numpy one where CuPy works."""
    cpu, device = jax.devices("cpu")[0], jax.devices()[0]
    print(f"\nGPU: MLP cost + gradients at batch 32,768 on {device.device_kind} against one CPU")
    for sizes in NETWORKS:
        on_cpu = H.per_call(mlp_contenders(sizes, 32768, cpu), repeats=1, budget=0.0)
        calls = mlp_contenders(sizes, 32768, device)
        on_gpu = H.per_call({k: calls[k] for k in ("jax backend", "JAX jit")}, repeats=11,
                            budget=0.2)
        for name in ("jax backend", "JAX jit"):
            ratio = on_cpu[name][0] / on_gpu[name][0]
            print(f"{'-'.join(map(str, sizes)):>17} {name:>12}: CPU {H.ms(on_cpu[name][0])}, "
                  f"GPU {H.ms(on_gpu[name][0])}, speed-up {ratio:.1f}x "
                  f"{verdict(ratio, 10.0, True)}")
        if "cupy" in sg.backends.available():
            import cupy
            arrays = mlp_data(sizes, 32768)
            on = [cupy.asarray(a) for a in arrays]
            fn = build_symgrad(sizes, "cupy")
            t = H.per_call({"cupy": lambda: (fn(*on), cupy.cuda.Device().synchronize())},
                           repeats=11, budget=0.2)["cupy"][0]
            ratio = on_cpu["numpy backend"][0] / t
            print(f"{'-'.join(map(str, sizes)):>17} {'cupy':>12}: numpy backend (CPU) "
                  f"{H.ms(on_cpu['numpy backend'][0])}, cupy backend {H.ms(t)}, speed-up "
                  f"{ratio:.1f}x {verdict(ratio, 10.0, True)}")
        else:
            print(f"{'':>17} {'cupy':>12}: not available here ({sg.backends.available()})")


def main() -> None:
    print(H.environment())
    print(H.threads())
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    if "--gpu" in sys.argv or jax.devices()[0].platform == "gpu":
        gpu()
        if "--gpu" in sys.argv:
            return
    nth_derivative()
    elementwise()
    mlp(quick="--quick" in sys.argv)


if __name__ == "__main__":
    main()
