"""Shared variables (PyTensor's): symbols that hold a value between calls.

A shared variable is an input symbol whose node carries a storage for one NumPy array.
Compiled functions read the current value themselves (it is no argument) and assign new
values given as ``updates`` after each call, so a training step is one call:

>>> w = sg.shared(np.zeros(3), name="w")
>>> step = sg.function([X, y], cost, updates={w: w - 0.1 * sg.grad(cost, w)})
"""
from __future__ import annotations

import itertools

import numpy as np

from . import dims as D
from .errors import ArgumentError
from .expr import Expr
from .graph import default_graph

_ids = itertools.count()  # each shared variable is its own node (never hash-consed with another)


def _array(value, dtype, shape, what: str) -> np.ndarray:
    """``value`` as a read-only array copy of ``dtype`` (casts as function arguments allow),
    of ``shape`` when one is fixed."""
    try:
        array = np.asarray(value)
    except Exception as err:  # ragged lists and the like
        raise ArgumentError(f"{what}: the value is not an array: {err}") from None
    if array.dtype.kind not in "biuf":
        raise ArgumentError(f"{what}: the value has dtype {array.dtype}; shared variables hold "
                            "booleans, integers or floating-point numbers")
    dtype = array.dtype if dtype is None else np.dtype(dtype)
    if array.dtype != dtype and not np.can_cast(array.dtype, dtype, "same_kind") \
            and array.dtype.kind not in "biu":
        raise ArgumentError(f"{what}: the value has dtype {array.dtype}, which cannot be cast "
                            f"to {dtype}")
    if shape is not None and array.shape != shape:
        raise ArgumentError(f"{what}: the value has shape {array.shape}; the variable's shape "
                            f"is {D.fmt_shape(shape)}")
    array = np.array(array, dtype=dtype)  # a copy: the caller's array stays theirs
    array.flags.writeable = False
    return array


class _Storage:
    """The value of one shared variable, kept on its node as the attribute ``shared``;
    compiled functions read ``value`` and ``assign`` the new values they computed."""

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray) -> None:
        self.value = value

    def assign(self, value) -> None:
        """Store a compiled function's fresh result (its shape and dtype checked when built)."""
        array = np.asarray(value)
        array.flags.writeable = False
        self.value = array


class SharedVariable(Expr):
    """A symbol that holds a NumPy array; used in expressions like any symbol.

    ``get_value()`` gives a copy of the value and ``set_value(v)`` stores a copy of ``v``
    (the shape and dtype of the first value stay).  A plain :class:`Expr` of the same node
    is equal to it, so either works as a dict key.

    >>> w = sg.shared(np.zeros(3), name="w"); w.set_value([1.0, 2.0, 3.0]); w.get_value()
    array([1., 2., 3.])
    """

    __slots__ = ()

    def get_value(self) -> np.ndarray:
        """A copy of the current value."""
        return self.attrs["shared"].value.copy()

    def set_value(self, value) -> None:
        """Store a copy of ``value``: ArgumentError unless it has the variable's shape and a
        dtype that casts to the variable's."""
        self.attrs["shared"].value = _array(value, self.dtype, self.dims,
                                            f"set_value of {self.name!r}")

    def __eq__(self, other):
        if isinstance(other, Expr) and not isinstance(other, SharedVariable):
            return type(other) is Expr and other.g is self.g and other.node == self.node
        return Expr.__eq__(self, other)

    def __ne__(self, other):
        result = self.__eq__(other)
        return not result if isinstance(result, bool) else result

    __hash__ = Expr.__hash__

    def __repr__(self) -> str:
        return (f"<SharedVariable {self.name!r} shape={D.fmt_shape(self.dims)} "
                f"dtype={self.dtype}>")


def shared(value, name: str | None = None, dtype=None) -> SharedVariable:
    """A shared variable holding a copy of ``value`` (its shape is fixed: ints, no named
    dimensions), in the default graph; ``dtype`` converts the value (else it keeps its own:
    a Python float is float64, an int int64).

    Functions that use it read its current value; ``sg.function(..., updates={s: new})``
    assigns new values after each call.

    >>> state = sg.shared(0, name="state"); inc = sg.scalar("inc", dtype="int64")
    >>> acc = sg.function([inc], state, updates={state: state + inc})
    >>> acc(1); acc(300); state.get_value()
    array(301)
    """
    if name is not None and not isinstance(name, str):
        raise ArgumentError(f"shared: the name must be a string, got {name!r}")
    name = "shared" if name is None else name
    array = _array(value, dtype, None, f"shared {name!r}")
    g = default_graph()
    node = g.add("symbol", (), (), array.shape, array.dtype, key=("shared", next(_ids)),
                 name=name, shared=_Storage(array))
    return SharedVariable(g, node)
