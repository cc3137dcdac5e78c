"""Elementwise ops: each is one table row with its NumPy implementation, its local
derivatives written in symgrad ops (reverse, forward, batching and band rules all follow
from them), its SymPy function and the domain its tests sample from.

Conventions at non-smooth points (also in the README):

========================  ===========================================================
``abs'(0)``               0 (``sign(0)``), as PyTorch (JAX gives 1)
``relu'(0)``              0
``sqrt'(0)``              ``inf`` (``0.5 / sqrt(0)``), as JAX
``maximum``/``minimum``   at a tie each argument gets half the gradient, as JAX
``max`` reduction         ties share the gradient equally
``sign``, comparisons     derivative 0 everywhere
``x ** n`` (int ``n``)    ``n * x ** (n-1)``: exact at 0 (kept apart from ``power``)
``power(a, b)``           ``d/db = xlogy(a**b, a)``: 0 where ``a == 0`` (the limit for ``b > 0``),
                          NaN for ``a < 0`` as NumPy's log
``where(c, a, b)``        the branch not taken gets an exact 0, never NaN
``cbrt'(0)``              ``inf`` (``1 / (3 cbrt(0)**2)``), as ``sqrt``
``floor``, ``ceil``       0 everywhere, exactly (``round`` too), also at the jumps
``mod(x, y)``             ``d/dx = 1``, ``d/dy = -floor(x / y)``, as JAX (jumps ignored)
``clip(x, lo, hi)``       wholly to the argument taken: ``x`` on ``[lo, hi]`` bounds included
                          (PyTorch's clamp), ``lo`` below, ``hi`` above or where ``lo > hi``
========================  ===========================================================
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import runtime
from ..dims import broadcast_shapes
from ..dtypes import FLOAT64, result_dtype
from ..errors import SymgradError
from ..expr import Expr, apply, as_expr, constant, expr_method, is_constant
from ..lazy import sympy
from ..op import REGISTRY, Masked, Op, register
from .banded import LOST, banded, elementwise_band
from .contraction import elementwise_contraction
from .shape import elementwise_batch

_ARG_NAMES = ("arg0", "arg1", "arg2")  # operand names in broadcasting errors


def _infer(name: str, kind: str):
    def infer(*args, **params):
        dims = args[0].dims
        for a in args:  # the common case: equal shapes, no broadcasting to work out
            if a.dims != dims:
                dims = broadcast_shapes(name, [a.dims for a in args], _ARG_NAMES[:len(args)])
                break
        return dims, result_dtype(args, kind)
    return infer


def elementwise(name, impl, partials=None, sympy_fn=None, *, arity=None, kind="float", infix=None,
                domain=(-2.0, 2.0), doc="", cli=False, inplace=True, replace=False, infer=None,
                **fields) -> Op:
    """Register an elementwise op of ``arity`` arguments (the number of ``partials`` by
    default): NumPy broadcasting, dtype by ``kind`` (``"float"``, ``"same"`` or ``"bool"``),
    the generic batching rule, and with ``partials`` the generic reverse, forward and band
    rules.  The registry-driven tests draw its arguments from ``domain`` (None: it has tests
    of its own).

    >>> elementwise("cube", lambda x, out=None: x ** 3, (lambda out, x: 3 * x * x,))
    """
    differentiable = partials is not None or "jvp" in fields
    op = Op(name, infer or _infer(name, kind), impl, partials=partials, sympy=sympy_fn, infix=infix,
            inplace=inplace, domain=domain if differentiable else None, doc=doc, cli=cli,
            arity=len(partials) if partials is not None else arity, batch=elementwise_batch(name),
            elementwise=True, differentiable=differentiable, **fields)
    if partials is not None and op.band is None:
        op.band = elementwise_band(op)
    if partials is not None and op.contraction is None:
        op.contraction = elementwise_contraction(op)
    register(op, replace=replace)
    return op


def _public(name: str, doc: str, nargs: int = 1, prefix: str = "sg."):
    """The public function for a registered elementwise op, with a docstring example
    (``prefix``: the namespace it is called from)."""
    if nargs == 1:
        def fn(x) -> Expr:
            return apply(name, x)
    else:
        def fn(a, b) -> Expr:
            return apply(name, a, b)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{doc}\n\n>>> {prefix}{name}({'x' if nargs == 1 else 'x, y'})\n"
    REGISTRY[name].function = fn
    return fn


def indicator(cond: Expr, dtype) -> Expr:
    """1 where ``cond`` holds, else 0, in the float dtype ``dtype`` (float64 for others)."""
    dtype = dtype if np.dtype(dtype).kind == "f" else FLOAT64
    return where(cond, constant(1.0, dtype, cond.g), constant(0.0, dtype, cond.g))


# -- unary math functions: name, numpy impl, d/dx as (out, x) -> Expr, sympy, domain, doc ----
_UNARY = [
    ("exp", np.exp, lambda out, x: out, lambda x: sympy.exp(x), (-3, 3), "e**x elementwise"),
    ("log", np.log, lambda out, x: 1 / x, lambda x: sympy.log(x), (0.2, 4), "natural logarithm"),
    ("log1p", np.log1p, lambda out, x: 1 / (1 + x), lambda x: sympy.log(1 + x), (-0.7, 3),
     "log(1 + x), accurate for small x"),
    ("expm1", np.expm1, lambda out, x: out + 1, lambda x: sympy.exp(x) - 1, (-3, 3),
     "exp(x) - 1, accurate for small x"),
    ("sqrt", np.sqrt, lambda out, x: 0.5 / out, lambda x: sympy.sqrt(x), (0.2, 4),
     "square root; derivative inf at 0"),
    ("square", np.square, lambda out, x: 2 * x, lambda x: x ** 2, (-3, 3), "x**2"),
    ("sin", np.sin, lambda out, x: cos(x), lambda x: sympy.sin(x), (-3, 3), "sine"),
    ("cos", np.cos, lambda out, x: -sin(x), lambda x: sympy.cos(x), (-3, 3), "cosine"),
    ("tan", np.tan, lambda out, x: 1 + out * out, lambda x: sympy.tan(x), (-1.2, 1.2), "tangent"),
    ("arctan", np.arctan, lambda out, x: 1 / (1 + x * x), lambda x: sympy.atan(x), (-3, 3),
     "inverse tangent"),
    ("sinh", np.sinh, lambda out, x: cosh(x), lambda x: sympy.sinh(x), (-3, 3), "hyperbolic sine"),
    ("cosh", np.cosh, lambda out, x: sinh(x), lambda x: sympy.cosh(x), (-3, 3), "hyperbolic cosine"),
    ("tanh", np.tanh, lambda out, x: 1 - out * out, lambda x: sympy.tanh(x), (-3, 3),
     "hyperbolic tangent"),
    ("sigmoid", runtime.sigmoid, lambda out, x: out * (1 - out),
     lambda x: 1 / (1 + sympy.exp(-x)), (-5, 5), "logistic sigmoid 1/(1+e**-x), stable for |x| = 1000"),
    ("softplus", runtime.softplus, lambda out, x: sigmoid(x),
     lambda x: sympy.log(1 + sympy.exp(x)), (-5, 5), "log(1 + e**x), stable for |x| = 1000"),
    ("relu", runtime.relu, lambda out, x: indicator(x > 0, out.dtype),
     lambda x: sympy.Max(x, 0), (-3, 3), "max(x, 0); derivative 0 at 0"),
    ("abs", np.abs, lambda out, x: sign(x), lambda x: sympy.Abs(x), (-3, 3),
     "absolute value; derivative 0 at 0"),
    ("arcsin", np.arcsin, lambda out, x: 1 / sqrt(1 - x * x), lambda x: sympy.asin(x),
     (-0.9, 0.9), "inverse sine, for -1 <= x <= 1"),
    ("arccos", np.arccos, lambda out, x: -1 / sqrt(1 - x * x), lambda x: sympy.acos(x),
     (-0.9, 0.9), "inverse cosine, for -1 <= x <= 1"),
    ("arcsinh", np.arcsinh, lambda out, x: 1 / hypot(x, 1.0), lambda x: sympy.asinh(x), (-3, 3),
     "inverse hyperbolic sine; derivative 1/hypot(x, 1), no overflow"),
    ("arccosh", np.arccosh, lambda out, x: 1 / (sqrt(x - 1) * sqrt(x + 1)),
     lambda x: sympy.acosh(x), (1.2, 4), "inverse hyperbolic cosine, for x >= 1; derivative "
     "1/(sqrt(x - 1) sqrt(x + 1)), accurate near 1 and without overflow"),
    ("arctanh", np.arctanh, lambda out, x: 1 / (1 - x * x), lambda x: sympy.atanh(x),
     (-0.9, 0.9), "inverse hyperbolic tangent, for -1 < x < 1"),
    ("log2", np.log2, lambda out, x: (1 / math.log(2)) / x, lambda x: sympy.log(x, 2), (0.2, 4),
     "base-2 logarithm"),
    ("log10", np.log10, lambda out, x: (1 / math.log(10)) / x, lambda x: sympy.log(x, 10),
     (0.2, 4), "base-10 logarithm"),
    ("exp2", np.exp2, lambda out, x: math.log(2) * out, lambda x: 2 ** x, (-3, 3), "2**x"),
    ("cbrt", np.cbrt, lambda out, x: 1 / (3 * out * out),
     lambda x: sympy.Piecewise((x ** sympy.Rational(1, 3), x >= 0),
                               (-(-x) ** sympy.Rational(1, 3), True)), (0.2, 4),
     "real cube root (negative for x < 0); derivative inf at 0"),
    ("reciprocal", np.reciprocal, lambda out, x: -(out * out), lambda x: 1 / x, (0.5, 3),
     "1/x (integers stay integers, as in NumPy: reciprocal(2) is 0)"),
]

_KEEP_INTEGERS = {"square", "relu", "abs", "reciprocal"}  # NumPy keeps an integer dtype for these
_PIECEWISE_LINEAR = {"relu", "abs"}  # second derivative 0 wherever it exists

for _name, _impl, _d, _sympy, _domain, _doc in _UNARY:
    elementwise(_name, _impl, (_d,), _sympy, domain=_domain, doc=_doc, cli=True,
                kind="same" if _name in _KEEP_INTEGERS else "float",
                curvature=() if _name in _PIECEWISE_LINEAR else "all")
    globals()[_name] = _public(_name, _doc)

elementwise("neg", np.negative, (lambda out, x: -1,), lambda x: -x, kind="same", infix="-",
            sum_signs=(-1,), curvature=(), sympy_matrix=lambda tr, attrs, x: -x, doc="-x")
elementwise("sign", runtime.sign, None, lambda x: sympy.sign(x), arity=1, kind="same", cli=True,
            doc="sign of x (-1, 0, 1); derivative 0")
sign = _public("sign", "sign of x (-1, 0 or 1); its derivative is 0")


# -- binary arithmetic --------------------------------------------------------------------
def _sum_matrix(sign: int):
    def rule(tr, attrs, a, b):
        a, b = tr.broadcast(attrs, [a, b], ones=True)
        return a + b if sign > 0 else a - b
    return rule


def _mul_matrix(tr, attrs, a, b):
    """A column times a row is their outer product; matrices multiply entrywise (∘)."""
    (da, db), out = tr.arg_dims(attrs), attrs["shape"]
    if len(out) == 2 and {da, db} == {(out[0], 1), (1, out[1])}:
        return a * b if da == (out[0], 1) else b * a
    a, b = tr.broadcast(attrs, [a, b])
    return tr.hadamard(a, b) if tr.is_matrix(a) and tr.is_matrix(b) else a * b


def _div_matrix(tr, attrs, a, b):
    a, b = tr.broadcast(attrs, [a, b])
    if not tr.is_matrix(b):
        return a / b
    inverse = sympy.HadamardPower(b, -1)
    return tr.hadamard(a, inverse) if tr.is_matrix(a) else a * inverse


elementwise("add", np.add, (lambda out, a, b: 1, lambda out, a, b: 1), lambda a, b: a + b,
            kind="same", infix="+", commutative=True, sum_signs=(1, 1),
            sympy_matrix=_sum_matrix(1), curvature=(), doc="a + b")
elementwise("sub", np.subtract, (lambda out, a, b: 1, lambda out, a, b: -1), lambda a, b: a - b,
            kind="same", infix="-", sum_signs=(1, -1), sympy_matrix=_sum_matrix(-1),
            curvature=(), doc="a - b")
def _product_sparsity(position, shapes, out_shape, params, values):
    """Each entry reads the factor's entry it broadcasts from, except where the other factor
    is a constant 0."""
    numbers = np.arange(int(np.prod(shapes[position], dtype=np.int64))).reshape(shapes[position])
    cols = np.broadcast_to(numbers, out_shape).ravel()
    keep = np.ones(cols.size, bool)
    if values[1 - position] is not None:
        keep = np.broadcast_to(np.asarray(values[1 - position]) != 0, out_shape).ravel()
    return np.flatnonzero(keep), cols[keep]


elementwise("mul", np.multiply, (lambda out, a, b: b, lambda out, a, b: a), lambda a, b: a * b,
            kind="same", infix="*", commutative=True, sympy_matrix=_mul_matrix,
            sparsity=_product_sparsity, curvature=((0, 1),), doc="a * b")


def _div_jvp(tangents, out, a, b):
    """(a/b)˙ = (ȧ - out·ḃ) / b: one division, and differentiating it again reuses out˙
    (the quotient rule in this form is Leibniz's rule for out·b = a)."""
    ta, tb = tangents
    top = -(out * tb) if ta is None else ta if tb is None else ta - out * tb
    return top / b


elementwise("div", np.divide, (lambda out, a, b: 1 / b, lambda out, a, b: -out / b),
            lambda a, b: a / b, infix="/", domain=(0.5, 3), jvp=_div_jvp,
            sympy_matrix=_div_matrix, curvature=((0, 1), (1, 1)), doc="a / b")
def _xlogy_jvp(tangents, out, x, y):
    """xlogy(ẋ, y) + ẏ·x/y: the first term is 0 where ẋ is (and the tangent of a power's
    exponent at a zero base, out = 0, is so)."""
    tx, ty = tangents
    first = None if tx is None else xlogy(tx, y)
    second = None if ty is None else ty * x / y
    return second if first is None else first if second is None else first + second


elementwise("xlogy", runtime.xlogy, None, lambda x, y: x * sympy.log(y), arity=2,
            domain=(0.5, 3), vjp=(lambda g, out, x, y: xlogy(g, y), lambda g, out, x, y: g * x / y),
            jvp=_xlogy_jvp, inplace=False, doc="x * log(y), 0 where x is 0 (as SciPy)")
xlogy = _public("xlogy", "x * log(y), and 0 where x is 0 (also where y is 0)", 2)

elementwise("power", np.power,
            (lambda out, a, b: b * power(a, b - 1), lambda out, a, b: xlogy(out, a)),
            lambda a, b: a ** b, kind="same", domain=(0.5, 2), cli=True,
            doc="a ** b for a real exponent (integer ** integer stays integer, as in NumPy)")


def _tie_share(a, b, winner, dtype):
    """1 where ``winner``, 1/2 at a tie, else 0."""
    half = constant(0.5, dtype if np.dtype(dtype).kind == "f" else FLOAT64, a.g)
    return where(winner, constant(1.0, half.dtype, a.g),
                 where(equal(a, b), half, constant(0.0, half.dtype, a.g)))


elementwise("maximum", np.maximum, (lambda out, a, b: _tie_share(a, b, a > b, out.dtype),
                                     lambda out, a, b: _tie_share(a, b, b > a, out.dtype)),
            lambda a, b: sympy.Max(a, b), kind="same", commutative=True, cli=True,
            curvature=(), doc="elementwise larger of a and b; ties share the gradient")
elementwise("minimum", np.minimum, (lambda out, a, b: _tie_share(a, b, a < b, out.dtype),
                                     lambda out, a, b: _tie_share(a, b, b < a, out.dtype)),
            lambda a, b: sympy.Min(a, b), kind="same", commutative=True, cli=True,
            curvature=(), doc="elementwise smaller of a and b; ties share the gradient")
maximum = _public("maximum", "elementwise maximum; at ties each argument gets half the gradient", 2)
minimum = _public("minimum", "elementwise minimum; at ties each argument gets half the gradient", 2)

# -- comparisons and logic: boolean results, no gradient ----------------------------------------
for _name, _impl, _sym, _infix, _commutes in [
        ("less", np.less, "StrictLessThan", "<", False),
        ("less_equal", np.less_equal, "LessThan", "<=", False),
        ("greater", np.greater, "StrictGreaterThan", ">", False),
        ("greater_equal", np.greater_equal, "GreaterThan", ">=", False),
        ("equal", np.equal, "Eq", "==", True),
        ("not_equal", np.not_equal, "Ne", "!=", True),
        ("logical_and", np.logical_and, "And", "&", True),
        ("logical_or", np.logical_or, "Or", "|", True),
        ("logical_xor", np.logical_xor, "Xor", "^", True)]:
    elementwise(_name, _impl, None, lambda a, b, _sym=_sym: getattr(sympy, _sym)(a, b),
                arity=2, kind="bool", infix=None if _name.startswith("logical") else _infix,
                commutative=_commutes,
                doc=f"a {_infix} b elementwise, a boolean expression (no gradient)")
    globals()[_name] = _public(_name, f"a {_infix} b elementwise, a boolean expression "
                                      "(no gradient)", 2)
elementwise("logical_not", np.logical_not, None, lambda a: sympy.Not(a), arity=1, kind="bool",
            doc="not a, elementwise (no gradient)")
logical_not = _public("logical_not", "not x elementwise, a boolean expression (no gradient)")


# -- integer powers, kept apart from general power so derivatives at 0 are exact ----------
def _int_power_emit(args, params, ctx):
    """``x * x`` for a square (cheaper to compile and to run than a call), else the helper."""
    x, n = args[0], params["n"]
    return f"{x} * {x}" if n == 2 else f"rt.int_power({x}, n={n})"


elementwise("int_power", runtime.int_power, (lambda out, x, n: n * int_power(x, n - 1),),
            lambda x, n: x ** n, kind="same", domain=(-2, 2), emit=_int_power_emit,
            sympy_matrix=lambda tr, attrs, x: sympy.HadamardPower(x, dict(attrs["params"])["n"]),
            doc="x ** n for a fixed integer n")


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


def _integer_exponent(b):
    """``b`` as an int when it is an integer-valued number or 0-d constant, else None."""
    if isinstance(b, Expr):
        if not (is_constant(b) and b.ndim == 0):
            return None
        b = b.attrs["value"][()]
    if isinstance(b, (numbers.Integral, float, np.floating)) and float(b).is_integer() \
            and -2**31 < b < 2**31:
        return int(b)
    return None


def power(a, b) -> Expr:
    """``a ** b``; an integer constant exponent gives :func:`int_power` (exact at 0).

    >>> sg.power(x, 2.5)
    """
    n = _integer_exponent(b)
    return int_power(a, n) if n is not None else apply("power", a, b)


REGISTRY["power"].function = power
expr_method("__pow__")(power)
expr_method("__rpow__")(lambda self, other: power(other, self))


# -- where: the branch not taken gets an exact zero, never NaN -----------------------------
def _where_infer(cond, a, b):
    shape = broadcast_shapes("where", [cond.dims, a.dims, b.dims], ["condition", "x", "y"])
    return shape, result_dtype([a, b])


def _where_band(tangents, out, c, a, b):
    """Each band's coefficient is the select of the branches' coefficients."""
    _, ta, tb = tangents
    if any(t is not None and x.dims != out.dims for t, x in ((ta, a), (tb, b))):
        return LOST
    xdims = (ta or tb).xdims
    offsets = set(ta.bands if ta is not None else ()) | set(tb.bands if tb is not None else ())
    zero = constant(0.0, out.dtype, out.g)
    pick = {o: where(c, ta.bands.get(o, zero) if ta is not None else zero,
                     tb.bands.get(o, zero) if tb is not None else zero) for o in offsets}
    return banded(pick, xdims)


def _where_jvp(tangents, out, c, a, b):
    """The select of the branches' tangents (an absent tangent is 0)."""
    _, ta, tb = tangents
    zero = constant(0.0, out.dtype, out.g)
    return where(c, zero if ta is None else ta, zero if tb is None else tb)


def _where_matrix(tr, attrs, c, a, b):
    """``where(c, a, 0)`` of another matrix ``a`` is ``a ∘ [c]`` (a masked gradient)."""
    if len(tr.bases([c, a, b])) > 1:
        for kept, other, mask in ((a, b, (1, 0)), (b, a, (0, 1))):
            if tr.is_matrix(kept) and other == 0:
                return tr.hadamard(tr.broadcast(attrs, [kept])[0],
                                   tr.entrywise(attrs, [c, *mask]))
    return tr.entrywise(attrs, [c, a, b])


elementwise("where", np.where, None, lambda c, a, b: sympy.Piecewise((a, c), (b, True)),
            arity=3, infer=_where_infer, inplace=False, cli=True, domain=None,
            samples=(((lambda rng: rng.uniform(size=(2, 3)) > 0.5, (2, 3), (3,)), {}),
                     ((lambda rng: rng.uniform(size=(3,)) > 0.5, (2, 1), ()), {})),
            vjp=(None, lambda g, out, c, a, b: Masked(c, g),
                 lambda g, out, c, a, b: Masked(logical_not(c), g)),
            jvp=_where_jvp, band=_where_band, sympy_matrix=_where_matrix,
            curvature=(), doc="x where cond else y")


def where(cond, x, y) -> Expr:
    """``x`` where ``cond`` holds, else ``y`` (NumPy broadcasting); the branch not taken
    gets an exact zero gradient.

    >>> sg.where(x > 0, sg.sqrt(x), 0.0)
    """
    return apply("where", cond, x, y)


REGISTRY["where"].function = where


# -- casts and stop_gradient ----------------------------------------------------------------
def _cast_band(tangents, out, x, dtype):
    t = tangents[0]
    return banded({o: c.astype(dtype) for o, c in t.bands.items()}, t.xdims)


elementwise("cast", lambda x, dtype: np.asarray(x).astype(dtype), None, lambda x, dtype: x,
            arity=1, infer=lambda x, dtype: (x.dims, np.dtype(dtype)), inplace=False, domain=None,
            emit=lambda args, params, ctx: f"{args[0]}.astype(np.{params['dtype']})",
            vjp=(lambda g, out, x, dtype: g.astype(x.dtype) if x.dtype.kind == "f" else None,),
            jvp=lambda tangents, out, x, dtype: tangents[0].astype(dtype)
            if out.dtype.kind == "f" else None,
            band=_cast_band, sympy_matrix=lambda tr, attrs, x: x,
            curvature=(), doc="x converted to another dtype")

elementwise("stop_gradient", lambda x: x, None, lambda x: x, arity=1, kind="same", inplace=False,
            domain=None,
            emit=lambda args, params, ctx: args[0], vjp=(lambda g, out, x: None,),
            jvp=lambda tangents, out, x: None, band=lambda tangents, out, x: None,
            sympy_matrix=lambda tr, attrs, x: x, view=True,
            sparsity=lambda *rule_args: (np.zeros(0, np.int64), np.zeros(0, np.int64)),
            doc="x, with gradient zero")


def stop_gradient(e) -> Expr:
    """The value of ``e`` with a zero gradient (a constant to the backward pass).

    >>> sg.grad(x * sg.stop_gradient(x), x)   # = x, not 2x
    """
    return apply("stop_gradient", e)


# -- more of NumPy's math: binary functions, rounding, mod, clip ------------------------------
def integer_param(op: str, name: str, value, low: int | None = None) -> int:
    """``value`` (an integer-valued number or 0-d constant) as an int, else a SymgradError
    naming the op and the parameter.

    >>> integer_param("round", "decimals", 2.0)
    2
    """
    n = _integer_exponent(value)
    if n is None or low is not None and n < low:
        need = "an integer" if low is None else f"an integer >= {low}"
        raise SymgradError(f"{op}: {name} must be {need}, got {value!r}")
    return n


elementwise("logaddexp", np.logaddexp, (lambda out, a, b: exp(a - out),
                                         lambda out, a, b: exp(b - out)),
            lambda a, b: sympy.log(sympy.exp(a) + sympy.exp(b)), domain=(-3, 3),
            commutative=True, cli=True,
            doc="log(exp(a) + exp(b)) without overflow; derivatives exp(a - out), exp(b - out)")
elementwise("arctan2", np.arctan2, (lambda out, y, x: x / hypot(y, x) / hypot(y, x),
                                     lambda out, y, x: -y / hypot(y, x) / hypot(y, x)),
            lambda y, x: sympy.atan2(y, x), domain=(0.5, 2), cli=True,
            doc="the angle of the point (x, y), arctan2(y, x) in [-pi, pi]; derivatives "
                "(x, -y) / hypot(y, x) / hypot(y, x), no overflow or underflow at 1e200")
elementwise("hypot", np.hypot, (lambda out, a, b: a / out, lambda out, a, b: b / out),
            lambda a, b: sympy.sqrt(a ** 2 + b ** 2), domain=(0.5, 3), commutative=True,
            cli=True, doc="sqrt(a**2 + b**2) without overflow (hypot(1e200, 1e200) is finite)")
logaddexp = _public("logaddexp", "log(exp(a) + exp(b)), stable for |a|, |b| = 1000", 2)
arctan2 = _public("arctan2", "arctan2(y, x): the angle of (x, y) in [-pi, pi], NumPy's "
                             "argument order (y first)", 2)
hypot = _public("hypot", "sqrt(a**2 + b**2) without overflow; derivative (a, b) / hypot", 2)

_AWAY_FROM_INTEGERS = ((lambda rng: rng.integers(-3, 3, (2, 3)) + rng.uniform(0.1, 0.4, (2, 3)),),
                       (lambda rng: rng.uniform(-2.4, -2.1, ()),))
_ROUNDED_INTEGERS = "same" if np.floor(np.int64(1)).dtype.kind == "i" else "float"  # NumPy 2.x
for _name, _impl, _sym in [("floor", np.floor, "floor"), ("ceil", np.ceil, "ceiling")]:
    elementwise(_name, _impl, None, lambda x, _sym=_sym: getattr(sympy, _sym)(x), arity=1,
                kind=_ROUNDED_INTEGERS, cli=True, samples=tuple((args, {}) for args in _AWAY_FROM_INTEGERS),
                doc=f"np.{_name} elementwise; derivative exactly 0 (forward and reverse)")
    globals()[_name] = _public(_name, f"np.{_name} elementwise; its derivative is exactly 0")


_round_shape = _infer("round", "same")


def _round_infer(x, decimals):
    integer_param("round", "decimals", decimals)
    return _round_shape(x)


elementwise("round", np.round, None, None, arity=1, kind="same", infer=_round_infer,
            samples=((_AWAY_FROM_INTEGERS[0], {"decimals": 0}),
                     ((lambda rng: rng.integers(-30, 30, (3,)) / 10 + rng.uniform(0.01, 0.04, (3,)),),
                      {"decimals": 1})),
            doc="np.round (halves to even) to `decimals` digits; derivative exactly 0")


def round(x, decimals: int = 0) -> Expr:  # noqa: A001 - NumPy's name
    """``np.round(x, decimals)``: round half to even at ``decimals`` decimal digits (negative:
    tens, hundreds...); its derivative is exactly 0, forward and reverse.

    >>> sg.round(x, 2)
    """
    return apply("round", x, decimals=integer_param("round", "decimals", decimals))


REGISTRY["round"].function = round


def _mod_sample(x_shape: tuple, y_shape: tuple) -> tuple:
    """x = 1.5 (m + f), 0.05 < f < 0.3, against y in ±{0.5, 1.5}: x / y is no near integer."""
    return ((lambda rng: 1.5 * (rng.integers(-2, 3, x_shape) + rng.uniform(0.05, 0.3, x_shape)),
             lambda rng: rng.choice([-1.5, -0.5, 0.5, 1.5], y_shape)), {})


elementwise("mod", np.mod, (lambda out, x, y: 1, lambda out, x, y: -floor(x / y)),
            lambda x, y: sympy.Mod(x, y), kind="same", domain=None, cli=True,
            samples=(_mod_sample((2, 3), (3,)), _mod_sample((), (2, 1))),
            curvature=(), doc="x mod y with the sign of y (np.mod); derivatives 1 and -floor(x / y), as JAX")
mod = _public("mod", "x - floor(x / y) * y, the sign of y's (np.mod); d/dx = 1, d/dy = "
                     "-floor(x / y) (as JAX; the jumps at x / y integer are ignored)", 2)


def _clip_masks(x, lo, hi) -> tuple:
    """Where clip takes x, a_min and a_max: x on [a_min, a_max] bounds included, a_min
    below it, a_max above it (and everywhere when a_min > a_max, as NumPy's result)."""
    inverted = lo > hi
    return ((x >= lo) & (x <= hi), (x < lo) & ~inverted, (x > hi) | inverted)


def _clip_jvp(tangents, out, x, lo, hi):
    """The tangent of the argument clip takes, exactly 0 elsewhere."""
    zero = constant(0.0, out.dtype, out.g)
    total = None
    for t, mask in zip(tangents, _clip_masks(x, lo, hi)):
        if t is not None:
            total = where(mask, t, zero) if total is None else total + where(mask, t, zero)
    return total


elementwise("clip", np.clip, None, lambda x, lo, hi: sympy.Min(sympy.Max(x, lo), hi), arity=3,
            kind="same", domain=None, cli=True, jvp=_clip_jvp,
            vjp=tuple(lambda g, out, x, lo, hi, k=k: Masked(_clip_masks(x, lo, hi)[k], g)
                      for k in range(3)),
            samples=(((lambda rng: rng.uniform(-2, 2, (2, 3)), lambda rng: rng.uniform(-1, -0.5, (3,)),
                       lambda rng: rng.uniform(0.5, 1, (2, 1))), {}),
                     (((4,), (), ()), {})),
            curvature=(), doc="min(max(x, a_min), a_max); the gradient goes wholly to the argument taken, "
                "x at the bounds themselves")


def clip(x, a_min, a_max) -> Expr:
    """``np.clip``: ``minimum(maximum(x, a_min), a_max)``, bounds numbers or expressions (None:
    no bound).  The derivative goes wholly to the argument the value is taken from: to ``x``
    on ``a_min <= x <= a_max``, bounds included (as PyTorch's clamp), to ``a_min`` where
    ``x < a_min``, to ``a_max`` where ``x > a_max`` (and everywhere when ``a_min > a_max``,
    whose result is ``a_max`` in NumPy); exactly 0 elsewhere.

    >>> sg.clip(x, 0.0, 1.0)
    """
    if a_min is None and a_max is None:
        raise SymgradError("clip: a_min and a_max cannot both be None")
    return apply("clip", x, -np.inf if a_min is None else a_min, np.inf if a_max is None else a_max)


REGISTRY["clip"].function = clip
