"""The jax backend: jax.numpy source under jax.jit, JAX arrays in and out, dtypes as declared.

Every op's value and derivatives run in tests/test_ops.py (test_op_on_backend); here the
network-shaped graphs, named sizes and retracing, dtypes and JAX's x64 mode, conversions,
structures, shared variables, composition with JAX's own transformations, and the errors.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special

import symgrad as sg

from conftest import foreign_identifiers

jax = pytest.importorskip("jax", reason="JAX is not installed: pip install 'symgrad[jax]'")
jnp = pytest.importorskip("jax.numpy")


@pytest.fixture(autouse=True)
def no_warnings():
    """Conversions and casts must not fall back to JAX's 32-bit types (it warns when it does)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def mlp(sizes=(4, 6, 5, 3)):
    X, Y = sg.matrix("X", ("n", sizes[0])), sg.matrix("Y", ("n", sizes[-1]))
    params, a = [], X
    for i, (m, k) in enumerate(zip(sizes, sizes[1:])):
        W, b = sg.matrix(f"W{i}", (m, k)), sg.vector(f"b{i}", k)
        params += [W, b]
        a = sg.tanh(a @ W + b) if i < len(sizes) - 2 else sg.sigmoid(a @ W + b)
    cost = 0.5 * sg.sum((a - Y) ** 2) / X.shape[0] + 1e-3 * sg.sum(params[0] ** 2)
    return [X, Y], params, cost


def mlp_values(params, n, seed=0):
    rng = np.random.default_rng(seed)
    data = [rng.standard_normal((n, 4)), rng.uniform(0, 1, (n, 3))]
    return data, [rng.standard_normal(p.dims) for p in params]


def test_mlp_values_gradients_and_hessian_vector_product_match_numpy():
    data, params, cost = mlp()
    vs = [sg.tensor(f"v{k}", p.dims) for k, p in enumerate(params)]
    hv = sg.jvp(sg.grad(cost, params), params, vs)
    outputs = [cost, *sg.grad(cost, params), *hv]
    f = sg.function(data + params + vs, outputs, backend="jax")
    assert "np is jax.numpy here" in f.source and "out=" not in f.source
    assert not foreign_identifiers(f.source)
    d, p = mlp_values(params, 7)
    directions = [np.random.default_rng(1).standard_normal(x.dims) for x in params]
    got = f(*d, *p, *directions)
    want = sg.function(data + params + vs, outputs)(*d, *p, *directions)
    for g, w in zip(got, want):
        assert isinstance(g, jax.Array) and g.dtype == np.float64
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-12, atol=1e-14)


def test_one_function_serves_every_size_and_compiles_once_per_size():
    """Named sizes are static arguments: each new batch size traces and compiles once (as
    jax.jit does for any new shape); a size seen before runs the compiled code."""
    data, params, cost = mlp()
    f = sg.function(data + params, [cost, *sg.grad(cost, params)], backend="jax")
    g = sg.function(data + params, [cost, *sg.grad(cost, params)])
    jitted = f._fn.__wrapped__
    for n in (3, 8, 3, 5, 8):
        d, p = mlp_values(params, n, seed=n)
        with jax.enable_x64(True):
            args = [jnp.asarray(a) for a in d + p]
        for a, b in zip(f(*args), g(*d, *p)):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-12, atol=1e-14)
    assert jitted._cache_size() == 3


def test_float64_whatever_jax_x64_says_and_the_users_jax_untouched():
    """float64 symbols give float64 results with JAX's x64 mode off (its default), and the
    mode is on only inside symgrad's calls: the user's own JAX code keeps 32-bit defaults."""
    assert not jax.config.jax_enable_x64
    x = sg.vector("x", 3)
    f = sg.function([x], [sg.sum(sg.exp(x)), sg.grad(sg.sum(sg.exp(x)), x)], backend="jax")
    for arg in ([0.0, 1.0, 2.0], np.arange(3.0), jnp.arange(3.0), jnp.arange(3)):
        value, grad = f(arg)  # a list, NumPy, a JAX float32 and int32 array
        assert value.dtype == grad.dtype == np.float64
        np.testing.assert_allclose(np.asarray(grad), np.exp(np.arange(3.0)), rtol=1e-15)
    assert jnp.asarray(1.0).dtype == np.float32 and not jax.config.jax_enable_x64


def test_python_floats_are_float64_not_weakly_typed():
    """A float for a float64 scalar is a float64 array (JAX would type a bare Python float
    weakly, letting a float32 operand decide the result)."""
    s, v = sg.scalar("s"), sg.vector("v", 2, dtype="float32")
    out = s * v.astype("float64")
    f = sg.function([s, v], out, backend="jax")
    got = f(1.0 / 3.0, np.ones(2, np.float32))
    assert got.dtype == np.float64
    np.testing.assert_allclose(np.asarray(got), [1 / 3, 1 / 3], rtol=1e-15)


def test_float32_stays_float32():
    x = sg.vector("x", 4, dtype="float32")
    y = sg.sum(sg.tanh(x) * 2.0 + sg.log1p(x * x))
    f = sg.function([x], [y, sg.grad(y, x), sg.hessian(y, x)], backend="jax")
    v = np.linspace(-1, 1, 4, dtype=np.float32)
    want = sg.function([x], [y, sg.grad(y, x), sg.hessian(y, x)])(v)
    for g, w in zip(f(v), want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5)


def test_structures_defaults_and_keywords():
    W, b, x = sg.matrix("W", (2, 3)), sg.vector("b", 3), sg.vector("x", 2)
    y = sg.sum(sg.sigmoid(x @ W + b))
    f = sg.function([{"W": W, "b": b}, x], {"y": y, "grads": sg.grad(y, [W, b])},
                    backend="jax")
    rng = np.random.default_rng(0)
    p = {"W": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}
    xv = rng.standard_normal(2)
    got = f(p, xv)
    want = sg.function([{"W": W, "b": b}, x], {"y": y, "grads": sg.grad(y, [W, b])})(p, xv)
    assert set(got) == {"y", "grads"} and isinstance(got["grads"], tuple)
    np.testing.assert_allclose(np.asarray(got["y"]), want["y"], rtol=1e-14)
    for g, w in zip(got["grads"], want["grads"]):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-14)
    h = sg.function([x, b], sg.sum(x) + sg.sum(b), backend="jax", defaults={b: np.ones(3)})
    assert float(h(np.ones(2))) == 5.0 and float(h(x=np.ones(2), b=np.zeros(3))) == 2.0


def test_shared_variables_are_read_and_updated():
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    x = sg.vector("x", 2)
    loss = sg.sum((w * x - 1.0) ** 2)
    step = sg.function([x], loss, backend="jax", updates={w: w - 0.1 * sg.grad(loss, w)})
    first = float(step(np.array([1.0, 1.0])))
    assert first == 1.0 and np.allclose(w.get_value(), [1.0, 1.8])
    assert float(step(np.array([1.0, 1.0]))) == pytest.approx(0.64)


def test_composes_with_jax_jit_and_grad():
    """Called on tracers (inside the user's jax.jit or jax.grad) the function traces into
    the user's computation."""
    x = sg.vector("x", 3)
    f = sg.function([x], sg.sum(sg.sin(x) * x), backend="jax")
    with jax.enable_x64(True):
        v = jnp.array([0.1, 0.2, 0.3])
        np.testing.assert_allclose(float(jax.jit(f)(v)), float(np.sum(np.sin(v) * v)))
        np.testing.assert_allclose(np.asarray(jax.grad(f)(v)), np.sin(v) + v * np.cos(v),
                                   rtol=1e-14)


def test_elementwise_python_implementations_run_as_host_callbacks():
    erf = sg.defop("jax_test_erf", impl=scipy.special.erf,
                   partials=[lambda out, x: 2 / np.sqrt(np.pi) * sg.exp(-x * x)])
    x = sg.vector("x", 3)
    f = sg.function([x], [erf(x), sg.grad(sg.sum(erf(x) ** 2), x)], backend="jax")
    v = np.array([0.1, 0.5, -1.0])
    value, grad = f(v)
    np.testing.assert_allclose(np.asarray(value), scipy.special.erf(v), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(grad), 2 * scipy.special.erf(v) * 2 / np.sqrt(np.pi)
                               * np.exp(-v * v), rtol=1e-14)


@pytest.mark.parametrize("op, f", [("band_sparse", lambda x: sg.sum(x ** 3)),
                                   ("csr", lambda x: sg.sum(x) ** 3)])
def test_unsupported_ops_are_refused_when_compiling(op, f):
    x = sg.vector("x", 4)
    with pytest.raises(sg.UnsupportedError, match=f"backend 'jax' cannot express the op '{op}'"):
        sg.function([x], sg.hessian(f(x), x, sparse=True), backend="jax")
    total = sg.defop("jax_test_total", impl=lambda a: np.sum(a), shape=lambda a: ((), a.dtype),
                     vjp=[lambda g, out, a: g * sg.ones_like(a)])
    with pytest.raises(sg.UnsupportedError, match="'jax'.*'jax_test_total'.*Python function"):
        sg.function([x], total(x), backend="jax")


def test_bad_arguments_are_errors_naming_them():
    X = sg.matrix("X", ("n", 2))
    f = sg.function([X], sg.sum(X), backend="jax")
    with pytest.raises(sg.ArgumentError, match=r"argument 0 \('X'\) must have shape"):
        f(np.ones((3, 4)))
    with pytest.raises(sg.ArgumentError, match="cannot be cast"):
        f(np.ones((3, 2), complex))
