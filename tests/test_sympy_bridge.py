"""The SymPy bridge: derivatives against ``sympy.diff``, round trips through ``from_sympy``,
sharing (cse) on deep chains and exponential DAGs, the matrix form of a two-layer network's
gradient against the textbook formula, named intermediates, and errors.

Every elementwise op of the registry is checked, so a new op is checked here too.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.op import REGISTRY

ELEMENTWISE = sorted(n for n, op in REGISTRY.items()
                     if op.partials is not None and op.domain is not None and op.differentiable)
PARAMS = {"int_power": [{"n": 3}, {"n": -2}]}


def _sym(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


def _points(rng, domain, k: int = 5) -> np.ndarray:
    """Random points in ``domain`` kept 1e-2 away from 0 (the kinks of abs, relu...)."""
    values = rng.uniform(*domain, size=(k, 2))
    return np.where(np.abs(values) < 1e-2, 0.5, values)


def _value(expr: sympy.Expr, values: dict) -> float:
    return float(expr.xreplace({_sym(k): sympy.Float(v) for k, v in values.items()}).evalf())


def _check_derivative(f: sg.Expr, wrt: sg.Expr, points: list) -> None:
    """to_sympy(grad f) equals sympy.diff(to_sympy(f)): exactly (simplify to 0) when SymPy's
    derivative is smooth and ours has no float constant (2/sqrt(pi) as a float cannot cancel
    SymPy's exact one), else at the points (SymPy's Heaviside(0) = 1/2 is a convention)."""
    ours = sg.to_sympy(sg.grad(f, wrt))
    expected = sympy.diff(sg.to_sympy(f), _sym(wrt.name))
    if not expected.has(sympy.Heaviside) and not ours.has(sympy.Float):
        assert sympy.simplify(ours - expected) == 0, (ours, expected)
        return
    for values in points:
        assert _value(ours, values) == pytest.approx(_value(expected, values), rel=1e-12, abs=1e-12)


def _op_cases():
    for name in ELEMENTWISE:
        for params in PARAMS.get(name, [{}]):
            yield pytest.param(name, params, id=f"{name}{params or ''}")


@pytest.mark.parametrize("name, params", list(_op_cases()))
def test_every_elementwise_op_against_sympy(name, params, rng):
    op = REGISTRY[name]
    x, y = sg.scalars("x y")
    args = [x, y][:len(op.partials)]
    f = sg.apply(name, *args, **params)
    points = [dict(zip("xy", p)) for p in _points(rng, op.domain)]
    for w in args:
        _check_derivative(f, w, points)
    back = sg.from_sympy(sg.to_sympy(f), {"x": x, "y": y})
    for p in points:
        values = {s: p[s.name] for s in args}
        assert back.eval(values) == pytest.approx(f.eval(values), rel=1e-12, abs=1e-12)


FUNCTIONS = {  # name: (builder of f(x, y, z), domain)
    "circuit": (lambda x, y, z: (x + y) * z, (-3, 3)),
    "exp_sin_over": (lambda x, y, z: sg.exp(sg.sin(x)) / (1 + x ** 2), (-3, 3)),
    "rosenbrock": (lambda x, y, z: 100 * (y - x ** 2) ** 2 + (1 - x) ** 2, (-2, 2)),
    "sigmoid_log1p": (lambda x, y, z: sg.sigmoid(x * y) * sg.log1p(z ** 2), (-2, 2)),
    "sqrt_arctan": (lambda x, y, z: sg.sqrt(1 + x ** 2) * sg.arctan(y) - z / (1 + y * y), (-2, 2)),
    "tanh_softplus": (lambda x, y, z: sg.tanh(x - y) + sg.softplus(z) * x, (-2, 2)),
    "power": (lambda x, y, z: sg.power(x, y) + sg.log(z), (0.5, 2)),
    "where": (lambda x, y, z: sg.where(x > y, x * z, sg.cos(z)), (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_gradient_and_round_trip(name, rng):
    build, domain = FUNCTIONS[name]
    x, y, z = sg.scalars("x y z")
    f = build(x, y, z)
    points = [dict(zip("xyz", rng.uniform(*domain, size=3))) for _ in range(5)]
    for w in (x, y, z):
        _check_derivative(f, w, points)
    back = sg.from_sympy(sg.to_sympy(f), {"x": x, "y": y, "z": z})
    for p in points:
        values = {x: p["x"], y: p["y"], z: p["z"]}
        assert back.eval(values) == pytest.approx(f.eval(values), rel=1e-12)


def test_second_derivative_and_latex():
    x = sg.scalar("x")
    d2 = sg.diff(sg.exp(sg.sin(x)), x, 2)
    xs = _sym("x")
    closed = sympy.exp(sympy.sin(xs)) * (sympy.cos(xs) ** 2 - sympy.sin(xs))  # by hand
    assert sympy.simplify(sg.to_sympy(d2) - closed) == 0
    assert sg.latex(d2) == sympy.latex(sg.to_sympy(d2))
    assert r"e^{\sin{\left(x \right)}}" in sg.latex(d2)


def test_constants_print_as_exact_fractions():
    x = sg.scalar("x")
    assert sg.to_sympy(x / 2 + 0.25) == _sym("x") / 2 + sympy.Rational(1, 4)
    assert sg.to_sympy(x * np.pi) == _sym("x") * sympy.Float(np.pi)


def test_symbols_with_the_same_name_stay_apart():
    a, b = sg.scalar("x"), sg.scalar("x")
    expr = sg.to_sympy(a - b)
    assert expr != 0 and {s.name for s in expr.free_symbols} == {"x", "x_1"}


# -- sharing ------------------------------------------------------------------------------
def _substitute(replacements: list, expr, values: dict) -> float:
    """Evaluate a cse form ``(replacements, expr)`` at ``values`` one replacement at a time."""
    known = {_sym(k): sympy.Float(v, 30) for k, v in values.items()}
    for symbol, definition in replacements:
        known[symbol] = definition.xreplace(known).evalf(30)
    return float(expr.xreplace(known).evalf(30))


def test_cse_of_a_depth_200_chain_gradient():
    x = sg.scalar("x")
    f = x
    for _ in range(200):
        f = sg.sin(f) * x
    gx = sg.grad(f, x)
    replacements, expr = sg.to_sympy(gx, cse=True)
    assert len(replacements) < 2 * len(gx.g.ancestors([gx.node]))
    assert _substitute(replacements, expr, {"x": 0.9}) == pytest.approx(gx.eval({x: 0.9}), rel=1e-9)


def test_cse_keeps_an_exponential_tree_small():
    """f_{k+1} = sin(f_k) + cos(f_k): 2**40 leaves as a tree, 80 nodes as a graph."""
    x = sg.scalar("x")
    f = x
    for _ in range(40):
        f = sg.sin(f) + sg.cos(f)
    gx = sg.grad(f, x)
    replacements, expr = sg.to_sympy(gx, cse=True)
    assert len(replacements) < len(gx.g.ancestors([gx.node])) < 10 * 40
    expected = gx.eval({x: 0.3})
    assert _substitute(replacements, expr, {"x": 0.3}) == pytest.approx(expected, rel=1e-9)


def test_cse_of_a_high_derivative():
    x = sg.scalar("x")
    d = sg.diff(sg.exp(sg.sin(x)) / (1 + x ** 2), x, 10)
    replacements, expr = sg.to_sympy(d, cse=True)
    xs = _sym("x")
    exact = sympy.diff(sympy.exp(sympy.sin(xs)) / (1 + xs ** 2), xs, 10)
    assert _substitute(replacements, expr, {"x": 0.4}) == pytest.approx(
        float(exact.subs(xs, 0.4)), rel=1e-9)


# -- small tensors, entry by entry --------------------------------------------------------
def _entries(name: str, shape) -> sympy.Matrix:
    base = sympy.IndexedBase(name, real=True)
    return sympy.Matrix(*shape, lambda i, j: base[i, j])


def test_small_tensors_are_matrices_of_entries():
    A, B = sg.matrix("A", (2, 3)), sg.matrix("B", (3, 2))
    As, Bs = _entries("A", (2, 3)), _entries("B", (3, 2))
    assert sympy.expand(sg.to_sympy(A @ B) - As * Bs) == sympy.zeros(2, 2)
    assert sg.to_sympy(A.T) == As.T
    assert sg.to_sympy(sg.sum(A, axis=1)) == sympy.Array([sum(As.row(i)) for i in range(2)])
    # d/dA sum(A @ B) = 1 Bᵀ: entry (i, j) is the j-th row sum of B
    assert sg.to_sympy(sg.grad(sg.sum(A @ B), A)) == sympy.Matrix(
        2, 3, lambda i, j: sum(Bs.row(j)))


def test_from_sympy_of_a_matrix_shares_its_symbols():
    s = sympy.Symbol("s")
    m = sg.from_sympy(sympy.Matrix([[s, s ** 2], [1, sympy.sin(s)]]))
    (x,) = [sg.Expr(m.g, n) for n in m.g.ancestors([m.node]) if m.g[n]["op"] == "symbol"]
    np.testing.assert_allclose(m.eval({x: 0.5}), [[0.5, 0.25], [1.0, np.sin(0.5)]], rtol=1e-15)


def test_small_tensor_round_trip_and_max(rng):
    v = sg.vector("v", 3)
    f = sg.softmax(v) * sg.max(v)
    back = sg.from_sympy(sg.to_sympy(f), {"v": v})
    value = rng.normal(size=3)
    np.testing.assert_allclose(back.eval({v: value}), f.eval({v: value}), rtol=1e-12)
    by_hand = np.exp(value) / np.exp(value).sum() * value.max()
    np.testing.assert_allclose(back.eval({v: value}), by_hand, rtol=1e-12)


# -- matrix form ----------------------------------------------------------------------------
def _network():
    X, Y = sg.matrix("a0", ("n", 4)), sg.matrix("y", ("n", 3))
    W1, b1 = sg.matrix("W1", (4, 5)), sg.vector("b1", 5)
    W2, b2 = sg.matrix("W2", (5, 3)), sg.vector("b2", 3)
    a1 = sg.name(sg.sigmoid(sg.name(X @ W1 + b1, "z1")), "a1")
    a2 = sg.name(sg.sigmoid(sg.name(a1 @ W2 + b2, "z2")), "a2")
    C = 0.5 * sg.sum((a2 - Y) ** 2) / X.shape[0]
    return C, [X, Y, W1, b1, W2, b2]


def test_output_layer_gradient_is_the_textbook_formula():
    """∂C/∂W² = a¹ᵀ ((a² − y) ∘ a² ∘ (1 − a²)) / n, with σ' = σ(1 − σ)."""
    C, (X, Y, W1, b1, W2, b2) = _network()
    replacements, expr = sg.to_sympy(sg.grad(C, W2), cse=True, form="matrix")
    n = sympy.Symbol("n", integer=True, positive=True)
    a1, a2, y = (sympy.MatrixSymbol(name, n, k) for name, k in (("a1", 5), ("a2", 3), ("y", 3)))
    assert expr == a1.T * sympy.HadamardProduct(a2 - y, a2, sympy.OneMatrix(n, 3) - a2) / n
    assert [str(s) for s, _ in replacements] == ["z1", "a1", "z2", "a2"]
    text = sg.latex(sg.grad(C, W2))
    assert text.startswith(r"\frac{1}{n} a_{1}^{T}")
    assert r"z_{2} = a_{1} W_{2} + \mathbb{1} b_{2}^{T}" in text


def test_matrix_form_evaluates_like_hand_written_backprop(rng):
    C, (X, Y, W1, b1, W2, b2) = _network()
    values = {X: rng.normal(size=(6, 4)), Y: rng.uniform(size=(6, 3)), W1: rng.normal(size=(4, 5)),
              b1: rng.normal(size=5), W2: rng.normal(size=(5, 3)), b2: rng.normal(size=3)}
    n = sympy.Symbol("n", integer=True, positive=True)
    numeric = {}
    for s, v in values.items():
        table = v.reshape(-1, 1) if v.ndim == 1 else v
        shape = [6 if d == "n" else d for d in s.dims] + ([1] if v.ndim == 1 else [])
        numeric[sympy.MatrixSymbol(s.name, *shape)] = sympy.ImmutableMatrix(table)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    a1 = sigmoid(values[X] @ values[W1] + values[b1])
    a2 = sigmoid(a1 @ values[W2] + values[b2])
    delta2 = (a2 - values[Y]) * a2 * (1 - a2) / 6
    delta1 = delta2 @ values[W2].T * a1 * (1 - a1)
    by_hand = {W2: a1.T @ delta2, b2: delta2.sum(0), W1: values[X].T @ delta1, b1: delta1.sum(0)}
    for w, expected in by_hand.items():
        expr = sg.to_sympy(sg.grad(C, w), form="matrix").xreplace({n: 6})
        explicit = expr.xreplace(numeric).replace(  # 𝟙 as explicit ones, so doit multiplies out
            lambda e: isinstance(e, sympy.OneMatrix), lambda e: e.as_explicit()).doit()
        got = np.array(explicit.evalf().tolist(), dtype=float)
        np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-10)


def test_matrix_form_of_vectors_and_broadcasting():
    W, x, b = sg.matrix("W", (3, "k")), sg.vector("x", "k"), sg.vector("b", 3)
    k = sympy.Symbol("k", integer=True, positive=True)
    Ws, xs, bs = (sympy.MatrixSymbol(name, *shape) for name, shape in
                  (("W", (3, k)), ("x", (k, 1)), ("b", (3, 1))))
    assert sg.to_sympy(W @ x + b) == Ws * xs + bs
    assert sg.to_sympy(x @ W.T) == Ws * xs
    assert sg.to_sympy(sg.outer(b, x)) == bs * xs.T
    X = sg.matrix("X", ("n", 3))
    n = sympy.Symbol("n", integer=True, positive=True)
    assert sg.to_sympy(X + b) == sympy.MatrixSymbol("X", n, 3) + sympy.OneMatrix(n, 1) * bs.T


# -- named intermediates ------------------------------------------------------------------
def test_name_is_invisible_to_values_and_gradients(rng):
    x = sg.vector("x", 4)
    h = sg.name(sg.tanh(x), "h")
    assert h.name == "h" and h.dims == x.dims
    f = sg.sum(h * h)
    value = rng.normal(size=4)
    by_hand = 2 * np.tanh(value) * (1 - np.tanh(value) ** 2)  # d/dx tanh(x)²
    np.testing.assert_allclose(sg.grad(f, x).eval({x: value}), by_hand, rtol=1e-12)
    direction = rng.normal(size=4)
    assert sg.jvp(f, x, direction).eval({x: value}) == pytest.approx(by_hand @ direction)
    with pytest.raises(sg.SymgradError, match="identifier"):
        sg.name(x, "not a name")


def test_named_scalar_prints_by_name_with_its_definition():
    x = sg.scalar("x")
    u = sg.name(x ** 2 + 1, "u")
    replacements, expr = sg.to_sympy(sg.grad(sg.log(u), x), cse=True)
    assert replacements == [(_sym("u"), _sym("x") ** 2 + 1)]
    assert sympy.simplify(expr - 2 * _sym("x") / _sym("u")) == 0
    assert sg.to_sympy(sg.log(u)) == sympy.log(_sym("x") ** 2 + 1)  # cse=False inlines names


# -- from SymPy -----------------------------------------------------------------------------
def test_from_sympy_is_differentiable_and_compilable():
    s = sympy.Symbol("s")
    f = sg.from_sympy(sympy.exp(-s ** 2) * sympy.cos(s))
    x = _symbol_of(f)
    assert x.name == "s"
    df = sympy.diff(sympy.exp(-s ** 2) * sympy.cos(s), s)
    assert sg.function([x], sg.grad(f, x))(0.7) == pytest.approx(float(df.subs(s, 0.7)), rel=1e-12)


def test_from_sympy_maps_constants_piecewise_and_relations():
    t = sympy.Symbol("t")
    x = sg.scalar("t")
    expr = sympy.Piecewise((sympy.pi * t, t > 1), (sympy.Rational(1, 3), t <= 0), (sympy.E, True))
    f = sg.from_sympy(expr, {t: x})
    for v, expected in ((2.0, np.pi * 2), (-1.0, 1 / 3), (0.5, np.e)):
        assert f.eval({x: v}) == expected
    g = sg.from_sympy(sympy.Max(t, 1, -t) + abs(t) + t ** -3, {"t": x})
    assert g.eval({x: -2.0}) == 2.0 + 2.0 - 1 / 8


def test_from_sympy_rejects_functions_without_an_op():
    s = sympy.Symbol("s")
    with pytest.raises(sg.SymgradError, match="besselj"):
        sg.from_sympy(sympy.besselj(0, s) + s)
    with pytest.raises(sg.SymgradError, match="ImaginaryUnit"):
        sg.from_sympy(sympy.I * s)


def test_from_sympy_walks_deep_expressions_without_recursion():
    s = sympy.Symbol("s")
    expr = s
    for _ in range(3000):
        expr = sympy.sin(expr, evaluate=False)  # SymPy's own evaluation would recurse
    f = sg.from_sympy(expr, {"s": sg.scalar("s")})
    value = 0.5
    for _ in range(3000):
        value = np.sin(value)
    assert f.eval({_symbol_of(f): 0.5}) == pytest.approx(value)


def _symbol_of(f: sg.Expr) -> sg.Expr:
    (node,) = [n for n in f.g.ancestors([f.node]) if f.g[n]["op"] == "symbol"]
    return sg.Expr(f.g, node)


# -- simplify with SymPy ----------------------------------------------------------------------
def test_simplify_with_sympy():
    x, y = sg.scalars("x y")
    one = sg.simplify(sg.sin(x) ** 2 + sg.cos(x) ** 2, sympy=True)
    assert one.op == "constant" and one.eval() == 1.0
    g = sg.simplify(sg.grad(sg.exp(x) * sg.exp(y), x) / sg.exp(x + y), sympy=True)
    assert sg.to_sympy(g) == 1
    v = sg.vector("v", "n")
    assert sg.simplify(v * 1, sympy=True) == v  # named dimensions: the graph rewrites only
    w = sg.vector("w", 2)
    entries = sg.simplify(sg.stack([sg.sin(w[0]) ** 2 + sg.cos(w[0]) ** 2, w[1] * x / x]),
                          sympy=True)
    assert sg.to_sympy(entries) == sympy.Array([1, sympy.IndexedBase("w", real=True)[1]])


# -- errors -----------------------------------------------------------------------------------
def test_errors_name_the_problem():
    T = sg.tensor("T", (2, 2, 2))
    with pytest.raises(sg.UnsupportedError, match=r"\(2, 2, 2\)"):
        sg.to_sympy(sg.sum(T, axis=0) @ sg.matrix("M", ("n", 2)).T, form="matrix")
    with pytest.raises(sg.UnsupportedError, match="named dimensions"):
        sg.to_sympy(sg.vector("v", "n"), form="elements")
    with pytest.raises(sg.SymgradError, match="form must be one of"):
        sg.to_sympy(T, form="tree")
    with pytest.raises(sg.SymgradError, match="symgrad expressions"):
        sg.to_sympy(3.0)


def test_hessians_print_with_diagonal_matrices(rng):
    """A column spread across a matrix's columns and multiplied entrywise is a diagonal
    matrix times it: Σ exp(Ax) has the Hessian Aᵀ diag(e^{Ax}) A, the logistic loss
    Xᵀ diag(p ∘ (1 - p)) X; the formula evaluates to the compiled Hessian."""
    A, x = sg.matrix("A", ("m", "n")), sg.vector("x", "n")
    assert sg.latex(sg.hessian(sg.sum(sg.exp(A @ x)), x)) == \
        r"A^{T} \operatorname{diag}\left(e^{A x}\right) A"
    X, y, w = sg.matrix("X", ("m", "n")), sg.vector("y", "m"), sg.vector("w", "n")
    text = sg.latex(sg.hessian(sg.sum(sg.softplus(X @ w) - y * (X @ w)), w))
    assert text == (r"X^{T} \operatorname{diag}\left(\left(- \sigma{\left(X w \right)} + \mathbb{1}"
                    r"\right) \circ \sigma{\left(X w \right)}\right) X")
    a, v = sg.matrix("A", (3, 2)), sg.vector("x", 2)
    hessian = sg.hessian(sg.sum(sg.exp(a @ v)), v)
    formula = sg.to_sympy(hessian, form="matrix")
    av, xv = rng.standard_normal((3, 2)), rng.standard_normal(2)
    values = {sympy.MatrixSymbol("A", 3, 2): sympy.Matrix(av),
              sympy.MatrixSymbol("x", 2, 1): sympy.Matrix(xv)}
    got = np.array(formula.subs(values).doit().as_explicit(), float)
    np.testing.assert_allclose(got, sg.function([a, v], hessian)(av, xv), rtol=1e-12)


def test_sigmoid_prints_as_sigma():
    """1/(1 + e^{-u}) prints σ(u) (SymPy keeps its exponential form for everything else)."""
    s = sg.scalar("s")
    assert sg.latex(sg.sigmoid(s)) == r"\sigma{\left(s \right)}"
    assert sg.latex(sg.diff(sg.sigmoid(s), s)) == \
        r"\left(1 - \sigma{\left(s \right)}\right) \sigma{\left(s \right)}"
    assert sg.to_sympy(sg.sigmoid(s)) == 1 / (1 + sympy.exp(-sympy.Symbol("s", real=True)))


def test_symbols_given_as_strings_are_refused_not_parsed():
    """to_sympy's ``symbols`` takes SymPy values; a string is an error, never evaluated."""
    x = sg.scalar("x")
    for text in ["__import__('os').getcwd()", ("__import__('os').getcwd()",),
                 {"k": "__import__('os').getcwd()"}, np.array("x + 1")]:
        with pytest.raises(sg.SymgradError, match="give a SymPy expression"):
            sg.to_sympy(sg.sin(x), symbols={x: text})
