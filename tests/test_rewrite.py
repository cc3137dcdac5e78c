"""Every rewrite rule keeps values: its example is evaluated before (the pattern, built
without rewrites) and after (the replacement) at random points and at the edges of its
domain.  Stabilizing rules are also compared at ±1000 and ±30 with the pattern evaluated by
SymPy at exact inputs (evalf raises its precision as cancellation needs), where float64 gives inf, NaN or a cancelled difference: the rule must
give the exact value there."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad.op import REGISTRY
from symgrad.rewrite import GROUPS

RULES = [pytest.param(group, rule, id=f"{group}: {rule.name}")
         for group, table in GROUPS.items() for rule in table]
EDGES = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])


def _instance(rule):
    """``(symbols, before, after)`` of the rule's example, in a graph without rewrites: the
    pattern built, and the rule applied to that node (matching included)."""
    symbols = [sg.vector(v, 5) for v in "xyz"]
    if rule.example is not None:
        bindings = rule.example(*symbols)
    else:
        bindings = {v.name: s for v, s in zip(rule.pattern.variables(), symbols)}
    before = rule.pattern.build(bindings)
    return symbols, before, rule.apply(REGISTRY[before.op], before.args, before.params)


@pytest.mark.parametrize("group, rule", RULES)
def test_rule_keeps_values(group, rule, rng):
    with sg.Graph(rewrite=False):
        symbols, before, after = _instance(rule)
        assert after is not None, f"{rule.name}: the rule does not apply to its own example"
        assert (after.dims, after.dtype) == (before.dims, before.dtype)
        fn = sg.function(symbols, [before, after])
    low, high = rule.domain
    points = [[rng.uniform(low, high, 5) for _ in symbols] for _ in range(5)]
    points.append([np.array([low, high, low, high, (low + high) / 2])] * 3)
    for point in points:
        old, new = fn(*point)
        np.testing.assert_allclose(new, old, rtol=1e-12, atol=1e-300, err_msg=rule.name)
    if group != "stabilize":
        return
    exact = sympy.Array(sg.to_sympy(before, form="elements"))
    for point in ([EDGES, EDGES[::-1], np.roll(EDGES, 1)], [EDGES] * 3):
        values = {sympy.IndexedBase(s.name, real=True)[i]: sympy.Rational(float(v))
                  for s, p in zip(symbols, point) for i, v in enumerate(p)}
        expected = np.array([float(sympy.N(e.subs(values), 20, maxn=5000)) for e in exact], float)
        got = np.ravel(fn(*point)[1])
        np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=1e-13, atol=1e-300,
                                   err_msg=rule.name)


def test_constants_fold():
    x = sg.scalar("x")
    c = sg.exp(sg.constant(1.0)) + sg.constant(np.arange(3.0)).sum()
    assert c.op == "constant" and c.attrs["value"] == pytest.approx(np.e + 3)
    assert (x * 1 + 0) == x and (x - x).op == "constant" and -(-x) == x


def test_rules_run_as_nodes_are_built_and_not_without_rewrites():
    with sg.Graph():
        z = sg.vector("z", 3)
        assert (1 / (1 + sg.exp(-z))).op == "sigmoid"
    with sg.Graph(rewrite=False):
        z = sg.vector("z", 3)
        assert (1 / (1 + sg.exp(-z))).op == "div"
