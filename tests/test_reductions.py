"""min, prod, cumsum, cumprod, var, std, any, all, argmax and argmin: values against NumPy
over shapes, axes and keepdims, derivatives against finite differences, the conventions at
ties, zeros and zero spread against closed forms, named dimensions and error messages.
(The primitives' rules and batching are also checked from their samples in test_ops.py.)"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import symgrad as sg
from symgrad.ops.reduce import (all as all_, any as any_, argmax, argmin, cumprod, cumsum,
                                min as min_, prod, std, var)

from conftest import check_grads

AXES = [((2, 3, 4), None, False), ((2, 3, 4), 1, False), ((2, 3, 4), (0, 2), True),
        ((2, 3, 4), -1, True), ((2, 3, 4), (-1, 0), False), ((3,), 0, True), ((3,), None, True),
        ((2, 3), None, False), ((), None, False)]

DIFFERENTIABLE = {"min": (min_, np.min), "prod": (prod, np.prod), "var": (var, np.var),
                  "std": (std, np.std),
                  "var_ddof": (lambda x, axis, keepdims: var(x, axis, ddof=1, keepdims=keepdims),
                               lambda v, axis, keepdims: np.var(v, axis, ddof=1,
                                                                keepdims=keepdims))}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's var with ddof=1 of one entry
@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
@pytest.mark.parametrize("shape, axis, keepdims", AXES)
def test_reductions_against_numpy(name, shape, axis, keepdims, rng):
    """Values as NumPy's; first and second derivatives by finite differences."""
    fn, np_fn = DIFFERENTIABLE[name]
    x = sg.tensor("x", shape)
    value = rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)
    out = fn(x, axis=axis, keepdims=keepdims)
    expected = np_fn(value, axis=axis, keepdims=keepdims)
    got = out.eval({x: value})
    assert out.dims == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    if name != "var_ddof" or np.size(value) > np.size(expected):  # ddof=1 of one entry: 0/0
        check_grads(out, x, {x: value})


CUMULATIVE = {"cumsum": (cumsum, np.cumsum), "cumprod": (cumprod, np.cumprod)}


@pytest.mark.parametrize("name", sorted(CUMULATIVE))
@pytest.mark.parametrize("shape, axis", [((2, 3, 4), 1), ((2, 3, 4), -1), ((2, 3, 4), 0),
                                         ((2, 3), None), ((4,), 0), ((), None), ((3, 1), 1)])
def test_cumulative_against_numpy(name, shape, axis, rng):
    fn, np_fn = CUMULATIVE[name]
    x = sg.tensor("x", shape)
    value = rng.uniform(-2, 2, shape)
    out = fn(x, axis)
    np.testing.assert_allclose(out.eval({x: value}), np_fn(value, axis), rtol=1e-13)
    check_grads(out, x, {x: value})


LOGICAL = {"any": (any_, np.any), "all": (all_, np.all)}


@pytest.mark.parametrize("name", sorted(LOGICAL))
@pytest.mark.parametrize("shape, axis, keepdims", AXES)
def test_any_all(name, shape, axis, keepdims, rng):
    """Booleans as NumPy's, on floats (nonzero is true) and on booleans."""
    fn, np_fn = LOGICAL[name]
    x = sg.tensor("x", shape)
    value = rng.integers(0, 2, shape).astype(float)
    for arg, v in ((x, value), (x > 0.5, value > 0.5)):
        out = fn(arg, axis, keepdims)
        assert out.dtype == bool
        np.testing.assert_array_equal(out.eval({x: value}), np_fn(v, axis=axis, keepdims=keepdims))


ARG = {"argmax": (argmax, np.argmax), "argmin": (argmin, np.argmin)}


@pytest.mark.parametrize("name", sorted(ARG))
@pytest.mark.parametrize("shape, axis, keepdims", [((2, 3, 4), 1, False), ((2, 3, 4), -1, True),
                                                   ((2, 3, 4), None, False), ((2, 3), None, True),
                                                   ((3,), 0, False), ((), None, False)])
def test_argmax_argmin(name, shape, axis, keepdims, rng):
    """int64 indices as NumPy's (None: into the flattened array; ties: the first)."""
    fn, np_fn = ARG[name]
    x = sg.tensor("x", shape)
    value = rng.integers(0, 3, shape).astype(float)  # ties
    out = fn(x, axis, keepdims)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.eval({x: value}), np_fn(value, axis=axis, keepdims=keepdims))


def test_boolean_and_index_results_have_no_gradient(rng):
    x = sg.vector("x", 4)
    value = rng.standard_normal(4)
    cost = sg.sum(x * argmax(x)) + sg.sum(x * any_(x > 0)) + sg.sum(x * all_(x > 0))
    expected = np.argmax(value) + np.any(value > 0) + np.all(value > 0)
    np.testing.assert_allclose(sg.grad(cost, x).eval({x: value}), np.full(4, float(expected)))


def test_methods_are_the_same_nodes():
    """``x.prod(1)`` is ``prod(x, 1)`` (hash-consing gives the very node), and so on."""
    x = sg.matrix("x", (2, 3))
    assert x.min(1) == min_(x, 1) and x.prod(0, True) == prod(x, 0, True)
    assert x.cumsum(1) == cumsum(x, 1) and x.cumprod() == cumprod(x)
    assert x.var(0, ddof=1) == var(x, 0, ddof=1) and x.std() == std(x)
    assert x.any(0) == any_(x, 0) and x.all() == all_(x)
    assert x.argmax(1) == argmax(x, 1) and x.argmin() == argmin(x)


# -- conventions: ties, zeros, zero spread -----------------------------------------------------
def test_min_ties_share_the_gradient():
    x = sg.matrix("x", (2, 4))
    value = np.array([[1.0, -3.0, -3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    g = sg.grad(sg.sum(min_(x, axis=1) * np.array([1.0, 10.0])), x).eval({x: value})
    np.testing.assert_array_equal(g, [[0, 0.5, 0.5, 0], [2.5, 2.5, 2.5, 2.5]])
    np.testing.assert_array_equal(sg.grad(min_(x), x).eval({x: value}),
                                  [[0, 0.5, 0.5, 0], [0, 0, 0, 0]])


def _others(v, skip):
    return np.prod([a for k, a in enumerate(v) if k not in skip])


@pytest.mark.parametrize("value", [[1.0, 2.0, 3.0, 4.0], [1.5, 0.0, 3.0, -2.0],
                                   [0.0, 2.0, 0.0, 4.0], [0.0, 0.0, 0.0, 4.0]])
def test_prod_at_zeros(value):
    """d/dx_j = Π_{k≠j} x_k, d²/dx_i dx_j = Π_{k≠i,j} x_k: one zero gives a gradient to its
    entry only; two zeros give a zero gradient but a Hessian entry at their pair."""
    x = sg.vector("x", 4)
    v = np.array(value)
    out, g, h = sg.function([x], [prod(x), sg.grad(prod(x), x), sg.hessian(prod(x), x)])(v)
    assert out == np.prod(v)
    np.testing.assert_array_equal(g, [_others(v, {j}) for j in range(4)])
    np.testing.assert_array_equal(h, [[0.0 if i == j else _others(v, {i, j}) for j in range(4)]
                                      for i in range(4)])


def test_prod_at_zeros_over_several_axes(rng):
    """The exclusive products over two axes at once, with a zero in the block."""
    x = sg.tensor("x", (2, 3, 2))
    v = rng.uniform(0.5, 2, (2, 3, 2))
    v[0, 1, 1] = 0.0
    g = sg.grad(sg.sum(prod(x, (0, 1)) * np.array([1.0, 2.0])), x).eval({x: v})
    expected = np.zeros_like(v)
    for i, j, k in itertools.product(range(2), range(3), range(2)):
        block = np.delete(v[:, :, k].ravel(), i * 3 + j)
        expected[i, j, k] = (k + 1) * np.prod(block)
    np.testing.assert_allclose(g, expected, rtol=1e-14)
    v[1, 2, 0] = 0.0  # now two zeros in different blocks, then in one block
    check_grads(prod(x, (0, 1)), x, {x: v})
    v[1, 2, 1] = 0.0
    check_grads(prod(x, (0, 2), keepdims=True), x, {x: v})


@pytest.mark.parametrize("value", [[1.0, 0.0, 3.0, 4.0], [0.0, 2.0, 0.0, 4.0],
                                   [2.0, 0.5, 0.0, 0.0]])
def test_cumprod_at_zeros(value):
    """dy_i/dx_j = Π_{k≤i, k≠j} x_k and its second derivatives, exactly, with zeros."""
    x = sg.vector("x", 4)
    v = np.array(value)
    w = np.array([1.0, -2.0, 3.0, 0.5])
    y = cumprod(x)
    jac, hess = sg.function([x], [sg.jacobian(y, x), sg.hessian(sg.sum(y * w), x)])(v)
    exact_jac = [[_others(v[:i + 1], {j}) if j <= i else 0.0 for j in range(4)] for i in range(4)]
    exact_hess = [[0.0 if a == b else sum(w[i] * _others(v[:i + 1], {a, b})
                                          for i in range(max(a, b), 4)) for b in range(4)]
                  for a in range(4)]
    np.testing.assert_array_equal(jac, exact_jac)
    np.testing.assert_allclose(hess, exact_hess, rtol=1e-15)
    check_grads(y * y, x, {x: v})


def test_std_at_zero_spread():
    """All entries equal: std is 0 and its derivatives are 0 (not NaN) at every order."""
    x = sg.matrix("x", (2, 3))
    value = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    s = std(x, axis=1)
    out, g, h = sg.function([x], [s, sg.grad(s[0], x), sg.hessian(s[0], x)])(value)
    np.testing.assert_allclose(out, np.std(value, axis=1), rtol=1e-15)
    assert np.all(g == 0) and np.all(h == 0)
    g1 = sg.grad(s[1], x).eval({x: value})  # the other row: (x - mean) / (N std)
    row = value[1]
    np.testing.assert_allclose(g1[1], (row - row.mean()) / (3 * row.std()), rtol=1e-14)
    check_grads(std(x, 1), x, {x: value + np.array([[0.1, 0.2, 0.3], [0.0, 0.0, 0.0]])})


def test_var_ddof_and_integers():
    x = sg.vector("x", 5, dtype="int64")
    value = np.array([1, 4, 2, 8, 5])
    for ddof in (0, 1, 2.5):
        out = var(x, ddof=ddof)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out.eval({x: value}), np.var(value, ddof=ddof), rtol=1e-15)
    np.testing.assert_allclose(std(x, ddof=1).eval({x: value}), np.std(value, ddof=1), rtol=1e-15)


def test_to_sympy():
    x = sg.vector("x", 3)
    import sympy
    assert isinstance(sg.to_sympy(min_(x)), sympy.Min)
    assert sg.to_sympy(prod(x)) == sympy.Mul(*sg.to_sympy(x))


# -- named dimensions ---------------------------------------------------------------------------
NAMED = {
    "min": (lambda X: min_(X, 0), lambda v: np.min(v, 0)),
    "prod": (lambda X: prod(X, 0, keepdims=True), lambda v: np.prod(v, 0, keepdims=True)),
    "prod_all": (lambda X: prod(X), np.prod),
    "cumsum": (lambda X: cumsum(X, 0), lambda v: np.cumsum(v, 0)),
    "cumprod": (lambda X: cumprod(X, 0), lambda v: np.cumprod(v, 0)),
    "cumprod_flat": (cumprod, np.cumprod),
    "var": (lambda X: var(X, 0, ddof=1), lambda v: np.var(v, 0, ddof=1)),
    "std": (lambda X: std(X, 1), lambda v: np.std(v, 1)),
    "argmax": (lambda X: argmax(X, 0), lambda v: np.argmax(v, 0)),
    "argmin_flat": (argmin, np.argmin),
    "any": (lambda X: any_(X > 1, 0), lambda v: np.any(v > 1, 0)),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_dimensions(name, rng):
    """One compiled function serves two sizes of the named axis; derivatives through it."""
    X = sg.matrix("X", ("n", 3))
    build, reference = NAMED[name]
    out = build(X)
    fn = sg.function([X], out)
    for n in (2, 5):
        value = rng.uniform(0.5, 1.5, (n, 3))
        np.testing.assert_allclose(fn(value), reference(value), rtol=1e-13)
    if out.dtype.kind == "f":
        check_grads(out, X, {X: rng.uniform(0.5, 1.5, (4, 3))})


def test_named_prod_with_zeros(rng):
    v = sg.vector("v", "n")
    fn = sg.function([v], sg.grad(prod(v), v))
    for value in (np.array([2.0, 0.0, 3.0]), np.array([1.0, 0.0, 2.0, 0.0, 5.0])):
        np.testing.assert_array_equal(fn(value), [_others(value, {j}) for j in range(len(value))])


def test_product_of_named_axes_flattened():
    """cumsum(axis=None) and argmax(axis=None) flatten: a size n*m is refused clearly."""
    X = sg.matrix("X", ("n", "m"))
    with pytest.raises(sg.ShapeError, match="cumsum: .*product of named dimensions"):
        cumsum(X)
    with pytest.raises(sg.ShapeError, match="argmax: .*product of named dimensions"):
        argmax(X)
    assert cumsum(X, 1).dims == ("n", "m")


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda x: min_(x, 3), "min: axis 3 is out of range for an operand of shape (2, 3)"),
    (lambda x: prod(x, (0, -2)), "prod: repeated axis"),
    (lambda x: cumsum(x, (0,)), "cumsum: axis must be an int or None"),
    (lambda x: cumprod(x, -3), "cumprod: axis -3 is out of range"),
    (lambda x: argmax(x, (0, 1)), "argmax: axis must be an int or None"),
    (lambda x: argmin(x, 2), "argmin: axis 2 is out of range"),
    (lambda x: var(x, ddof="1"), "var: ddof must be a number"),
    (lambda x: std(x, 0, ddof=None), "std: ddof must be a number"),
    (lambda x: any_(x, 1.5), "any: axis 1.5 is out of range"),
    (lambda x: all_(x, (1, 1)), "all: repeated axis"),
])
def test_errors(call, message):
    x = sg.matrix("x", (2, 3))
    with pytest.raises(sg.SymgradError) as err:
        call(x)
    assert message in str(err.value)


def test_var_keywords_are_keyword_only():
    """np.var's third positional argument is dtype: ddof and keepdims are keywords here."""
    x = sg.vector("x", 3)
    with pytest.raises(TypeError):
        var(x, 0, 1)
