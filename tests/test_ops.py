"""Every op's rules against NumPy and finite differences, driven by the op registry.

Elementwise ops with a ``domain`` are checked over random broadcasting shapes from
hypothesis, every other op over its ``samples`` (argument shapes and parameters): the value
against the op's NumPy implementation, first and second derivatives forward and reverse
(``sg.check_grad(order=2)``: reverse over reverse, forward over reverse and the batched
Hessian, so the jvp, batching and band rules run too), and the batching rule on its own
(``sg.vectorize`` against a loop over examples).  Ops that need more have dedicated tests
marked with ``@covers``.  The coverage test fails when an op is registered that nothing
checks.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import symgrad as sg
from symgrad.op import REGISTRY
from symgrad.ops.custom import USER_OPS
from symgrad.ops.shape import NEW

from conftest import check_grads

COVERED: set = set()


def covers(*ops: str):
    """Mark a test as the dedicated check of the registered ops ``ops``."""
    def mark(fn):
        COVERED.update(ops)
        return fn
    return mark


# ops whose tests are still to be written (reported as a warning, not failed)
PENDING: set = set()

GENERIC = sorted(n for n, op in REGISTRY.items()
                 if op.elementwise and op.differentiable and op.domain is not None)
BOOLEAN = sorted(n for n, op in REGISTRY.items()
                 if op.elementwise and not op.differentiable and op.arity == 2)
SAMPLED = [pytest.param(name, k, id=f"{name}-{k}") for name, op in sorted(REGISTRY.items())
           for k in range(len(op.samples))]

# parameters an op needs, each with the domain to sample from (None: the op's own)
PARAMS = {"int_power": [({"n": 2}, None), ({"n": 3}, None), ({"n": 5}, None),
                        ({"n": -1}, (0.5, 2.0)), ({"n": -3}, (-2.0, -0.5))]}
CASES = [pytest.param(name, params, domain, id=f"{name}{params or ''}")
         for name in GENERIC for params, domain in PARAMS.get(name, [({}, None)])]

KINK = 1e-3  # random points stay this far from 0 and from ties (abs, relu, maximum, ...)


def sample(rng, shapes, low, high) -> list:
    """Random arrays in [low, high], away from 0 and from each other (after broadcasting)."""
    for _ in range(1000):
        values = [rng.uniform(low, high, size=s) for s in shapes]
        wide = np.broadcast_arrays(*values)
        if all(np.all(np.abs(v) > KINK) for v in values) and all(
                np.all(np.abs(a - b) > KINK) for i, a in enumerate(wide) for b in wide[i + 1:]):
            return values
    raise AssertionError(f"no sample away from kinks in [{low}, {high}] for shapes {shapes}")


def test_every_op_is_covered():
    """A newly registered op needs a domain or samples (generic checks) or a dedicated test."""
    uncovered = (set(REGISTRY) - USER_OPS - set(GENERIC) - set(BOOLEAN) - COVERED - {"symbol", "constant"}
                 - {n for n, op in REGISTRY.items() if op.samples})
    if uncovered & PENDING:
        warnings.warn(f"ops without derivative tests yet: {sorted(uncovered & PENDING)}")
    assert not uncovered - PENDING, (
        f"ops {sorted(uncovered - PENDING)} are registered but no test checks their rules: give "
        "an elementwise op a `domain`, or add a dedicated test marked @covers in test_ops.py")
    assert not COVERED - set(REGISTRY), f"@covers names unknown ops {sorted(COVERED - set(REGISTRY))}"


# -- the generic elementwise check ----------------------------------------------------------
SHAPES = mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3).map(
    lambda s: s.input_shapes)


@pytest.mark.parametrize("name, params, domain", CASES)
@settings(max_examples=8)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1))
@example(shapes=((), (), ()), seed=0)
@example(shapes=((3,), (3,), (3,)), seed=1)
@example(shapes=((2, 3), (), (2, 3)), seed=2)
@example(shapes=((1, 3), (2, 1), (2, 3)), seed=3)
@example(shapes=((), (2, 3), (3,)), seed=4)
@example(shapes=((3,), (2, 3), (1,)), seed=5)
def test_elementwise_derivatives(name, params, domain, shapes, seed):
    """Value against the op's eager NumPy implementation; first and second derivatives
    against finite differences, over broadcasting shapes."""
    op = REGISTRY[name]
    rng = np.random.default_rng(seed)
    shapes = shapes[:op.arity]
    with sg.Graph():
        xs = [sg.tensor(f"x{i}", s) for i, s in enumerate(shapes)]
        values = sample(rng, shapes, *(domain or op.domain))
        out = sg.apply(name, *xs, **params)
        assert out.op == name and out.dims == np.broadcast_shapes(*shapes)
        np.testing.assert_allclose(sg.function(xs, out)(*values), op.impl(*values, **params),
                                   rtol=1e-14)
        check_grads(out, xs, dict(zip(xs, values)), seed=seed)


@pytest.mark.parametrize("name", BOOLEAN)
def test_boolean_ops_have_zero_gradient(name, rng):
    """Comparisons give booleans; differentiating through them gives zeros, not errors."""
    a, b = sg.vector("a", 4), sg.matrix("b", (3, 1))
    va, vb = rng.standard_normal(4), rng.standard_normal((3, 1))
    vb[0, 0] = va[1]  # one tie, so `equal` is true somewhere
    out = sg.apply(name, a, b)
    assert out.dtype == bool and out.dims == (3, 4)
    np.testing.assert_array_equal(sg.function([a, b], out)(va, vb), REGISTRY[name].impl(va, vb))
    cost = sg.sum(out.astype("float64") * a * b)
    ga, gb = sg.function([a, b], sg.grad(cost, [a, b]))(va, vb)
    mask = REGISTRY[name].impl(va, vb)
    np.testing.assert_allclose(ga, np.sum(mask * vb, axis=0))  # only the product is differentiated
    np.testing.assert_allclose(gb, np.sum(mask * va, axis=1, keepdims=True))
    assert sg.function([a, b], sg.grad(sg.sum(out.astype("float64")), a))(va, vb).tolist() == [0.0] * 4


def draw(op, arg, rng, batch: tuple = ()) -> np.ndarray:
    """Values for one argument of a sample: ``arg`` is a shape (drawn from the op's domain: a
    ``(low, high)`` range, or a function ``(rng, shape) -> array`` for inputs such as
    symmetric positive definite matrices) or a function ``rng -> array`` of its own
    (indices, masks); ``batch`` stacks independent draws."""
    if batch:
        return np.stack([draw(op, arg, rng, batch[1:]) for _ in range(batch[0])])
    if callable(arg):
        return np.asarray(arg(rng))
    if callable(op.domain):
        return np.asarray(op.domain(rng, arg))
    return rng.uniform(*(op.domain or (-2, 2)), size=arg)


def _symbols(values: list) -> list:
    return [sg.tensor(f"x{i}", v.shape, dtype=v.dtype) for i, v in enumerate(values)]


def sample_arguments(name: str, k: int, rng) -> tuple:
    """``(argument values, parameters)`` of sample ``k`` of op ``name`` (k = -1: an
    elementwise op on fixed broadcasting shapes from its domain)."""
    op = REGISTRY[name]
    if k < 0:
        args, params = ((2, 3), (3,), (1, 1))[:op.arity], PARAMS.get(name, [({}, None)])[0][0]
        return sample(rng, args, *(op.domain or (-2, 2))), params
    args, params = op.samples[k]
    return [draw(op, a, rng) for a in args], params


def check_sample(name: str, k: int, rng, backend: str = "numpy", rtol: float = 1e-13) -> None:
    """Sample ``k`` of op ``name`` compiled for ``backend`` (see sample_arguments): the value
    against the op's NumPy implementation, first and second derivatives forward and reverse
    against finite differences, wrt every float argument."""
    op = REGISTRY[name]
    values, params = sample_arguments(name, k, rng)
    xs = _symbols(values)
    out = sg.apply(name, *xs, **params)
    assert out.op == name
    got = np.asarray(sg.function(xs, out, backend=backend)(*values))
    np.testing.assert_allclose(got, op.impl(*values, **params), rtol=rtol, atol=rtol)
    assert got.dtype == out.dtype, f"{name} declares {out.dtype}, computes {got.dtype}"
    floats = [x for x in xs if x.dtype.kind == "f"]
    if op.differentiable and floats:
        check_grads(out, floats, dict(zip(xs, values)), seed=max(k, 0), backend=backend)


@pytest.mark.parametrize("name, k", SAMPLED)
def test_op_samples(name, k, rng):
    check_sample(name, k, rng)


# every op on every other backend installed here (an op a backend cannot express is an
# UnsupportedError at compile time naming both: reported as a skip with that message)
OTHER_BACKENDS = [b for b in sg.backends.available() if b != "numpy"]
ON_BACKENDS = [pytest.param(b, name, k, id=f"{b}-{name}-{k}") for b in OTHER_BACKENDS
               for name, k in [(n, -1) for n in GENERIC + BOOLEAN]
               + [(n, k) for n, op in sorted(REGISTRY.items()) for k in range(len(op.samples))]]


@pytest.mark.parametrize("backend, name, k", ON_BACKENDS)
def test_op_on_backend(backend, name, k, rng):
    try:
        check_sample(name, k, rng, backend, rtol=1e-12)
    except sg.UnsupportedError as err:
        assert repr(backend) in str(err), err
        pytest.skip(str(err))


def _batching_cases():
    """(name, args, params) for every op with a batching rule: samples, and a broadcasting
    case for elementwise ops."""
    cases = []
    for name, op in sorted(REGISTRY.items()):
        if op.batch is None:
            continue
        if name in GENERIC:
            cases.append(pytest.param(name, ((2, 1), (3,), ())[:op.arity],
                                      PARAMS.get(name, [({}, None)])[0][0], id=name))
        cases += [pytest.param(name, args, params, id=f"{name}-{k}")
                  for k, (args, params) in enumerate(op.samples)]
    return cases


@pytest.mark.parametrize("name, args, params", _batching_cases())
def test_batching_rule(name, args, params, rng):
    """``sg.vectorize`` (each op's batching rule) equals evaluating example by example, with
    every argument batched and with only the first one batched."""
    op = REGISTRY[name]
    values = [draw(op, a, rng, (4,)) for a in args]
    xs = _symbols([v[0] for v in values])
    out = sg.apply(name, *xs, **params)
    fn = sg.function(xs, out)
    for batched in (range(len(xs)), [0]):
        stacks = [sg.tensor(f"X{i}", (4, *x.dims), dtype=x.dtype) for i, x in enumerate(xs)]
        mapped = sg.vectorize(out, {xs[i]: stacks[i] for i in batched})
        assert mapped.dims == (4, *out.dims)
        inputs = [stacks[i] if i in batched else xs[i] for i in range(len(xs))]
        got = sg.function(inputs, mapped)(*[values[i] if i in batched else values[i][0]
                                            for i in range(len(xs))])
        for b in range(4):
            example = [values[i][b] if i in batched else values[i][0] for i in range(len(xs))]
            np.testing.assert_allclose(got[b], fn(*example), rtol=1e-12, atol=1e-13)


@covers("logical_not")
def test_logic_operators(rng):
    """``& | ^ ~`` on boolean expressions are NumPy's logical operations, as on arrays."""
    a, b = sg.vector("a", 5), sg.vector("b", 5)
    va, vb = rng.standard_normal(5), rng.standard_normal(5)
    p, q = a > 0, b > 0
    got = sg.function([a, b], [p & q, p | q, p ^ q, ~p, sg.logical_not(q)])(va, vb)
    pv, qv = va > 0, vb > 0
    for g, e in zip(got, [pv & qv, pv | qv, pv ^ qv, ~pv, ~qv]):
        assert g.dtype == bool
        np.testing.assert_array_equal(g, e)


@covers("sign")
def test_sign_has_zero_gradient(rng):
    x = sg.vector("x", 5)
    value = np.array([-2.0, -0.0, 0.0, 0.5, 3.0])
    np.testing.assert_array_equal(sg.sign(x).eval({x: value}), np.sign(value))
    g = sg.grad(sg.sum(sg.sign(x) * x), x)  # d/dx (sign(x) x) = sign(x): the sign factor is constant
    np.testing.assert_array_equal(g.eval({x: value}), np.sign(value))


# -- reductions -----------------------------------------------------------------------------
def _np_logsumexp(v, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(v), axis=axis, keepdims=keepdims))


REDUCTIONS = {"sum": (sg.sum, np.sum), "max": (sg.max, np.max), "mean": (sg.mean, np.mean),
              "logsumexp": (sg.logsumexp, _np_logsumexp)}
AXES = [((2, 3, 4), None, False), ((2, 3, 4), 1, False), ((2, 3, 4), (0, 2), True),
        ((2, 3, 4), -1, True), ((2, 3, 4), (-1, 0), False), ((3,), 0, True), ((3,), None, False),
        ((2, 3), None, True)]


@covers("sum", "max")
@pytest.mark.parametrize("reduction", sorted(REDUCTIONS))
@pytest.mark.parametrize("shape, axis, keepdims", AXES)
def test_reductions(reduction, shape, axis, keepdims, rng):
    """Values as NumPy's; derivatives by finite differences (random points: no ties in max)."""
    fn, np_fn = REDUCTIONS[reduction]
    x = sg.tensor("x", shape)
    value = rng.standard_normal(shape)
    out = fn(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.eval({x: value}), np_fn(value, axis=axis, keepdims=keepdims),
                               rtol=1e-13)
    check_grads(out, x, {x: value})


def test_reduction_methods_are_the_same_nodes():
    """``x.sum(1)`` is ``sg.sum(x, 1)``: hash-consing gives back the very same node."""
    x = sg.matrix("x", (2, 3))
    assert x.sum(1) == sg.sum(x, 1) and x.mean(0, True) == sg.mean(x, 0, True)
    assert x.max() == sg.max(x)


@pytest.mark.parametrize("shape, axis", [((5,), None), ((2, 3), 1), ((2, 3), 0), ((2, 3), None),
                                         ((2, 3, 2), (0, 2)), ((2, 3), -1)])
def test_softmax(shape, axis, rng):
    x = sg.tensor("x", shape)
    value = rng.standard_normal(shape)
    e = np.exp(value)
    np.testing.assert_allclose(sg.softmax(x, axis).eval({x: value}),
                               e / e.sum(axis=axis, keepdims=True), rtol=1e-13)
    check_grads(sg.softmax(x, axis), x, {x: value})


def test_max_ties_share_the_gradient():
    x = sg.matrix("x", (2, 4))
    value = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    g = sg.grad(sg.sum(sg.max(x, axis=1) * np.array([1.0, 10.0])), x).eval({x: value})
    np.testing.assert_array_equal(g, [[0, 0.5, 0.5, 0], [2.5, 2.5, 2.5, 2.5]])
    np.testing.assert_array_equal(sg.grad(sg.max(x), x).eval({x: value}),
                                  [[0, 0.5, 0.5, 0], [0, 0, 0, 0]])


# -- linear algebra -------------------------------------------------------------------------
MATMUL = [((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 4)),
          ((4, 3), (2, 3, 2)), ((2, 1, 2, 3), (3, 3, 2)), ((3,), (2, 3, 4)), ((2, 4, 3), (3,))]


@covers("matmul")
@pytest.mark.parametrize("sa, sb", MATMUL, ids=str)
def test_matmul(sa, sb, rng):
    a, b = sg.tensor("a", sa), sg.tensor("b", sb)
    va, vb = rng.standard_normal(sa), rng.standard_normal(sb)
    out = a @ b
    assert out.dims == np.matmul(va, vb).shape
    np.testing.assert_allclose(sg.function([a, b], out)(va, vb), va @ vb, rtol=1e-13)
    check_grads(out, [a, b], {a: va, b: vb})


@pytest.mark.parametrize("sa, sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 2)),
                                    ((), (3,)), ((2, 2), ())])
def test_dot(sa, sb, rng):
    a, b = sg.tensor("a", sa), sg.tensor("b", sb)
    va, vb = rng.standard_normal(sa), rng.standard_normal(sb)
    np.testing.assert_allclose(sg.function([a, b], sg.dot(a, b))(va, vb), np.dot(va, vb), rtol=1e-13)
    check_grads(sg.dot(a, b), [a, b], {a: va, b: vb})


@pytest.mark.parametrize("sa, sb", [((3,), (2,)), ((2, 2), (3,)), ((), (2,))])
def test_outer(sa, sb, rng):
    a, b = sg.tensor("a", sa), sg.tensor("b", sb)
    va, vb = rng.standard_normal(sa), rng.standard_normal(sb)
    np.testing.assert_allclose(sg.function([a, b], sg.outer(a, b))(va, vb), np.outer(va, vb))
    check_grads(sg.outer(a, b), [a, b], {a: va, b: vb})


# -- moving data: each checked as sin(move(x)), so that the second derivative runs through
#    the vjp rule of the move's own vjp rule (scatter for getitem, and so on) --------------
def check_move(x, value, moved, expected):
    np.testing.assert_array_equal(moved.eval({x: value}), expected)
    check_grads(sg.sin(moved), x, {x: value})


@covers("cond")
def test_cond(rng):
    """One of two branches, values and derivatives to second order against differences on
    each side (tests/test_loops.py checks the branch not taken never runs)."""
    w, v = sg.vector("w", 3), sg.vector("v", 3)
    z = sg.cond(sg.sum(w) > 0, lambda a, b: a * sg.sin(b), lambda a, b: sg.exp(a) - b, w, v)
    for sign in (1, -1):
        a, b = sign * np.abs(rng.standard_normal(3)), rng.standard_normal(3)
        expected = a * np.sin(b) if sign > 0 else np.exp(a) - b
        np.testing.assert_allclose(sg.function([w, v], z)(a, b), expected, rtol=1e-14)
        check_grads(z, [w, v], {w: a, v: b})


@covers("while")
def test_while(rng):
    """A loop until its condition fails: values against NumPy, forward-mode derivatives to
    second order against differences (reverse mode needs max_steps: a scan)."""
    x = sg.vector("x", 2)
    out = sg.while_loop(lambda c: sg.sum(c * c) < 50.0, lambda c: c * 1.5 + sg.sin(c), x)
    value = np.array([0.3, -0.4])
    expected = value.copy()
    while np.sum(expected ** 2) < 50:
        expected = expected * 1.5 + np.sin(expected)
    f = sg.function([x], out)
    np.testing.assert_allclose(f(value), expected, rtol=1e-14)
    v = rng.standard_normal(2)
    eps = 1e-6
    along = sg.function([x], sg.jvp(out, x, sg.constant(v)))(value)
    np.testing.assert_allclose(along, (f(value + eps * v) - f(value - eps * v)) / (2 * eps),
                               rtol=1e-6)


@covers("scan")
def test_scan(rng):
    """A loop over a traced step, values against NumPy and derivatives to second order
    against differences (tests/test_loops.py compares scans with the unrolled graph)."""
    W, h0, xs = sg.matrix("W", (2, 2)), sg.vector("h0", 2), sg.matrix("xs", (3, 2))
    last, hs = sg.scan(lambda h, x: (sg.tanh(W @ h + x), h * h), h0, xs)
    w, h, x = rng.standard_normal((2, 2)), rng.standard_normal(2), rng.standard_normal((3, 2))
    expected = [h]
    for t in range(3):
        expected.append(np.tanh(w @ expected[-1] + x[t]))
    got_last, got_hs = sg.function([W, h0, xs], [last, hs])(w, h, x)
    np.testing.assert_allclose(got_last, expected[-1], rtol=1e-14)
    np.testing.assert_allclose(got_hs, np.square(expected[:3]), rtol=1e-14)
    check_grads(sg.sum(last) + sg.sum(hs), [W, h0, xs], {W: w, h0: h, xs: x})


@covers("transpose")
@pytest.mark.parametrize("shape, axes", [((2, 3), None), ((2, 3, 4), None), ((2, 3, 4), (1, 2, 0)),
                                         ((2, 3, 4), (-1, 0, 1)), ((3,), None)])
def test_transpose(shape, axes, rng):
    x = sg.tensor("x", shape)
    value = rng.standard_normal(shape)
    check_move(x, value, sg.transpose(x, axes), np.transpose(value, axes))


def test_transpose_property_and_rewrite(rng):
    x = sg.matrix("x", (2, 3))
    assert x.T == sg.transpose(x) and x.T.T == x


@covers("reshape")
@pytest.mark.parametrize("shape, new", [((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1, 2)),
                                        ((6,), (2, 3)), ((2, 3), (3, 2)), ((), (1, 1)), ((1,), ())])
def test_reshape(shape, new, rng):
    x = sg.tensor("x", shape)
    value = rng.standard_normal(shape)
    check_move(x, value, sg.reshape(x, new), value.reshape(new))
    assert x.reshape(new) == sg.reshape(x, new)


@pytest.mark.parametrize("new, dims", [((-1,), ("6*n",)), ((2, 3, "n"), (2, 3, "n")),
                                       (("n", -1), ("n", 6)), (("n", 3, -1), ("n", 3, 2))])
def test_reshape_named(new, dims, rng):
    """Named dimensions travel through reshape, and one compiled function serves any size."""
    X = sg.matrix("X", ("n", 6))
    out = sg.reshape(X, new)
    assert out.dims == dims
    fn = sg.function([X], out)
    for n in (1, 4):
        value = rng.standard_normal((n, 6))
        np.testing.assert_array_equal(fn(value), value.reshape(tuple(n if d == "n" else d for d in new)))
    check_grads(sg.sin(out), X, {X: rng.standard_normal((3, 6))})


@covers("broadcast_to")
@pytest.mark.parametrize("shape, new", [((3,), (2, 3)), ((1, 3), (4, 2, 3)), ((), (2, 2)),
                                        ((2, 1), (2, 3)), ((2, 1, 1), (2, 3, 2))])
def test_broadcast_to(shape, new, rng):
    x = sg.tensor("x", shape)
    value = rng.standard_normal(shape)
    check_move(x, value, sg.broadcast_to(x, new), np.broadcast_to(value, new))


INDICES = [(1,), (-1,), (slice(1, 3),), (slice(None), -2), (slice(None, None, 2),),
           (slice(None, None, -1),), (None, slice(1, None)), (Ellipsis, 2), (1, Ellipsis, None),
           (slice(-3, -1), slice(1, None, 2)), (slice(None), None, 0), (-4, -5),
           (slice(np.int64(1), np.int64(3)), np.int64(2))]


@covers("getitem")
@pytest.mark.parametrize("index", INDICES, ids=str)
def test_getitem(index, rng):
    x = sg.matrix("x", (4, 5))
    value = rng.standard_normal((4, 5))
    check_move(x, value, x[index], value[index])


def test_getitem_named_dimension(rng):
    """Differences of neighbours on a vector of any length n: shape n-1."""
    v = sg.vector("v", "n")
    d = v[1:] - v[:-1]
    assert d.dims == ("n-1",)
    fn = sg.function([v], [d, v[-1], v[1:-1]])
    for n in (3, 6):
        value = rng.standard_normal(n)
        diff, last, middle = fn(value)
        np.testing.assert_array_equal(diff, np.diff(value))
        assert last == value[-1]
        np.testing.assert_array_equal(middle, value[1:-1])
    check_grads(d * d, v, {v: rng.standard_normal(5)})
    assert v[3:1].dims == (0,) and v[3:1].eval({v: np.ones(6)}).shape == (0,)
    assert v[-2:].dims == (2,) and v[1:-1].dims == ("n-2",)


@covers("scatter")
@pytest.mark.parametrize("index", INDICES[:6], ids=str)
def test_scatter_is_the_vjp_of_indexing(index, rng):
    """The adjoint of x[index] writes the cotangent into zeros; checked as a function of the
    cotangent (first derivative: indexing again; second: through scatter's own rule)."""
    x = sg.matrix("x", (4, 5))
    c = sg.tensor("c", x[index].dims)
    cv = rng.standard_normal(c.dims)
    out = sg.vjp(x[index], x, c)
    assert out.op == "scatter"
    expected = np.zeros((4, 5))
    expected[index] = cv
    np.testing.assert_array_equal(out.eval({c: cv}), expected)
    check_grads(sg.sin(out), c, {c: cv})


@covers("concatenate")
@pytest.mark.parametrize("shapes, axis", [([(2, 3), (1, 3)], 0), ([(2, 1), (2, 3)], 1),
                                          ([(2, 1), (2, 3), (2, 2)], -1), ([(3,), (2,)], 0),
                                          ([(1, 2, 2), (1, 2, 1)], 2)])
def test_concatenate(shapes, axis, rng):
    xs = [sg.tensor(f"x{i}", s) for i, s in enumerate(shapes)]
    values = [rng.standard_normal(s) for s in shapes]
    out = sg.concatenate(xs, axis)
    np.testing.assert_array_equal(sg.function(xs, out)(*values), np.concatenate(values, axis))
    check_grads(sg.sin(out) * out, xs, dict(zip(xs, values)))


def test_concatenate_named(rng):
    X, Z = sg.matrix("X", ("n", 3)), sg.matrix("Z", (2, 3))
    out = sg.concatenate([X, Z])
    assert out.dims == ("n+2", 3)
    vx, vz = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    np.testing.assert_array_equal(sg.function([X, Z], out)(vx, vz), np.concatenate([vx, vz]))
    check_grads(out, [X, Z], {X: vx, Z: vz})


@pytest.mark.parametrize("shape, axis", [((3,), 0), ((3,), 1), ((2, 3), -1), ((), 0), ((2, 3), 1)])
def test_stack(shape, axis, rng):
    xs = [sg.tensor(f"x{i}", shape) for i in range(3)]
    values = [rng.standard_normal(shape) for _ in xs]
    out = sg.stack(xs, axis)
    np.testing.assert_array_equal(sg.function(xs, out)(*values), np.stack(values, axis))
    check_grads(sg.sin(out) * out, xs, dict(zip(xs, values)))


NAMED = {  # builders on X of shape (n, m): every family of ops with named dimensions
    "slices": lambda X: sg.sin(X[1:, :2]), "slice_matmul": lambda X: sg.sin(X[:-1, 1:]).T @ X[1:],
    "mean": lambda X: sg.mean(X, 0), "softmax": lambda X: sg.softmax(X, 1),
    "logsumexp": lambda X: sg.logsumexp(X, 0), "max": lambda X: sg.max(X, 1, keepdims=True),
    "concatenate": lambda X: sg.concatenate([X, X * 2], 1), "stack": lambda X: sg.stack([X, X], 2),
    "gram": lambda X: X @ X.T, "broadcast": lambda X: sg.broadcast_to(X[None], (2, "n", "m")),
    "outer_rows": lambda X: X[..., None] * X[:, None, :],
    "last_first": lambda X: X[-1] * X[0] + sg.sum(sg.sin(X[1:-1]), 0),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_dimensions(name, rng):
    """Derivatives through every op family with sizes known only at run time."""
    X = sg.matrix("X", ("n", "m"))
    check_grads(NAMED[name](X), X, {X: rng.standard_normal((4, 3))})


# -- where, maximum, powers, casts, stop_gradient and the leaves ------------------------------
@covers("where")
@pytest.mark.parametrize("sc, sa, sb", [((3,), (3,), (3,)), ((2, 1), (3,), ()), ((), (2, 3), (2, 1))])
def test_where(sc, sa, sb, rng):
    """Gradient flows to the chosen branch; the condition's input gets zero."""
    c, a, b = sg.tensor("c", sc), sg.tensor("a", sa), sg.tensor("b", sb)
    vc, va, vb = sample(rng, [sc], -1, 1)[0], rng.standard_normal(sa), rng.standard_normal(sb)
    out = sg.where(c > 0, sg.sin(a) * b, a * a)
    np.testing.assert_allclose(sg.function([c, a, b], out)(vc, va, vb),
                               np.where(vc > 0, np.sin(va) * vb, va * va))
    check_grads(out, [c, a, b], {c: vc, a: va, b: vb})


def test_maximum_minimum_broadcast_and_ties(rng):
    a, b = sg.matrix("a", (2, 1)), sg.vector("b", 3)
    va, vb = np.array([[0.5], [-1.0]]), np.array([0.3, -0.2, 0.9])
    for fn in (sg.maximum, sg.minimum):
        check_grads(fn(a, b), [a, b], {a: va, b: vb})
    x, y = sg.scalars("x y")
    for fn in (sg.maximum, sg.minimum):  # at a tie each argument gets half
        assert sg.function([x, y], sg.grad(fn(x, y), [x, y]))(1.5, 1.5) == (0.5, 0.5)


@pytest.mark.parametrize("n", [2, 3, 4, -1, -2, -3])
def test_integer_powers(n, rng):
    """``x ** n`` for an int becomes int_power, also written as a float like 2.0."""
    x = sg.vector("x", 3)
    value = np.array([0.7, -1.3, 1.9])
    for e in (x ** n, x ** float(n), sg.power(x, n), x ** sg.constant(n)):
        assert e.op == "int_power" and e.params["n"] == n
    np.testing.assert_allclose((x ** n).eval({x: value}), value ** float(n), rtol=1e-14)
    check_grads(x ** n, x, {x: value})


@covers("power")
def test_real_powers(rng):
    x, y = sg.vector("x", 3), sg.scalar("y")
    vx = np.array([0.5, 1.2, 2.5])
    np.testing.assert_allclose((x ** 2.5).eval({x: vx}), vx ** 2.5)
    check_grads(x ** 2.5, x, {x: vx})
    check_grads(x ** -0.5, x, {x: vx})
    check_grads(2.0 ** x, x, {x: vx})
    check_grads(x ** y, [x, y], {x: vx, y: 1.7})


@covers("int_power")
def test_int_power_zero_and_one():
    x = sg.scalar("x")
    assert x ** 1 == x
    assert sg.function([x], [x ** 0, sg.grad(x ** 0, x)])(5.0) == (1.0, 0.0)


@covers("stop_gradient")
def test_stop_gradient(rng):
    x = sg.vector("x", 3)
    value = rng.standard_normal(3)
    f = sg.sum(x * sg.stop_gradient(x))
    g = sg.grad(f, x)
    np.testing.assert_array_equal(f.eval({x: value}), np.sum(value * value))
    np.testing.assert_array_equal(g.eval({x: value}), value)  # d/dx (x * c) = c, c = x
    h = sg.grad(sg.sum(g), x)  # g is the expression stop_gradient(x): its derivative is 0, as in JAX
    np.testing.assert_array_equal(h.eval({x: value}), np.zeros(3))
    assert sg.grad(sg.sum(sg.stop_gradient(sg.sin(x))), x).eval({x: value}).tolist() == [0.0] * 3


@covers("cast")
def test_cast(rng):
    """A cast keeps the value; the gradient comes back in the argument's dtype."""
    x32, y = sg.vector("x", 3, dtype="float32"), sg.vector("y", 3)
    value = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    f = sg.sum(x32.astype("float64") ** 3 * y)
    g32, gy = sg.grad(f, [x32, y])
    assert g32.dtype == np.float32 and gy.dtype == np.float64
    out32, outy = sg.function([x32, y], [g32, gy])(value, np.ones(3))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, 3 * value.astype(np.float64) ** 2, rtol=1e-6)
    np.testing.assert_allclose(outy, value.astype(np.float64) ** 3)
    x = sg.vector("z", 3)
    down = sg.sum(x.astype("float32") * 2)
    assert down.dtype == np.float32 and sg.grad(down, x).dtype == np.float64
    check_grads(sg.sin(x).astype("float64") * x, x, {x: rng.standard_normal(3)})


@covers("fill")
def test_fill(rng):
    X = sg.matrix("X", ("n", 20))
    F = sg.fill(("n", 20), 3.0)
    assert F.op == "fill" and F.dims == ("n", 20)
    np.testing.assert_array_equal(sg.function([X], X * F)(np.ones((2, 20))), np.full((2, 20), 3.0))
    assert sg.fill((2, 2), 1.5).op == "constant"  # small fixed shapes are plain constants
    value = rng.standard_normal((3, 20))
    np.testing.assert_array_equal(sg.grad(sg.sum(X * F), X).eval({X: value}), np.full((3, 20), 3.0))
    check_grads(sg.sin(X) * F, X, {X: value})


@covers("shape_of")
def test_shape_of(rng):
    """``X.shape[0]`` is the run-time size of a named axis; it has no gradient."""
    X = sg.matrix("X", ("n", 3))
    n = X.shape[0]
    assert n.op == "shape_of" and X.shape[1] == 3
    f = sg.sum(X) / n
    fn = sg.function([X], [n, f, sg.grad(f, X)])
    for rows in (2, 5):
        value = rng.standard_normal((rows, 3))
        size, mean, g = fn(value)
        assert size == rows
        np.testing.assert_allclose(mean, value.sum() / rows)
        np.testing.assert_allclose(g, np.full((rows, 3), 1 / rows))


# -- numerics at the extremes -----------------------------------------------------------------
BIG = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])


def test_sigmoid_and_softplus_are_stable():
    """Closed forms: sigmoid(-1000) = e**-1000 (0 in float64), softplus(1000) = 1000,
    softplus(-1000) = e**-1000; their derivatives sigmoid(1 - sigmoid) and sigmoid."""
    x = sg.vector("x", 5)
    s, sp = sg.sigmoid(x), sg.softplus(x)
    fn = sg.function([x], [s, sp, sg.grad(sg.sum(s), x), sg.grad(sg.sum(sp), x),
                           sg.grad(sg.sum(sg.grad(sg.sum(sp), x)), x)])
    sv, spv, ds, dsp, d2sp = fn(BIG)
    exact_s = [1 / (1 + math.exp(-v)) if v > -700 else 0.0 for v in BIG]
    exact_sp = [math.log1p(math.exp(v)) if v < 700 else v for v in BIG]
    np.testing.assert_allclose(sv, exact_s, rtol=1e-15)
    np.testing.assert_allclose(spv, exact_sp, rtol=1e-15)
    np.testing.assert_allclose(ds, [p * (1 - p) for p in exact_s], rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(dsp, exact_s, rtol=1e-15)
    np.testing.assert_allclose(d2sp, [p * (1 - p) for p in exact_s], rtol=1e-14, atol=1e-300)
    assert sv[2] == 0.5 and spv[2] == math.log(2)


@pytest.mark.parametrize("make, inner, outer", [(lambda x: sg.log(sg.sigmoid(x)), -1, -1),
                                                (lambda x: sg.log(1 + sg.exp(x)), 1, 1),
                                                (lambda x: sg.log(sg.exp(x) + 1), 1, 1),
                                                (lambda x: sg.log1p(sg.exp(x)), 1, 1),
                                                (lambda x: sg.log(1 - sg.sigmoid(x)), 1, -1)])
def test_unstable_forms_are_rewritten(make, inner, outer):
    """Each is ``outer * softplus(inner * x)`` (log(sigmoid(x)) = -softplus(-x), log(1 - sigmoid(x))
    = -softplus(x), ...): finite at ±1000, derivative ``outer * inner * sigmoid(inner * x)``."""
    x = sg.vector("x", 5)
    f = make(x)
    value, slope = sg.function([x], [f, sg.grad(sg.sum(f), x)])(BIG)
    softplus = [math.log1p(math.exp(inner * v)) if inner * v < 700 else inner * v for v in BIG]
    sigmoid = [1 / (1 + math.exp(-inner * v)) if inner * v > -700 else 0.0 for v in BIG]
    np.testing.assert_allclose(value, [outer * v for v in softplus], rtol=1e-15)
    np.testing.assert_allclose(slope, [outer * inner * v for v in sigmoid], rtol=1e-14)


def test_logsumexp_and_softmax_are_stable():
    """logsumexp([a, b]) = max + log1p(exp(-|a - b|)); softmax has the same shift."""
    x = sg.vector("x", 3)
    value = np.array([1000.0, 999.0, -1000.0])
    lse, sm, dlse = sg.function([x], [sg.logsumexp(x), sg.softmax(x),
                                      sg.grad(sg.logsumexp(x), x)])(value)
    z = 1 + math.exp(-1)
    assert lse == pytest.approx(1000 + math.log(z), rel=1e-15)
    np.testing.assert_allclose(sm, [1 / z, math.exp(-1) / z, 0.0], rtol=1e-15)
    np.testing.assert_allclose(dlse, sm, rtol=1e-15)
    hess = sg.function([x], sg.grad(sg.sum(sg.softmax(x) * np.array([1.0, 2.0, 3.0])), x))(-value)
    assert np.all(np.isfinite(hess))
    low = sg.function([x], sg.logsumexp(x))(np.array([-1000.0, -1001.0, -999.0]))
    assert low == pytest.approx(-999 + math.log(1 + math.exp(-1) + math.exp(-2)), rel=1e-15)


def test_conventions_at_non_smooth_points():
    """The README's table: abs, relu at 0 give 0; sqrt gives inf; x**2, x**3 give exact 0."""
    x = sg.scalar("x")
    fs = (abs(x), sg.relu(x), sg.sqrt(x), x ** 2, x ** 3, sg.square(x))
    for derivatives in ([sg.grad(f, x) for f in fs], [sg.grad(f, [x])[0] for f in fs]):
        assert sg.function([x], derivatives)(0.0) == (0.0, 0.0, math.inf, 0.0, 0.0, 0.0)
    assert sg.function([x], sg.diff(x ** 3, x, 2))(0.0) == 0.0
    assert sg.function([x], sg.diff(x ** 3, x, 3))(0.0) == 6.0


@covers("name")
def test_name_is_the_identity_for_derivatives(rng):
    x = sg.vector("x", 3)
    check_grads(sg.name(sg.sin(x), "s") * x, x, {x: rng.standard_normal(3)})


@covers("band", "band_part")
def test_band_and_its_adjoint(rng):
    """band places coefficients on shifted diagonals; band_part reads one back."""
    from symgrad.ops.band import band, band_part
    a, b = sg.vector("a", 4), sg.vector("b", 4)
    B = band([a, b], [(0,), (1,)], (4,), (5,))
    va, vb = rng.standard_normal(4), rng.standard_normal(4)
    expected = np.zeros((4, 5))
    expected[np.arange(4), np.arange(4)] = va
    expected[np.arange(4), np.arange(4) + 1] = vb
    np.testing.assert_allclose(sg.function([a, b], B)(va, vb), expected)
    check_grads(B * B, [a, b], {a: va, b: vb})
    H = sg.matrix("H", (4, 5))
    vh = rng.standard_normal((4, 5))
    np.testing.assert_allclose(sg.function([H], band_part(H, (1,)))(vh), vh[np.arange(4), np.arange(4) + 1])
    check_grads(band_part(H, (1,)) ** 2, H, {H: vh})


@covers("band_sparse", "dense_sparse", "csr")
@pytest.mark.parametrize("size", [6, "n"])
def test_sparse_hessians_equal_dense(size, rng):
    """End results (scipy matrices, no derivative): banded structure (band_sparse), lost
    structure with fixed sizes (colored: csr) and with a named size (dense_sparse)."""
    x = sg.vector("x", size)
    banded = sg.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    coupled = sg.sum(sg.tanh(sg.outer(x, x)))  # a matrix product-like structure: dense
    value = rng.standard_normal(6)
    for f, op in ((banded, "band_sparse"), (coupled, "csr" if size == 6 else "dense_sparse")):
        hessian = sg.hessian(f, x, sparse=True)
        assert hessian.op == op
        sparse, dense = sg.function([x], [hessian, sg.hessian(f, x)])(value)
        np.testing.assert_allclose(sparse.toarray(), dense, rtol=1e-12, atol=1e-12)


# -- sparsity rules: every derivative the numbers show is in the structural pattern -------
SPARSITY = [pytest.param(name, k, id=f"{name}-{k}") for name, k in
            [(n, -1) for n in GENERIC] + [(n, k) for n, op in sorted(REGISTRY.items())
                                          if op.differentiable for k in range(len(op.samples))]]


def _nonzero(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix)
    return np.abs(matrix) > 1e-10 * max(1.0, np.abs(matrix).max())


@pytest.mark.parametrize("name, k", SPARSITY)
def test_sparsity_rule_covers_the_derivatives(name, k, rng):
    """For each float argument in turn (the others constants), the Jacobian's and the
    Hessian's nonzeros at a random point lie in sg.jacobian_sparsity and sg.hessian_sparsity
    (a rule that drops a dependency fails here)."""
    pytest.importorskip("scipy")
    values, params = sample_arguments(name, k, rng)
    for p, v in enumerate(values):
        if v.dtype.kind != "f":
            continue
        with sg.Graph():
            x = sg.tensor("x", v.shape)
            operands = [x if q == p else sg.constant(u) for q, u in enumerate(values)]
            out = sg.apply(name, *operands, **params)
            n, m = v.size, int(np.prod(out.dims))
            jac = sg.function([x], sg.jacobian(out, x))(v)
            pattern = sg.jacobian_sparsity(out, x).toarray()
            assert pattern.shape == (m, n)
            missing = _nonzero(jac).reshape(m, n) & ~pattern
            assert not missing.any(), f"{name} wrt argument {p}: missing {np.argwhere(missing)}"
            f = sg.sum(sg.constant(rng.uniform(0.5, 1.5, out.dims)) * out)
            hess = sg.function([x], sg.hessian(f, x))(v)
            pattern = sg.hessian_sparsity(f, x).toarray()
            missing = _nonzero(hess).reshape(n, n) & ~pattern
            assert not missing.any(), f"{name} wrt argument {p}: Hessian misses {np.argwhere(missing)}"
