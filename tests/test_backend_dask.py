"""The dask backend on a two-worker LocalCluster: values, gradients and Hessians against the
NumPy backend, NumPy and dask inputs, lazy results, every elementwise op on chunked data,
no task holding a whole chunked input, and the errors."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="the dask backend needs dask[distributed]")
dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

import symgrad as sg  # noqa: E402
from symgrad.backends.dask import DaskBackend  # noqa: E402
from symgrad.op import REGISTRY  # noqa: E402

from conftest import foreign_identifiers  # noqa: E402
from test_ops import BOOLEAN, GENERIC, PARAMS, sample  # noqa: E402

N, ROWS = 60, 16  # rows of the data; rows per chunk (4 chunks, the last one short)


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes (tasks travel pickled, as on a real cluster)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def chunked(value: np.ndarray) -> da.Array:
    return da.from_array(value, chunks=(ROWS,) + value.shape[1:])


def assert_same(got, want, rtol=1e-12):
    """Results equal the NumPy backend's, as NumPy values of the same dtype."""
    for g, w in zip(got, want):
        assert type(g) is type(w), (type(g), type(w))
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)


def logistic():
    X, y, w = sg.matrix("X", ("n", 5)), sg.vector("y", "n"), sg.vector("w", 5)
    z = X @ w
    loss = sg.sum(sg.softplus(z) - y * z) / X.shape[0]
    return [X, y, w], [loss, sg.grad(loss, w), sg.hessian(loss, w)]


def logistic_data(rng):
    X = rng.standard_normal((N, 5))
    return [X, (rng.random(N) < 0.5).astype(float), 0.3 * rng.standard_normal(5)]


def mlp():
    X, Y = sg.matrix("X", ("n", 4)), sg.matrix("Y", ("n", 3))
    W1, b1 = sg.matrix("W1", (4, 6)), sg.vector("b1", 6)
    W2, b2 = sg.matrix("W2", (6, 3)), sg.vector("b2", 3)
    logits = sg.tanh(X @ W1 + b1) @ W2 + b2
    cost = -sg.mean(sg.sum(sg.log_softmax(logits, axis=1) * Y, axis=1))
    params = [W1, b1, W2, b2]
    hessians = [sg.hessian(cost, W2), sg.hessian(cost, b1)]
    return [X, Y, *params], [cost, *sg.grad(cost, params), *hessians]


def mlp_data(rng):
    Y = np.eye(3)[rng.integers(0, 3, N)]
    params = [0.5 * rng.standard_normal(s) for s in [(4, 6), 6, (6, 3), 3]]
    return [rng.standard_normal((N, 4)), Y, *params]


@pytest.mark.parametrize("model, data", [(logistic, logistic_data), (mlp, mlp_data)],
                         ids=["logistic", "mlp"])
def test_values_gradients_hessians(client, model, data, rng):
    inputs, outputs = model()
    values = data(rng)
    want = sg.function(inputs, outputs)(*values)
    f = sg.function(inputs, outputs, backend="dask")
    assert not foreign_identifiers(f.source)
    with distributed.get_task_stream(client) as tasks:
        assert_same(f(*values), want)  # NumPy inputs: chunked by the function
    assert tasks.data, "the work ran on the client's cluster"
    chunked_values = [chunked(v) if v.shape and v.shape[0] == N else v for v in values]
    assert_same(f(*chunked_values), want)  # dask inputs, used as they are
    lazy = sg.function(inputs, outputs, backend=DaskBackend(chunks=ROWS, lazy=True))(*values)
    assert all(isinstance(r, da.Array) for r in lazy)
    assert_same([r[()] if r.ndim == 0 else r for r in dask.compute(*lazy)], want)


def test_one_compute_per_call(client, rng, monkeypatch):
    """Every output comes from one dask.compute, so the work they share is done once."""
    inputs, outputs = logistic()
    values = logistic_data(rng)
    f = sg.function(inputs, outputs, backend=DaskBackend(chunks=ROWS))
    calls = []
    compute = dask.compute
    monkeypatch.setattr(dask, "compute", lambda *a, **k: calls.append(1) or compute(*a, **k))
    f(*values)
    assert len(calls) == 1


def largest_task(results) -> int:
    """The bytes of the largest array any task of ``results``' graph produced (persisted on
    the synchronous scheduler, unoptimised: every task of every layer, chunks, not joined
    results)."""
    sizes = [0]

    class Sizes(dask.callbacks.Callback):
        def _posttask(self, key, result, dsk, state, id):
            sizes.append(getattr(result, "nbytes", 0))
    with Sizes():
        dask.persist(*results, scheduler="sync", optimize_graph=False)
    return max(sizes)


def test_no_task_holds_a_whole_chunked_input(rng):
    """Sums over "n" reduce chunk by chunk: no task makes an array as large as a quarter of
    the input X (8 chunks)."""
    (X, y, w), outputs = logistic()
    u = X @ w
    extra = [sg.grad(sg.sum(u[1:] * u[:-1]) + sg.sum(sg.cumsum(u) ** 2), X),  # slices, adjoints
             sg.max(sg.logsumexp(X, axis=1)), sg.einsum("na,nb->ab", X, X)]
    Xv, yv, wv = rng.standard_normal((8 * ROWS, 5)), rng.random(8 * ROWS), rng.standard_normal(5)
    f = sg.function([X, y, w], outputs + extra, backend=DaskBackend(chunks=ROWS, lazy=True))
    results = f(Xv, yv, wv)
    assert results[3].chunks[0] == (ROWS,) * 8  # the gradient wrt X keeps X's chunks
    assert largest_task(results) < Xv.nbytes / 4
    want = sg.function([X, y, w], outputs + extra)(Xv, yv, wv)
    assert_same([r[()] if r.ndim == 0 else r for r in dask.compute(*results)], want)


@pytest.mark.parametrize("name, params", [(n, PARAMS.get(n, [({}, None)])[0][0])
                                          for n in GENERIC + BOOLEAN])
def test_elementwise_op_on_chunks(client, name, params):
    """Each elementwise op blockwise on chunked arrays broadcast with a NumPy one: its value
    and the gradient wrt its chunked operands, against the NumPy backend."""
    op = REGISTRY[name]
    shapes = [(N, 3), (3,), (N, 1)][:op.arity]
    dims = [("n", 3), (3,), ("n", 1)][:op.arity]
    values = sample(np.random.default_rng(1), shapes, *(op.domain or (-2, 2)))
    xs = [sg.tensor(f"x{i}", d) for i, d in enumerate(dims)]
    out = sg.apply(name, *xs, **params)
    outputs = [out]
    if op.differentiable:
        outputs += sg.grad(sg.sum(out * out), [x for x, d in zip(xs, dims) if "n" in d])
    want = sg.function(xs, outputs)(*values)
    got = sg.function(xs, outputs, backend=DaskBackend(chunks=ROWS))(*values)
    assert_same(got, want)


def test_small_values_from_dask_values(client, rng):
    """Ops dask lacks run on whole small arrays once the chunked axis is summed away (a
    least-squares solve of X^T X b = X^T Y); a dask array given for a parameter is computed."""
    X, Y = sg.matrix("X", ("n", 4)), sg.matrix("Y", ("n", 2))
    s = sg.scalar("s")
    beta = sg.linalg.solve(X.T @ X + s * np.eye(4), X.T @ Y)
    outputs = [beta, *sg.grad(sg.sum(beta ** 2), [X, s])]
    values = [rng.standard_normal((N, 4)), rng.standard_normal((N, 2)), 0.5]
    f = sg.function([X, Y, s], outputs, backend=DaskBackend(chunks=ROWS))
    assert "dk.whole(" in f.source
    want = sg.function([X, Y, s], outputs)(*values)
    assert_same(f(*values), want, rtol=1e-10)
    W = sg.matrix("W", (4, 2))
    g = sg.function([X, W], sg.sum(X @ W), backend="dask")
    assert g(values[0], da.ones((4, 2))) == pytest.approx(values[0].sum() * 2)


def test_results_are_fresh_and_keep_dtypes(client, rng):
    X, w = sg.matrix("X", ("n", 3), dtype="float32"), sg.vector("w", 3, dtype="float32")
    Xv, wv = rng.standard_normal((N, 3)).astype(np.float32), np.ones(3, np.float32)
    f = sg.function([X, w], [X, w, X[0], sg.sum(X @ w), X.T], backend=DaskBackend(chunks=ROWS))
    got = f(Xv, wv)
    assert [np.asarray(r).dtype for r in got] == [np.float32] * 5
    assert type(got[3]) is np.float32
    for r, source in zip(got, [Xv, wv, Xv, None, Xv]):
        if source is not None:
            assert not np.shares_memory(r, source)
    np.testing.assert_array_equal(got[0], Xv)
    np.testing.assert_array_equal(got[4], Xv.T)


def test_pickle(client, rng):
    inputs, outputs = logistic()
    values = logistic_data(rng)
    f = sg.function(inputs, outputs, backend="dask")
    assert_same(pickle.loads(pickle.dumps(f))(*values), f(*values))
    lazy = sg.function(inputs, outputs, backend=DaskBackend(chunks=7, lazy=True))
    again = pickle.loads(pickle.dumps(lazy))
    assert again.backend.options() == {"dim": "n", "chunks": 7, "lazy": True}
    results = again(*values)
    assert all(isinstance(r, da.Array) for r in results)
    assert_same(dask.compute(*results), f(*values))


def test_errors():
    x, X = sg.vector("x", "n"), sg.matrix("X", ("n", 4))
    cases = [(sg.argsort(x), "'argsort'"), (sg.linalg.det(X @ X.T), "'det'"),
             (X.reshape((4, "n")), "'reshape'"), (sg.hessian(sg.sum(x[1:] * x[:-1]), x), "'band'")]
    for out, op in cases:
        with pytest.raises(sg.UnsupportedError) as err:
            sg.function([x, X], out, backend="dask")
        message = str(err.value)
        assert op in message and "'dask'" in message and "dimension 'n'" in message, message
    sg.function([x], sg.argsort(x), backend=DaskBackend(dim="m"))  # "n" is not chunked here
    with pytest.raises(sg.ArgumentError, match="chunks must be a positive number of rows"):
        DaskBackend(chunks=0)
    with pytest.raises(sg.ArgumentError, match="dim must be the name of a dimension"):
        DaskBackend(dim=("n",))
