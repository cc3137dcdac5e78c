"""backend="numba": scalar functions on the tape interpreter and fused elementwise regions
give the NumPy backend's values, dtypes and derivatives, also at 0, inf, NaN, overflow and
division by zero (without warnings); named dimensions, float32, errors, deep chains, source.
"""
from __future__ import annotations

import math
import pickle
import re
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("numba", reason="numba is not installed (pip install 'symgrad[numba]')")

import symgrad as sg  # noqa: E402
from symgrad.backends import numba as nb  # noqa: E402
from symgrad.op import REGISTRY  # noqa: E402

from conftest import check_grads, foreign_identifiers  # noqa: E402

SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e308, -1e308, 1e-310, 710.0, -745.0,
                    np.inf, -np.inf, np.nan])


def pairs(values=SPECIAL):
    """Every pair of ``values``, as two flat arrays."""
    x, y = np.meshgrid(values, values)
    return x.ravel(), y.ravel()


def both(inputs, outputs):
    """The function compiled for the numba backend and for the NumPy one."""
    return sg.function(inputs, outputs, backend="numba"), sg.function(inputs, outputs)


def same(got, want) -> None:
    """Equal values (NaN where NaN, infinities of the right sign) of the same dtype and type."""
    for g, w in zip(got, want) if isinstance(want, tuple) else [(got, want)]:
        assert type(g) is type(w) and np.asarray(g).dtype == np.asarray(w).dtype, (g, w)
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=0)


def quietly(fn, *args):
    """``fn(*args)``, failing on any warning (NumPy's floating-point ones included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args)


def one_op(name: str, params: dict, dims=()) -> tuple:
    """``(symbols, op applied to them)``: float64 arguments (bool for logical ops)."""
    op = REGISTRY[name]
    dtype = bool if name.startswith("logical_") else np.float64
    xs = [sg.tensor(f"x{i}", dims, dtype=dtype) for i in range(op.arity)]
    return xs, sg.apply(name, *xs, **params)


TAPE_OPS = [(name, {}) for name in nb.TABLE if name in REGISTRY] + [
    ("int_power", {"n": n}) for n in (2, 3, -1, -2, 0)] + [
    ("cast", {"dtype": "bool"}), ("stop_gradient", {})]


# -- scalar functions: the tape ---------------------------------------------------------------
@pytest.mark.parametrize("name, params", TAPE_OPS, ids=lambda v: v if isinstance(v, str) else "")
def test_tape_ops_at_special_values(name, params):
    """Each op the tape computes, alone, equals the NumPy backend at special values, as
    scalars (the tape) and as arrays for the scalars (the tape element by element)."""
    xs, out = one_op(name, params)
    ours, numpy = both(xs, out)
    assert "tape(" in ours.source
    grids = [SPECIAL] if len(xs) == 1 else list(pairs()) if len(xs) == 2 else \
        [SPECIAL[:, None, None], SPECIAL[None, :, None], SPECIAL[None, None, :]]
    grids = [g.astype(x.dtype) for g, x in zip(grids, xs)]
    same(quietly(ours, *grids), numpy(*grids))
    for k in range(0, grids[0].size, 17):  # one by one through the scalar path
        args = [g.flat[k % g.size].item() for g in grids]
        same(quietly(ours, *args), numpy(*args))


def chain(x, depth: int):
    for _ in range(depth):
        x = sg.sin(x) * x + 0.5 * sg.exp(-x * x)
    return x


def test_chain_gradient_equals_numpy_and_hand_derivative():
    x = sg.scalar("x")
    y = chain(x, 30)
    ours, numpy = both([x], [y, sg.grad(y, x)])
    for v in (0.3, -1.7, 0.0, 2.0):
        same(ours(v), numpy(v))
        assert type(ours(v)[0]) is np.float64
    v, d = 0.3, 1.0  # forward mode by hand
    for _ in range(30):
        v, d = math.sin(v) * v + 0.5 * math.exp(-v * v), \
            d * (math.cos(v) * v + math.sin(v) - v * math.exp(-v * v))
    np.testing.assert_allclose(ours(0.3), (v, d), rtol=1e-12)


def test_deep_chain_compiles_and_runs():
    """5,000 steps: 75,000 nodes with the gradient, one tape (no LLVM work per function)."""
    x = sg.scalar("x")
    y = chain(x, 5000)
    f = sg.function([x], [y, sg.grad(y, x)], backend="numba")
    v, d = 0.3, 1.0
    for _ in range(5000):
        v, d = math.sin(v) * v + 0.5 * math.exp(-v * v), \
            d * (math.cos(v) * v + math.sin(v) - v * math.exp(-v * v))
    np.testing.assert_allclose(f(0.3), (v, d), rtol=1e-9)
    assert "tape(a0)" in f.source and f.source.count("\n") > 70_000


def test_nth_derivative():
    x = sg.scalar("x")
    e = sg.exp(sg.sin(x)) / (1 + x * x)
    d8 = sg.diff(e, x, 8)
    ours, numpy = both([x], d8)
    for v in (0.3, -1.1, 0.0):
        same(ours(v), numpy(v))


def test_tape_outputs_bools_inputs_and_constants():
    """Outputs of every kind: a bool, an input itself, a constant, one output twice."""
    x, y = sg.scalars("x y")
    outs = [x > y, x, sg.constant(2.5), x * y, x * y]
    ours, numpy = both([x, y], outs)
    assert "tape(" in ours.source
    same(ours(1.0, 2.0), numpy(1.0, 2.0))
    same(ours(np.float64(3.0), 2), numpy(np.float64(3.0), 2))  # an int converted
    assert type(ours(1.0, 2.0)[0]) is np.bool_


def test_tape_on_arrays_for_scalars_broadcasts():
    x, y = sg.scalars("x y")
    ours, numpy = both([x, y], [sg.sin(x) * y, x < y])
    a, b = np.linspace(-2, 2, 6).reshape(2, 3), np.array([0.5, -1.0, 2.0])
    got, want = ours(a, b), numpy(a, b)
    same(got, want)
    assert got[0].shape == (2, 3) and got[1].dtype == bool


def test_tape_keeps_numpy_special_values_of_a_whole_graph():
    """A gradient through overflow and division by zero: NumPy's inf and NaN, no warning."""
    x = sg.scalar("x")
    y = sg.log(x) / x + sg.exp(x * x) - sg.sqrt(x) * sg.arctanh(x)
    ours, numpy = both([x], [y, sg.grad(y, x)])
    for v in (0.0, -1.0, 1.0, 30.0, np.inf, np.nan, 1e-320):
        same(quietly(ours, v), numpy(v))


def test_float32_scalars_stay_float32():
    x = sg.scalar("x", dtype=np.float32)
    ours, numpy = both([x], [sg.sin(x) * x, sg.grad(sg.sin(x) * x, x)])
    assert "tape(" not in ours.source
    got = ours(np.float32(0.3))
    same(got, numpy(np.float32(0.3)))
    assert got[0].dtype == np.float32


def test_scalar_graph_with_an_op_outside_the_table_runs_numpy_code():
    x = sg.scalar("x")
    ours, numpy = both([x], sg.apply("gammaln", x) * x)
    assert "tape(" not in ours.source
    same(ours(2.5), numpy(2.5))


# -- arrays: fused regions --------------------------------------------------------------------
FUSED_OPS = [(name, {}) for name in sorted(nb.FUSED) if name in REGISTRY] + [
    ("int_power", {"n": 2}), ("int_power", {"n": -1}), ("cast", {"dtype": "bool"})]


@pytest.mark.parametrize("name, params", FUSED_OPS, ids=lambda v: v if isinstance(v, str) else "")
def test_fused_ops_at_special_values(name, params):
    """Each op the block interpreter computes, in a region with a product by another input
    (a where for a bool; logical ops of comparisons), equals the NumPy backend on arrays of
    special values."""
    op = REGISTRY[name]
    xs = [sg.vector(f"x{i}", "n") for i in range(op.arity)]
    w = sg.vector("w", "n")
    args = [x > 0.5 for x in xs] if name.startswith("logical_") else xs
    out = sg.apply(name, *args, **params)
    out = sg.where(out, xs[0], w) if out.dtype == bool else out * w
    ours, numpy = both(xs + [w], out)
    assert "k0((" in ours.source, ours.source
    grids = [SPECIAL] if len(xs) == 1 else list(pairs()) if len(xs) == 2 else \
        [g.ravel() for g in np.meshgrid(SPECIAL, SPECIAL, SPECIAL)]
    grids.append(np.linspace(-3, 3, grids[0].size))
    same(quietly(ours, *grids), numpy(*grids))


def polynomial(x, depth: int = 4):
    for _ in range(depth):
        x = 3.9 * x * (1 - x)
    return x


def test_polynomial_chain_fuses_into_one_pass():
    """Value and gradient of an elementwise polynomial chain: one block pass, NumPy's values,
    on sizes around the block size (and empty)."""
    X = sg.vector("X", "n")
    y = polynomial(X)
    ours, numpy = both([X], [y, sg.grad(sg.sum(y), X)])
    assert ours.source.count("k0((") == 1 and "k1" not in ours.source
    for n in (0, 1, nb.BLOCK - 1, nb.BLOCK, 3 * nb.BLOCK + 7):
        x = np.random.default_rng(n).uniform(0, 1, n)
        same(ours(x), numpy(x))
    assert not foreign_identifiers(ours.source)


def test_transcendental_ops_stay_numpy_calls():
    X = sg.vector("X", "n")
    y = sg.sigmoid(X) * X - sg.exp(-X * X)
    ours, numpy = both([X], [y, sg.grad(sg.sum(y), X)])
    assert "rt.sigmoid(a0)" in ours.source and "np.exp(" in ours.source and "k0((" in ours.source
    x = np.linspace(-3, 3, 1001)
    same(ours(x), numpy(x))


def test_regions_read_scalars_and_write_several_outputs():
    """A region reading a computed scalar and a shared variable, with outputs read by NumPy
    calls, by another region and returned; matrices with two named dimensions."""
    X = sg.matrix("X", ("n", "m"))
    s = sg.shared(np.float64(0.25), name="s")
    a = X * X + s
    b = sg.sum(sg.tanh(a)) * a - X
    outs = [a, b, sg.grad(sg.sum(b * b), X)]
    ours, numpy = both([X], outs)
    assert "k1((" in ours.source
    x = np.random.default_rng(1).standard_normal((40, 130))
    same(ours(x), numpy(x))
    same(ours(x.T.copy().T), numpy(x))  # a Fortran-ordered argument


def test_non_contiguous_arrays_and_reused_buffers():
    """Inputs that are strided views and outputs written into a reused buffer of another
    layout (an einsum's result) give NumPy's values."""
    A = sg.matrix("A", ("n", "k"))
    B = sg.matrix("B", ("k", "m"))
    W = sg.matrix("W", ("n", "m"))
    P = sg.einsum("nk,km->nm", A, B)
    cost = sg.sum((P + W) * W - P * P)
    ins = [A, B, W]
    ours, numpy = both(ins, [cost, *sg.grad(cost, ins)])
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((300, 7)), rng.standard_normal((7, 50))
    w = rng.standard_normal((50, 300)).T
    same(ours(a[::1], b, w), numpy(a, b, w))
    assert "k0((" in ours.source
    rows = sg.sum((P + W) * W, axis=1)  # (P + W) * W written into P's (Fortran-ordered) buffer
    ours, numpy = both(ins, rows)
    out, buffer = re.search(r"(t\d+) = (t\d+)\n", ours.source).groups()
    assert f"k0((a2, {buffer}, {out}))" in ours.source, ours.source
    same(ours(a, b, w), numpy(a, b, w))


def test_small_fixed_shapes_are_not_fused_unless_many_ops():
    """The rule: on arrays known to hold fewer than SMALL entries a fused call pays only
    with MANY ops or more."""
    X = sg.vector("X", 100)
    few = both([X], X * X + X)
    many = both([X], polynomial(X, 3))
    assert "k0" not in few[0].source and "k0((" in many[0].source
    x = np.linspace(0, 1, 100)
    same(few[0](x), few[1](x))
    same(many[0](x), many[1](x))


def test_float32_arrays_stay_float32():
    X = sg.vector("X", "n", dtype=np.float32)
    ours, numpy = both([X], [X * X + 2 * X, sg.grad(sg.sum(X * X * X), X)])
    assert "k0" not in ours.source
    x = np.linspace(-1, 1, 5000, dtype=np.float32)
    got = ours(x)
    same(got, numpy(x))
    assert got[0].dtype == np.float32


def test_bool_results_needed_outside_are_not_fused():
    X = sg.vector("X", "n")
    mask = X * X > 0.5
    ours, numpy = both([X], [mask, sg.where(mask, X, 0.0) * 2.0])
    x = np.linspace(-1, 1, 11)
    same(ours(x), numpy(x))
    assert ours(x)[0].dtype == bool


DERIVATIVE_CASES = {  # cheap ops whose derivatives are fused regions too
    "where": lambda x, y: sg.where(x > y, x * y, y - x) * x,
    "clip": lambda x, y: sg.clip(x * y, 0.6, 1.5) + x,
    "maximum": lambda x, y: sg.maximum(x, y) * x / y,
    "div": lambda x, y: x / y * x - sg.sqrt(y),
}


@pytest.mark.parametrize("name", DERIVATIVE_CASES)
def test_derivatives_through_fused_regions(name, rng):
    """Gradients and Hessian-vector products, forward and reverse, against differences."""
    x, y = sg.vector("x", "n"), sg.vector("y", "n")
    out = DERIVATIVE_CASES[name](x, y)
    assert "k0((" in sg.function([x, y], sg.grad(sg.sum(out), [x, y]), backend="numba").source
    check_grads(out, [x, y], {x: rng.uniform(0.5, 2, 7), y: rng.uniform(0.5, 2, 7)},
                backend="numba")


# -- the rest ----------------------------------------------------------------------------------
def test_argument_errors_are_the_numpy_backends():
    X = sg.vector("X", "n")
    Y = sg.vector("Y", "n")
    ours, numpy = both([X, Y], X * Y + X)
    for args in [(np.ones(3), np.ones(4)), (np.ones((2, 2)), np.ones(2)), (["a"], np.ones(1))]:
        with pytest.raises(sg.ArgumentError) as theirs:
            numpy(*args)
        with pytest.raises(sg.ArgumentError, match="argument") as mine:
            ours(*args)
        assert str(mine.value) == str(theirs.value)


def test_missing_numba_is_an_unsupported_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.delitem(sys.modules, "symgrad.backends.numba")
    with pytest.raises(sg.UnsupportedError, match=r"pip install 'symgrad\[numba\]'"):
        sg.backends.resolve("numba")


def test_source_is_readable_and_pickles():
    x = sg.scalar("x")
    f = sg.function([x], [sg.sin(x) * x], backend="numba")
    assert "#   t" in f.source and "math.sin(a0)" in f.source and "r = tape(a0)" in f.source
    assert not foreign_identifiers(f.source)
    g = pickle.loads(pickle.dumps(f))
    assert g.backend.name == "numba" and g(0.5) == f(0.5)


def test_kernels_are_generated_from_the_table():
    """Every op of the table has its branch in the tape interpreter; FUSED ones in the block
    interpreter too."""
    source = nb._kernels_source()
    tape, block = source.split("def run_block")
    for name, code in nb.OPCODE.items():
        assert f"op == {code}:" in tape
        assert (f"op == {code}:" in block) == (name in nb.FUSED)
