"""The README's runnable examples, executed as they are written there."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = (Path(__file__).parent.parent / "README.md").read_text()


def block(heading: str, k: int = 0) -> str:
    """The ``k``-th Python code block of the README section ``heading``."""
    section = README.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)[k]


def test_defop_example(capsys):
    namespace: dict = {}
    exec(block("Your own ops"), namespace)  # noqa: S102 - our README
    sg = namespace["sg"]
    x, dy, d3 = namespace["x"], namespace["dy"], namespace["d3"]
    value = np.array([-1.0, 0.0, 0.5])
    np.testing.assert_allclose(dy.eval({x: value}), 2 / np.sqrt(np.pi) * np.exp(-value ** 2),
                               rtol=1e-14)
    s = [e for e in d3.g.nx.nodes if d3.g[e]["op"] == "symbol" and d3.g[e]["name"] == "s"]
    assert d3.ndim == 0 and s
    printed = capsys.readouterr().out
    assert "erf(s)" in printed and "f0(a0)" in printed and "my_erf" not in printed


def test_vectorize_example(rng):
    namespace: dict = {}
    exec("import symgrad as sg\n" + block("Batches: `sg.vectorize`"), namespace)  # noqa: S102
    sg, X, w = namespace["sg"], namespace["X"], namespace["w"]
    per_example = namespace["per_example"]
    assert per_example.dims == ("n", 3)
    xv, wv = rng.standard_normal((4, 3)), rng.standard_normal(3)
    z = np.tanh(xv @ wv)
    np.testing.assert_allclose(sg.function([X, w], per_example)(xv, wv),
                               (2 * z * (1 - z ** 2))[:, None] * xv, rtol=1e-13)


def test_gaussian_likelihood_formula(capsys, rng):
    """The README's derivative of a Gaussian likelihood: printed with the trace and the inverse,
    and equal to the closed form -½ yᵀK⁻¹AK⁻¹y + ½ tr(K⁻¹A) at a random point."""
    namespace: dict = {}
    exec(block("Formulas", 1), namespace)  # noqa: S102 - our README
    printed = capsys.readouterr().out
    assert r"\operatorname{tr}\left(K^{-1} A \right)" in printed and "y^{T} K^{-1} A K^{-1} y" in printed
    sg, A, y, s, nll = (namespace[k] for k in ("sg", "A", "y", "s", "nll"))
    a = rng.standard_normal((4, 4))
    a = a @ a.T
    yv, sv = rng.standard_normal(4), 0.7
    k_inv = np.linalg.inv(sv * a + np.eye(4))
    expected = -0.5 * yv @ k_inv @ a @ k_inv @ yv + 0.5 * np.trace(k_inv @ a)
    got = sg.function([A, y, s], sg.grad(nll, s))(a, yv, sv)
    assert got == pytest.approx(expected, rel=1e-12)


def test_coming_from_examples():
    """The four blocks of "Coming from JAX, PyTensor, SymPy or SciPy", run in order as a
    reader would, with their results checked by NumPy."""
    ns: dict = {}
    for k in range(4):
        exec(block("Coming from JAX, PyTensor, SymPy or SciPy", k), ns)  # noqa: S102 - our README
    X, Y = ns["X"], ns["Y"]
    p = 0.5  # the logistic model at w = 0, b = 0
    np.testing.assert_allclose(ns["grads"]["w"], X.T @ (p - Y) / len(Y), rtol=1e-12)
    assert ns["grads"]["b"] == pytest.approx(np.mean(p - Y), rel=1e-12)
    assert ns["value"] == pytest.approx(np.log(2), rel=1e-12)
    np.testing.assert_allclose(ns["per_example"]["w"], X * (p - Y)[:, None], rtol=1e-12)
    t = np.tanh(1.0)
    np.testing.assert_allclose(ns["hess"], 2 * (1 - t ** 2) * (1 - 3 * t ** 2) * np.eye(3), rtol=1e-12)
    w, b = ns["w"].get_value(), ns["b"].get_value()
    fitted = 1 / (1 + np.exp(-(X @ w) - b))
    np.testing.assert_array_equal(ns["predict"](X), fitted > 0.5)
    assert np.mean((fitted > 0.5) == Y) >= 0.75
    assert ns["H"].dims == (2, 2)
    np.testing.assert_allclose(ns["result"].x, np.ones(5), atol=1e-5)  # trust-exact's gtol


def test_backends_example(capsys):
    """The numba example prints the 8th derivative, SymPy's exact one."""
    pytest.importorskip("numba", reason="the numba backend needs numba: pip install -e '.[numba]'")
    namespace: dict = {}
    exec(block("Backends"), namespace)  # noqa: S102 - our README
    import sympy
    s = sympy.Symbol("s")
    exact = sympy.diff(sympy.exp(sympy.sin(s)) / (1 + s**2), s, 8).subs(s, sympy.Rational(1, 2))
    assert float(capsys.readouterr().out) == pytest.approx(float(exact), rel=1e-11)


def test_saving_example(capsys):
    namespace: dict = {}
    exec(block("Saving and sharing"), namespace)  # noqa: S102 - our README
    derivative, value = map(float, capsys.readouterr().out.split())
    assert derivative == pytest.approx(np.cos(0.5) * 0.5 + np.sin(0.5), rel=1e-14)
    assert value == pytest.approx(np.sin(0.5) * 0.5, rel=1e-14)


def test_newton_example(capsys):
    """The Brusselator's Newton solve reaches the homogeneous steady state u = 1, v = 3.4
    from a random start, with 12 colors for 2048 unknowns."""
    pytest.importorskip("scipy")
    namespace: dict = {}
    exec(block("Sparse Jacobians and Hessians"), namespace)  # noqa: S102 - our README
    z, n = namespace["z"], namespace["n"]
    np.testing.assert_allclose(z[:n * n], 1.0, rtol=1e-10)
    np.testing.assert_allclose(z[n * n:], 3.4, rtol=1e-10)
    assert capsys.readouterr().out.startswith("12 colors for 2048 unknowns")


def test_matrix_calculus_example(capsys):
    namespace: dict = {}
    exec(block("Matrix calculus"), namespace)  # noqa: S102 - our README
    printed = capsys.readouterr().out.splitlines()
    expected = [line.lstrip("# ") for line in block("Matrix calculus").splitlines()
                if line.startswith("# ")]
    assert printed == expected


def test_scan_example(rng):
    """The README's recurrent network: its loss and gradient against the loop in NumPy."""
    namespace: dict = {}
    exec(block("Loops: `sg.scan`"), namespace)  # noqa: S102 - our README
    f = namespace["f"]
    w, u, b = rng.standard_normal((8, 8)) / 3, rng.standard_normal((3, 8)), rng.standard_normal(8)
    h0, xs = rng.standard_normal(8), rng.standard_normal((5, 3))
    loss, gw, *_, hessian = f(w, u, b, h0, xs)
    h, total = h0, 0.0
    for x in xs:
        h = np.tanh(h @ w + x @ u + b)
        total += np.sum(h ** 2)
    assert loss == pytest.approx(total + h.sum(), rel=1e-12)
    assert gw.shape == (8, 8) and hessian.shape == (8, 8)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-10)
