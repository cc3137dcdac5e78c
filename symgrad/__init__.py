"""symgrad: symbol-to-symbol differentiation with networkx graphs, SymPy and NumPy.

>>> import symgrad as sg
>>> x, y, z = sg.scalars("x y z")
>>> f = (x + y) * z
>>> sg.function([x, y, z], sg.grad(f, [x, y, z]))(-2.0, 5.0, -4.0)
(-4.0, -4.0, 3.0)
"""
from .errors import (ArgumentError, DisconnectedInputError, GradientCheckError,
                     GraphMismatchError, ShapeError, SymgradError, UnsupportedError)
from .graph import Graph, default_graph
from .expr import Batched, Expr, apply, constant, symbol
from .op import Op
from .ops.elementwise import (abs, arctan, cos, cosh, equal, exp, expm1, greater, greater_equal,
                              int_power, less, less_equal, log, log1p, logical_and, logical_not,
                              logical_or, logical_xor, maximum, minimum, not_equal, power, relu,
                              sigmoid, sign, sin, sinh, softplus, sqrt, square, stop_gradient, tan,
                              tanh, where)
from .ops.reduce import logsumexp, max, mean, softmax, sum
from .ops.linalg import dot, matmul, outer, transpose
from .ops.shape import (broadcast_to, concatenate, expand_dims, fill, reshape, stack, sum_to,
                        zeros_like)
from .ops.annotate import name
from .ops.custom import defop
from .rewrite import Rule
from .autodiff import diff, grad, hessian, hvp, jacobian, jvp, vjp
from .batching import vectorize
from .compile import NUMPY, Backend, Function, function
from .check import check_grad
from .sympy_bridge import from_sympy, latex, simplify, to_sympy
from .viz import draw, to_dot
from .leaves import matrix, scalar, scalars, tensor, vector
from . import linalg, special

__all__ = [
    # graphs, expressions, ops
    "Graph", "default_graph", "Expr", "Batched", "Op", "apply", "constant", "symbol", "defop",
    "scalar", "scalars", "vector", "matrix", "tensor", "name",
    # elementwise
    "abs", "arctan", "cos", "cosh", "exp", "expm1", "int_power", "log", "log1p", "maximum",
    "minimum", "power", "relu", "sigmoid", "sign", "sin", "sinh", "softplus", "sqrt", "square",
    "stop_gradient", "tan", "tanh", "where", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal", "logical_and", "logical_or", "logical_xor", "logical_not",
    # reductions, linear algebra, shapes
    "sum", "mean", "max", "logsumexp", "softmax", "dot", "matmul", "outer", "transpose",
    "broadcast_to", "concatenate", "expand_dims", "fill", "reshape", "stack", "sum_to",
    "zeros_like",
    # derivatives and batching
    "grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "diff", "vectorize", "check_grad",
    # lowering, formulas, pictures
    "function", "Function", "Backend", "NUMPY", "simplify", "Rule", "to_sympy", "from_sympy",
    "latex", "to_dot", "draw",
    # namespaces with NumPy's and SciPy's names
    "linalg", "special",
    # errors
    "SymgradError", "ShapeError", "ArgumentError", "DisconnectedInputError",
    "GraphMismatchError", "UnsupportedError", "GradientCheckError",
]
