"""The cupy backend: NumPy's emission against CuPy with buffers, CuPy arrays in and out.

Everything but the device runs here with NumPy standing in for CuPy (the same
``cupy_backend`` factory given ``numpy`` and ``scipy``): every op's value and first and second
derivatives, buffers, conversions, callbacks and errors.  With CuPy and a GPU the same checks
run on the device (``"device"`` cases); without them those skip saying why.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.special

import symgrad as sg
from symgrad.backends.array_api import cupy_backend
from symgrad.op import REGISTRY

from conftest import foreign_identifiers
from test_ops import BOOLEAN, GENERIC, check_sample

STAND_IN = cupy_backend(np, scipy.special)


def device():
    """The real cupy backend, or a skip saying what is missing."""
    pytest.importorskip("cupy", reason="no GPU here: CuPy is not installed")
    try:
        return sg.backends.resolve("cupy")
    except sg.UnsupportedError as err:
        pytest.skip(f"no GPU: {err}")


@pytest.fixture(params=["numpy stand-in", "device"])
def backend(request):
    return STAND_IN if request.param == "numpy stand-in" else device()


CASES = [pytest.param(name, -1, id=f"{name}") for name in GENERIC + BOOLEAN] + [
    pytest.param(name, k, id=f"{name}-{k}")
    for name, op in sorted(REGISTRY.items()) for k in range(len(op.samples))]


def host_results(backend):
    """The backend with its functions' results brought back as NumPy arrays, for the checks
    written with NumPy (on the device, CuPy refuses implicit conversions)."""
    on_host = copy.copy(backend)
    to_host, load = backend.runtime.to_host, backend.load
    on_host.load = lambda fn, sizes: (lambda *args: tuple(map(to_host, load(fn, sizes)(*args))))
    return on_host


@pytest.mark.parametrize("name, k", CASES)
def test_op(backend, name, k, rng):
    """Each op's value against its NumPy implementation, first and second derivatives
    forward and reverse; an op the backend cannot express is an UnsupportedError naming it."""
    try:
        check_sample(name, k, rng, host_results(backend), rtol=1e-12)
    except sg.UnsupportedError as err:
        assert "'cupy'" in str(err) and repr(name) in str(err), err
        pytest.skip(str(err))


def mlp(sizes=(4, 6, 3)):
    X, Y = sg.matrix("X", ("n", sizes[0])), sg.matrix("Y", ("n", sizes[-1]))
    params, a = [], X
    for i, (m, k) in enumerate(zip(sizes, sizes[1:])):
        W, b = sg.matrix(f"W{i}", (m, k)), sg.vector(f"b{i}", k)
        params += [W, b]
        a = sg.sigmoid(a @ W + b)
    cost = 0.5 * sg.sum((a - Y) ** 2) / X.shape[0]
    rng = np.random.default_rng(1)
    values = [rng.standard_normal((5, sizes[0])), rng.uniform(0, 1, (5, sizes[-1]))]
    values += [rng.standard_normal(p.dims) for p in params]
    return [X, Y, *params], [cost, *sg.grad(cost, params)], values


def test_mlp_reuses_buffers_and_gives_device_arrays(backend):
    inputs, outputs, values = mlp()
    f = sg.function(inputs, outputs, backend=backend)
    assert "out=" in f.source and "del " in f.source  # buffers planned as for NumPy
    assert f"np is {backend.xp.__name__} here" in f.source
    assert not foreign_identifiers(f.source)
    want = sg.function(inputs, outputs)(*values)
    xp = backend.xp
    got = f(*[xp.asarray(v) for v in values])
    assert isinstance(got[0], np.float64)  # a 0-d result is a NumPy scalar
    for g, w in zip(got[1:], want[1:]):
        assert type(g) is backend.array_type
        np.testing.assert_allclose(backend.runtime.to_host(g), w, rtol=1e-12)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)


def test_arguments_are_converted(backend):
    """Lists, floats and NumPy arrays take the checked path into the module's arrays."""
    x, s = sg.vector("x", 3), sg.scalar("s")
    f = sg.function([x, s], x * s + sg.exp(x), backend=backend)
    got = f([1, 2, 3], 2.0)
    assert type(got) is backend.array_type and got.dtype == np.float64
    np.testing.assert_allclose(backend.runtime.to_host(got), [1, 2, 3] * np.array(2.0)
                               + np.exp([1, 2, 3]))
    with pytest.raises(sg.ArgumentError, match="'x'"):
        f([1.0, 2.0], 2.0)


def test_float32_stays_float32(backend):
    x = sg.vector("x", 4, dtype="float32")
    y = sg.sum(sg.sigmoid(x))
    f = sg.function([x], [sg.tanh(x) * 2.0, sg.grad(y, x), sg.hessian(y, x)], backend=backend)
    for r in f(backend.xp.asarray(np.linspace(-1, 1, 4, dtype=np.float32))):
        assert r.dtype == np.float32


def test_python_implementations_run_as_callbacks(backend):
    """An elementwise sg.defop op calls its NumPy implementation on host copies; a general one
    cannot run on the device arrays and is refused at compile time."""
    erf = sg.defop("cupy_test_erf", impl=scipy.special.erf,
                   partials=[lambda out, x: 2 / np.sqrt(np.pi) * sg.exp(-x * x)])
    x = sg.vector("x", 3)
    f = sg.function([x], [erf(x), sg.grad(sg.sum(erf(x)), x)], backend=backend)
    assert "rt.callback(f0, np.float64, a0)" in f.source
    v = np.array([0.1, 0.5, -1.0])
    value, grad = f(v)
    np.testing.assert_allclose(backend.runtime.to_host(value), scipy.special.erf(v), rtol=1e-14)
    np.testing.assert_allclose(backend.runtime.to_host(grad), 2 / np.sqrt(np.pi) * np.exp(-v * v))
    total = sg.defop("cupy_test_total", impl=lambda a: np.sum(a), shape=lambda a: ((), a.dtype),
                     vjp=[lambda g, out, a: g * sg.ones_like(a)])
    with pytest.raises(sg.UnsupportedError, match="'cupy'.*'cupy_test_total'.*Python function"):
        sg.function([x], total(x), backend=backend)


@pytest.mark.parametrize("op, f", [("band_sparse", lambda x: sg.sum(x ** 3)),
                                   ("csr", lambda x: sg.sum(x) ** 3)])
def test_sparse_hessians_are_unsupported(backend, op, f):
    """scipy.sparse results have no CuPy form here: refused when compiling, naming the op."""
    x = sg.vector("x", 4)
    with pytest.raises(sg.UnsupportedError, match=f"'cupy' cannot express the op '{op}': .*"
                       f"rt.{op}, which symgrad's runtime for {backend.xp.__name__} does not"):
        sg.function([x], sg.hessian(f(x), x, sparse=True), backend=backend)


def test_without_cupy_the_name_says_what_to_install():
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(sg.UnsupportedError, match=r"pip install 'symgrad\[cupy\]'"):
            sg.function([sg.scalar("x")], sg.scalar("x") * 2, backend="cupy")
        assert "cupy" not in sg.backends.available()
    else:
        pytest.skip("CuPy is installed here")
