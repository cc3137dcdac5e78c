"""Compilation to NumPy: pruning, sharing, buffer reuse against a naive evaluation, argument
checking with clear messages, dtypes, hostile symbol names, eval, fresh outputs."""
from __future__ import annotations

import ast
import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad import scalar_math
from symgrad.op import REGISTRY

from conftest import PROGRAMS, foreign_identifiers, random_program


def test_outputs_are_pruned():
    """A function of z alone computes nothing of x and y."""
    x, y, z = sg.scalars("x y z")
    unrelated = sg.exp(x) * sg.log(y)
    fn = sg.function([x, y, z], sg.sin(z))
    assert "exp" not in fn.source and "log" not in fn.source
    assert fn(1.0, 2.0, 0.5) == np.sin(0.5)
    both = sg.function([x, y, z], [unrelated, sg.sin(z)])
    assert "np.exp" in both.source


def test_shared_work_is_computed_once():
    x, y = sg.scalars("x y")
    a = sg.exp(x) * sg.sin(y)
    fn = sg.function([x, y], [a * 2, a * 3, a + 1, sg.grad(a, x)])
    assert fn.source.count("np.exp(") == 1 and fn.source.count("np.sin(") == 1
    v = np.exp(0.3) * np.sin(0.7)
    assert fn(0.3, 0.7) == pytest.approx((2 * v, 3 * v, v + 1, v))


def test_dead_buffers_are_reused(rng):
    X = sg.matrix("X", (4, 5))
    out = sg.tanh(sg.exp(sg.sin(X) * 2 + 1) - X) * X
    fn = sg.function([X], [out, sg.grad(sg.sum(out), X)])
    assert "out=" in fn.source
    value = rng.standard_normal((4, 5))
    t = np.tanh(np.exp(np.sin(value) * 2 + 1) - value)
    got, g = fn(value)
    np.testing.assert_allclose(got, t * value, rtol=1e-14)
    dt = (1 - t * t) * (np.exp(np.sin(value) * 2 + 1) * 2 * np.cos(value) - 1)
    np.testing.assert_allclose(g, dt * value + t, rtol=1e-13)


# -- random programs: the compiled function (with its buffer plan) against plain NumPy ------
@settings(max_examples=60)
@given(program=PROGRAMS, picks=st.lists(st.integers(0, 99), min_size=1, max_size=4),
       seed=st.integers(0, 2**32 - 1))
def test_random_programs_match_numpy(program, picks, seed):
    with sg.Graph():
        inputs, arrays, exprs, values, scales = random_program(program, seed)
        chosen = [k % len(exprs) for k in picks]
        fn = sg.function(inputs, [exprs[k] for k in chosen])
        copies = [np.copy(a) for a in arrays]
        first = fn(*arrays)
        kept = [np.copy(r) for r in first]
        second = fn(*arrays)
        for k, got, again, saved in zip(chosen, first, second, kept):
            assert np.shape(got) == np.shape(values[k])
            np.testing.assert_allclose(got, values[k], rtol=1e-12, atol=1e-14 * scales[k],
                                       equal_nan=True, err_msg=fn.source)
            np.testing.assert_array_equal(got, saved)  # the second call did not write into it
            np.testing.assert_array_equal(again, saved)
        for a, c in zip(arrays, copies):
            np.testing.assert_array_equal(a, c)  # inputs are never written


# -- calling ------------------------------------------------------------------------------------
def test_call_by_position_and_name(rng):
    X, W, b = sg.matrix("X", ("n", 3)), sg.matrix("W", (3, 2)), sg.vector("b", 2)
    fn = sg.function([X, W, b], X @ W + b)
    Xv, Wv, bv = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    expected = Xv @ Wv + bv
    for result in (fn(Xv, Wv, bv), fn(X=Xv, W=Wv, b=bv), fn(Xv, b=bv, W=Wv), fn(b=bv, W=Wv, X=Xv)):
        np.testing.assert_allclose(result, expected, rtol=1e-14)
    np.testing.assert_allclose(fn(Xv[:1], Wv, bv), expected[:1], rtol=1e-14)  # any n


def test_single_output_and_tuple():
    x = sg.scalar("x")
    one = sg.function([x], x * 2)(3.0)
    many = sg.function([x], [x * 2])(3.0)
    assert one == 6.0 and isinstance(one, np.float64)
    assert isinstance(many, tuple) and many == (6.0,)
    assert sg.function([], sg.constant(2.0) * 3)() == 6.0


def test_the_fast_path_and_the_checked_path_agree(rng):
    """Arguments already of the declared class, dtype and shape skip the checks; lists,
    ints, float32, 0-d arrays, views and keywords take the checked path; results are equal."""
    X, v, s = sg.matrix("X", ("n", 3)), sg.vector("v", "n"), sg.scalar("s")
    w = sg.shared(np.arange(3.0), name="w")
    fn = sg.function([X, v, s], [v @ X * s + w, sg.sum(X) * s])
    Xv, vv = rng.standard_normal((4, 3)), rng.standard_normal(4)
    want = (vv @ Xv * 2.5 + np.arange(3.0), Xv.sum() * 2.5)
    calls = [(Xv, vv, 2.5), (Xv, vv, np.float64(2.5)), (Xv, vv, np.array(2.5)),
             (Xv.tolist(), list(vv), 2.5), (Xv.astype(np.float32), vv, 2.5),
             (np.asfortranarray(Xv), vv[::-1][::-1], 2.5)]
    for args in calls:
        for got, expected in zip(fn(*args), want):
            np.testing.assert_allclose(got, expected, rtol=1e-6 if np.asarray(args[0]).dtype == np.float32
                                       else 1e-14)
    for got, expected in zip(fn(Xv, s=2.5, v=vv), want):
        np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert "'n' = 3" in _messages(fn, Xv, vv[:3], 2.5)  # sizes bound on the fast path too


SPECIAL_VALUES = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.5, -3.0, 1e-300, 1e300, -1e300, 710.0,
                  -710.0, math.inf, -math.inf, math.nan]


# ops not called as apply(name, *scalars): (expression, NumPy reference).  NumPy's scalar
# power takes a shortcut for the exponent 0.5 (power(-inf, 0.5) = nan); its array loop is C's
# pow (inf), as math.pow and generated code on arrays are.
SPECIAL_FORMS = {"where": (lambda a, b, c: sg.where(a > b, b, c), lambda a, b, c: np.where(a > b, b, c)),
                 "name": (lambda a, b, c: sg.name(a, "y"), lambda a, b, c: a),
                 "int_power": (lambda a, b, c: sg.int_power(a, -3), lambda a, b, c: a ** -3.0),
                 "power": (lambda a, b, c: a ** b, lambda a, b, c: np.power([a], [b])[0])}


@pytest.mark.parametrize("name", sorted(scalar_math.MATH))
def test_scalar_code_agrees_with_numpy(name):
    """Each op's Python-float emitter gives NumPy's result at ordinary and special points
    (zeros of both signs, overflow, infinities, NaN): where Python raises instead, the NumPy
    body runs, so results agree and no warning escapes."""
    op = REGISTRY[name]
    build, reference = SPECIAL_FORMS.get(name, (
        lambda *xs: sg.apply(name, *xs[:op.arity]), lambda *xs: op.impl(*xs[:op.arity])))
    xs = sg.scalars("a b c")
    fn = sg.function(xs, build(*xs))
    assert fn._math is not None, fn.source
    for point in itertools.product(SPECIAL_VALUES, repeat=min(op.arity or 1, 2)):
        point = (point + (0.25, 0.25))[:3]
        with np.errstate(all="ignore"):
            want = np.asarray(reference(*map(np.float64, point)))[()]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = fn(*point)
        assert type(got) is type(want) and np.isnan(got) == np.isnan(want), (point, got, want)
        assert np.isnan(got) or np.signbit(got) == np.signbit(want), (point, got, want)
        np.testing.assert_allclose(got, want, rtol=4e-16, err_msg=str(point))


def _messages(fn, *args, **kwargs) -> str:
    with pytest.raises(sg.ArgumentError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_argument_errors_name_the_argument_and_the_expectation():
    X, W = sg.matrix("X", ("n", 3)), sg.matrix("W", (3, "k"))
    Y = sg.matrix("Y", ("n", "k"))
    fn = sg.function([X, W, Y], sg.sum(X @ W * Y))
    ok = (np.ones((2, 3)), np.ones((3, 4)), np.ones((2, 4)))
    assert fn(*ok) == 24.0

    msg = _messages(fn, *ok[:2])
    assert "takes 3 arguments" in msg and "'X', 'W', 'Y'" in msg and "got 2" in msg
    assert "got 4" in _messages(fn, *ok, 1.0)
    msg = _messages(fn, np.ones(3), *ok[1:])
    assert "argument 0 ('X')" in msg and "2 dimension(s)" in msg and "(n, 3)" in msg and "(3,)" in msg
    msg = _messages(fn, np.ones((2, 5)), *ok[1:])
    assert "argument 0 ('X')" in msg and "(n, 3)" in msg and "(2, 5)" in msg and "axis 1" in msg
    msg = _messages(fn, ok[0], ok[1], np.ones((3, 4)))
    assert "argument 2 ('Y')" in msg and "'n' = 3" in msg and "'n' = 2" in msg
    msg = _messages(fn, ok[0], ok[1], np.ones((2, 5)))
    assert "argument 2 ('Y')" in msg and "'k' = 5" in msg and "'k' = 4" in msg
    msg = _messages(fn, ok[0].astype(complex), *ok[1:])
    assert "argument 0 ('X')" in msg and "complex128" in msg and "float64" in msg
    assert "not an array" in _messages(fn, [[1.0, 2.0], [3.0]], *ok[1:])
    assert "no input is named 'Z'" in _messages(fn, *ok, Z=1.0)
    assert "'X' was given twice" in _messages(fn, ok[0], X=ok[0], W=ok[1], Y=ok[2])
    assert "missing argument(s) 'W', 'Y'" in _messages(fn, X=ok[0])
    x1, x2 = sg.scalar("x"), sg.scalar("x")
    same = sg.function([x1, x2], x1 - x2)
    assert same(3.0, 1.0) == 2.0
    assert "several inputs are named 'x'" in _messages(same, x=1.0)
    A = sg.matrix("A", ("m", "m"))
    msg = _messages(sg.function([A], A), np.ones((2, 3)))
    assert "'m' = 3" in msg and "'m' = 2" in msg


def test_compile_errors():
    x, y = sg.scalars("x y")
    with pytest.raises(sg.ArgumentError, match="depends on the symbol .*'y'.* not among the inputs"):
        sg.function([x], x * y)
    with pytest.raises(sg.ArgumentError, match="input 1 must be a symbol"):
        sg.function([x, x * 2], x)
    with pytest.raises(sg.ArgumentError, match="appears twice"):
        sg.function([x, x], x)


def test_dtype_casting():
    x = sg.vector("x", 3)
    fn = sg.function([x], x * 2)
    out = fn(np.array([1, 2, 3], dtype=np.float32))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(fn([1, 2, 3]), [2.0, 4.0, 6.0])  # ints and lists are fine


def test_float32_stays_float32(rng):
    X, w = sg.matrix("X", ("n", 3), dtype="float32"), sg.vector("w", 3, dtype="float32")
    C = sg.mean(sg.sigmoid(X @ w) ** 2) + 0.5 * sg.sum(w * w)
    nodes = sorted(C.g.ancestors([C.node]))
    assert all(C.g[n]["dtype"] in (np.float32, np.int64, bool) for n in nodes)
    gw = sg.grad(C, w)
    assert gw.dtype == np.float32
    fn = sg.function([X, w], [C, gw])
    Xv, wv = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    cost, g = fn(Xv, wv)
    assert cost.dtype == np.float32 and g.dtype == np.float32
    s = 1 / (1 + np.exp(-(Xv.astype(np.float64) @ wv)))
    np.testing.assert_allclose(cost, np.mean(s ** 2) + 0.5 * wv @ wv, rtol=1e-6)
    np.testing.assert_allclose(g, Xv.T @ (2 * s * s * (1 - s)) / 5 + wv, rtol=1e-5)
    assert fn(Xv.astype(np.float64), wv)[0].dtype == np.float32  # float64 input cast down
    per_row = sg.sum(sg.sigmoid(X @ w)) / X.shape[0]  # a size is weak, like a Python int
    assert per_row.dtype == np.float32 and sg.grad(per_row, w).dtype == np.float32
    b = sg.vector("b", "n")  # float64: promotes the cost, but w's gradient stays float32
    mixed = sg.sum((X @ w) * b)
    gw, gb = sg.grad(mixed, [w, b])
    assert mixed.dtype == np.float64 and gw.dtype == np.float32 and gb.dtype == np.float64
    bv = rng.standard_normal(5)
    got_w, got_b = sg.function([X, w, b], [gw, gb])(Xv, wv, bv)
    assert got_w.dtype == np.float32 and got_b.dtype == np.float64
    np.testing.assert_allclose(got_w, Xv.T.astype(np.float64) @ bv, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, Xv @ wv, rtol=1e-6)



@pytest.mark.parametrize("name", ["x); import os #", "a\nimport os", "np", "t3", "a0", "def",
                                  "__import__('os')", "'\"", ""])
def test_hostile_names_are_never_identifiers(name, rng):
    x = sg.vector(name, 3)
    y = sg.scalar(name)  # two symbols with the same name
    fn = sg.function([x, y], [sg.sum(sg.exp(x)) * y, x * 2])
    value = rng.standard_normal(3)
    total, double = fn(value, 1.5)
    assert total == pytest.approx(np.exp(value).sum() * 1.5)
    np.testing.assert_array_equal(double, value * 2)
    tree = ast.parse(fn.source)
    assert not any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(tree))
    assert not foreign_identifiers(fn.source)
    code_lines = [line for line in fn.source.splitlines() if not line.strip().startswith("#")]
    assert all(name not in line for line in code_lines) if len(name) > 3 else True
    assert len(fn.source.splitlines()) == fn.source.count("\n")  # no line break smuggled in
    msg = _messages(fn, np.ones(2), 1.0)
    assert repr(name) in msg


def test_eval(rng):
    x, W = sg.vector("x", 3), sg.matrix("W", (2, 3))
    e = sg.tanh(W @ x)
    Wv, xv = rng.standard_normal((2, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(e.eval({x: xv, W: Wv}), np.tanh(Wv @ xv), rtol=1e-14)
    np.testing.assert_allclose(e.eval({W: Wv, x: 2 * xv}), np.tanh(Wv @ (2 * xv)), rtol=1e-14)
    assert (sg.constant(2.0) * 3).eval() == 6.0
    with pytest.raises(sg.ArgumentError, match="eval needs a value for .*'W'"):
        e.eval({x: xv})
    with pytest.raises(sg.ArgumentError, match="eval takes"):
        e.eval({"x": xv})


def test_outputs_are_fresh_arrays(rng):
    """Mutating a result never changes an input, a constant, or a later result."""
    X = sg.matrix("X", (2, 3))
    C = sg.constant(np.arange(6.0).reshape(2, 3))
    outputs = [X, X.T, X[0], X.reshape(6), C, C.T, sg.sin(X), sg.broadcast_to(X[0], (4, 3)),
               sg.stop_gradient(X)]
    fn = sg.function([X], outputs)
    value = rng.standard_normal((2, 3))
    keep = value.copy()
    first = fn(value)
    expected = [np.copy(r) for r in first]
    for r in first:
        assert r.flags.writeable
        r[...] = 99.0
    np.testing.assert_array_equal(value, keep)
    for again, want in zip(fn(value), expected):
        np.testing.assert_array_equal(again, want)
    assert not any(np.shares_memory(r, value) for r in fn(value))


def test_outputs_do_not_alias_each_other(rng):
    """Two outputs never share memory, so updating one in place leaves the other intact."""
    X = sg.matrix("X", (2, 3))
    E = sg.exp(X)
    outputs = [E, E[0], E.T, E, sg.broadcast_to(sg.sin(X[0]), (4, 3))[1:], E.reshape(6)]
    results = sg.function([X], outputs)(rng.standard_normal((2, 3)))
    for i, r in enumerate(results):
        assert r.flags.writeable
        assert not any(np.shares_memory(r, other) for other in results[i + 1:])


def test_no_outputs():
    x = sg.scalar("x")
    assert sg.function([x], [])(1.0) == ()


@pytest.mark.parametrize("dtype", ["int64", "float32"])
def test_declared_dtypes_are_the_computed_ones(dtype, rng):
    """Every elementwise op's inferred dtype is the dtype NumPy computes, for each input kind
    (ops with parameters: in test_ops.py's samples)."""
    from symgrad.ops import REGISTRY
    a, b = sg.vector("a", 4, dtype=dtype), sg.vector("b", 4, dtype=dtype)
    values = (rng.integers(1, 4, size=4) if dtype != "float32" else rng.uniform(0.5, 2, 4)).astype(dtype)
    exprs = [a ** 2, a ** 3, a ** -1]
    for name, op in REGISTRY.items():
        if op.elementwise and isinstance(op.domain, tuple):  # ops without parameters
            exprs.append(sg.apply(name, *(a, b)[:op.arity], **({"n": 2} if name == "int_power" else {})))
    results = sg.function([a, b], exprs)(values, values[::-1].copy())
    for e, r in zip(exprs, results):
        assert r.dtype == e.dtype, (e, r.dtype)


def test_a_backend_replaces_an_ops_emitter_and_namespace(rng):
    """Code generation is per backend: its emitter for an op and its module bindings are used."""
    calls = []

    def exp_by_power(op, args, params, ctx, out):
        calls.append(op.name)
        return f"xp.power(np.e, {args[0]})"

    backend = sg.Backend("numpy-power", {**sg.NUMPY.namespace, "xp": np}, {"exp": exp_by_power})
    X = sg.matrix("X", ("n", 3))
    f = sg.sum(sg.exp(X) * sg.sin(X))
    fn = sg.function([X], [f, sg.grad(f, X)], backend=backend)
    assert "xp.power(np.e" in fn.source and "np.exp(" not in fn.source and calls
    value = rng.standard_normal((4, 3))
    reference = sg.function([X], [f, sg.grad(f, X)])
    assert "np.exp(" in reference.source
    for a, b in zip(fn(value), reference(value)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert fn.backend is backend and reference.backend is sg.NUMPY


def test_ops_register_emitters_for_a_backend_without_being_edited(rng):
    """``@op.emitter(name)`` registers a backend's emitter on the op; a backend without a
    fallback refuses, at compile time, an op it has no emitter for."""
    from symgrad.op import REGISTRY
    emitted = []

    @REGISTRY["sin"].emitter("traced")
    def sin_traced(args, params, ctx):
        emitted.append(args[0])
        return f"xp.sin({args[0]})"

    try:
        x = sg.vector("x", 3)
        traced = sg.Backend("traced", {**sg.NUMPY.namespace, "xp": np})
        fn = sg.function([x], sg.sin(x) * 2, backend=traced)
        assert "xp.sin(a0)" in fn.source and emitted == ["a0"]
        value = rng.standard_normal(3)
        np.testing.assert_allclose(fn(value), 2 * np.sin(value))
        strict = sg.Backend("traced", {"xp": np}, fallback=False)
        with pytest.raises(sg.UnsupportedError, match="'traced' cannot express the op 'mul'"):
            sg.function([x], sg.sin(x) * x, backend=strict)
    finally:
        del REGISTRY["sin"].emitters["traced"]


def test_repr_names_the_inputs_and_a_backend_other_than_numpy():
    x = sg.vector("x", "n")
    assert repr(sg.function([x], [sg.sin(x), x])) == "<symgrad.Function (x(n,)) -> 2 output(s)>"
    other = sg.Backend("mine", sg.NUMPY.namespace)
    assert repr(sg.function([x], sg.sin(x), backend=other)).endswith(
        "1 output(s) on <symgrad.Backend mine>>")
