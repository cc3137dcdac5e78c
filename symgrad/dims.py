"""Shapes whose entries are ints or dimension names, and NumPy broadcasting over them.

A named dimension is an identifier such as ``"n"``.  Slicing a named dimension gives an
affine one such as ``"n-1"``; these strings are produced and read only by symgrad (user
names must be identifiers), so equal strings always mean equal run-time sizes.
"""
from __future__ import annotations

import math
import re
from typing import Callable, Union

from .errors import ShapeError

Dim = Union[int, str]
Shape = tuple  # tuple[Dim, ...]

_TERM = re.compile(r"([+-]?)(\d*)\*?([A-Za-z_]\w*)?")


def check_dim(d) -> Dim:
    """Validate one user-given dimension: a non-negative int or an identifier."""
    if isinstance(d, bool):
        raise ShapeError(f"a dimension must be an int or a name, got {d!r}")
    if isinstance(d, int) or hasattr(d, "__index__") and not isinstance(d, str):
        d = int(d)
        if d < 0:
            raise ShapeError(f"a dimension must be non-negative, got {d}")
        return d
    if isinstance(d, str) and (d.isidentifier() or _is_canonical(d)):
        return d
    raise ShapeError(f"a dimension must be an int or an identifier such as 'n', got {d!r}")


def as_shape(shape) -> Shape:
    """Normalize a user shape (an int, a name, or a sequence of them) to a tuple."""
    if isinstance(shape, (int, str)) or hasattr(shape, "__index__"):
        shape = (shape,)
    return tuple(check_dim(d) for d in shape)


def _is_canonical(d: str) -> bool:
    """True for an affine dimension in the form symgrad writes, such as ``n-1``."""
    terms, const = affine(d)
    return bool(terms) and from_affine(terms, const) == d


def affine(d: Dim) -> tuple[dict, int]:
    """Split a dimension into ``({name: coefficient}, constant)``."""
    if isinstance(d, int):
        return {}, d
    terms: dict = {}
    const = 0
    for sign, num, name in _TERM.findall(d.replace(" ", "")):
        if not num and not name:
            continue
        k = int(num) if num else 1
        k = -k if sign == "-" else k
        if name:
            terms[name] = terms.get(name, 0) + k
        else:
            const += k
    return {n: k for n, k in terms.items() if k}, const


def from_affine(terms: dict, const: int) -> Dim:
    """Inverse of :func:`affine`: a canonical string, or an int when no name is left."""
    parts = []
    for name in sorted(terms):
        k = terms[name]
        if k:
            parts.append(("-" if k < 0 else "+") + (f"{abs(k)}*" if abs(k) != 1 else "") + name)
    if not parts:
        return const
    if const:
        parts.append(f"{const:+d}")
    text = "".join(parts)
    return text[1:] if text.startswith("+") else text


def dim_add(a: Dim, b: Dim, sign: int = 1) -> Dim:
    """``a + sign*b`` for dimensions."""
    ta, ca = affine(a)
    tb, cb = affine(b)
    for n, k in tb.items():
        ta[n] = ta.get(n, 0) + sign * k
    return from_affine(ta, ca + sign * cb)


def dim_names(d: Dim) -> set:
    """The dimension names a dimension depends on."""
    return set(affine(d)[0])


def dim_code(d: Dim, name_code: Callable[[str], str]) -> str:
    """Python source computing dimension ``d``, with ``name_code`` giving each name's variable."""
    terms, const = affine(d)
    if not terms:
        return str(const)
    parts = [f"{k}*{name_code(n)}" if k != 1 else name_code(n) for n, k in sorted(terms.items())]
    code = " + ".join(parts)
    if const:
        code += f" {'+' if const > 0 else '-'} {abs(const)}"
    return f"({code})" if len(parts) > 1 or const else code


def broadcast_shapes(op: str, shapes: list, names: list) -> Shape:
    """NumPy broadcasting of shapes with named dimensions; a ShapeError names the operands."""
    if shapes and shapes.count(shapes[0]) == len(shapes):
        return tuple(shapes[0])
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        size: Dim = 1
        for s in shapes:
            d = s[axis - ndim + len(s)] if axis - ndim + len(s) >= 0 else 1
            if d == 1 or d == size:
                continue
            if size == 1:
                size = d
            else:
                desc = ", ".join(f"{n} {fmt_shape(s)}" for n, s in zip(names, shapes))
                raise ShapeError(f"{op}: shapes do not broadcast ({desc}): {d!r} against {size!r}")
        out.append(size)
    return tuple(out)


def fmt_shape(shape: Shape) -> str:
    """Shape as text, e.g. ``(n, 64)``."""
    inner = ", ".join(str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def size_of(shape: Shape) -> Dim | None:
    """Number of elements when it is an int, else None."""
    total = 1
    for d in shape:
        if not isinstance(d, int):
            return None
        total *= d
    return total


def size_factors(shape: Shape) -> tuple:
    """A shape's size as ``(integer, sorted primitive affine factors)``: each named dimension is
    split into its content and a primitive form whose first coefficient is positive, so the
    sizes of ``("2*n-6",)`` and ``("n-3", 2)`` are both ``(2, ("n-3",))``.

    >>> size_factors(("n", 6))
    (6, ('n',))
    """
    k, factors = 1, []
    for d in shape:
        terms, const = affine(d)
        if not terms:
            k *= const
            continue
        content = math.gcd(*terms.values(), const)
        if terms[min(terms)] < 0:
            content = -content
        k *= content
        factors.append(from_affine({n: c // content for n, c in terms.items()}, const // content))
    return (0, ()) if k == 0 else (k, tuple(sorted(factors)))


def size_quotient(shape: Shape, known: Shape) -> Dim | None:
    """The dimension ``d`` with ``size(known) * d == size(shape)``, or None when there is no
    such int or affine dimension (for a ``-1`` in reshape).

    >>> size_quotient(("2*n-6",), (2,))
    'n-3'
    """
    (k, fs), (kk, kfs) = size_factors(shape), size_factors(known)
    if kk == 0 or k % kk:
        return None
    rest = list(fs)
    for f in kfs:
        if f not in rest:
            return None
        rest.remove(f)
    if len(rest) > 1:
        return None
    q = k // kk
    if not rest:
        return q
    terms, const = affine(rest[0])
    return from_affine({n: c * q for n, c in terms.items()}, const * q)
