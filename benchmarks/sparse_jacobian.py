"""Sparse Jacobians and Hessians of structured problems, colored, against dense ones, JAX
and CasADi SX.

1. The 2-D Brusselator reaction-diffusion right-hand side on an N x N periodic grid
   (N = 32, 64; 2N² states, A = 3.4, B = 1, α = 10/dx², dx = 1/N): colors, the time to read
   the pattern and color it, per call of ``sg.jacobian(F, x, sparse=True)`` against
   symgrad's dense Jacobian (target: at most 0.1x) and JAX's ``jit(jacfwd(F))`` (dense).
2. Moré–Garbow–Hillstrom problems at n = 10^4: the Jacobians of the extended Rosenbrock,
   extended Powell, Broyden tridiagonal and Broyden banded residuals, and the Hessian of the
   arrowhead function ``Σ (x_i² + x_n²)² - 4 x_i + 3``: pattern and coloring time, colors,
   per call against CasADi SX (``jacobian``/``hessian`` compiled to a ``Function``, its own
   sparse output).

All results are checked equal first; per call interleaved, least of the repeats.

    python benchmarks/sparse_jacobian.py [--quick]      # --quick: N = 32 only
"""
from __future__ import annotations

import sys
import time

import _harness as H  # first: pins the thread count before NumPy loads

import numpy as np
import scipy.sparse

import symgrad as sg

A, B = 3.4, 1.0


def brusselator(x, n: int, lib=sg):
    """dU/dt and dV/dt on the n x n periodic grid, U and V stacked in x (2n² entries)."""
    alpha = 10.0 * n * n
    u, v = lib.reshape(x[:n * n], (n, n)), lib.reshape(x[n * n:], (n, n))

    def laplacian(w):
        return (lib.roll(w, 1, 0) + lib.roll(w, -1, 0) + lib.roll(w, 1, 1) + lib.roll(w, -1, 1)
                - 4 * w)
    uuv = u * u * v
    du = B + uuv - (A + 1) * u + alpha * laplacian(u)
    dv = A * u - uuv + alpha * laplacian(v)
    return lib.concatenate([lib.reshape(du, (-1,)), lib.reshape(dv, (-1,))])


def timed(make):
    start = time.perf_counter()
    result = make()
    return result, time.perf_counter() - start


def brusselator_part(sizes) -> None:
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    print("1. 2-D Brusselator Jacobian, per call (least of the repeats, interleaved)")
    for n in sizes:
        m = 2 * n * n
        x0 = np.random.default_rng(0).uniform(0.5, 1.5, m)
        with sg.Graph():
            x = sg.vector("x", m)
            F = brusselator(x, n)
            (pattern, colors), seconds = timed(
                lambda: (sg.jacobian_sparsity(F, x), sg.jacobian_coloring(F, x)))
            sparse_fn, build = timed(lambda: sg.function([x], sg.jacobian(F, x, sparse=True)))
            dense_fn = sg.function([x], sg.jacobian(F, x))
        jax_fn = jax.jit(jax.jacfwd(lambda z: brusselator(z, n, jnp)))
        want = dense_fn(x0)
        assert abs(sparse_fn(x0).toarray() - want).max() <= 1e-9 * abs(want).max()
        assert abs(np.asarray(jax_fn(x0)) - want).max() <= 1e-9 * abs(want).max()
        times = H.per_call({"sparse": lambda: sparse_fn(x0), "dense": lambda: dense_fn(x0),
                            "JAX jacfwd": lambda: jax_fn(x0).block_until_ready()},
                           repeats=5, budget=0.05)
        ratio = times["sparse"][0] / times["dense"][0]
        print(f"  N = {n} ({m:,} states, {pattern.nnz:,} nonzeros): {colors.max() + 1} colors; "
              f"pattern + coloring {seconds:.3f} s, build + compile {build:.3f} s")
        print("    " + "   ".join(f"{name} {t * 1e3:9.3f} ms" for name, (t, _) in times.items()))
        print(f"    sparse / dense <= 0.1: {'met' if ratio <= 0.1 else 'MISSED'} ({ratio:.4f}); "
              f"sparse / JAX jacfwd {times['sparse'][0] / times['JAX jacfwd'][0]:.4f}")


# -- Moré, Garbow and Hillstrom's problems (residuals F, or a scalar f) --------------------
def extended_rosenbrock(x, lib=sg):
    odd, even = x[0::2], x[1::2]
    return lib.concatenate([10 * (even - odd ** 2), 1 - odd])


def extended_powell(x, lib=sg):
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    return lib.concatenate([a + 10 * b, 5 ** 0.5 * (c - d), (b - 2 * c) ** 2,
                            10 ** 0.5 * (a - d) ** 2])


def broyden_tridiagonal(x, lib=sg):
    padded = lib.concatenate([x[:1] * 0, x, x[:1] * 0])
    return (3 - 2 * x) * x - padded[:-2] - 2 * padded[2:] + 1


def broyden_banded(x, lib=sg, lower=5, upper=1):
    n = x.shape[0]
    t = x * (1 + x)
    zero = t[:1] * 0
    padded = lib.concatenate([zero] * lower + [t] + [zero] * upper)
    near = sum(padded[lower + k:lower + k + n] for k in range(-lower, upper + 1) if k)
    return x * (2 + 5 * x ** 2) + 1 - near


def arrowhead(x, lib=sg):
    return lib.sum((x[:-1] ** 2 + x[-1] ** 2) ** 2 - 4 * x[:-1] + 3)


PROBLEMS = {"extended Rosenbrock": (extended_rosenbrock, "jacobian"),
            "extended Powell": (extended_powell, "jacobian"),
            "Broyden tridiagonal": (broyden_tridiagonal, "jacobian"),
            "Broyden banded": (broyden_banded, "jacobian"),
            "arrowhead": (arrowhead, "hessian")}


class _CasadiLib:
    """What the problems call, on CasADi SX."""

    def __init__(self, ca):
        self.ca = ca

    def concatenate(self, parts):
        return self.ca.vertcat(*parts)

    def sum(self, v):
        return self.ca.sum1(v)


def mgh_part(n: int = 10_000) -> None:
    try:
        import casadi as ca
    except ImportError:
        ca = None
    print(f"2. Moré–Garbow–Hillstrom problems at n = {n:,}: per call (least of the repeats, "
          "interleaved)")
    x0 = np.random.default_rng(1).uniform(0.5, 1.5, n)
    for name, (problem, kind) in PROBLEMS.items():
        with sg.Graph():
            x = sg.vector("x", n)
            y = problem(x)
            if kind == "jacobian":
                (pattern, colors), seconds = timed(
                    lambda: (sg.jacobian_sparsity(y, x), sg.jacobian_coloring(y, x)))
                fn, build = timed(lambda: sg.function([x], sg.jacobian(y, x, sparse=True)))
            else:
                (pattern, colors), seconds = timed(
                    lambda: (sg.hessian_sparsity(y, x), sg.hessian_coloring(y, x)))
                fn, build = timed(lambda: sg.function([x], sg.hessian(y, x, sparse=True)))
        ours = fn(x0)
        calls = {"symgrad": lambda: fn(x0)}
        line = ""
        if ca is not None:
            z = ca.SX.sym("x", n)
            expr = problem(z, _CasadiLib(ca))
            derivative = ca.jacobian(expr, z) if kind == "jacobian" else ca.hessian(expr, z)[0]
            cfn, cbuild = timed(lambda: ca.Function("d", [z], [derivative]))
            theirs = scipy.sparse.csr_matrix(cfn(x0).sparse())
            assert abs(ours - theirs).max() <= 1e-9 * abs(theirs).max()
            calls["CasADi SX"] = lambda: cfn(x0)
            line = f"; CasADi build {cbuild:.3f} s"
        times = H.per_call(calls, repeats=7, budget=0.05)
        print(f"  {name:20} {kind}: {pattern.nnz:,} nonzeros, {colors.max() + 1} colors, "
              f"pattern + coloring {seconds:.3f} s, build + compile {build:.3f} s{line}")
        per = "   ".join(f"{k} {t * 1e6:9.1f} µs" for k, (t, _) in times.items())
        if "CasADi SX" in times:
            ratio = times["symgrad"][0] / times["CasADi SX"][0]
            per += f"   symgrad / CasADi {ratio:.2f} ({'met' if ratio < 1 else 'MISSED'} < 1)"
        print("    " + per)


def main() -> None:
    print(H.environment())
    brusselator_part((32,) if "--quick" in sys.argv else (32, 64))
    mgh_part()


if __name__ == "__main__":
    main()
