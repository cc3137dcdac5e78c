"""User-defined ops: ``sg.defop`` makes a primitive that every pass handles."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import sympy

import symgrad as sg

from conftest import check_grads


def make_erf():
    """The README's example, exactly."""
    return sg.defop("my_erf", impl=scipy.special.erf,
                    partials=[lambda out, x: 2 / math.sqrt(math.pi) * sg.exp(-x * x)],
                    sympy=sympy.erf)


def test_elementwise_defop_works_everywhere(rng):
    erf = make_erf()
    x = sg.matrix("x", (2, 3))
    v = sg.vector("v", 3)
    y = erf(x) * v  # broadcasting
    value, vv = rng.standard_normal((2, 3)), rng.standard_normal(3)
    fn = sg.function([x, v], [y, sg.grad(sg.sum(y), x)])
    got, g = fn(value, vv)
    np.testing.assert_allclose(got, scipy.special.erf(value) * vv, rtol=1e-15)
    np.testing.assert_allclose(g, 2 / math.sqrt(math.pi) * np.exp(-value ** 2) * vv, rtol=1e-14)
    check_grads(y, [x, v], {x: value, v: vv})  # reverse, forward, Hessians (batched)
    s = sg.scalar("s")
    assert sg.diff(erf(s), s, 3).eval({s: 0.3}) == pytest.approx(
        float(sympy.diff(sympy.erf(sympy.Symbol("t")), "t", 3).subs("t", 0.3)), rel=1e-13)
    assert sg.to_sympy(erf(s)) == sympy.erf(sympy.Symbol("s", real=True))
    t = sympy.Symbol("s", real=True)
    derivative = sg.to_sympy(sg.grad(erf(s), s))
    assert derivative.has(sympy.exp(-t ** 2))
    assert float((derivative - sympy.diff(sympy.erf(t), t)).subs(t, 0.7)) == pytest.approx(0, abs=1e-15)
    back = sg.from_sympy(sympy.erf(sympy.Symbol("s")) * 2, {"s": s})
    assert back.eval({s: 0.5}) == pytest.approx(2 * math.erf(0.5), rel=1e-15)
    assert sg.vectorize(erf(s), {s: sg.vector("S", 4)}).dims == (4,)


def test_generated_code_names_the_implementation_by_symgrad_s_own_identifier():
    hostile = sg.defop("import_os_system", impl=lambda x: x * 2, partials=[lambda out, x: 2.0])
    x = sg.vector("x", 2)
    fn = sg.function([x], hostile(x) + 1)
    assert "import_os_system" not in fn.source and "lambda" not in fn.source
    assert "f0(a0)" in fn.source
    np.testing.assert_array_equal(fn(np.array([1.0, 2.0])), [3.0, 5.0])


def test_general_defop_with_shape_and_rules(rng):
    """A cumulative sum: its own shape rule, vjp (reversed cumsum) and jvp (cumsum)."""
    def cumsum(x, axis):
        return op(x, axis=axis)

    op = sg.defop("my_cumsum", impl=lambda x, axis: np.cumsum(x, axis),
                  shape=lambda x, axis: (x.dims, x.dtype),
                  vjp=[lambda g, out, x, axis: cumsum(g[::-1], axis)[::-1]],
                  jvp=lambda tangents, out, x, axis: cumsum(tangents[0], axis),
                  batch=lambda nb, batched, x, axis: cumsum(x, axis + nb))
    x = sg.vector("x", 4)
    value = rng.standard_normal(4)
    np.testing.assert_allclose(cumsum(x, 0).eval({x: value}), np.cumsum(value))
    check_grads(sg.sin(cumsum(x, 0)), x, {x: value})


def test_defop_errors():
    with pytest.raises(sg.SymgradError, match="built-in"):
        sg.defop("exp", impl=np.exp, partials=[lambda out, x: out])
    with pytest.raises(sg.SymgradError, match="identifier"):
        sg.defop("my op", impl=np.exp, partials=[lambda out, x: out])
    with pytest.raises(sg.SymgradError, match="either partials"):
        sg.defop("my_both", impl=np.exp)
    op = sg.defop("my_scaled", impl=lambda x, k: x * k, shape=lambda x, k: (x.dims, x.dtype),
                  vjp=[lambda g, out, x, k: g * k])
    with pytest.raises(sg.SymgradError, match="parameter k"):
        op(sg.scalar("x"), k=object())
    with pytest.raises(sg.SymgradError, match="takes 1 argument"):
        make_erf()(sg.scalar("a"), sg.scalar("b"))


def test_defining_a_user_op_again_replaces_it():
    first = sg.defop("my_twice", impl=lambda x: 2 * x, partials=[lambda out, x: 2.0])
    second = sg.defop("my_twice", impl=lambda x: 3 * x, partials=[lambda out, x: 3.0])
    x = sg.scalar("x")
    assert first is not second
    assert sg.grad(second(x), x).eval({x: 1.0}) == 3.0
