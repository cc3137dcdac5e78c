"""``sg.defop``: a user-defined primitive from an implementation and its derivative rules."""
from __future__ import annotations

import numbers
from typing import Callable

import numpy as np

from ..errors import SymgradError
from ..expr import Expr, apply
from ..op import REGISTRY, Op, register
from .elementwise import elementwise

USER_OPS: set = set()  # names defop made: only these may be defined again
_LITERALS = (numbers.Number, str, bool, type(None), np.generic)


def _check_literal(op: str, key: str, value) -> None:
    """Parameters are printed into generated code as literals, so only literals are taken."""
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, tuple):
            todo += list(v)
        elif not isinstance(v, _LITERALS):
            raise SymgradError(f"{op}: parameter {key}={v!r} must be a number, string, bool, None "
                               "or a tuple of them")


def defop(name: str, impl: Callable, *, partials=None, shape: Callable | None = None,
          vjp=None, jvp: Callable | None = None, batch: Callable | None = None, sympy=None,
          domain: tuple | None = None, doc: str = "") -> Callable:
    """Define a new primitive and return the function that applies it.

    Elementwise form: ``impl`` is a NumPy function of arrays and ``partials`` gives the local
    derivative wrt each argument as ``(out, *args) -> Expr`` in symgrad ops; broadcasting,
    every derivative (reverse, forward, batched, of any order), compilation and printing
    follow.  General form: ``shape(*args, **params) -> (shape, dtype)`` and rules ``vjp`` (one
    ``(g, out, *args, **params) -> Expr`` per argument) and ``jvp`` (``(tangents, out, *args,
    **params)``, one tangent per argument, None where zero), optionally ``batch`` (see
    :class:`symgrad.op.Op`).  ``sympy`` is the SymPy function (elementwise) or a rule on
    object arrays of SymPy entries.  Generated code reaches ``impl`` through an identifier of
    symgrad's own; ``name`` only labels the op.  Defining a name again replaces an op that
    ``defop`` made.

    >>> erf = sg.defop("my_erf", impl=scipy.special.erf,
    ...                partials=[lambda out, x: 2 / math.sqrt(math.pi) * sg.exp(-x * x)],
    ...                sympy=sympy.erf)
    >>> y = erf(x)
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise SymgradError(f"defop: the name must be an identifier such as 'my_erf', got {name!r}")
    if name in REGISTRY and name not in USER_OPS:
        raise SymgradError(f"defop: {name!r} is a built-in op of symgrad; choose another name")
    if not callable(impl):
        raise SymgradError(f"defop {name!r}: impl must be callable, got {impl!r}")
    if (partials is None) == (shape is None):
        raise SymgradError(f"defop {name!r}: give either partials= (an elementwise op) or "
                           "shape= with vjp=/jvp= rules (a general op)")
    if partials is not None:
        partials = tuple(partials)
        arity = len(partials)
        elementwise(name, impl, partials, sympy, inplace=False, domain=domain, doc=doc,
                    replace=True)
    else:
        arity = len(vjp) if vjp is not None else None
        vjp = tuple(vjp) if vjp is not None else None
        register(Op(name, shape, impl, vjp=vjp, jvp=jvp, batch=batch, sympy=sympy, arity=arity,
                    differentiable=vjp is not None or jvp is not None, domain=domain, doc=doc),
                 replace=True)
    USER_OPS.add(name)

    def fn(*args, **params) -> Expr:
        if arity is not None and len(args) != arity:
            raise SymgradError(f"{name}: takes {arity} argument(s), got {len(args)}")
        for key, value in params.items():
            _check_literal(name, key, value)
        return apply(name, *args, **params)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc or f"The user-defined op {name!r}."
    REGISTRY[name].function = fn
    return fn

