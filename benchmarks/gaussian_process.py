"""A Gaussian process's negative log marginal likelihood and its gradient wrt the kernel's
three hyperparameters, against hand-written NumPy/SciPy (cho_factor / cho_solve).

RBF kernel ``K = s_f² exp(-|xᵢ - xⱼ|² / (2 ℓ²)) + s_n² I`` on n = 500 points in 3-D,
hyperparameters as logarithms,
``nll = ½ yᵀ K⁻¹ y + ½ log det K + n/2 log 2π``.  symgrad writes it twice, with
``cholesky``/``solve_triangular`` and with ``slogdet``/``solve``; the hand version uses the
textbook gradient ``½ tr((K⁻¹ - α αᵀ) ∂K/∂θ)``.  Prints per-call times (interleaved), ratios
(target <= 1.2) and the time to derive and compile (target < 0.5 s).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/gaussian_process.py
"""
from __future__ import annotations

import math

import _harness as H  # first: pins the CPU and the thread count before NumPy loads

import numpy as np
import scipy.linalg

import symgrad as sg

N, DIM = 500, 3


def nll_expression(form: str):
    """``(inputs, nll, gradient wrt the log-hyperparameters)`` in the current graph."""
    X, y = sg.matrix("X", ("n", DIM)), sg.vector("y", "n")
    log_ell, log_sf, log_sn = sg.scalars("log_ell log_sf log_sn")
    sq = sg.sum(X * X, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2 * X @ X.T
    K = sg.exp(2 * log_sf - 0.5 * d2 * sg.exp(-2 * log_ell)) + sg.exp(2 * log_sn) * sg.eye("n")
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    if form == "cholesky":
        L = sg.linalg.cholesky(K)
        z = sg.linalg.solve_triangular(L, y, lower=True)
        nll = 0.5 * sg.sum(z * z) + sg.sum(sg.log(sg.linalg.diagonal(L))) + half_log_2pi * X.shape[0]
    else:
        nll = (0.5 * sg.sum(y * sg.linalg.solve(K, y)) + 0.5 * sg.linalg.slogdet(K)[1]
               + half_log_2pi * X.shape[0])
    theta = [log_ell, log_sf, log_sn]
    return [X, y, *theta], nll, sg.grad(nll, theta)


def build(form: str) -> sg.Function:
    with sg.Graph():
        inputs, nll, grads = nll_expression(form)
        return sg.function(inputs, [nll, *grads])


def numpy_nll(X, y, log_ell, log_sf, log_sn):
    """The same by hand: Cholesky once, α = K⁻¹y and K⁻¹ by cho_solve, the textbook gradient."""
    n = X.shape[0]
    sq = np.einsum("ij,ij->i", X, X)
    d2 = sq[:, None] + sq[None, :] - 2 * X @ X.T
    ell2, sf2, sn2 = math.exp(2 * log_ell), math.exp(2 * log_sf), math.exp(2 * log_sn)
    Kf = sf2 * np.exp(-0.5 / ell2 * d2)
    K = Kf.copy()
    K.flat[::n + 1] += sn2
    factor = scipy.linalg.cho_factor(K, lower=True)
    alpha = scipy.linalg.cho_solve(factor, y)
    nll = 0.5 * y @ alpha + np.sum(np.log(np.diag(factor[0]))) + 0.5 * n * math.log(2 * math.pi)
    W = scipy.linalg.cho_solve(factor, np.eye(n))
    W -= np.outer(alpha, alpha)
    g_ell = 0.5 * np.sum(W * Kf * d2) / ell2   # dK/dlog ell = Kf d2 / ell²
    g_sf = np.sum(W * Kf)                      # dK/dlog s_f = 2 Kf
    g_sn = sn2 * np.trace(W)                   # dK/dlog s_n = 2 s_n² I
    return nll, g_ell, g_sf, g_sn


def main() -> None:
    print(H.environment())
    print(H.threads())
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (N, DIM))
    y = np.sin(X).sum(axis=1) + 0.1 * rng.standard_normal(N)
    args = (X, y, math.log(1.3), math.log(0.9), math.log(0.2))
    expected = numpy_nll(*args)
    contenders = {"numpy/scipy": lambda: numpy_nll(*args)}
    for form in ("cholesky", "slogdet"):
        fn, seconds = H.timed(lambda: build(form))
        print(f"gp ({form}) derive + compile: {seconds:.3f} s (target < 0.5 s: "
              f"{'met' if seconds < 0.5 else 'MISSED'})")
        got = fn(*args)
        if not np.allclose(got, expected, rtol=1e-8):
            raise SystemExit(f"gp ({form}): symgrad {got} and NumPy {expected} disagree")
        contenders[f"symgrad {form}"] = lambda fn=fn: fn(*args)
    print(f"gp: symgrad (both forms) and NumPy/SciPy agree: nll {expected[0]:.6f}, "
          f"gradient {np.round(expected[1:], 6).tolist()}")
    times = H.per_call(contenders, repeats=11, budget=0.2)
    base = times["numpy/scipy"][0]
    for name, (best, median) in times.items():
        ratio = best / base
        target = "" if name == "numpy/scipy" else \
            f", ratio {ratio:.3f} (target <= 1.2: {'met' if ratio <= 1.2 else 'MISSED'})"
        print(f"gp per call {name:>17}: {H.ms(best)} (median {H.ms(median)}){target}")


if __name__ == "__main__":
    main()
