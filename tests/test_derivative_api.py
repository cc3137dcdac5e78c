"""The derivative API with parameter trees, SymPy's and PyTensor's conventions."""
from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
import sympy

import symgrad as sg

from conftest import check_grads

Params = namedtuple("Params", "W b")


def test_gradients_have_the_structure_of_wrt(rng):
    X, W, b = sg.matrix("X", (5, 3)), sg.matrix("W", (3, 2)), sg.vector("b", 2)
    loss = sg.sum(sg.tanh(X @ W + b) ** 2)
    xv, wv, bv = rng.standard_normal((5, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    z = np.tanh(xv @ wv + bv)
    dz = 2 * z * (1 - z ** 2)
    expected = {"W": xv.T @ dz, "b": dz.sum(0)}
    for wrt, pick in [({"W": W, "b": b}, lambda g: g), (Params(W, b), lambda g: g._asdict()),
                      ((W, b), lambda g: dict(zip("Wb", g))), ([W, [b]], lambda g: {"W": g[0], "b": g[1][0]})]:
        g = sg.grad(loss, wrt)
        assert type(g) is type(wrt)
        got = {k: v.eval({X: xv, W: wv, b: bv}) for k, v in pick(g).items()}
        for k in expected:
            np.testing.assert_allclose(got[k], expected[k], rtol=1e-12)


def test_hessian_blocks_of_a_dict_and_jvp_of_trees(rng):
    a, B = sg.vector("a", 2), sg.matrix("B", (2, 2))
    f = sg.sum(a * (B @ a)) + sg.sum(B * B)
    H = sg.hessian(f, {"a": a, "B": B})
    assert set(H) == {"a", "B"} and set(H["a"]) == {"a", "B"}
    av, bv = rng.standard_normal(2), rng.standard_normal((2, 2))
    np.testing.assert_allclose(H["a"]["a"].eval({a: av, B: bv}), bv + bv.T, rtol=1e-12)
    assert H["a"]["B"].dims == (2, 2, 2) and H["B"]["B"].dims == (2, 2, 2, 2)
    t = sg.jvp({"out": f}, {"a": a, "B": B}, {"a": np.ones(2), "B": np.zeros((2, 2))})
    np.testing.assert_allclose(t["out"].eval({a: av, B: bv}), ((bv + bv.T) @ av).sum(), rtol=1e-12)
    hv = sg.hvp(f, {"a": a, "B": B}, {"a": np.ones(2), "B": np.zeros((2, 2))})
    np.testing.assert_allclose(hv["a"].eval({a: av, B: bv}), (bv + bv.T) @ np.ones(2), rtol=1e-12)


def test_a_flat_list_of_scalars_is_a_vector_as_in_sympy():
    """SymPy's convention: hessian(f, [x, y]) is a 2 x 2 matrix, jacobian(v, [r, p]) m x 2."""
    x, y = sg.scalars("x y")
    f = 100 * (y - x ** 2) ** 2 + (1 - x) ** 2
    H = sg.hessian(f, [x, y])
    assert H.dims == (2, 2)
    np.testing.assert_allclose(H.eval({x: 1.0, y: 1.0}), [[802.0, -400.0], [-400.0, 200.0]])
    r, p = sg.scalars("r p")
    polar = sg.stack([r * sg.cos(p), r * sg.sin(p)])
    J = sg.jacobian(polar, [r, p])
    assert J.dims == (2, 2)
    np.testing.assert_allclose(J.eval({r: 2.0, p: 0.5}),
                               [[np.cos(0.5), -2 * np.sin(0.5)], [np.sin(0.5), 2 * np.cos(0.5)]])
    assert sg.to_sympy(sg.hessian(f, [x, y])) == sympy.hessian(sg.to_sympy(f), sympy.symbols("x y", real=True))
    assert isinstance(sg.grad(f, [x, y]), list)  # a gradient stays one entry per wrt


def test_known_grads_and_consider_constant_as_pytensor(rng):
    """known_grads starts backprop at an intermediate; consider_constant stops it."""
    x, w = sg.vector("x", 3), sg.vector("w", 3)
    h = sg.tanh(w * x)
    cost = sg.sum(h ** 2)
    xv, wv = rng.standard_normal(3), rng.standard_normal(3)
    hv = np.tanh(wv * xv)
    dh = rng.standard_normal(3)
    g = sg.grad(None, w, known_grads={h: sg.constant(dh)})
    np.testing.assert_allclose(g.eval({x: xv, w: wv}), dh * (1 - hv ** 2) * xv, rtol=1e-12)
    both = sg.grad(cost, w, known_grads={h: sg.constant(dh)})
    np.testing.assert_allclose(both.eval({x: xv, w: wv}), (2 * hv + dh) * (1 - hv ** 2) * xv, rtol=1e-12)
    fixed = sg.grad(cost, w, consider_constant=[h])
    np.testing.assert_array_equal(fixed.eval({x: xv, w: wv}), np.zeros(3))
    through = sg.grad(sg.sum(h * w), w, consider_constant=[h])  # h held fixed: d/dw = h
    np.testing.assert_allclose(through.eval({x: xv, w: wv}), hv, rtol=1e-15)
    with pytest.raises(sg.ShapeError, match="known gradient"):
        sg.grad(cost, w, known_grads={h: sg.constant(np.ones(2))})
    with pytest.raises(sg.SymgradError, match="give a cost"):
        sg.grad(None, w)


def test_mixed_partials_in_sympy_style(rng):
    x, y = sg.scalars("x y")
    f = sg.exp(x * y) * sg.sin(x)
    sx, sy = sympy.symbols("x y", real=True)
    F = sympy.exp(sx * sy) * sympy.sin(sx)
    point = {x: 0.3, y: -0.7}
    at = {sx: 0.3, sy: -0.7}
    for ours, theirs in [(sg.diff(f, x, y, 2), sympy.diff(F, sx, sy, 2)), (f.diff(x, 2, y), sympy.diff(F, sx, 2, sy)),
                         (sg.diff(f, y, n=3), sympy.diff(F, sy, 3)), (f.diff(x), sympy.diff(F, sx))]:
        assert ours.eval(point) == pytest.approx(float(theirs.subs(at)), rel=1e-12)
    with pytest.raises(sg.SymgradError, match="non-negative integer"):
        sg.diff(f, x, -1)
    with pytest.raises(sg.SymgradError, match="after a variable"):
        sg.diff(f, 2, x)


def test_tree_gradients_check_against_differences(rng):
    W, b = sg.matrix("W", (2, 3)), sg.vector("b", 2)
    x = sg.vector("x", 3)
    out = sg.softmax(W @ x + b)
    check_grads(out, [W, b], {W: rng.standard_normal((2, 3)), b: rng.standard_normal(2), x: rng.standard_normal(3)})
