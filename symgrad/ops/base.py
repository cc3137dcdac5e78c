"""The Op object and the registry: one object per primitive holding all its rules.

An op's rules, side by side:

- ``infer(*args, **params) -> (shape, dtype)``: the shape rule; raises ShapeError naming the op.
- ``impl``: the eager NumPy implementation (used for constant folding); the default NumPy
  emitter prints a call to it (``np.exp(t3)`` or ``rt.sigmoid(t3)``).
- ``emit(args, params, ctx)``: optional custom NumPy emitter (indexing, infix operators).
- ``partials``: for elementwise ops, the local derivative wrt each argument as an
  expression ``(out, *args) -> Expr | None``; reverse and forward rules follow from it.
- ``vjp``: for other ops, one rule per argument ``(g, out, *args, **params) -> Expr | None``.
- ``jvp``: ``(tangents, out, *args, **params) -> Expr | None``, tangents None where zero.
  A tangent carries leading batch axes (one direction per batch entry: ``sg.jacobian``
  pushes a whole batch of seeds at once), so its shape is ``batch + arg.shape``; the rule
  returns ``batch + out.shape`` or a shape that broadcasts to it.  Elementwise ops derive
  it from ``partials``: ``ṫ = Σᵢ tᵢ · ∂ᵢ``.
- ``sympy``: for elementwise ops the SymPy function of scalar arguments; for the others a
  rule on object arrays of SymPy entries, by default ``impl`` (moving entries as it moves
  numbers).  ``sympy_bridge`` adds matrix-expression forms.

Rules are written with symgrad operations, so derivative graphs can be differentiated again.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from .. import runtime

REGISTRY: dict = {}


@functools.cache  # asked once per emitted line
def ref(fn: Callable) -> str:
    """How generated code names an implementation: ``np.exp`` or ``rt.sigmoid``."""
    name = fn.__name__
    if getattr(runtime, name, None) is fn:  # asked first: NumPy's lookup of a missing name is slow
        return f"rt.{name}"
    if getattr(np, name, None) is fn:
        return f"np.{name}"
    raise ValueError(f"{fn!r} is neither a NumPy function nor a symgrad.runtime helper")


class Op:
    """One primitive with its shape rule, emitter, eager implementation and derivative rules."""

    def __init__(self, name: str, infer: Callable, impl: Callable | None = None, *,
                 emit: Callable | None = None, partials: tuple | None = None,
                 vjp: tuple | None = None, jvp: Callable | None = None, sympy=None,
                 infix: str | None = None, inplace: bool = False, view: bool = False,
                 differentiable: bool = True, domain=None, doc: str = "") -> None:
        self.name = name
        self.infer = infer
        self.impl = impl
        self.custom_emit = emit
        self.partials = partials
        self.vjp = vjp
        self.jvp = jvp
        self.sympy = sympy
        self.infix = infix
        self.inplace = inplace  # impl accepts out= (buffer reuse)
        self.view = view  # the result may share memory with the first argument
        self.differentiable = differentiable
        self.domain = domain  # (low, high) for random test points, None if not a math function
        self.doc = doc
        if impl is not None and emit is None:
            ref(impl)  # fail at definition time if the emitter could not name it

    def emit(self, args: list, params: dict, ctx, out: str | None = None) -> str:
        """NumPy source for this node; ``out`` names a dead buffer to write into."""
        if out is not None:
            return f"{ref(self.impl)}({', '.join(args)}{_kwargs(params)}, out={out})"
        if self.custom_emit is not None:
            return self.custom_emit(args, params, ctx)
        if self.infix and len(args) == 2:
            return f"{args[0]} {self.infix} {args[1]}"
        if self.infix:
            return f"{self.infix}{args[0]}"
        return f"{ref(self.impl)}({', '.join(args)}{_kwargs(params)})"

    def vjp_rule(self, position: int) -> Callable | None:
        """The reverse rule for argument ``position``: ``(g, out, *args, **params) -> Expr``."""
        if not self.differentiable:
            return None
        if self.vjp is not None:
            return self.vjp[position]
        partial = self.partials[position]
        if partial is None:
            return None
        return lambda g, out, *args, **params: _times(g, partial(out, *args, **params))

    def jvp_rule(self) -> Callable | None:
        """The forward rule ``(tangents, out, *args, **params) -> Expr | None``."""
        if not self.differentiable:
            return None
        if self.jvp is not None or self.partials is None:
            return self.jvp
        return self._jvp_from_partials

    def _jvp_from_partials(self, tangents, out, *args, **params):
        """``Σᵢ tᵢ · ∂ᵢ`` with each tangent lifted to the output's rank behind its batch axes."""
        total = None
        for t, x, partial in zip(tangents, args, self.partials):
            if t is None or partial is None:
                continue
            term = _times(lift(t, x, out.ndim), partial(out, *args, **params))  # 1: no product
            total = term if total is None else total + term
        return total

    def __repr__(self) -> str:
        return f"<Op {self.name}>"


def batch_dims(t, x) -> tuple:
    """The leading batch axes of the tangent ``t`` of ``x`` (``()`` for a plain jvp)."""
    return t.dims[:t.ndim - x.ndim]


def lift(t, x, ndim: int):
    """The tangent ``t`` of ``x`` with size-1 axes inserted behind its batch axes, so its
    value part has ``ndim`` axes and broadcasts like ``x`` does against an ``ndim``-d array."""
    if ndim == x.ndim:
        return t
    from .shape import expand_dims
    nb = t.ndim - x.ndim
    return expand_dims(t, tuple(range(nb, nb + ndim - x.ndim)))


def _times(g, local):
    """``g * local``; a local derivative of exactly 1 or -1 (``add``, ``sub``) skips the
    product, and a number, a scalar constant or a scalar times an array goes first, as the
    rewrites order a product (built in that order, it is not built twice)."""
    if local is None:
        return None
    if isinstance(local, int) and local in (1, -1):
        return g if local == 1 else -g
    if getattr(local, "ndim", 0) == 0 and (g.ndim > 0 or getattr(local, "op", "constant") == "constant"):
        return local * g
    return g * local


def _kwargs(params: dict) -> str:
    return "".join(f", {k}={v!r}" for k, v in params.items())


def register(op: Op) -> Op:
    """Add an op to the registry (names are unique)."""
    if op.name in REGISTRY:
        raise ValueError(f"op {op.name!r} is defined twice")
    REGISTRY[op.name] = op
    return op
