"""Special functions (SciPy's ``scipy.special`` names and semantics), elementwise ops whose
NumPy implementations are SciPy's, imported on first use (``rt.erf`` in generated code).

Each derivative is written with symgrad ops, so every order exists: ``erf' = 2/sqrt(pi)
exp(-x²)``, ``gammaln' = digamma = polygamma(0, ·)`` and ``polygamma(n, ·)' = polygamma(n+1, ·)``.
"""
from __future__ import annotations

import math

from .. import runtime
from ..expr import Expr, apply
from ..lazy import sympy
from ..op import REGISTRY
from .elementwise import _infer, _public, elementwise, exp, integer_param, sigmoid

_SQRT_2PI = math.sqrt(2 * math.pi)


def _ndtr_sympy(x):
    """Φ(x) = erfc(-x/√2) / 2, kept so (SymPy would write 1 - erfc(x/√2)/2, which cancels
    in the left tail)."""
    return sympy.erfc(-x / sympy.sqrt(2), evaluate=False) / 2


# -- name, SciPy impl, d/dx as (out, x) -> Expr, sympy, domain, doc ----------------------------
_SPECIAL = [
    ("erf", runtime.erf, lambda out, x: (2 / math.sqrt(math.pi)) * exp(-x * x),
     lambda x: sympy.erf(x), (-2, 2), "error function 2/sqrt(pi) ∫₀ˣ exp(-t²) dt"),
    ("erfc", runtime.erfc, lambda out, x: (-2 / math.sqrt(math.pi)) * exp(-x * x),
     lambda x: sympy.erfc(x), (-2, 2), "complementary error function 1 - erf(x), accurate for large x"),
    ("erfinv", runtime.erfinv, lambda out, x: (math.sqrt(math.pi) / 2) * exp(out * out),
     lambda x: sympy.erfinv(x), (-0.9, 0.9), "inverse of erf, for -1 < x < 1"),
    ("gammaln", runtime.gammaln, lambda out, x: digamma(x), lambda x: sympy.loggamma(x),
     (0.5, 4), "log|Γ(x)|; derivative digamma(x)"),
    ("logit", runtime.logit, lambda out, x: 1 / (x * (1 - x)), lambda x: sympy.log(x / (1 - x)),
     (0.1, 0.9), "log(p / (1 - p)), the inverse of expit, for 0 < p < 1"),
    ("ndtr", runtime.ndtr, lambda out, x: exp(-0.5 * x * x) / _SQRT_2PI, _ndtr_sympy, (-3, 3),
     "standard normal CDF Φ(x) = erfc(-x/√2) / 2"),
    ("log_ndtr", runtime.log_ndtr, lambda out, x: exp(-0.5 * x * x - out) / _SQRT_2PI,
     lambda x: sympy.log(_ndtr_sympy(x)), (-5, 3),
     "log Φ(x), accurate far into the left tail (log_ndtr(-40) = -804.608...); derivative "
     "exp(-x²/2 - out)/sqrt(2 pi), also accurate there"),
]

for _name, _impl, _d, _sympy, _domain, _doc in _SPECIAL:
    elementwise(_name, _impl, (_d,), _sympy, domain=_domain, doc=_doc, cli=True)
    globals()[_name] = _public(_name, _doc, prefix="sg.special.")


# -- polygamma: the order n is a parameter; its derivative is the next order ----------------------
_polygamma_shape = _infer("polygamma", "float")


def _polygamma_infer(x, n):
    integer_param("polygamma", "n", n, low=0)
    return _polygamma_shape(x)


def _polygamma_next(x, n) -> Expr:
    return apply("polygamma", x, n=n + 1)


elementwise("polygamma", runtime.polygamma, (lambda out, x, n: _polygamma_next(x, n),),
            lambda x, n: sympy.polygamma(n, x), infer=_polygamma_infer, inplace=False,
            domain=None, cli=True,
            samples=(((lambda rng: rng.uniform(0.5, 3, (2, 3)),), {"n": 0}),
                     ((lambda rng: rng.uniform(0.5, 3, (3,)),), {"n": 1}),
                     ((lambda rng: rng.uniform(1, 3, ()),), {"n": 3})),
            doc="the n-th derivative of digamma, for x > 0 away from the poles at 0, -1, ...")


def polygamma(n: int, x) -> Expr:
    """``scipy.special.polygamma(n, x)``: the ``n``-th derivative of digamma (``n`` a
    non-negative integer, a parameter); ``d/dx polygamma(n, x) = polygamma(n + 1, x)``.

    >>> sg.special.polygamma(2, x)
    """
    return apply("polygamma", x, n=integer_param("polygamma", "n", n, low=0))


REGISTRY["polygamma"].function = polygamma


def digamma(x) -> Expr:
    """``scipy.special.digamma``: ψ(x) = d/dx log Γ(x) = ``polygamma(0, x)``, with derivatives
    of every order.

    >>> sg.special.digamma(x)
    """
    return polygamma(0, x)


def expit(x) -> Expr:
    """``scipy.special.expit``: the logistic sigmoid 1 / (1 + exp(-x)), ``sg.sigmoid`` itself.

    >>> sg.special.expit(x)
    """
    return sigmoid(x)


# -- xlog1py: x log1p(y), 0 where x == 0, rules in the style of xlogy -----------------------------
def _xlog1py_jvp(tangents, out, x, y):
    """xlog1py(ẋ, y) + ẏ·x/(1 + y): the first term is 0 where ẋ is."""
    tx, ty = tangents
    first = None if tx is None else xlog1py(tx, y)
    second = None if ty is None else ty * x / (1 + y)
    return second if first is None else first if second is None else first + second


elementwise("xlog1py", runtime.xlog1py, None, lambda x, y: x * sympy.log(1 + y), arity=2,
            domain=(0.5, 3), jvp=_xlog1py_jvp,
            vjp=(lambda g, out, x, y: xlog1py(g, y), lambda g, out, x, y: g * x / (1 + y)),
            doc="x * log1p(y), 0 where x is 0 (as SciPy)")
xlog1py = _public("xlog1py", "x * log1p(y), and 0 where x is 0 (also where y is -1)", 2,
                  prefix="sg.special.")
