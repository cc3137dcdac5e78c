"""Elementwise ops: each is one table row with its NumPy implementation, its local
derivatives written in symgrad ops (reverse and forward rules both follow from them),
its SymPy function and the domain its tests sample from.

Conventions at non-smooth points (also in the README):

========================  ===========================================================
``abs'(0)``               0 (``sign(0)``), as JAX and PyTorch
``relu'(0)``              0
``sqrt'(0)``              ``inf`` (``0.5 / sqrt(0)``), as JAX
``maximum``/``minimum``   at a tie each argument gets half the gradient, as JAX
``max`` reduction         ties share the gradient equally
``sign``, comparisons     derivative 0 everywhere
``x ** n`` (int ``n``)    ``n * x ** (n-1)``: exact at 0 (kept apart from ``power``)
``power(a, b)``           ``d/db = a**b * log(a)``: NaN for ``a < 0``, as NumPy's log
========================  ===========================================================
"""
from __future__ import annotations

import numbers

import numpy as np
import sympy

from .. import runtime
from ..dims import broadcast_shapes
from ..expr import Expr, apply, as_expr, is_constant
from .base import Op, lift, register

FLOAT64 = np.dtype(np.float64)


def result_dtype(args, kind: str = "same") -> np.dtype:
    """NumPy's promotion where 0-d constants and sizes (``X.shape[0]``) are weak, like the
    Python scalars they are in NumPy."""
    strong = [a.dtype for a in args if not (a.op in ("constant", "shape_of") and a.ndim == 0)]
    if kind != "bool" and strong and strong[0].kind == "f" and strong.count(strong[0]) == len(strong):
        return strong[0]  # the common case, without np.result_type's cost
    dtype = np.result_type(*(strong or [a.dtype for a in args]))
    if dtype.kind in "biu" and any(a.dtype.kind == "f" for a in args):
        dtype = FLOAT64
    if kind == "float" and dtype.kind in "biu":
        dtype = FLOAT64
    return np.dtype(bool) if kind == "bool" else dtype


_ARG_NAMES = ("arg0", "arg1", "arg2")  # operand names in broadcasting errors


def _infer(name: str, kind: str):
    def infer(*args, **params):
        shape = broadcast_shapes(name, [a.dims for a in args], _ARG_NAMES[:len(args)])
        return shape, result_dtype(args, kind)
    return infer


def _define(name, impl, partials, sympy_fn=None, *, kind="float", infix=None, domain=(-2.0, 2.0),
            doc="", differentiable=True, inplace=True, jvp=None, emit=None):
    register(Op(name, _infer(name, kind), impl, emit=emit, partials=partials, jvp=jvp,
                sympy=sympy_fn, infix=infix, inplace=inplace, domain=domain,
                differentiable=differentiable, doc=doc))


def _public(name: str, doc: str, nargs: int = 1):
    """The public function for a registered elementwise op, with a docstring example."""
    if nargs == 1:
        def fn(x) -> Expr:
            return apply(name, x)
    else:
        def fn(a, b) -> Expr:
            return apply(name, a, b)
    fn.__name__ = fn.__qualname__ = name
    argnames = "x" if nargs == 1 else "x, y"
    fn.__doc__ = f"{doc}\n\n>>> sg.{name}({argnames})\n"
    return fn


# -- unary math functions: name, numpy impl, d/dx as (out, x) -> Expr, sympy, domain, doc ----
_UNARY = [
    ("exp", np.exp, lambda out, x: out, sympy.exp, (-3, 3), "e**x elementwise"),
    ("log", np.log, lambda out, x: 1 / x, sympy.log, (0.2, 4), "natural logarithm"),
    ("log1p", np.log1p, lambda out, x: 1 / (1 + x), lambda x: sympy.log(1 + x), (-0.7, 3),
     "log(1 + x), accurate for small x"),
    ("expm1", np.expm1, lambda out, x: out + 1, lambda x: sympy.exp(x) - 1, (-3, 3),
     "exp(x) - 1, accurate for small x"),
    ("sqrt", np.sqrt, lambda out, x: 0.5 / out, sympy.sqrt, (0.2, 4),
     "square root; derivative inf at 0"),
    ("square", np.square, lambda out, x: 2 * x, lambda x: x ** 2, (-3, 3), "x**2"),
    ("sin", np.sin, lambda out, x: cos(x), sympy.sin, (-3, 3), "sine"),
    ("cos", np.cos, lambda out, x: -sin(x), sympy.cos, (-3, 3), "cosine"),
    ("tan", np.tan, lambda out, x: 1 + out * out, sympy.tan, (-1.2, 1.2), "tangent"),
    ("arctan", np.arctan, lambda out, x: 1 / (1 + x * x), sympy.atan, (-3, 3), "inverse tangent"),
    ("sinh", np.sinh, lambda out, x: cosh(x), sympy.sinh, (-3, 3), "hyperbolic sine"),
    ("cosh", np.cosh, lambda out, x: sinh(x), sympy.cosh, (-3, 3), "hyperbolic cosine"),
    ("tanh", np.tanh, lambda out, x: 1 - out * out, sympy.tanh, (-3, 3), "hyperbolic tangent"),
    ("sigmoid", runtime.sigmoid, lambda out, x: out * (1 - out),
     lambda x: 1 / (1 + sympy.exp(-x)), (-5, 5), "logistic sigmoid 1/(1+e**-x), stable for |x| = 1000"),
    ("softplus", runtime.softplus, lambda out, x: sigmoid(x),
     lambda x: sympy.log(1 + sympy.exp(x)), (-5, 5), "log(1 + e**x), stable for |x| = 1000"),
    ("relu", runtime.relu, lambda out, x: where(x > 0, 1.0, 0.0),
     lambda x: sympy.Max(x, 0), (-3, 3), "max(x, 0); derivative 0 at 0"),
    ("abs", np.abs, lambda out, x: sign(x), sympy.Abs, (-3, 3), "absolute value; derivative 0 at 0"),
]

_KEEP_INTEGERS = {"square", "relu", "abs"}  # NumPy keeps an integer dtype for these

for _name, _impl, _d, _sympy, _domain, _doc in _UNARY:
    _define(_name, _impl, (_d,), _sympy, domain=_domain, doc=_doc,
            kind="same" if _name in _KEEP_INTEGERS else "float")
    globals()[_name] = _public(_name, _doc)

_define("neg", np.negative, (lambda out, x: -1,), lambda x: -x, kind="same", infix="-",
        doc="-x")
_define("sign", runtime.sign, (None,), sympy.sign, kind="same", differentiable=False,
        doc="sign of x (-1, 0, 1); derivative 0")
sign = _public("sign", "sign of x (-1, 0 or 1); its derivative is 0")

# -- binary arithmetic --------------------------------------------------------------------
_define("add", np.add, (lambda out, a, b: 1, lambda out, a, b: 1), lambda a, b: a + b,
        kind="same", infix="+", doc="a + b")
_define("sub", np.subtract, (lambda out, a, b: 1, lambda out, a, b: -1), lambda a, b: a - b,
        kind="same", infix="-", doc="a - b")
_define("mul", np.multiply, (lambda out, a, b: b, lambda out, a, b: a), lambda a, b: a * b,
        kind="same", infix="*", doc="a * b")
def _div_jvp(tangents, out, a, b):
    """(a/b)˙ = (ȧ - out·ḃ) / b: one division, and differentiating it again reuses out˙
    (the quotient rule in this form is Leibniz's rule for out·b = a)."""
    ta, tb = (None if t is None else lift(t, x, out.ndim) for t, x in zip(tangents, (a, b)))
    top = -(out * tb) if ta is None else ta if tb is None else ta - out * tb
    return top / b


_define("div", np.divide, (lambda out, a, b: 1 / b, lambda out, a, b: -out / b),
        lambda a, b: a / b, kind="float", infix="/", domain=(0.5, 3), doc="a / b", jvp=_div_jvp)
_define("power", np.power,
        (lambda out, a, b: b * power(a, b - 1), lambda out, a, b: out * log(a)),
        lambda a, b: a ** b, kind="same", domain=(0.5, 2),
        doc="a ** b for a real exponent (integer ** integer stays integer, as in NumPy)")


def _tie_share(a, b, winner):
    return where(winner, 1.0, where(equal(a, b), 0.5, 0.0))


_define("maximum", np.maximum, (lambda out, a, b: _tie_share(a, b, a > b),
                                 lambda out, a, b: _tie_share(a, b, b > a)),
        sympy.Max, kind="same", doc="elementwise larger of a and b; ties share the gradient")
_define("minimum", np.minimum, (lambda out, a, b: _tie_share(a, b, a < b),
                                 lambda out, a, b: _tie_share(a, b, b < a)),
        sympy.Min, kind="same", doc="elementwise smaller of a and b; ties share the gradient")
maximum = _public("maximum", "elementwise maximum; at ties each argument gets half the gradient", 2)
minimum = _public("minimum", "elementwise minimum; at ties each argument gets half the gradient", 2)

for _name, _impl, _sym, _infix in [("less", np.less, sympy.StrictLessThan, "<"),
                                    ("less_equal", np.less_equal, sympy.LessThan, "<="),
                                    ("greater", np.greater, sympy.StrictGreaterThan, ">"),
                                    ("greater_equal", np.greater_equal, sympy.GreaterThan, ">="),
                                    ("equal", np.equal, sympy.Eq, "=="),
                                    ("not_equal", np.not_equal, sympy.Ne, "!=")]:
    _define(_name, _impl, (None, None), _sym, kind="bool", infix=_infix, differentiable=False,
            domain=None, doc=f"a {_infix} b as a boolean expression (no gradient)")
equal = _public("equal", "a == b elementwise, a boolean expression (no gradient)", 2)
not_equal = _public("not_equal", "a != b elementwise, a boolean expression (no gradient)", 2)


# -- integer powers, kept apart from general power so derivatives at 0 are exact ----------
def _int_power_partial(out, x, n):
    return n * int_power(x, n - 1)


def _int_power_emit(args, params, ctx):
    """``x * x`` for a square (cheaper to compile and to run than a call), else the helper."""
    x, n = args[0], params["n"]
    return f"{x} * {x}" if n == 2 else f"rt.int_power({x}, n={n})"


_define("int_power", runtime.int_power, (_int_power_partial,), lambda x, n: x ** n, kind="same",
        domain=(-2, 2), doc="x ** n for a fixed integer n", emit=_int_power_emit)


def int_power(x, n: int) -> Expr:
    """``x ** n`` for an integer ``n``: ``n * x**(n-1)`` is its exact derivative, also at 0.

    >>> sg.int_power(x, 3)
    """
    x = as_expr(x)
    if n == 1:
        return x
    if n == 0:
        return apply("mul", x, 0) + 1
    if n < 0 and x.dtype.kind in "biu":  # as NumPy, integers keep their dtype for n >= 0 only
        x = x.astype(np.float64)
    return apply("int_power", x, n=int(n))


def power(a, b) -> Expr:
    """``a ** b``; an integer constant exponent gives :func:`int_power` (exact at 0).

    >>> sg.power(x, 2.5)
    """
    if isinstance(b, numbers.Integral) or isinstance(b, float) and b.is_integer() and -2**31 < b < 2**31:
        return int_power(a, int(b))
    if isinstance(b, Expr) and is_constant(b) and b.ndim == 0:
        v = b.attrs["value"][()]
        if float(v).is_integer() and -2**31 < v < 2**31:  # `abs` here is sg.abs
            return int_power(a, int(v))
    return apply("power", a, b)


# -- where: the branch not taken contributes an exact zero, never NaN -----------------------
def _where_infer(cond, a, b):
    shape = broadcast_shapes("where", [cond.dims, a.dims, b.dims], ["condition", "x", "y"])
    return shape, result_dtype([a, b])


register(Op("where", _where_infer, np.where,
            partials=(None, lambda out, c, a, b: where(c, 1.0, 0.0),
                      lambda out, c, a, b: where(c, 0.0, 1.0)),
            sympy=lambda c, a, b: sympy.Piecewise((a, c), (b, True)), domain=None,
            doc="x where cond else y"))


def where(cond, x, y) -> Expr:
    """``x`` where ``cond`` holds, else ``y`` (NumPy broadcasting).

    >>> sg.where(x > 0, sg.sqrt(x), 0.0)
    """
    return apply("where", cond, x, y)


# -- casts and stop_gradient ----------------------------------------------------------------
def _cast_infer(x, dtype):
    return x.dims, np.dtype(dtype)


register(Op("cast", _cast_infer, np.ndarray.astype,
            emit=lambda args, params, ctx: f"{args[0]}.astype(np.{params['dtype']})",
            vjp=(lambda g, out, x, dtype: g.astype(x.dtype) if x.dtype.kind == "f" else None,),
            jvp=lambda tangents, out, x, dtype: tangents[0].astype(dtype) if out.dtype.kind == "f"
            else None,
            sympy=lambda x, dtype: x, doc="x converted to another dtype"))

register(Op("stop_gradient", lambda x: (x.dims, x.dtype), lambda x: x,
            emit=lambda args, params, ctx: args[0], vjp=(lambda g, out, x: None,),
            jvp=lambda tangents, out, x: None, view=True,
            sympy=lambda x: x, doc="x, with gradient zero"))


def stop_gradient(e) -> Expr:
    """The value of ``e`` with a zero gradient (a constant to the backward pass).

    >>> sg.grad(x * sg.stop_gradient(x), x)   # = x, not 2x
    """
    return apply("stop_gradient", e)
