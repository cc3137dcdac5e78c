"""Matrix calculus: gradients and Hessians of classic functions printed as matrix formulas.

Each classic function is built with named sizes; its gradient and Hessian are printed with
``sg.latex(..., form="matrix")`` and the SymPy matrix expressions behind them are evaluated
back with NumPy (by the small evaluator below: SymPy's ``lambdify`` cannot print
``DiagMatrix``, ``HadamardPower`` or ``ElementwiseApplyFunction``) at random inputs, then
compared with the compiled derivative and with the textbook (Matrix Cookbook) formula written
in NumPy.  Hessians with respect to a matrix are the matrices of
``vec(dG) = H vec(dX)``, ``vec`` stacking columns.  The README's table must show exactly what
``sg.latex`` prints.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pytest
import sympy
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.matexpr import MatrixElement

import symgrad as sg

SIZES = {"m": 6, "n": 3, "k": 2}
LONG = 1000  # the README table shows formulas up to this many characters
README = Path(__file__).resolve().parent.parent / "README.md"


# -- a NumPy evaluator for SymPy matrix expressions ------------------------------------------
def evaluate(e, env: dict):
    """The value of the SymPy (matrix) expression ``e`` with NumPy; ``env`` maps names of
    symbols, matrix symbols and sizes to numbers and 2-d arrays (vectors are columns)."""
    ev = functools.partial(evaluate, env=env)
    size = lambda d: int(sympy.sympify(d).xreplace({s: env[s.name] for s in d.free_symbols}))  # noqa: E731
    kind = type(e).__name__
    if isinstance(e, sympy.MatrixSymbol):
        return env[e.name]
    if isinstance(e, sympy.Identity):
        return np.eye(size(e.rows))
    if isinstance(e, (sympy.OneMatrix, sympy.ZeroMatrix)):
        fill = np.ones if isinstance(e, sympy.OneMatrix) else np.zeros
        return fill((size(e.rows), size(e.cols)))
    if isinstance(e, sympy.Symbol):
        return env[e.name]
    if e.is_Number:
        return float(e)
    if isinstance(e, sympy.Transpose):
        return ev(e.arg).T
    if isinstance(e, sympy.Inverse):
        return np.linalg.inv(ev(e.arg))
    if isinstance(e, sympy.Determinant):
        return np.linalg.det(ev(e.arg))
    if isinstance(e, sympy.Trace):
        return np.trace(ev(e.arg))
    if isinstance(e, sympy.MatMul):
        return functools.reduce(
            lambda a, b: a @ b if np.ndim(a) == 2 and np.ndim(b) == 2 else a * b, map(ev, e.args))
    if isinstance(e, (sympy.MatAdd, sympy.Add)):
        return sum(map(ev, e.args))
    if isinstance(e, (sympy.Mul, sympy.HadamardProduct)):
        return functools.reduce(np.multiply, map(ev, e.args))
    if isinstance(e, (sympy.Pow, sympy.HadamardPower)):
        return ev(e.args[0]) ** ev(e.args[1])
    if isinstance(e, sympy.DiagMatrix):
        return np.diag(ev(e.args[0]).ravel())
    if isinstance(e, sympy.KroneckerProduct):
        return functools.reduce(np.kron, map(ev, e.args))
    if isinstance(e, ElementwiseApplyFunction):
        return sympy.lambdify(e.function.variables, e.function.expr, "numpy")(ev(e.expr))
    if isinstance(e, MatrixElement):
        return ev(e.parent)[int(e.i), int(e.j)]
    if kind == "Vec":
        return ev(e.args[0]).reshape(-1, 1, order="F")
    if kind == "Commutation":
        return commutation(size(e.args[0]), size(e.args[1]))
    if kind == "Extreme":
        reduce = {"Max": np.max, "Min": np.min}[e.args[0].name]
        axis = None if e.args[2] == -1 else int(e.args[2])
        return reduce(ev(e.args[1]), axis=axis, keepdims=True)
    if kind == "Softmax":
        z = ev(e.args[0])
        return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    if isinstance(e, sympy.Function):
        dummies = sympy.symbols(f"a0:{len(e.args)}")
        return sympy.lambdify(dummies, e.func(*dummies), "numpy")(*map(ev, e.args))
    raise NotImplementedError(f"evaluate: {kind} ({e})")


def commutation(m: int, n: int) -> np.ndarray:
    """``K`` with ``vec(Aᵀ) = K vec(A)`` for A of m x n (column-major vec)."""
    k = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            k[i * n + j, j * m + i] = 1
    return k


def vec(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, order="F")


def vec_hessian(h: np.ndarray, shape: tuple) -> np.ndarray:
    """A Hessian of shape ``shape + shape`` as the matrix of ``vec(dG) = H vec(dX)``."""
    size = int(np.prod(shape))
    axes = tuple(reversed(range(len(shape))))
    turned = h.transpose(axes + tuple(len(shape) + a for a in axes))
    return turned.reshape(size, size)


# -- the classic functions -------------------------------------------------------------------
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _quadratic():
    A, x = sg.matrix("A", ("n", "n")), sg.vector("x", "n")
    return x @ A @ x, x


def _least_squares():
    A, x, b = sg.matrix("A", ("m", "n")), sg.vector("x", "n"), sg.vector("b", "m")
    return sg.sum((A @ x - b) ** 2), x


def _sum_exp():
    A, x = sg.matrix("A", ("m", "n")), sg.vector("x", "n")
    return sg.sum(sg.exp(A @ x)), x


def _logistic():
    X, y, w = sg.matrix("X", ("m", "n")), sg.vector("y", "m"), sg.vector("w", "n")
    return sg.sum(sg.softplus(X @ w) - y * (X @ w)), w


def _x_sin():
    A, x = sg.matrix("A", ("n", "n")), sg.vector("x", "n")
    return x @ sg.sin(A @ x), x


def _norm():
    x = sg.vector("x", "n")
    return sg.sqrt(x @ x), x


def _log_det():
    X = sg.matrix("X", ("n", "n"))
    return sg.linalg.slogdet(X).logabsdet, X


def _trace_axb():
    A, X, B = sg.matrix("A", ("n", "n")), sg.matrix("X", ("n", "n")), sg.matrix("B", ("n", "n"))
    return sg.trace(A @ X @ B), X


def _trace_quadratic():
    A, X = sg.matrix("A", ("n", "n")), sg.matrix("X", ("n", "k"))
    return sg.trace(X.T @ A @ X), X


def _frobenius():
    X, W, Y = sg.matrix("X", ("m", "n")), sg.matrix("W", ("n", "k")), sg.matrix("Y", ("m", "k"))
    return sg.sum((X @ W - Y) ** 2), W


def _softmax_cross_entropy():
    X, W, Y = sg.matrix("X", ("m", "n")), sg.matrix("W", ("n", "k")), sg.matrix("Y", ("m", "k"))
    return -sg.sum(Y * sg.log(sg.softmax(X @ W, axis=1))), W


def _two_layer():
    X, Y = sg.matrix("X", ("m", "n")), sg.matrix("Y", ("m", "k"))
    W1, W2 = sg.matrix("W_1", ("n", "n")), sg.matrix("W_2", ("n", "k"))
    a1 = sg.name(sg.sigmoid(X @ W1), "a_1")
    a2 = sg.name(sg.sigmoid(a1 @ W2), "a_2")
    return 0.5 * sg.sum((a2 - Y) ** 2), W2


def _two_layer_hessian(v):
    a1 = sigmoid(v["X"] @ v["W_1"])
    a2 = sigmoid(a1 @ v["W_2"])
    s = (a2 * (1 - a2)) ** 2 + (a2 - v["Y"]) * a2 * (1 - a2) * (1 - 2 * a2)
    eye = np.eye(v["W_2"].shape[1])
    return np.kron(eye, a1.T) @ np.diag(vec(s)) @ np.kron(eye, a1)


# label, build, textbook gradient and Hessian (LaTeX, and in NumPy of the inputs' values)
CLASSICS = {
    "x^T A x": (_quadratic, r"(A + A^T) x", r"A + A^T",
                lambda v: (v["A"] + v["A"].T) @ v["x"], lambda v: v["A"] + v["A"].T),
    r"\lVert A x - b \rVert^2": (_least_squares, r"2 A^T (A x - b)", r"2 A^T A",
                       lambda v: 2 * v["A"].T @ (v["A"] @ v["x"] - v["b"]),
                       lambda v: 2 * v["A"].T @ v["A"]),
    r"\sum e^{A x}": (_sum_exp, r"A^T e^{A x}", r"A^T \operatorname{diag}(e^{A x}) A",
                      lambda v: v["A"].T @ np.exp(v["A"] @ v["x"]),
                      lambda v: v["A"].T @ np.diag(np.exp(v["A"] @ v["x"]).ravel()) @ v["A"]),
    r"\sum \log(1 + e^{X w}) - y^T X w": (
        _logistic, r"X^T (p - y), \; p = \sigma(X w)", r"X^T \operatorname{diag}(p \circ (1 - p)) X",
        lambda v: v["X"].T @ (sigmoid(v["X"] @ v["w"]) - v["y"]),
        lambda v: v["X"].T @ np.diag((sigmoid(v["X"] @ v["w"]) * (1 - sigmoid(v["X"] @ v["w"]))).ravel())
        @ v["X"]),
    r"x^T \sin(A x)": (
        _x_sin, r"\sin(A x) + A^T (x \circ \cos(A x))",
        r"D A + A^T D - A^T \operatorname{diag}(x \circ \sin(A x)) A, \; D = \operatorname{diag}(\cos(A x))",
        lambda v: np.sin(v["A"] @ v["x"]) + v["A"].T @ (v["x"] * np.cos(v["A"] @ v["x"])),
        lambda v: (np.diag(np.cos(v["A"] @ v["x"]).ravel()) @ v["A"]
                   + v["A"].T @ np.diag(np.cos(v["A"] @ v["x"]).ravel())
                   - v["A"].T @ np.diag((v["x"] * np.sin(v["A"] @ v["x"])).ravel()) @ v["A"])),
    r"\lVert x \rVert": (_norm, r"x / \lVert x \rVert", r"(I - x x^T / \lVert x \rVert^2) / \lVert x \rVert",
               lambda v: v["x"] / np.linalg.norm(v["x"]),
               lambda v: (np.eye(len(v["x"])) - v["x"] @ v["x"].T / np.sum(v["x"] ** 2))
               / np.linalg.norm(v["x"])),
    r"\log \lvert\det X\rvert": (
        _log_det, r"X^{-T}", r"-K (X^{-T} \otimes X^{-1})",
        lambda v: np.linalg.inv(v["X"]).T,
        lambda v: -commutation(3, 3) @ np.kron(np.linalg.inv(v["X"]).T, np.linalg.inv(v["X"]))),
    r"\operatorname{tr}(A X B)": (_trace_axb, r"A^T B^T", r"0", lambda v: v["A"].T @ v["B"].T,
                                  lambda v: np.zeros((9, 9))),
    r"\operatorname{tr}(X^T A X)": (
        _trace_quadratic, r"(A + A^T) X", r"I \otimes (A + A^T)",
        lambda v: (v["A"] + v["A"].T) @ v["X"], lambda v: np.kron(np.eye(2), v["A"] + v["A"].T)),
    r"\lVert X W - Y \rVert_F^2": (
        _frobenius, r"2 X^T (X W - Y)", r"2 I \otimes X^T X",
        lambda v: 2 * v["X"].T @ (v["X"] @ v["W"] - v["Y"]),
        lambda v: 2 * np.kron(np.eye(2), v["X"].T @ v["X"])),
    r"-\sum Y \circ \log \operatorname{softmax}(X W)": (
        _softmax_cross_entropy, r"X^T (P - Y), \; P = \operatorname{softmax}(X W)",
        r"\sum_i (\operatorname{diag}(p_i) - p_i p_i^T) \otimes x_i x_i^T",
        lambda v: v["X"].T @ (softmax_rows(v["X"] @ v["W"]) - v["Y"]),
        lambda v: sum(np.kron(np.diag(p) - np.outer(p, p), np.outer(x, x))
                      for p, x in zip(softmax_rows(v["X"] @ v["W"]), v["X"]))),
    r"\tfrac12 \lVert \sigma(\sigma(X W_1) W_2) - Y \rVert^2": (
        _two_layer, r"a_1^T ((a_2 - Y) \circ a_2 \circ (1 - a_2))",
        r"(I \otimes a_1^T) \operatorname{diag}(\operatorname{vec} S) (I \otimes a_1)",
        lambda v: (lambda a1: (lambda a2: a1.T @ ((a2 - v["Y"]) * a2 * (1 - a2)))(
            sigmoid(a1 @ v["W_2"])))(sigmoid(v["X"] @ v["W_1"])),
        _two_layer_hessian),
}


def _values(exprs, rng) -> dict:
    """Random values for the symbols the expressions use, vectors as columns; square
    matrices near the identity (invertible); rows of Y that sum to 1."""
    g = exprs[0].g
    values = {}
    for node in sorted(g.ancestors([e.node for e in exprs])):
        attrs = g[node]
        if attrs["op"] != "symbol":
            continue
        shape = tuple(SIZES.get(d, d) for d in attrs["shape"])
        value = rng.standard_normal(shape)
        if len(shape) == 2 and shape[0] == shape[1]:
            value = value * 0.3 + 2 * np.eye(shape[0])
        if attrs["name"] == "Y":
            value = np.abs(value) / np.abs(value).sum(axis=1, keepdims=True)
        values[attrs["name"]] = value.reshape(-1, 1) if value.ndim == 1 else value
    return values


def _compiled(f, wrt, derivative, values):
    symbols = sorted({n for n in f.g.ancestors([f.node]) if f.g[n]["op"] == "symbol"})
    inputs = [sg.Expr(f.g, n) for n in symbols]
    flat = [values[f.g[n]["name"]].reshape([SIZES.get(d, d) for d in f.g[n]["shape"]]) for n in symbols]
    return sg.function(inputs, derivative)(*flat)


@pytest.mark.parametrize("label", CLASSICS)
def test_printed_formulas_evaluate_to_the_textbook(label, rng):
    build, _, _, grad_textbook, hessian_textbook = CLASSICS[label]
    f, wrt = build()
    values = _values([f], rng)
    env = {**values, **SIZES}
    grad, hessian = sg.grad(f, wrt), sg.hessian(f, wrt)
    for derivative, textbook in ((grad, grad_textbook), (hessian, hessian_textbook)):
        expected = textbook(values)
        printed = evaluate(sg.to_sympy(derivative, form="matrix"), env)
        compiled = _compiled(f, wrt, derivative, values)
        if derivative is hessian and wrt.ndim == 2:
            compiled = vec_hessian(compiled, compiled.shape[:2])
        np.testing.assert_allclose(np.reshape(printed, expected.shape), expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.reshape(compiled, expected.shape), expected, rtol=1e-9, atol=1e-12)
        assert r"\sum" not in sg.latex(derivative, form="matrix")  # products, not entry sums


def readme_rows() -> list:
    """The README table's rows: the function, what symgrad prints, and the textbook form."""
    rows = []
    for label, (build, grad_textbook, hessian_textbook, _, _) in CLASSICS.items():
        f, wrt = build()
        printed = [sg.latex(d, form="matrix") for d in (sg.grad(f, wrt), sg.hessian(f, wrt))]
        printed = [p if len(p) <= LONG else rf"\text{{{len(p):,} characters: notebook 06}}"
                   for p in printed]
        rows.append(f"| ${label}$ | ${printed[0]}$ | ${printed[1]}$ "
                    f"| ${grad_textbook}$ | ${hessian_textbook}$ |")
    return rows


def test_readme_table_shows_what_symgrad_prints():
    text = README.read_text()
    for row in readme_rows():
        assert row in text, f"README's matrix-calculus table is out of date; the row is now\n{row}"


def test_the_quadratic_forms_hessian_compiles_to_one_line():
    """No identity matrix is built or multiplied: A + A.T, the transpose read in place."""
    A, x = sg.matrix("A", ("n", "n")), sg.vector("x", "n")
    source = sg.function([A, x], sg.hessian(x @ A @ x, x)).source
    body = [line.strip() for line in source.splitlines() if re.match(r"\s*t\d+ = ", line)]
    assert len(body) == 1 and re.fullmatch(r"t\d+ = a0 \+ a0\.T", body[0]), source


def test_jacobians_print_as_diagonal_matrices_and_evaluate_right(rng):
    """Jacobians of elementwise maps are diag(·); softmax's (shift by the max included) and
    the max reductions' formulas evaluate to the compiled values."""
    x, A = sg.vector("x", "n"), sg.matrix("A", ("m", "n"))
    assert sg.latex(sg.jacobian(sg.exp(x), x)) == r"\operatorname{diag}\left(e^{x}\right)"
    assert sg.latex(sg.jacobian(sg.tanh(A @ x), x)) == \
        r"\operatorname{diag}\left(- \tanh{\left(A x \right)}^{\circ {2}} + \mathbb{1}\right) A"
    assert sg.latex(sg.max(A, axis=1)) == r"\max_{\text{row}}\left(A\right)"
    values = {"x": rng.standard_normal((3, 1)), "A": rng.standard_normal((6, 3)), **SIZES}
    for e in (sg.jacobian(sg.softmax(x), x), sg.jacobian(sg.sigmoid(A @ x) * (A @ x), x),
              sg.max(A, axis=1), sg.min(A, axis=0), sg.max(A) * x):
        compiled = sg.function([x, A], e)(values["x"].ravel(), values["A"])
        printed = evaluate(sg.to_sympy(e, form="matrix"), values)
        np.testing.assert_allclose(np.reshape(printed, np.shape(compiled)), compiled, rtol=1e-12)
