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
from .ops.elementwise import (abs, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh,
                              cbrt, ceil, clip, cos, cosh, equal, exp, exp2, expm1, floor, greater,
                              greater_equal, hypot, int_power, less, less_equal, log, log1p, log2,
                              log10, logaddexp, logical_and, logical_not, logical_or, logical_xor,
                              maximum, minimum, mod, not_equal, power, reciprocal, relu, round,
                              sigmoid, sign, sin, sinh, softplus, sqrt, square, stop_gradient, tan,
                              tanh, where)
from .ops.reduce import (all, any, argmax, argmin, cumprod, cumsum, log_softmax, logsumexp, max,
                         mean, min, prod, softmax, std, sum, var)
from .ops.arrays import (arange, column_stack, eye, flip, full, hstack, moveaxis, ones, ones_like,
                         pad, ravel, repeat, roll, split, squeeze, swapaxes, tile, vstack, zeros)
from .ops.linalg import (cross, diag, diagonal, dot, einsum, kron, matmul, outer, tensordot, trace,
                         transpose, tril, triu)
from .ops.shape import (broadcast_to, concatenate, expand_dims, fill, reshape, stack, sum_to,
                        zeros_like)
from .ops.annotate import name
from .ops.indexing import argsort, sort, take, take_along_axis
from .ops.custom import defop
from .rewrite import Rule
from .autodiff import diff, hvp
from .batching import vectorize
from .loops import cond, fori_loop, scan, while_loop
from .compile import NUMPY, Backend, Function, function
from .serialize import load, save
from .sparsity import hessian_coloring, hessian_sparsity, jacobian_coloring, jacobian_sparsity
from .check import check_grad
from .transforms import (Transformed, grad, hessian, jacobian, jit, jvp, ravel_pytree,
                         value_and_grad, vjp, vmap)
from .trees import tree_flatten, tree_map, tree_unflatten
from .shared import SharedVariable, shared
from .substitute import clone
from .sympy_bridge import from_sympy, latex, simplify, to_sympy
from .viz import draw, to_dot
from .leaves import matrix, scalar, scalars, tensor, vector
from . import linalg, scipy, special

__all__ = [
    # graphs, expressions, ops
    "Graph", "default_graph", "Expr", "Batched", "Op", "apply", "constant", "symbol", "defop",
    "scalar", "scalars", "vector", "matrix", "tensor", "name",
    # elementwise
    "abs", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cbrt",
    "ceil", "clip", "cos", "cosh", "exp", "exp2", "expm1", "floor", "hypot", "int_power", "log",
    "log1p", "log2", "log10", "logaddexp", "maximum", "minimum", "mod", "power", "reciprocal",
    "relu", "round", "sigmoid", "sign", "sin", "sinh", "softplus", "sqrt", "square",
    "stop_gradient", "tan", "tanh", "where", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal", "logical_and", "logical_or", "logical_xor", "logical_not",
    # reductions
    "sum", "mean", "max", "min", "prod", "cumsum", "cumprod", "var", "std", "any", "all",
    "argmax", "argmin", "logsumexp", "softmax", "log_softmax",
    # linear algebra
    "dot", "matmul", "outer", "transpose", "einsum", "tensordot", "trace", "diagonal", "diag",
    "triu", "tril", "cross", "kron",
    # shapes, indexing, constants
    "broadcast_to", "concatenate", "expand_dims", "fill", "reshape", "stack", "sum_to",
    "zeros_like", "take", "take_along_axis", "sort", "argsort", "squeeze", "swapaxes",
    "moveaxis", "ravel", "hstack", "vstack", "column_stack", "split", "repeat", "tile", "flip",
    "roll", "pad", "eye", "zeros", "ones", "full", "arange", "ones_like",
    # derivatives and batching
    "grad", "vjp", "jvp", "jacobian", "hessian", "hvp", "diff", "vectorize", "check_grad",
    # loops
    "scan", "fori_loop", "while_loop", "cond",
    # function transforms and parameter trees (JAX's names)
    "value_and_grad", "vmap", "jit", "Transformed", "ravel_pytree", "tree_flatten",
    "tree_unflatten", "tree_map",
    # PyTensor's conveniences
    "shared", "SharedVariable", "clone",
    # lowering, formulas, pictures
    "function", "Function", "Backend", "NUMPY", "save", "load", "jacobian_sparsity", "hessian_sparsity",
    "jacobian_coloring", "hessian_coloring", "simplify", "Rule", "to_sympy", "from_sympy",
    "latex", "to_dot", "draw",
    # namespaces with NumPy's and SciPy's names
    "linalg", "special", "scipy",
    # errors
    "SymgradError", "ShapeError", "ArgumentError", "DisconnectedInputError",
    "GraphMismatchError", "UnsupportedError", "GradientCheckError",
]
