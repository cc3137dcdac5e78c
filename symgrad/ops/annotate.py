"""``name``: an identity op that gives an intermediate a name for formulas.

The named node's argument prints by the name wherever it occurs (also where a derivative
uses it, e.g. sigmoid's vjp uses its own output), and its definition is listed apart, so a
gradient reads like a textbook derivation.  Compilation emits the argument itself and the
derivative rules pass tangents and cotangents through, so naming changes nothing else.
"""
from __future__ import annotations

from ..errors import SymgradError
from ..expr import Expr, apply, as_expr
from ..op import Op, register
from .banded import same_band
from .contraction import same_contraction

register(Op("name", lambda x, name: (x.dims, x.dtype), lambda x, name: x,
            emit=lambda args, params, ctx: args[0], vjp=(lambda g, out, x, name: g,),
            jvp=lambda tangents, out, x, name: tangents[0],
            batch=lambda nb, batched, x, name: x, band=same_band, contraction=same_contraction,
            sympy=lambda x, name: x, sympy_matrix=lambda tr, attrs, x: x, label=lambda name: name,
            view=True, samples=((((2, 3),), dict(name="s")),),
            sparsity="entries", curvature=(),
            doc="x, printed as `name` in formulas"))


def name(e, label: str) -> Expr:
    """``e`` named ``label``: formulas print ``label`` for it and list its definition.

    >>> z2 = sg.name(a1 @ W2 + b2, "z2")
    """
    if not isinstance(label, str) or not label.isidentifier():
        raise SymgradError(f"name: a name must be an identifier such as 'z2', got {label!r}")
    return apply("name", as_expr(e), name=label)
