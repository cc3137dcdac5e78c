"""Bad input raises a SymgradError subclass where the mistake is made (when the expression is
built), naming the operation and the operands' shapes; each message is checked."""
from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg


@pytest.fixture
def A():
    return sg.matrix("A", (2, 3))


@pytest.fixture
def B():
    return sg.matrix("B", (4, 5))


def raises(error, *fragments):
    """Context manager: ``error`` whose message contains every fragment."""
    return _Raises(error, fragments)


class _Raises:
    def __init__(self, error, fragments):
        self.ctx = pytest.raises(error)
        self.fragments = fragments

    def __enter__(self):
        self.info = self.ctx.__enter__()
        return self.info

    def __exit__(self, *exc):
        handled = self.ctx.__exit__(*exc)
        message = str(self.info.value)
        missing = [f for f in self.fragments if f not in message]
        assert not missing, f"message {message!r} lacks {missing}"
        return handled


def test_errors_are_symgrad_errors():
    assert issubclass(sg.ShapeError, sg.SymgradError) and issubclass(sg.ShapeError, ValueError)
    for cls in (sg.DisconnectedInputError, sg.GraphMismatchError, sg.ArgumentError,
                sg.UnsupportedError):
        assert issubclass(cls, sg.SymgradError)


def test_elementwise_shapes(A, B):
    with raises(sg.ShapeError, "add", "(2, 3)", "(4, 5)", "do not broadcast"):
        A + B
    with raises(sg.ShapeError, "mul", "(2, 3)", "(2,)"):
        A * sg.vector("v", 2)
    with raises(sg.ShapeError, "maximum", "(2, 3)", "(4, 5)"):
        sg.maximum(A, B)
    with raises(sg.ShapeError, "where", "condition (2, 3)", "y (4, 5)"):
        sg.where(A > 0, A, B)
    with raises(sg.ShapeError, "sub", "(n, 3)", "(m, 3)", "'m' against 'n'"):
        sg.matrix("X", ("n", 3)) - sg.matrix("Y", ("m", 3))


def test_matmul_shapes(A, B):
    with raises(sg.ShapeError, "matmul", "inner dimensions differ", "3 against 4", "(2, 3) @ (4, 5)"):
        A @ B
    with raises(sg.ShapeError, "matmul", "at least one dimension", "(2, 3) @ ()", "use *"):
        A @ sg.scalar("s")
    with raises(sg.ShapeError, "matmul", "(2, 3) @ (2,)"):
        A @ sg.vector("v", 2)
    with raises(sg.ShapeError, "matmul", "'n' against 'k'"):
        sg.matrix("X", (2, "n")) @ sg.matrix("Y", ("k", 2))
    with raises(sg.UnsupportedError, "dot", "(2, 2, 2)", "use sg.matmul"):
        sg.dot(sg.tensor("T", (2, 2, 2)), A)


def test_concatenate_and_stack_shapes(A, B):
    with raises(sg.ShapeError, "concatenate", "(2, 3), (4, 5)", "differ outside axis 0"):
        sg.concatenate([A, B])
    with raises(sg.ShapeError, "concatenate", "(2, 3), (3,)"):
        sg.concatenate([A, sg.vector("v", 3)])
    with raises(sg.ShapeError, "concatenate", "axis 2", "2 dimensions"):
        sg.concatenate([A, A], axis=2)
    with raises(sg.ShapeError, "concatenate", "zero-dimensional"):
        sg.concatenate([sg.scalar("s"), sg.scalar("t")])
    with raises(sg.ShapeError, "concatenate", "at least one"):
        sg.concatenate([])
    with raises(sg.ShapeError, "stack", "same shape", "(2, 3), (4, 5)"):
        sg.stack([A, B])
    with raises(sg.ShapeError, "stack", "axis 3"):
        sg.stack([A, A], axis=3)


def test_reshape_and_broadcast_shapes(A):
    with raises(sg.ShapeError, "reshape", "(2, 3)", "(4, 2)"):
        A.reshape((4, 2))
    with raises(sg.ShapeError, "reshape", "only one -1"):
        A.reshape((-1, -1))
    with raises(sg.ShapeError, "reshape", "(n, 3)", "(2, -1)"):
        sg.matrix("X", ("n", 3)).reshape((2, -1))
    with raises(sg.ShapeError, "broadcast_to", "(2, 3)", "(3, 3)"):
        sg.broadcast_to(A, (3, 3))
    with raises(sg.ShapeError, "broadcast_to", "(2, 3)", "(3,)"):
        sg.broadcast_to(A, (3,))
    with raises(sg.ShapeError, "transpose", "(0, 0)", "not a permutation", "(2, 3)"):
        sg.transpose(A, (0, 0))


@pytest.mark.parametrize("reduce", [sg.sum, sg.mean, sg.max, sg.logsumexp, sg.softmax])
def test_reduction_axes(reduce, A):
    with raises(sg.ShapeError, reduce.__name__, "axis 5", "out of range", "(2, 3)", "2 dimensions"):
        reduce(A, 5)
    with raises(sg.ShapeError, reduce.__name__, "repeated axis"):
        reduce(A, (0, -2))
    with raises(sg.ShapeError, "sum", "axis -3"):
        A.sum(-3)


def test_indexing(A):
    with raises(sg.ShapeError, "getitem", "index 2 is out of bounds", "axis 0", "size 2", "(2, 3)"):
        A[2]
    with raises(sg.ShapeError, "getitem", "index -4", "axis 1", "size 3"):
        A[0, -4]
    with raises(sg.ShapeError, "getitem", "too many indices (3)", "(2, 3)"):
        A[0, 0, 0]
    with raises(sg.ShapeError, "getitem", "single ellipsis"):
        A[..., ...]
    with raises(sg.ShapeError, "getitem", "step cannot be zero"):
        A[::0]
    with raises(sg.UnsupportedError, "named dimension 'n'"):
        sg.vector("v", "n")[::2]
    with raises(sg.UnsupportedError, "slice -3:2", "named dimension 'n'", "-n+5"):
        sg.vector("v", "n")[-3:2]


@pytest.mark.parametrize("index, shown", [(1.5, "float 1.5"), ((0, slice(None, 2.0)), "float 2.0")])
def test_index_entries_of_other_kinds_are_unsupported(A, index, shown):
    with raises(sg.UnsupportedError, "getitem", "an index entry must be", shown, "(2, 3)"):
        A[index]


def test_advanced_index_errors(A):
    with raises(sg.UnsupportedError, "boolean mask that is an expression", "sg.where"):
        A[A > 0]
    with raises(sg.ShapeError, "gather", "out of bounds", "size 2"):
        A[[0, 2]]
    with raises(sg.ShapeError, "boolean mask of shape (3,)", "(2, 3)"):
        A[np.array([True, False, True])]
    with raises(sg.ShapeError, "index arrays must be integers"):
        sg.apply("gather", A, sg.vector("f", 2), axes=(0,), at=0, nb=0)
    with raises(sg.ShapeError, "at[...]", "values (4,)", "(2, 3)"):
        A.at[[0, 1]].set(sg.vector("v", 4))


def test_gradient_errors(A):
    with raises(sg.ShapeError, "grad", "must be a scalar", "(2, 3)", "sg.vjp"):
        sg.grad(A * 2, A)
    with raises(sg.ShapeError, "vjp", "cotangent", "(3,)", "(2, 3)"):
        sg.vjp(A * 2, A, sg.vector("c", 3))
    ints = sg.vector("i", 3, dtype="int64")
    with raises(sg.SymgradError, "cannot differentiate", "'i'", "int64", "not floating point"):
        sg.grad(sg.sum(ints * 2.0), ints)
    with raises(sg.SymgradError, "wrt must be symgrad expressions", "str 'A'"):
        sg.grad(sg.sum(A), "A")
    with raises(sg.DisconnectedInputError, "does not depend on", "'B'"):
        sg.grad(sg.sum(A), sg.matrix("B", (2, 2)), disconnected="raise")
    with raises(sg.ShapeError, "diff", "is not a scalar", "(2, 3)"):
        sg.diff(sg.sum(A), A)


@pytest.mark.parametrize("make, fragments", [
    (lambda: sg.vector("v", "not an identifier"), ["'v'", "identifier", "'not an identifier'"]),
    (lambda: sg.vector("v", -1), ["'v'", "non-negative", "-1"]),
    (lambda: sg.vector("v", 2.5), ["'v'", "2.5"]),
    (lambda: sg.tensor("t", (2, True)), ["'t'", "True"]),
    (lambda: sg.tensor("t", (2, "n+")), ["'t'", "'n+'"]),
    (lambda: sg.matrix("m", 3), ["matrix 'm'", "two entries", "3"]),
    (lambda: sg.matrix("m", (1, 2, 3)), ["matrix 'm'", "two entries"]),
])
def test_bad_dimensions(make, fragments):
    with raises(sg.ShapeError, *fragments):
        make()


def test_bad_operands(A):
    with raises(sg.SymgradError, "add", "str 'x'"):
        A + "x"
    with raises(sg.SymgradError, "mul", "NoneType"):
        A * None
    with raises(sg.SymgradError, "constant", "str 'abc'"):
        sg.constant("abc")
    with raises(sg.SymgradError, "name must be a string", "3"):
        sg.scalar(3)
