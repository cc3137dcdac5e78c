"""symgrad: symbol-to-symbol differentiation with networkx graphs, SymPy and NumPy.

>>> import symgrad as sg
>>> x, y, z = sg.scalars("x y z")
>>> f = (x + y) * z
>>> sg.function([x, y, z], sg.grad(f, [x, y, z]))(-2.0, 5.0, -4.0)
(-4.0, -4.0, 3.0)
"""
from .errors import (ArgumentError, DisconnectedInputError, GraphMismatchError, ShapeError,
                     SymgradError, UnsupportedError)
from .graph import Graph, default_graph
from .expr import Expr, apply, constant, symbol
from .ops.elementwise import (abs, arctan, cos, cosh, equal, exp, expm1, int_power, log, log1p,
                              maximum, minimum, not_equal, power, relu, sigmoid, sign, sin, sinh,
                              softplus, sqrt, square, stop_gradient, tan, tanh, where)
from .ops.reduce import logsumexp, max, mean, softmax, sum
from .ops.linalg import dot, matmul, outer, transpose
from .ops.shape import (broadcast_to, concatenate, expand_dims, fill, reshape, stack, sum_to,
                        zeros_like)
from .autodiff import diff, grad, vjp
from .forward import hessian, hvp, jacobian, jvp
from .rewrite import simplify
from .compile import NUMPY, Backend, Function, function
from .check import check_grad
from .viz import draw, to_dot
from .leaves import matrix, scalar, scalars, tensor, vector
from .ops.annotate import name
from .sympy_bridge import from_sympy, latex, to_sympy

__all__ = [name for name in dir() if not name.startswith("_")]
