"""Public constructors of input symbols."""
from __future__ import annotations

from .errors import ShapeError
from .expr import Expr, symbol


def scalar(name: str, dtype="float64") -> Expr:
    """A scalar symbol (shape ``()``).

    >>> x = sg.scalar("x")
    """
    return symbol(name, (), dtype)


def scalars(names: str, dtype="float64") -> tuple:
    """Several scalars from a space- or comma-separated string.

    >>> x, y, z = sg.scalars("x y z")
    """
    return tuple(scalar(n, dtype) for n in names.replace(",", " ").split())


def vector(name: str, n, dtype="float64") -> Expr:
    """A vector symbol of length ``n`` (an int or a name such as ``"n"``).

    >>> v = sg.vector("v", "n")
    """
    return symbol(name, (n,), dtype)


def matrix(name: str, shape, dtype="float64") -> Expr:
    """A matrix symbol; ``shape`` is two ints or names.

    >>> X = sg.matrix("X", ("n", 64))
    """
    if isinstance(shape, (int, str)) or len(shape) != 2:
        raise ShapeError(f"matrix {name!r}: a matrix needs a shape of two entries, got {shape!r}")
    return symbol(name, shape, dtype)


def tensor(name: str, shape, dtype="float64") -> Expr:
    """A symbol of any shape.

    >>> T = sg.tensor("T", (2, "n", 3))
    """
    return symbol(name, shape, dtype)
