"""NumPy's array helpers (squeeze, swapaxes, moveaxis, ravel, stacking, split, repeat, tile,
flip, roll, pad) and the constants (eye, zeros, ones, full, arange, ones_like): values
against NumPy, derivatives through them (built from shape ops, so checked here), named
dimensions with one compiled function for two sizes, and error messages."""
from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
from symgrad.ops.arrays import (arange, column_stack, eye, flip, full, hstack, moveaxis, ones,
                                ones_like, pad, ravel, repeat, roll, split, squeeze, swapaxes,
                                tile, vstack, zeros)

from conftest import check_grads

MOVES = [  # (name, shape, symgrad builder, NumPy reference)
    ("squeeze", (1, 3, 1, 2), squeeze, np.squeeze),
    ("squeeze_axis", (1, 3, 1, 2), lambda x: squeeze(x, 2), lambda v: np.squeeze(v, 2)),
    ("squeeze_axes", (1, 3, 1, 2), lambda x: squeeze(x, (0, -2)), lambda v: np.squeeze(v, (0, -2))),
    ("squeeze_none", (2, 3), squeeze, np.squeeze),
    ("swapaxes", (2, 3, 4), lambda x: swapaxes(x, 0, -1), lambda v: np.swapaxes(v, 0, -1)),
    ("moveaxis", (2, 3, 4), lambda x: moveaxis(x, 0, -1), lambda v: np.moveaxis(v, 0, -1)),
    ("moveaxis_many", (2, 3, 4, 5), lambda x: moveaxis(x, (0, 3), (2, 0)),
     lambda v: np.moveaxis(v, (0, 3), (2, 0))),
    ("ravel", (2, 3, 4), ravel, np.ravel),
    ("ravel_0d", (), ravel, np.ravel),
    ("flip", (2, 3, 4), flip, np.flip),
    ("flip_axis", (2, 3, 4), lambda x: flip(x, 1), lambda v: np.flip(v, 1)),
    ("flip_axes", (2, 3, 4), lambda x: flip(x, (0, -1)), lambda v: np.flip(v, (0, -1))),
    ("roll", (5,), lambda x: roll(x, 2), lambda v: np.roll(v, 2)),
    ("roll_negative", (5,), lambda x: roll(x, -7), lambda v: np.roll(v, -7)),
    ("roll_flat", (2, 3), lambda x: roll(x, 4), lambda v: np.roll(v, 4)),
    ("roll_axis", (2, 3), lambda x: roll(x, 1, axis=1), lambda v: np.roll(v, 1, axis=1)),
    ("roll_axes", (2, 3, 4), lambda x: roll(x, (1, -1, 2), (0, 2, 0)),
     lambda v: np.roll(v, (1, -1, 2), (0, 2, 0))),
    ("roll_zero", (3,), lambda x: roll(x, 3), lambda v: np.roll(v, 3)),
    ("repeat", (2, 3), lambda x: repeat(x, 2), lambda v: np.repeat(v, 2)),
    ("repeat_axis", (2, 3), lambda x: repeat(x, 3, axis=1), lambda v: np.repeat(v, 3, axis=1)),
    ("repeat_negative_axis", (2, 3, 2), lambda x: repeat(x, 2, axis=-3),
     lambda v: np.repeat(v, 2, axis=-3)),
    ("repeat_zero", (2, 3), lambda x: repeat(x, 0, axis=0), lambda v: np.repeat(v, 0, axis=0)),
    ("tile", (3,), lambda x: tile(x, 2), lambda v: np.tile(v, 2)),
    ("tile_promote", (3,), lambda x: tile(x, (2, 1, 2)), lambda v: np.tile(v, (2, 1, 2))),
    ("tile_short", (2, 3), lambda x: tile(x, 2), lambda v: np.tile(v, 2)),
    ("tile_both", (2, 3), lambda x: tile(x, (3, 2)), lambda v: np.tile(v, (3, 2))),
    ("pad", (2, 3), lambda x: pad(x, 1), lambda v: np.pad(v, 1)),
    ("pad_pair", (2, 3), lambda x: pad(x, (1, 2), constant_values=-1.5),
     lambda v: np.pad(v, (1, 2), constant_values=-1.5)),
    ("pad_per_axis", (2, 3), lambda x: pad(x, ((0, 1), (2, 0)), constant_values=((1, 2), (3, 4))),
     lambda v: np.pad(v, ((0, 1), (2, 0)), constant_values=((1, 2), (3, 4)))),
    ("pad_one_axis", (2, 3, 2), lambda x: pad(x, ((0, 0), (1, 1), (0, 0))),
     lambda v: np.pad(v, ((0, 0), (1, 1), (0, 0)))),
    ("pad_0d", (), lambda x: pad(x, 2), lambda v: np.pad(v, 2)),
    ("flatten", (2, 3), lambda x: x.flatten(), lambda v: v.flatten()),
]


@pytest.mark.parametrize("name, shape, build, reference", MOVES, ids=[m[0] for m in MOVES])
def test_helpers_against_numpy(name, shape, build, reference, rng):
    """Values as NumPy's; derivatives of ``sin(helper(x)) * helper(x)`` (second order runs
    through the adjoints of the shape ops the helper is made of)."""
    x = sg.tensor("x", shape)
    value = rng.standard_normal(shape)
    out = build(x)
    expected = reference(value)
    assert out.dims == expected.shape
    np.testing.assert_array_equal(out.eval({x: value}), expected)
    check_grads(sg.sin(out) * out, x, {x: value})


STACKS = [
    ("hstack_1d", [(3,), (2,)], hstack, np.hstack),
    ("hstack_2d", [(2, 3), (2, 1)], hstack, np.hstack),
    ("hstack_0d", [(), ()], hstack, np.hstack),
    ("vstack_1d", [(3,), (3,)], vstack, np.vstack),
    ("vstack_2d", [(2, 3), (1, 3), (3,)], vstack, np.vstack),
    ("vstack_3d", [(1, 2, 2), (2, 2, 2)], vstack, np.vstack),
    ("column_stack_1d", [(3,), (3,)], column_stack, np.column_stack),
    ("column_stack_mixed", [(3,), (3, 2)], column_stack, np.column_stack),
]


@pytest.mark.parametrize("name, shapes, build, reference", STACKS, ids=[s[0] for s in STACKS])
def test_stacking_against_numpy(name, shapes, build, reference, rng):
    xs = [sg.tensor(f"x{i}", s) for i, s in enumerate(shapes)]
    values = [rng.standard_normal(s) for s in shapes]
    out = build(xs)
    np.testing.assert_array_equal(sg.function(xs, out)(*values), reference(values))
    check_grads(sg.sin(out) * out, xs, dict(zip(xs, values)))


def test_stacking_numbers_and_arrays():
    x = sg.vector("x", 2)
    out = hstack([x, 1.0, np.array([2.0, 3.0])])
    np.testing.assert_array_equal(out.eval({x: np.zeros(2)}), [0, 0, 1, 2, 3])


@pytest.mark.parametrize("shape, sections, axis", [((6,), 3, 0), ((6,), [2, 5], 0), ((4, 6), 2, 1),
                                                   ((4, 6), [1, 1, 3], -1), ((5,), [-2, 9], 0),
                                                   ((2, 3), 1, 0)])
def test_split(shape, sections, axis, rng):
    x = sg.tensor("x", shape)
    value = rng.standard_normal(shape)
    pieces = split(x, sections, axis)
    expected = np.split(value, sections, axis)
    assert isinstance(pieces, list) and len(pieces) == len(expected)
    for piece, e in zip(sg.function([x], pieces)(value), expected):
        np.testing.assert_array_equal(piece, e)
    weights = [np.arange(1.0, 1 + e.size).reshape(e.shape) for e in expected]
    check_grads(sum(sg.sum(sg.sin(p) * w) for p, w in zip(pieces, weights)), x, {x: value})


def test_constants_against_numpy():
    cases = [(eye(3), np.eye(3)), (eye(2, 4, k=1), np.eye(2, 4, k=1)),
             (eye(4, 3, k=-2), np.eye(4, 3, k=-2)),
             (eye(3, k=5), np.eye(3, k=5)), (eye(2, dtype=int), np.eye(2, dtype=int)),
             (eye(30), np.eye(30)),
             (zeros((2, 3)), np.zeros((2, 3))), (zeros(4, dtype="int32"), np.zeros(4, "int32")),
             (ones((3, 20)), np.ones((3, 20))), (ones(2, dtype=bool), np.ones(2, bool)),
             (full((2, 2), 7), np.full((2, 2), 7)), (full(3, 0.5), np.full(3, 0.5)),
             (full((2, 3), True), np.full((2, 3), True)),
             (full(3, 2, dtype="float32"), np.full(3, 2, "float32")),
             (full((2, 3), np.array([1.0, 2.0, 3.0])), np.full((2, 3), [1.0, 2.0, 3.0])),
             (arange(5), np.arange(5)), (arange(1, 7, 2), np.arange(1, 7, 2)),
             (arange(0.5, 2.0, 0.25), np.arange(0.5, 2.0, 0.25)),
             (arange(3, dtype=float), np.arange(3.0))]
    for got, expected in cases:
        value = got.eval({})
        assert value.dtype == expected.dtype and got.dtype == expected.dtype
        np.testing.assert_array_equal(value, expected)


def test_ones_like_and_full_of_an_expression(rng):
    W = sg.matrix("W", (2, 3), dtype="float32")
    assert ones_like(W).dims == (2, 3) and ones_like(W).dtype == np.float32
    assert ones_like(W, dtype=int).dtype == np.int64
    s = sg.scalar("s")
    out = full((2, 3), s * s)  # the value carries its gradient
    np.testing.assert_array_equal(out.eval({s: 3.0}), np.full((2, 3), 9.0))
    np.testing.assert_allclose(sg.grad(sg.sum(out), s).eval({s: 3.0}), 36.0)


# -- named dimensions --------------------------------------------------------------------------
NAMED = {  # builders on X of shape (n, 3) with their NumPy reference
    "ravel": (ravel, np.ravel, ("3*n",)),
    "flatten": (lambda X: X.flatten(), lambda v: v.flatten(), ("3*n",)),
    "squeeze": (lambda X: squeeze(X[:, None, :, None]), lambda v: v, ("n", 3)),
    "swapaxes": (lambda X: X.swapaxes(0, 1), lambda v: v.T, (3, "n")),
    "moveaxis": (lambda X: moveaxis(X[None], 1, 0), lambda v: v[:, None], ("n", 1, 3)),
    "flip": (flip, np.flip, ("n", 3)),
    "flip_named_axis": (lambda X: flip(X, 0), lambda v: v[::-1], ("n", 3)),
    "roll": (lambda X: roll(X, 1, 0), lambda v: np.roll(v, 1, 0), ("n", 3)),
    "roll_back": (lambda X: roll(X, (-2, 1), (0, 1)), lambda v: np.roll(v, (-2, 1), (0, 1)),
                  ("n", 3)),
    "roll_flat": (lambda X: roll(X, 2), lambda v: np.roll(v, 2), ("n", 3)),
    "pad": (lambda X: pad(X, ((2, 1), (0, 1)), constant_values=3.0),
            lambda v: np.pad(v, ((2, 1), (0, 1)), constant_values=3.0), ("n+3", 4)),
    "repeat": (lambda X: repeat(X, 2, axis=0), lambda v: np.repeat(v, 2, axis=0), ("2*n", 3)),
    "repeat_flat": (lambda X: X.repeat(2), lambda v: v.repeat(2), ("6*n",)),
    "tile": (lambda X: tile(X, (2, 1)), lambda v: np.tile(v, (2, 1)), ("2*n", 3)),
    "hstack": (lambda X: hstack([X, X[:, :1]]), lambda v: np.hstack([v, v[:, :1]]), ("n", 4)),
    "vstack": (lambda X: vstack([X, X[0]]), lambda v: np.vstack([v, v[0]]), ("n+1", 3)),
    "column_stack": (lambda X: column_stack([X[:, 0], X]), lambda v: np.column_stack([v[:, 0], v]),
                     ("n", 4)),
    "split_sections": (lambda X: split(vstack([X, X]), 2)[1], lambda v: v, ("n", 3)),
    "split_indices": (lambda X: split(X, [1])[1], lambda v: v[1:], ("n-1", 3)),
    "eye": (lambda X: eye("n") @ X + eye(X.shape[0], 3, k=1), lambda v: v + np.eye(len(v), 3, k=1),
            ("n", 3)),
    "zeros_ones": (lambda X: X * ones(("n", 3)) + zeros((X.shape[0], 1)), lambda v: v, ("n", 3)),
    "full": (lambda X: X - full(("n", 1), 0.5), lambda v: v - 0.5, ("n", 3)),
    "arange": (lambda X: X * arange(X.shape[0])[:, None], lambda v: v * np.arange(len(v))[:, None],
               ("n", 3)),
    "arange_start": (lambda X: X[2:] * arange(2, "n", dtype=float)[:, None],
                     lambda v: v[2:] * np.arange(2.0, len(v))[:, None], ("n-2", 3)),
    "ones_like": (lambda X: ones_like(X) * X, lambda v: v, ("n", 3)),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_dimensions(name, rng):
    """One compiled function serves two sizes of n; derivatives by finite differences."""
    X = sg.matrix("X", ("n", 3))
    build, reference, dims = NAMED[name]
    out = build(X)
    assert out.dims == dims
    fn = sg.function([X], out)
    for n in (3, 5):
        value = rng.standard_normal((n, 3))
        np.testing.assert_array_equal(fn(value), reference(value))
    check_grads(sg.sin(out) * out, X, {X: rng.standard_normal((4, 3))})


def test_split_named_sections():
    """A named axis splits into sections when its size is a known multiple of their number."""
    v = sg.vector("v", "n")
    first, second = split(hstack([v, v]), 2)
    assert first.dims == second.dims == ("n",)
    with pytest.raises(sg.UnsupportedError, match="split: the named size 'n' of axis 0 is not "
                                                  "a known multiple of 2"):
        split(v, 2)


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, message", [
    (lambda x: squeeze(x, 1), sg.ShapeError, "squeeze: axis 1 has size 3, not 1"),
    (lambda x: squeeze(x, 0), sg.ShapeError, "squeeze: axis 0 has size 'n', not 1"),
    (lambda x: swapaxes(x, 0, 2), sg.ShapeError, "swapaxes: axis 2 is out of range"),
    (lambda x: moveaxis(x, (0, 1), 0), sg.ShapeError, "moveaxis: source (0, 1) and destination 0"),
    (lambda x: moveaxis(x, (0, -2), (0, 1)), sg.ShapeError, "moveaxis: repeated axis"),
    (lambda x: ravel(x[:, :, None] * sg.vector("u", "m")), sg.ShapeError,
     "ravel: an operand of shape (n, 3, m) has a size that is a product of named dimensions"),
    (lambda x: flip(x, 2), sg.ShapeError, "flip: axis 2 is out of range"),
    (lambda x: roll(x, 1.5, 0), sg.ShapeError, "roll: shift must be an int, got 1.5"),
    (lambda x: roll(x, (1, 2, 3), (0, 1)), sg.ShapeError,
     "roll: shift (1, 2, 3) and axis (0, 1) do not pair up"),
    (lambda x: roll(x, 1, 3), sg.ShapeError, "roll: axis 3 is out of range"),
    (lambda x: repeat(x, [1, 2]), sg.UnsupportedError, "repeat: repeats must be one int"),
    (lambda x: repeat(x, -1), sg.ShapeError, "repeat: repeats must be non-negative"),
    (lambda x: repeat(x, 2, axis=(0,)), sg.ShapeError, "repeat: axis must be an int"),
    (lambda x: tile(x, (2, -1)), sg.ShapeError, "tile: reps must be non-negative"),
    (lambda x: tile(x, 1.5), sg.ShapeError, "tile: reps must be an int"),
    (lambda x: split(x, 2, axis=1), sg.ShapeError,
     "split: axis 1 of size 3 does not divide into 2 equal sections"),
    (lambda x: split(x, 0, axis=1), sg.ShapeError,
     "split: the number of sections must be positive"),
    (lambda x: split(x, [1.5]), sg.ShapeError, "split: an index must be an int"),
    (lambda x: pad(x, 1, mode="reflect"), sg.UnsupportedError,
     "pad: mode 'reflect' is not supported; only mode='constant'"),
    (lambda x: pad(x, -1), sg.ShapeError, "pad: pad_width cannot be negative"),
    (lambda x: pad(x, 1.5), sg.ShapeError, "pad: pad_width must be ints"),
    (lambda x: pad(x, ((1, 2, 3),)), sg.ShapeError, "pad: pad_width ((1, 2, 3),) does not give"),
    (lambda x: pad(x, ((1, 2), (3,), 4)), sg.ShapeError, "pad: pad_width ((1, 2), (3,), 4) does not"),
    (lambda x: pad(x, 1, constant_values=x), sg.UnsupportedError,
     "pad: constant_values must be numbers"),
    (lambda x: hstack([x, sg.vector("u", 3)]), sg.ShapeError,
     "concatenate: shapes (n, 3), (3,) differ outside axis 1"),
    (lambda x: eye(x), sg.UnsupportedError,
     "eye: a size must be an int, a dimension name or X.shape[i]"),
    (lambda x: eye(3, k=0.5), sg.ShapeError, "eye: k must be an int"),
    (lambda x: zeros((2, -1)), sg.ShapeError, "a dimension must be non-negative"),
    (lambda x: ones(("n", "2x")), sg.ShapeError, "a dimension must be an int or an identifier"),
    (lambda x: arange("n", 10), sg.UnsupportedError,
     "arange: a named size needs an int start and step 1"),
    (lambda x: arange(0, x.shape[0], 2), sg.UnsupportedError, "arange: a named size needs"),
])
def test_errors(call, error, message):
    x = sg.matrix("x", ("n", 3))
    with pytest.raises(error) as err:
        call(x)
    assert message in str(err.value)
