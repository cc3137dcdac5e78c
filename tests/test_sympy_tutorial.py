"""SymPy's calculus tutorial (derivatives), ported with ``sg.`` in place of ``sympy.``: each
result, converted back with ``sg.to_sympy``, equals SymPy's own."""
from __future__ import annotations

import pytest
import sympy

import symgrad as sg

X, Y, Z = sympy.symbols("x y z", real=True)


@pytest.fixture
def xyz():
    return sg.scalars("x y z")


@pytest.mark.parametrize("build, spec, expected", [
    (lambda x, y, z: sg.cos(x), ("x",), -sympy.sin(X)),
    (lambda x, y, z: sg.exp(x ** 2), ("x",), 2 * X * sympy.exp(X ** 2)),
    (lambda x, y, z: x ** 4, ("x", "x", "x"), 24 * X),
    (lambda x, y, z: x ** 4, ("x", 3), 24 * X),
    (lambda x, y, z: sg.exp(x * y * z), ("x", "y", "y", "z", "z", "z", "z"),
     X ** 3 * Y ** 2 * (X ** 3 * Y ** 3 * Z ** 3 + 14 * X ** 2 * Y ** 2 * Z ** 2 + 52 * X * Y * Z + 48)
     * sympy.exp(X * Y * Z)),
    (lambda x, y, z: sg.exp(x * y * z), ("x", "y", 2, "z", 4),
     X ** 3 * Y ** 2 * (X ** 3 * Y ** 3 * Z ** 3 + 14 * X ** 2 * Y ** 2 * Z ** 2 + 52 * X * Y * Z + 48)
     * sympy.exp(X * Y * Z)),
], ids=["cos", "exp_square", "x4_three_times", "x4_order_3", "mixed_spelled_out", "mixed_counts"])
def test_tutorial_derivatives(xyz, build, spec, expected):
    names = dict(zip("xyz", xyz))
    args = [names[s] if isinstance(s, str) else s for s in spec]
    f = build(*xyz)
    for derivative in (sg.diff(f, *args), f.diff(*args)):
        assert sympy.simplify(sg.to_sympy(derivative) - expected) == 0


def test_unevaluated_style_becomes_a_plain_call(xyz):
    """The tutorial's ``Derivative(expr, x, y, 2, z, 4).doit()`` is ``sg.diff`` in symgrad,
    which always evaluates; the derivative of a constant is 0."""
    x, y, z = xyz
    assert sg.to_sympy(sg.diff(sg.exp(x * y * z), x, y, 2, z, 4)).has(sympy.exp(X * Y * Z))
    assert sg.diff(sg.constant(3.0) * y, x).eval({x: 1.0, y: 2.0}) == 0.0
