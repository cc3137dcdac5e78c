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
