"""What a call costs beyond its generated code: ``x * y`` and Rosenbrock's gradient and dense
Hessian at n = 10, against PyTensor, JAX and hand-written NumPy.

For each function it prints the per-call time of the compiled ``sg.function`` (argument
checks included), of its generated body called directly (no checks), their difference (the
call overhead; target: at most 1 µs), and the per-call times of the same function in
PyTensor (``pytensor.function``, its default C backend), JAX (``jax.jit``, result blocked
on) and hand-written NumPy (Python floats for ``x * y``), with ratios symgrad / peer.  Peers
that are not installed are left out.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/call_overhead.py
"""
from __future__ import annotations

import _harness as H  # first: pins the process to one CPU before NumPy or JAX loads

import numpy as np

import symgrad as sg
from hessian import numpy_gradient, numpy_hessian, rosenbrock

N = 10


def pytensor_functions():
    """``{case: compiled PyTensor function}`` or {} when PyTensor is not importable."""
    try:
        import pytensor
        import pytensor.tensor as pt
    except ImportError:
        return {}
    x, y = pt.dscalars("x", "y")
    v = pt.dvector("v")
    f = pt.sum(100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2)
    g = pt.grad(f, v)
    h = pytensor.gradient.hessian(f, v)
    return {"x * y": pytensor.function([x, y], x * y),
            "gradient": pytensor.function([v], g), "hessian": pytensor.function([v], h)}


def jax_functions():
    """``{case: jitted JAX function, blocked on}`` or {} when JAX is not importable."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}
    jax.config.update("jax_enable_x64", True)

    def f(v):
        return jnp.sum(100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2)
    mul, grad, hess = jax.jit(lambda x, y: x * y), jax.jit(jax.grad(f)), jax.jit(jax.hessian(f))
    return {"x * y": lambda x, y: mul(x, y).block_until_ready(),
            "gradient": lambda v: grad(v).block_until_ready(),
            "hessian": lambda v: hess(v).block_until_ready()}


def symgrad_functions():
    x, y = sg.scalars("x y")
    v = sg.vector("v", N)
    f = rosenbrock(v)
    return {"x * y": sg.function([x, y], x * y), "gradient": sg.function([v], sg.grad(f, v)),
            "hessian": sg.function([v], sg.hessian(f, v))}


def body(fn):
    """The generated code alone: the Python-float body where there is one, else NumPy's."""
    return fn._math or fn._fn


def main():
    print(H.environment())
    print(H.threads())
    rng = np.random.default_rng(0)
    point = rng.uniform(-1, 1, N)
    cases = {"x * y": ((2.0, 3.0), lambda a, b: a * b),
             "gradient": ((point,), numpy_gradient), "hessian": ((point,), numpy_hessian)}
    ours, pytensor, jax = symgrad_functions(), pytensor_functions(), jax_functions()
    print("per call, min of 21 interleaved repeats (µs); overhead = call - body (target <= 1 µs)")
    print(f"{'case':>9} {'sg call':>8} {'sg body':>8} {'overhead':>9} {'numpy':>7} "
          f"{'pytensor':>9} {'jax':>7}   ratios sg / numpy, pytensor, jax")
    for case, (args, by_hand) in cases.items():
        fn = ours[case]
        np.testing.assert_allclose(fn(*args), by_hand(*args), rtol=1e-12)
        contenders = {"call": lambda: fn(*args), "body": lambda: body(fn)(*args),
                      "numpy": lambda: by_hand(*args)}
        for name, peer in (("pytensor", pytensor), ("jax", jax)):
            if case in peer:
                np.testing.assert_allclose(np.asarray(peer[case](*args)), by_hand(*args),
                                           rtol=1e-12)
                contenders[name] = lambda p=peer[case]: p(*args)
        t = {name: m * 1e6 for name, (m, _) in H.per_call(contenders).items()}
        ratios = ", ".join(f"{t['call'] / t[name]:.2f}" if name in t else "-"
                           for name in ("numpy", "pytensor", "jax"))
        cells = " ".join(f"{t[name]:>{w}.2f}" if name in t else f"{'-':>{w}}"
                         for name, w in (("numpy", 7), ("pytensor", 9), ("jax", 7)))
        overhead = t["call"] - t["body"]
        print(f"{case:>9} {t['call']:>8.2f} {t['body']:>8.2f} {overhead:>9.2f} {cells}   {ratios}"
              f"   ({'met' if overhead <= 1 else 'MISSED'})")


if __name__ == "__main__":
    main()
