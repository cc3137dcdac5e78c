"""Forward mode, driven by the op registry: every op's jvp rule against central differences,
against its vjp (``<u, J t> == <Jᵀ u, t>``), for a batch of tangents (``sg.vectorize`` of the
jvp: the batching rules that Jacobians and Hessians run) and through ``sg.jacobian`` (banded
seeds), entry by entry.

Elementwise ops with a ``domain`` are sampled over random broadcasting shapes; every other
op has an example in ``EXAMPLES``; a newly registered op without one fails the coverage test.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import symgrad as sg
from symgrad.check import central_difference, directional_difference
from symgrad.ops.band import band, band_part
from symgrad.op import REGISTRY
from symgrad.ops.custom import USER_OPS

GENERIC = sorted(n for n, op in REGISTRY.items()
                 if op.elementwise and op.differentiable and op.domain is not None)
COMPARISONS = sorted(n for n, op in REGISTRY.items()
                     if op.elementwise and not op.differentiable and op.arity == 2)
LEAVES = {"symbol", "constant", "fill"}  # no arguments, no tangent
BOOLEAN = {"logical_not", "sign"}  # no tangent: checked in test_ops.py
END_RESULTS = {"band_sparse", "dense_sparse", "csr"}  # scipy matrices, tested in test_hessian.py
# stop_gradient: differences see through it, checked against its closed form; scan and cond:
# traced bodies, checked against the unrolled graph and closed forms in test_loops.py
DEDICATED = {"stop_gradient", "scan", "cond", "while"}
PARAMS = {"int_power": ({"n": 3}, None), "power": ({}, (0.5, 2.0))}


def _close(actual, expected, what: str, tol: float = 1e-5) -> None:
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert np.max(np.abs(actual - expected), initial=0.0) <= tol * scale, (
        f"{what}:\n{actual}\nexpected\n{expected}")


def check_forward(out: sg.Expr, values: dict, seed: int = 0) -> None:
    """jvp against central differences and against vjp, batched tangents against single
    ones, and the Jacobian wrt each float input against differences entry by entry."""
    rng = np.random.default_rng(seed)
    symbols = list(values)
    point = [np.asarray(values[s], dtype=s.dtype) for s in symbols]
    xs = [s for s in symbols if s.dtype.kind == "f"]
    f = sg.function(symbols, out)

    ts = [sg.tensor(f"t{i}", x.dims) for i, x in enumerate(xs)]
    tv = {x: rng.standard_normal(np.shape(values[x])) for x in xs}
    u = sg.tensor("u", out.dims)
    uv = rng.standard_normal(np.shape(f(*point)))
    jv, vj = sg.jvp(out, xs, ts), sg.vjp(out, xs, u)
    assert jv.dims == out.dims
    exact = sg.function(symbols + ts + [u], [jv] + vj)(*point, *(tv[x] for x in xs), uv)
    numeric = directional_difference(f, point, [symbols.index(x) for x in xs], [tv[x] for x in xs])
    _close(exact[0], numeric, f"jvp of {out!r}")
    _close(np.sum(uv * exact[0]), sum(np.sum(g * tv[x]) for g, x in zip(exact[1:], xs)),
           f"<u, jvp> against <vjp, t> for {out!r}")

    batch = [sg.tensor(f"T{i}", (2, 3) + x.dims) for i, x in enumerate(xs)]
    bv = [rng.standard_normal((2, 3) + np.shape(values[x])) for x in xs]
    tangent = sg.vectorize(jv, dict(zip(ts, batch)))
    assert tangent.dims == (2, 3) + out.dims
    single = sg.function(symbols + ts, jv)
    got = sg.function(symbols + batch, tangent)(*point, *bv)
    for k in np.ndindex(2, 3):
        _close(got[k], single(*point, *(b[k] for b in bv)), f"batched tangent {k} of {out!r}")

    for x in xs:
        jac = sg.function(symbols, sg.jacobian(out, x))(*point)
        _close(jac, central_difference(f, point, symbols.index(x)), f"jacobian of {out!r} wrt {x.name}")


def _inputs(rng, **shapes):
    """Symbols and random values of the given shapes, in (-2, 2)."""
    syms = {name: sg.tensor(name, shape) for name, shape in shapes.items()}
    return syms, {s: rng.uniform(-2, 2, np.shape(np.empty(s.dims))) for s in syms.values()}


def _example(build, **shapes):
    def run(rng):
        syms, values = _inputs(rng, **shapes)
        return build(**syms), values
    return run


def _cast_example(rng):
    """An integer input (no tangent) cast to float, times a float input."""
    x, k = sg.vector("x", 4), sg.vector("k", 4, dtype="int64")
    return k.astype("float64") * x, {x: rng.standard_normal(4), k: rng.integers(-3, 3, 4)}


EXAMPLES = {
    "getitem": [_example(lambda x: x[1:, ::2], x=(4, 5)), _example(lambda x: x[-1, None, :3], x=(3, 4)),
                _example(lambda x: x[2:] * x[:-2], x=(6,))],
    "scatter": [_example(lambda g: sg.apply("scatter", g, index=(("slice", 1, None, None),),
                                            shape=(5,)), g=(4,)),
                _example(lambda g: sg.apply("scatter", g, index=(("int", 1), ("slice", None, None, 2)),
                                            shape=(3, 5)), g=(3,))],
    "reshape": [_example(lambda x: sg.reshape(x, (3, 2, 2)), x=(4, 3))],
    "broadcast_to": [_example(lambda x: sg.broadcast_to(x, (2, 3, 4)), x=(3, 1)),
                     _example(lambda x: sg.broadcast_to(x, (3, 2)), x=())],
    "concatenate": [_example(lambda a, b: sg.concatenate([a, b, sg.constant(np.ones((2, 1)))], 1),
                             a=(2, 3), b=(2, 2))],
    "transpose": [_example(lambda x: sg.transpose(x, (2, 0, 1)), x=(2, 3, 4))],
    "sum": [_example(lambda x: sg.sum(x, axis=(0, 2), keepdims=True), x=(2, 3, 4)),
            _example(lambda x: sg.sum(x * x), x=(5,))],
    "max": [_example(lambda x: sg.max(x, axis=1), x=(3, 4)), _example(lambda x: sg.max(x), x=(5,))],
    "matmul": [_example(lambda a, b: a @ b, a=sa, b=sb) for sa, sb in
               [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((2, 2, 3), (3,)),
                ((3,), (2, 3, 4)), ((2, 1, 2, 3), (2, 3, 2)), ((2, 3), (2, 3, 2))]],
    "where": [_example(lambda a, b, c: sg.where(c > 0, a * b, a + b), a=(3, 1), b=(4,), c=(3, 4))],
    "cast": [lambda rng: _cast_example(rng)],
    "name": [_example(lambda x: sg.name(sg.sin(x), "s") * x, x=(3,))],
    "shape_of": [_example(lambda x: x * x.shape[0], x=(3,))],
    "band": [_example(lambda a, b: band([a, b, 2.0], [(0,), (1,), (-2,)], (4,), (5,)), a=(4,), b=(2, 4)),
             _example(lambda a: band([a], [(1, -1)], (2, 3), (2, 3)), a=(2, 3))],
    "band_part": [_example(lambda h: band_part(h, (1,)), h=(2, 4, 5)),
                  _example(lambda h: band_part(h, (0, -1)), h=(2, 3, 2, 3))],
}


def test_every_op_has_a_forward_check():
    """A newly registered op needs a domain (generic check) or an entry in EXAMPLES."""
    unchecked = (set(REGISTRY) - USER_OPS - {n for n, op in REGISTRY.items() if op.samples}
                 - set(GENERIC) - set(COMPARISONS) - set(EXAMPLES) - LEAVES
                 - END_RESULTS - DEDICATED - BOOLEAN)
    assert not unchecked, (f"ops {sorted(unchecked)} have no forward-mode check: give an "
                           "elementwise op a `domain` or add an example to EXAMPLES in test_forward.py")
    for name, op in REGISTRY.items():
        if op.differentiable and name not in LEAVES | USER_OPS:
            assert op.jvp_rule() is not None, f"{name} has no jvp rule"


@pytest.mark.parametrize("name, k", [(n, k) for n in sorted(set(EXAMPLES) & set(REGISTRY))
                                     for k in range(len(EXAMPLES[n]))])
def test_op_jvp(name, k):
    rng = np.random.default_rng(k)
    out, values = EXAMPLES[name][k](rng)
    check_forward(out, values, seed=k)


SHAPES = mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3).map(lambda s: s.input_shapes)


@pytest.mark.parametrize("name", GENERIC)
@settings(max_examples=3)
@given(shapes=SHAPES, seed=st.integers(0, 2**32 - 1))
@example(shapes=((), ()), seed=0)
@example(shapes=((2, 1), (3,)), seed=1)
def test_elementwise_jvp(name, shapes, seed):
    """Elementwise rules (from ``partials``) over broadcasting shapes, away from kinks."""
    op = REGISTRY[name]
    params, domain = PARAMS.get(name, ({}, None))
    low, high = domain or op.domain
    rng = np.random.default_rng(seed)
    with sg.Graph():
        xs = [sg.tensor(f"x{i}", s) for i, s in enumerate(shapes[:op.arity])]
        values = {}
        for x in xs:
            v = rng.uniform(low, high, x.dims)
            values[x] = np.where(np.abs(v) < 1e-2, 0.5, v) if low < 0 < high else v
        if len(xs) == 2:  # keep ties of maximum/minimum out of reach of the differences
            values[xs[1]] = values[xs[1]] + 0.1 * np.sign(values[xs[1]])
        check_forward(sg.apply(name, *xs, **params), values, seed=seed % 1000)


@pytest.mark.parametrize("name", COMPARISONS)
def test_comparisons_carry_no_tangent(name, rng):
    a, b = sg.vector("a", 4), sg.vector("b", 4)
    check_forward(sg.where(sg.apply(name, a, b), a * b, a - b),
                  {a: rng.uniform(-2, 2, 4), b: rng.uniform(-2, 2, 4) + 0.1})


def test_stop_gradient_has_zero_tangent(rng):
    """d(stop_gradient(x)·x) = stop_gradient(x)·dx, also for a batch of tangents."""
    x = sg.vector("x", 4)
    f = sg.stop_gradient(x) * x
    xv, tv = rng.standard_normal(4), rng.standard_normal(4)
    np.testing.assert_allclose(sg.function([x], sg.jvp(f, x, tv))(xv), xv * tv)
    np.testing.assert_allclose(sg.function([x], sg.jacobian(f, x))(xv), np.diag(xv))


def test_jvp_api(rng):
    """Several inputs (tangents summed), several outputs, broadcasting tangents, zeros."""
    x, y, z = sg.vector("x", 3), sg.scalar("y"), sg.scalar("z")
    f = sg.sin(x) * y
    jx, jy = sg.jvp([f, sg.sum(f)], [x, y], [1.0, 2.0])
    xv, yv = rng.standard_normal(3), 0.7
    got = sg.function([x, y], [jx, jy])(xv, yv)
    np.testing.assert_allclose(got[0], np.cos(xv) * yv + np.sin(xv) * 2)
    np.testing.assert_allclose(got[1], np.sum(got[0]))
    zero = sg.jvp(f, z, 1.0)
    assert zero.dims == (3,)
    np.testing.assert_array_equal(zero.eval({}), np.zeros(3))
    with pytest.raises(sg.ShapeError, match="jvp"):
        sg.jvp(f, x, sg.vector("t", 4))
    with pytest.raises(sg.SymgradError, match="2 tangents"):
        sg.jvp(f, [x], [1.0, 2.0])


def test_jvp_named_dimension(rng):
    """A tangent graph built once runs at any n."""
    x, t = sg.vector("x", "n"), sg.vector("t", "n")
    f = sg.sum(x[1:] * sg.exp(x[:-1]))
    fn = sg.function([x, t], sg.jvp(f, x, t))
    for n in (3, 7):
        xv, tv = rng.standard_normal(n), rng.standard_normal(n)
        g = np.zeros(n)
        g[1:] += np.exp(xv[:-1])
        g[:-1] += xv[1:] * np.exp(xv[:-1])
        np.testing.assert_allclose(fn(xv, tv), g @ tv)


def test_jvp_of_a_cast_keeps_the_dtype(rng):
    x = sg.vector("x", 3)
    t = sg.jvp(x.astype("float32") * 2, x, 1.0)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.eval({x: rng.standard_normal(3)}), np.full(3, 2, np.float32))


def test_jvp_nodes_are_gradient_nodes():
    x = sg.scalar("x")
    assert sg.jvp(sg.sin(x) * x, x, 1.0).is_gradient
