"""The ``diff``, ``grad`` and ``hessian`` commands of ``python -m symgrad``, and the parser of
their expression text.

The text is read by Python's ``ast`` parser and turned into symgrad operations node by node
from an explicit whitelist of node types, operators and function names.  Nothing in it is
evaluated, imported or looked up, so ``__import__('os').system('id')`` is only a call of an
unknown function, rejected with a message saying what is allowed.
"""
from __future__ import annotations

import ast
import inspect
import math
import operator

import numpy as np

from . import ops  # noqa: F401  (registers the ops whose functions the whitelist names)
from .autodiff import diff, grad
from .compile import function
from .errors import SymgradError
from .expr import Expr, constant
from .leaves import scalar
from .op import REGISTRY
from .ops.shape import stack
from .sympy_bridge import latex, simplify, to_sympy

FUNCTIONS = {name: op.function for name, op in REGISTRY.items() if op.cli}
CONSTANTS = {"pi": math.pi, "e": math.e}
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv, ast.Pow: operator.pow}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}
ALLOWED = ("allowed are numbers, variable names, + - * / ** and unary -, parentheses, "
           "comparisons < <= > >= (as where's condition), the constants pi and e, and calls of "
           + ", ".join(FUNCTIONS))
REJECTED = {ast.Attribute: "attribute access (a.b)", ast.Subscript: "subscripts (a[i])",
            ast.Lambda: "lambda", ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
            ast.DictComp: "comprehensions", ast.GeneratorExp: "comprehensions",
            ast.NamedExpr: "assignment (:=)", ast.IfExp: "a if c else b (use where(c, a, b))",
            ast.BoolOp: "and/or", ast.Starred: "*args", ast.JoinedStr: "strings"}


class ExpressionError(SymgradError, ValueError):
    """The expression text uses something outside the whitelist, or is not Python syntax."""


def _reject(node: ast.AST, what: str | None = None) -> ExpressionError:
    what = what or REJECTED.get(type(node), type(node).__name__)
    return ExpressionError(f"{what} is not allowed (column {getattr(node, 'col_offset', 0) + 1}); "
                           + ALLOWED)


def _plan(node: ast.AST, variables: dict) -> tuple:
    """``(children, make)`` for one whitelisted syntax node; anything else is rejected."""
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise _reject(node, f"the constant {node.value!r}")
        return (), lambda: constant(float(node.value))
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise _reject(node, f"{node.id} without a call (write {node.id}(...))")
        if node.id in CONSTANTS:
            return (), lambda: constant(CONSTANTS[node.id])
        return (), lambda: variables.setdefault(node.id, scalar(node.id))
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        return (node.left, node.right), BINARY[type(node.op)]
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return (node.operand,), UNARY[type(node.op)]
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE:
        return (node.left, node.comparators[0]), COMPARE[type(node.ops[0])]
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise _reject(node.func)
        if node.func.id not in FUNCTIONS:
            raise _reject(node, f"calling {node.func.id!r}")
        fn = FUNCTIONS[node.func.id]
        arity = len(inspect.signature(fn).parameters)
        if node.keywords or len(node.args) != arity:
            raise _reject(node, f"{node.func.id} with other than {arity} plain argument(s)")
        return tuple(node.args), fn
    raise _reject(node)


def parse(text: str) -> tuple:
    """``(expression, {name: variable})`` for expression text such as ``"(x + y)*z"``;
    variables are scalars, in order of first appearance.

    >>> f, variables = parse("exp(sin(x)) / (1 + x**2)")
    """
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as err:
        raise ExpressionError(f"{text!r} is not an expression: {err.msg}") from None
    except RecursionError:
        raise ExpressionError("the expression is too deeply nested for Python's parser") from None
    variables: dict = {}
    built: dict = {}
    plans: dict = {}
    stack_ = [tree.body]
    while stack_:  # postorder with an explicit stack: long sums must not recurse
        node = stack_[-1]
        if node not in plans:
            plans[node] = _plan(node, variables)
            stack_.extend(reversed(plans[node][0]))
            continue
        children, make = plans[node]
        built[node] = make(*(built[c] for c in children))
        stack_.pop()
    result = built[tree.body]
    if result.dtype.kind == "b":
        raise ExpressionError(f"{text!r} is a comparison, not a number; use it inside where()")
    return result, variables


# -- commands ---------------------------------------------------------------------------------
def _values(text: str, variables: dict) -> list:
    """``"x=-2,y=5"`` as values in the order of ``variables`` (every variable needs one)."""
    given = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in variables:
            raise SymgradError(f"--at: expected name=value for the variables "
                               f"{', '.join(variables)}, got {item!r}")
        try:
            given[name] = float(value)
        except ValueError:
            raise SymgradError(f"--at: {value.strip()!r} is not a number (for {name})") from None
    missing = [n for n in variables if n not in given]
    if missing:
        raise SymgradError(f"--at: no value for {', '.join(missing)}")
    return [given[n] for n in variables]


def _wrt(text: str, variables: dict) -> list:
    names = [n.strip() for n in text.split(",")]
    for n in names:
        if n not in variables:
            raise SymgradError(f"--wrt: {n!r} does not occur in the expression (its variables: "
                               f"{', '.join(variables) or 'none'})")
    return [variables[n] for n in names]


def _results(args, f: Expr, wrt: list) -> list:
    """``[(text label, LaTeX label, expression)]`` the command prints."""
    if args.command == "diff":
        if len(wrt) != 1:
            raise SymgradError("diff: --wrt takes one variable; use grad for several")
        if args.order < 0:
            raise SymgradError(f"diff: --order must be 0 or more, got {args.order}")
        n, x = args.order, wrt[0].name
        power = "" if n == 1 else str(n)
        text = f"d{power}f/d{x}{power}"
        tex = rf"\frac{{d^{{{n}}} f}}{{d {x}^{{{n}}}}}" if n != 1 else rf"\frac{{d f}}{{d {x}}}"
        return [(text, tex, diff(f, wrt[0], n))]
    gradient = grad(f, wrt)
    if args.command == "grad":
        return [(f"df/d{w.name}", rf"\frac{{\partial f}}{{\partial {w.name}}}", gw)
                for w, gw in zip(wrt, gradient)]
    rows = [stack(grad(gw, wrt)) for gw in gradient]  # scalar symbols: nested gradients
    return [("H", r"\nabla^{2} f", stack(rows))]


def _format(value) -> str:
    value = np.asarray(value)
    return repr(float(value)) if value.ndim == 0 else repr(value.tolist())


def run(args) -> int:
    """Run a parsed ``diff``/``grad``/``hessian`` command; bad input exits with status 2."""
    try:
        f, variables = parse(args.expr)
        wrt = _wrt(args.wrt, variables)
        results = [("f", "f", f)] + _results(args, f, wrt)
        if args.simplify:
            results = [(t, tex, simplify(e, sympy=True)) for t, tex, e in results]
        point = _values(args.at, variables) if args.at else None
    except SymgradError as err:
        args.parser.error(str(err))
    inputs = list(variables.values())
    values = function(inputs, [e for _, _, e in results])(*point) if point else None
    for k, (text, tex, e) in enumerate(results):
        line = f"{tex} = {latex(e)}" if args.latex else f"{text} = {to_sympy(e)}"
        print(line + (f" = {_format(values[k])}" if point else ""))
    if args.code:
        print(function(inputs, [e for _, _, e in results[1:]]).source, end="")
    return 0


COMMANDS = [
    ("diff", "n-th derivative of f with respect to one variable", "the variable, e.g. x",
     "'exp(sin(x))/(1+x**2)' --wrt x --order 2"),
    ("grad", "gradient of f", "comma-separated variables, e.g. x,y,z",
     "'(x + y)*z' --wrt x,y,z --at x=-2,y=5,z=-4"),
    ("hessian", "Hessian matrix of f", "comma-separated variables, e.g. x,y",
     "'100*(y - x**2)**2 + (1 - x)**2' --wrt x,y"),
]


def add_commands(commands) -> None:
    """Add ``diff``, ``grad`` and ``hessian`` to the subcommands of ``python -m symgrad``."""
    for name, summary, wrt_help, example in COMMANDS:
        sub = commands.add_parser(name, help=summary, description=summary + ".",
                                  epilog=f"example: python -m symgrad {name} {example}")
        sub.add_argument("expr", metavar="EXPR",
                         help="the function f, e.g. 'exp(sin(x))/(1+x**2)'; " + ALLOWED)
        sub.add_argument("--wrt", required=True, help=wrt_help)
        if name == "diff":
            sub.add_argument("--order", type=int, default=1, help="n (default 1)")
        sub.add_argument("--at", metavar="x=V,...", help="also evaluate at these values")
        sub.add_argument("--latex", action="store_true", help="print LaTeX")
        sub.add_argument("--simplify", action="store_true", help="simplify with SymPy first")
        sub.add_argument("--code", action="store_true",
                         help="also print the compiled NumPy source of the derivatives")
        sub.set_defaults(run=run, parser=sub)
