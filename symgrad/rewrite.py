"""Rewrites as data: tables of pattern -> replacement rules, grouped by purpose, run as each
node is built.

- **canonicalize**: identities (``x*1``, ``x+0``, ``--x``), merged powers, one order for the
  operands of commutative products and one chain of distinct terms for a sum (like terms
  merged), so the terms of repeated derivatives meet and graphs stay small;
- **stabilize**: numerically stable forms of what users write (``log(sigmoid(x))``,
  ``1/(1+exp(-z))``, ``log(softmax(z))``, ``log(sum(exp(z)))``);
- **specialize**: cheaper forms (scalars scale an array once, elementwise ops before
  broadcasting).

A rule is a :class:`Rule`: a pattern (``P.log(P.sigmoid(x))``, with :class:`Var` for any
expression or parameter and numbers for constants equal to them everywhere), a replacement
built from the bound variables, an optional condition, and an example its test draws from.
Constants fold first.  Because every node goes through :func:`rewrite` before it is
hash-consed, derivative graphs are cleaned by the same rules (one mechanism, as in tinygrad).
A replacement of another shape or dtype is ignored.  Rules never change a value beyond
rounding, except that ``0 * x`` and ``x - x`` are 0 for any ``x`` (the convention of symbolic
algebra, which keeps derivative graphs small).  ``Graph(rewrite=False)`` runs none of them;
the derivative conventions do not depend on them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .dims import broadcast_shapes, size_of
from .dtypes import result_dtype
from .expr import Expr, apply, constant, is_constant, rewrite_hooks
from .op import REGISTRY, operand_order
from .ops.elementwise import int_power, log, sigmoid, softplus, where
from .ops.linalg import transpose
from .ops.reduce import logsumexp
from .ops.shape import broadcast_to, fill


# -- patterns -------------------------------------------------------------------------------
class Var:
    """A pattern variable: matches any expression (or parameter value); a second occurrence
    must match the same node."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class Pat:
    """``op(*args, **params)`` as a pattern; args are patterns, Vars or numbers."""

    __slots__ = ("op", "args", "params", "commutes")

    def __init__(self, op: str, args: tuple, params: dict) -> None:
        self.op, self.args, self.params = op, args, params
        self.commutes = not all(isinstance(p, Var) for p in args)

    def __repr__(self) -> str:
        inner = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.params.items()]
        return f"{self.op}({', '.join(inner)})"

    def variables(self) -> list:
        """The Vars in order of first appearance."""
        found, todo = [], [self]
        while todo:
            p = todo.pop(0)
            if isinstance(p, Var):
                found += [] if p in found else [p]
            elif isinstance(p, Pat):
                todo = list(p.args) + [v for v in p.params.values() if isinstance(v, Var)] + todo
        return found

    def build(self, bindings: dict) -> Expr:
        """The expression this pattern describes, variables taken from ``bindings`` by name."""
        def make(p):
            if isinstance(p, Var):
                return bindings[p.name]
            if not isinstance(p, Pat):
                return p
            return apply(p.op, *[make(a) for a in p.args],
                         **{k: make(v) for k, v in p.params.items()})
        return make(self)


class _Patterns:
    """``P.log(P.sigmoid(x))``: patterns spelled like the ops they match."""

    def __getattr__(self, op: str):
        return lambda *args, **params: Pat(op, args, params)


P = _Patterns()


def _match(pattern, e, found: dict) -> bool:
    """Match ``pattern`` against the expression (or parameter value) ``e``, adding bindings."""
    if isinstance(pattern, Var):
        bound = found.get(pattern.name, found)
        if bound is found:
            found[pattern.name] = e
            return True
        return bound.node == e.node if isinstance(e, Expr) else bound is e or bound == e
    if isinstance(pattern, Pat):
        if not isinstance(e, Expr) or e.op != pattern.op:
            return False
        nodes = e.attrs["args"]
        if len(nodes) != len(pattern.args):
            return False
        args = tuple([Expr(e.g, a) for a in nodes])
        params = dict(e.attrs["params"])
        for order in _orders(REGISTRY[e.op], pattern.commutes, args):
            trial = dict(found)
            if _match_node(pattern, order, params, trial):
                found.update(trial)
                return True
        return False
    if isinstance(e, Expr):
        return is_constant(e, pattern)
    return e == pattern


def _orders(op, commutes: bool, args: tuple) -> tuple:
    """The argument orders to try: both for a commutative op when the pattern's arguments
    are not all plain variables (then the swapped match says nothing new)."""
    if commutes and op.commutative and len(args) == 2 and args[0].node != args[1].node:
        return args, args[::-1]
    return (args,)


def _match_node(pattern: Pat, args, params: dict, found: dict) -> bool:
    for key, p in pattern.params.items():
        if key not in params or not _match(p, params[key], found):
            return False
    for p, a in zip(pattern.args, args):
        if not _match(p, a, found):
            return False
    return True


class Rule:
    """``pattern -> replace(**bindings)`` when ``when(**bindings)``; ``example(x, y, z)`` gives
    bindings (from three vectors) where the rule applies, for its test, and ``domain`` the
    values its test draws.  A pattern whose arguments are distinct plain variables calls
    ``when`` and ``replace`` with the arguments in order (no matching to do).

    >>> Rule("log(exp(x)) = x", P.log(P.exp(x)), lambda x: x)
    """

    def __init__(self, name: str, pattern: Pat, replace: Callable, when: Callable | None = None,
                 example: Callable | None = None, domain: tuple = (-2.0, 2.0)) -> None:
        self.name, self.pattern, self.replace, self.when = name, pattern, replace, when
        self.example, self.domain = example, domain
        names = [p.name for p in pattern.args if isinstance(p, Var)]
        self.direct = len(names) == len(set(names)) == len(pattern.args) and not pattern.params
        # what each argument's op must be, for a quick look before matching (None: any)
        self.arg_ops = tuple(None if isinstance(p, Var) else p.op if isinstance(p, Pat)
                             else "constant" for p in pattern.args)
        self.needs = frozenset(o for o in self.arg_ops if o is not None)

    def apply(self, op, args: tuple, params: dict):
        """The replacement for the node ``op(*args, **params)``, or None."""
        if len(args) != len(self.arg_ops):
            return None
        if self.direct:
            if self.when is not None and not self.when(*args):
                return None
            return self.replace(*args)
        for order in _orders(op, self.pattern.commutes, args):
            if not self._may_match(order):
                continue
            found: dict = {}
            if _match_node(self.pattern, order, params, found) and (
                    self.when is None or self.when(**found)):
                better = self.replace(**found)
                if better is not None:
                    return better
        return None

    def _may_match(self, args) -> bool:
        """The arguments' ops are the ones the pattern asks for (a look before matching)."""
        for required, a in zip(self.arg_ops, args):
            if required is not None and required != a.op:
                return False
        return True

    def __repr__(self) -> str:
        return f"<Rule {self.name}>"


x, y, z, c, k = Var("x"), Var("y"), Var("z"), Var("c"), Var("k")
m, n, shape, inner, outer, axis, keepdims = (Var(v) for v in
                                             ("m", "n", "shape", "inner", "outer", "axis", "keepdims"))


def _scalar_const(e: Expr) -> bool:
    return e.op == "constant" and e.ndim == 0


def _zeros_of(op: str):
    """Zeros of the shape and dtype ``op(a, b)`` has."""
    def zeros(a, b):
        return fill(broadcast_shapes(op, [a.dims, b.dims], ["a", "b"]), 0.0,
                    result_dtype([a, b]), a.g)
    return zeros


# -- canonical products and sums: repeated derivatives stay small ---------------------------
# Differentiating ``u'v + uv'`` again gives ``u'v'`` twice, as ``u'·v'`` and ``v'·u'``.  So
# that such terms meet, commutative operands are put in one order, constant factors of
# scalar products move out, and a sum is rebuilt as one chain of distinct terms ``c·t`` in
# a fixed order (like terms merged).  With forward mode this keeps ``sg.diff(f, x, n)``
# polynomial in n (Leibniz's rule falls out of the merged terms).

def _mul_commute(x, y):
    return y * x if operand_order(y) < operand_order(x) else None


def _mul_constant_out(x, y):
    """For scalars: ``c·(d·u) -> (cd)·u`` and ``(c·u)·v -> c·(u·v)``."""
    if x.ndim or y.ndim:
        return None
    if _scalar_const(x) and y.op == "mul" and _scalar_const(y.args[0]):
        return (x * y.args[0]) * y.args[1]
    for a, b in ((x, y), (y, x)):
        if a.op == "mul" and _scalar_const(a.args[0]) and not _scalar_const(b):
            return a.args[0] * (a.args[1] * b)
    return None


def _power_of(e: Expr):
    if e.op == "int_power":
        return e.args[0], e.params["n"]
    return e, 1


def _mul_merge_powers(x, y):
    """``x * x -> x**2``, ``x**m * x**n -> x**(m+n)``."""
    (xa, ma), (xb, nb) = _power_of(x), _power_of(y)
    if xa != xb or _scalar_const(xa):
        return None
    return int_power(xa, ma + nb)


def _mul_scalar_first(x, y):
    """Scalars go left and merge, so an array is scaled once: ``s * (2 * y) -> (2*s) * y``."""
    if y.ndim == 0 and x.ndim > 0 or _scalar_const(y) and not _scalar_const(x):
        return y * x
    if x.ndim == 0 and y.ndim > 0 and y.op == "mul" and y.args[0].ndim == 0 and y.args[1].ndim > 0:
        return (x * y.args[0]) * y.args[1]
    return None


_MAX_TERMS = 16  # longer sums are left as built: canonical order costs O(terms) per node


def _sum_terms(a: Expr, b: Expr, sign: float, dims: tuple):
    """``a + sign·b`` as ``(constant, {term node: coefficient})``, reading through the signed
    sums (ops with ``sum_signs``: add, sub, neg) and constant multiples (operands of other
    shapes, and for arrays constant multiples of sums, are terms); None beyond _MAX_TERMS.
    Works on raw node attributes: it runs for every sum built."""
    nodes = a.g
    const, terms = 0.0, {}
    todo = [(a.node, 1.0), (b.node, sign)]
    while todo:
        node, coef = todo.pop()
        attrs = nodes[node]
        op, args = attrs["op"], attrs["args"]
        signs = REGISTRY[op].sum_signs
        if op == "constant" and attrs["shape"] == ():
            const += coef * float(attrs["value"])
        elif signs is not None and (len(args) == 1 or attrs["shape"] == dims):
            todo += [(arg, coef * s) for arg, s in zip(args, signs)]
        elif attrs["shape"] != dims:
            terms[node] = terms.get(node, 0.0) + coef
        elif op == "mul" and nodes[args[0]]["op"] == "constant" and nodes[args[0]]["shape"] == () \
                and (dims == () or REGISTRY[nodes[args[1]]["op"]].sum_signs is None):
            todo.append((args[1], coef * float(nodes[args[0]]["value"])))
        else:
            terms[node] = terms.get(node, 0.0) + coef
        if len(todo) + len(terms) > _MAX_TERMS:
            return None
    return const, terms


def _pieces(const: float, terms: dict) -> list:
    """``[(term node or None for the constant, coefficient)]`` in canonical order: terms by
    node id, the constant last, the first positive piece moved to the front."""
    pieces = [(node, coef) for node, coef in sorted(terms.items()) if coef != 0]
    if const:
        pieces.append((None, const))
    first = 0
    for i, (_, coef) in enumerate(pieces):
        if coef > 0:
            first = i
            break
    return pieces[first:first + 1] + pieces[:first] + pieces[first + 1:]


def _piece(g, node, coef: float, dtype) -> Expr:
    if node is None:
        return constant(coef, dtype, g)
    t = Expr(g, node)
    return t if coef == 1 else -t if coef == -1 else coef * t


def _build_sum(g, pieces: list, dtype) -> Expr:
    node, coef = pieces[0]
    acc = _piece(g, node, coef, dtype)
    for node, coef in pieces[1:]:
        term = _piece(g, node, abs(coef), dtype)
        acc = acc + term if coef > 0 else acc - term
    return acc


def _is_piece(e: Expr, node, coef: float) -> bool:
    """True when ``e`` is the expression :func:`_piece` builds for ``coef·node``."""
    if node is None:
        return _scalar_const(e) and float(e.attrs["value"]) == coef
    args = e.attrs["args"]
    if coef == 1:
        return e.node == node
    if coef == -1:
        return e.op == "neg" and args[0] == node
    return e.op == "mul" and args[1] == node and _scalar_const(e.args[0]) \
        and float(e.args[0].attrs["value"]) == coef


def _canonical_sum(op: str):
    """``x ± y`` as the canonical chain of its terms, None if it is that chain already
    (``x`` a canonical chain of all but the last piece, ``y`` the last piece)."""
    def rule(x, y):
        if x.dtype.kind != "f" or y.dtype.kind != "f":
            return None
        known = x.g.cache.setdefault("canonical sums", set())
        if (op, x.node, y.node) in known:
            return None
        dims = broadcast_shapes(op, [x.dims, y.dims], ["a", "b"])
        if x.node != y.node and _is_term(x, dims) and _is_term(y, dims):
            if op == "add" and y.node < x.node:  # two plain terms: in node order
                return y + x
            known.add((op, x.node, y.node))
            return None
        long = x.g.cache.setdefault("sums beyond _MAX_TERMS", set())
        flat = None  # a sum holding a too-long sum of its shape is too long: no walk needed
        if not (_in_sums(x, dims, long) or _in_sums(y, dims, long)):
            flat = _sum_terms(x, y, -1.0 if op == "sub" else 1.0, dims)
        if flat is None:
            long.add((op, x.node, y.node))
            return None
        pieces = _pieces(*flat)
        dtype = x.dtype if x.ndim or not y.ndim else y.dtype
        if not pieces:
            return _zeros_of(op)(x, y)
        if len(pieces) == 1:
            return _piece(x.g, *pieces[0], dtype)
        (node, coef), rest = pieces[-1], pieces[:-1]
        if op == ("add" if coef > 0 else "sub") and _is_piece(y, node, abs(coef)) and (
                _is_piece(x, *rest[0]) if len(rest) == 1 else _is_chain(x, rest, known)):
            known.add((op, x.node, y.node))
            return None
        return _build_sum(x.g, pieces, dtype)
    return rule


def _is_term(e: Expr, dims: tuple) -> bool:
    """True when :func:`_sum_terms` reads ``e`` as one term with coefficient 1 (the common
    case, decided without the walk)."""
    if e.op == "constant" and not e.dims or REGISTRY[e.op].sum_signs is not None:
        return False
    return e.dims != dims or not (e.op == "mul" and _scalar_const(Expr(e.g, e.attrs["args"][0])))


def _in_sums(e: Expr, dims: tuple, sums: set) -> bool:
    """True when ``e`` is a sum of shape ``dims`` that ``sums`` holds."""
    return e.dims == dims and (e.op, *e.attrs["args"]) in sums


def _is_chain(e: Expr, pieces: list, known: set) -> bool:
    """True when ``e`` is a canonical sum (checked before) of exactly ``pieces``."""
    if e.op not in ("add", "sub") or (e.op, *e.attrs["args"]) not in known:
        return False
    flat = _sum_terms(*e.args, -1.0 if e.op == "sub" else 1.0, e.dims)
    return flat is not None and _pieces(*flat) == pieces


# -- elementwise ops before broadcasting -------------------------------------------------------
def _drop_broadcast(op: str):
    """``broadcast_to(s) * y -> s * y`` when y has the full shape already,
    ``c * broadcast_to(s) -> broadcast_to(c * s)`` otherwise."""
    def rule(*args):
        if "broadcast_to" not in [a.op for a in args]:
            return None
        full = broadcast_shapes(op, [a.dims for a in args], [a.op for a in args])
        return broadcast_to(apply(op, *(a.args[0] if a.op == "broadcast_to" else a for a in args)),
                            full)
    return rule


def _divide_the_smaller_factor(x, y, z):
    """``(x * y) / s = x * (y / s)`` for a scalar ``s`` where ``y`` broadcasts against ``x``
    (so has fewer entries than the product): the division touches fewer entries."""
    if z.ndim:
        return None
    full = broadcast_shapes("mul", [x.dims, y.dims], [x.op, y.op])
    if y.dims != full:
        return x * (y / z)
    if x.dims != full:
        return (x / z) * y
    return None


def _is_identity(e: Expr) -> bool:
    """True for an identity matrix: the constant ``eye(n)``, or the band of 1 on the
    diagonal of a square matrix that Jacobians seed with (or their transposes)."""
    while e.op == "transpose":
        e = e.args[0]
    if e.op == "constant":
        v = e.attrs["value"]
        return (v.ndim == 2 and v.shape[0] == v.shape[1] and np.all(np.diagonal(v) == 1)
                and np.count_nonzero(v) == len(v))
    return (e.op == "band" and e.ndim == 2 and e.params["offsets"] == ((0,),)
            and e.params["vdims"] == e.params["xdims"] and is_constant(e.args[0], 1))


def _example_identity(x, y, z):
    return dict(x=constant(np.eye(x.dims[0])), y=y[:, None] * z)


def _shifted_by_max(x: Expr) -> bool:
    """True for ``v - stop_gradient(max(v, ...))``: what logsumexp already exponentiates."""
    return _match(P.sub(y, P.stop_gradient(P.max(y))), x, {})


def _example_broadcast(x, y, z):
    return dict(x=broadcast_to(x[:, None], x.dims * 2), y=y * z[:, None])


# -- the tables -------------------------------------------------------------------------------
CANONICALIZE = [
    Rule("x + 0 = x", P.add(x, 0), lambda x: x, example=lambda x, y, z: dict(x=x)),
    Rule("x + (-y) = x - y", P.add(x, P.neg(y)), lambda x, y: x - y),
    Rule("x + x = 2x", P.add(x, y), lambda x, y: 2 * x, when=lambda x, y: x.node == y.node,
         example=lambda x, y, z: dict(x=x, y=x)),
    Rule("x - 0 = x", P.sub(x, 0), lambda x: x),
    Rule("0 - x = -x", P.sub(0, x), lambda x: -x),
    Rule("x - (-y) = x + y", P.sub(x, P.neg(y)), lambda x, y: x + y),
    Rule("sums are one canonical chain of terms", P.add(x, y), _canonical_sum("add"),
         example=lambda x, y, z: dict(x=2 * x + y, y=x)),
    Rule("differences are one canonical chain of terms", P.sub(x, y), _canonical_sum("sub"),
         example=lambda x, y, z: dict(x=y - 3 * x, y=z - x)),
    Rule("--x = x", P.neg(P.neg(x)), lambda x: x),
    Rule("-(c x) = (-c) x", P.neg(P.mul(c, x)), lambda c, x: (-c) * x,
         when=lambda c, x: _scalar_const(c), example=lambda x, y, z: dict(c=constant(2.5), x=x)),
    Rule("-(x - y) = y - x", P.neg(P.sub(x, y)), lambda x, y: y - x),
    Rule("1 x = x", P.mul(1, x), lambda x: x),
    Rule("0 x = 0", P.mul(c, x), _zeros_of("mul"), when=lambda c, x: is_constant(c, 0),
         example=lambda x, y, z: dict(c=constant(0.0), x=x)),
    Rule("-1 x = -x", P.mul(-1, x), lambda x: -x),
    Rule("(-x) y = -(x y)", P.mul(P.neg(x), y), lambda x, y: -(x * y)),
    Rule("x (1/y) = x / y", P.mul(x, P.div(1, y)), lambda x, y: x / y, domain=(0.5, 2)),
    Rule("x^m x^n = x^(m+n)", P.mul(x, y), _mul_merge_powers,
         example=lambda x, y, z: dict(x=x ** 2, y=x ** 3)),
    Rule("scalar products in one operand order", P.mul(x, y), _mul_commute,
         example=lambda x, y, z: dict(y=x[0], x=y[1])),
    Rule("constants leave scalar products", P.mul(x, y), _mul_constant_out,
         example=lambda x, y, z: dict(x=2 * x[0], y=y[1])),
    Rule("x / 1 = x", P.div(x, 1), lambda x: x),
    Rule("0 / x = 0", P.div(c, x), _zeros_of("div"), when=lambda c, x: is_constant(c, 0),
         example=lambda x, y, z: dict(c=constant(0.0), x=x), domain=(0.5, 2)),
    Rule("(x^m)^n = x^(mn)", P.int_power(P.int_power(x, n=m), n=n),
         lambda x, m, n: int_power(x, m * n), example=lambda x, y, z: dict(x=x, m=2, n=3)),
    Rule("transpose of a transpose", P.transpose(P.transpose(x, axes=inner), axes=outer),
         lambda x, inner, outer: transpose(x, tuple(inner[a] for a in outer)),
         example=lambda x, y, z: dict(x=x[:, None, None] * y * z[:, None],
                                      inner=(1, 2, 0), outer=(0, 2, 1))),
    Rule("reshape of a reshape", P.reshape(P.reshape(x, shape=inner), shape=outer),
         lambda x, inner, outer: apply("reshape", x, shape=outer),
         example=lambda x, y, z: dict(x=x[:, None] * y, inner=(x.dims[0] ** 2,),
                                      outer=(1, x.dims[0] ** 2))),
    Rule("broadcast of a broadcast", P.broadcast_to(P.broadcast_to(x, shape=inner), shape=outer),
         lambda x, inner, outer: apply("broadcast_to", x, shape=outer),
         example=lambda x, y, z: dict(x=x, inner=(2, *x.dims), outer=(4, 2, *x.dims))),
    Rule("the gradient of a constant is stopped already", P.stop_gradient(x), lambda x: x,
         when=lambda x: x.op in ("constant", "fill", "stop_gradient"),
         example=lambda x, y, z: dict(x=constant(np.arange(3.0)))),
    Rule("where(c, x, x) = x", P.where(c, x, x), lambda c, x: x,
         example=lambda x, y, z: dict(c=y > 0, x=x)),
    Rule("where on a constant condition", P.where(c, x, y),
         lambda c, x, y: x if c.attrs["value"].all() else y,
         when=lambda c, x, y: c.op == "constant" and (c.attrs["value"].all() or not c.attrs["value"].any()),
         example=lambda x, y, z: dict(c=constant(True), x=x, y=y)),
    Rule("where(c, where(c, x, y), z) = where(c, x, z)", P.where(c, P.where(c, x, y), z),
         lambda c, x, y, z: where(c, x, z), example=lambda x, y, z: dict(c=x > 0, x=x, y=y, z=z)),
    Rule("where(c, x, where(c, y, z)) = where(c, x, z)", P.where(c, x, P.where(c, y, z)),
         lambda c, x, y, z: where(c, x, z), example=lambda x, y, z: dict(c=x > 0, x=x, y=y, z=z)),
    Rule("I a = a", P.matmul(x, y), lambda x, y: y, when=lambda x, y: _is_identity(x),
         example=_example_identity),
    Rule("a I = a", P.matmul(y, x), lambda y, x: y, when=lambda y, x: _is_identity(x),
         example=_example_identity),
    Rule("(x + y^T)^T = x^T + y", P.transpose(P.add(x, y), axes=inner),
         lambda x, y, inner: transpose(x, inner) + transpose(y, inner),
         when=lambda x, y, inner: "transpose" in (x.op, y.op),
         example=lambda x, y, z: dict(x=x[:, None] * y, y=transpose(y[:, None] * z),
                                      inner=(1, 0))),
    Rule("I^T = I", P.transpose(x, axes=inner), lambda x, inner: x,
         when=lambda x, inner: _is_identity(x), example=lambda x, y, z: dict(
             x=constant(np.eye(x.dims[0])), inner=(1, 0))),
]

STABILIZE = [
    Rule("log(sigmoid(x)) = -softplus(-x)", P.log(P.sigmoid(x)), lambda x: -softplus(-x)),
    Rule("log(exp(x)) = x", P.log(P.exp(x)), lambda x: x),
    Rule("log(exp(x) + 1) = softplus(x)", P.log(P.add(P.exp(x), 1)), softplus),
    Rule("log1p(exp(x)) = softplus(x)", P.log1p(P.exp(x)), softplus),
    Rule("log(1 - sigmoid(x)) = -softplus(x)", P.log(P.sub(1, P.sigmoid(x))), lambda x: -softplus(x)),
    Rule("1 / (exp(x) + 1) = sigmoid(-x)", P.div(1, P.add(P.exp(x), 1)), lambda x: sigmoid(-x)),
    Rule("log(exp(x) / y) = x - log(y)", P.log(P.div(P.exp(x), y)), lambda x, y: x - log(y),
         example=lambda x, y, z: dict(x=x, y=softplus(y) + 0.1)),
    Rule("log(sum(exp(x))) = logsumexp(x)", P.log(P.sum(P.exp(x), axis=axis, keepdims=keepdims)),
         lambda x, axis, keepdims: logsumexp(x, axis, keepdims),
         when=lambda x, axis, keepdims: not _shifted_by_max(x),
         example=lambda x, y, z: dict(x=x[:, None] + y, axis=(1,), keepdims=False)),
]

SPECIALIZE = [
    Rule("scalars scale an array once", P.mul(x, y), _mul_scalar_first,
         example=lambda x, y, z: dict(x=y, y=x[0])),
    Rule("a scalar divides the smaller factor: (A * v) / s = A * (v / s)", P.div(P.mul(x, y), z),
         _divide_the_smaller_factor, example=lambda x, y, z: dict(x=x[:, None] * y, y=y, z=z[0])),
    Rule("negate after a sum: sum(-x) = -sum(x)", P.sum(P.neg(x), axis=axis, keepdims=keepdims),
         lambda x, axis, keepdims: -apply("sum", x, axis=axis, keepdims=keepdims),
         example=lambda x, y, z: dict(x=x[:, None] * y, axis=(1,), keepdims=True)),
    *(Rule(f"{op} before broadcasting", getattr(P, op)(x, y), _drop_broadcast(op),
           example=_example_broadcast, domain=(0.5, 2))
      for op in ("add", "sub", "mul", "div", "maximum", "minimum")),
    Rule("scatter_add broadcasts its values itself",
         P.scatter_add(P.broadcast_to(x, shape=inner), y, axes=axis, at=0, nb=k, shape=shape),
         lambda x, y, inner, axis, k, shape: apply("scatter_add", x, y, axes=axis, at=0, nb=k,
                                                   shape=shape),
         example=lambda x, y, z: dict(x=x[0], inner=(5, 1), y=constant(np.array([[1], [0], [4], [2], [3]])),
                                      axis=(0,), k=1, shape=(5, 5))),
    Rule("where before broadcasting", P.where(c, x, y), _drop_broadcast("where"),
         example=lambda x, y, z: dict(c=broadcast_to(z[:, None] > 0, x.dims * 2), x=x, y=y)),
]

GROUPS = {"canonicalize": CANONICALIZE, "stabilize": STABILIZE, "specialize": SPECIALIZE}

RULES: dict = {}  # op name -> rules in the order of GROUPS
for _table in GROUPS.values():
    for _rule in _table:
        RULES.setdefault(_rule.pattern.op, []).append(_rule)


# -- the hook -------------------------------------------------------------------------------
def rewrite(op, args: tuple, params: dict, shape: tuple, dtype) -> Expr | None:
    """A simpler equivalent of ``op(*args)`` if a rule finds one, else None."""
    present = {a.op for a in args}
    if present == {"constant"} and op.impl is not None and _foldable(shape, args):
        return _fold(op, args, params, dtype)
    shape = tuple(shape)
    for rule in RULES.get(op.name, ()):
        if rule.direct:  # Rule.apply without a call: this loop runs for every node built
            when = rule.when
            if when is not None and not when(*args):
                continue
            better = rule.replace(*args)
        elif rule.needs <= present:
            better = rule.apply(op, args, params)
        else:
            continue
        if better is not None and better.dims == shape and better.dtype == dtype:
            return better
    return None


def _foldable(shape: tuple, args: tuple) -> bool:
    """Fold when the result has a static shape no larger than its inputs (or small)."""
    size = size_of(shape)
    return size is not None and size <= max(4096, *(a.attrs["value"].size for a in args))


def _fold(op, args, params, dtype) -> Expr:
    with np.errstate(all="ignore"):
        value = op.impl(*(a.attrs["value"] for a in args), **params)
    return constant(np.asarray(value, dtype=dtype), dtype, args[0].g)


rewrite_hooks.append(rewrite)


def rebuild(e: Expr) -> Expr:
    """``e`` built again node by node through the rewrite rules (of ``e``'s graph).

    >>> rebuild(x * 1 + 0)       # x
    """
    g = e.g
    rebuilt: dict = {}
    for node in sorted(g.ancestors([e.node])):
        attrs = g[node]
        if not attrs["args"]:
            rebuilt[node] = Expr(g, node)
            continue
        args = [rebuilt[a] for a in attrs["args"]]
        rebuilt[node] = apply(attrs["op"], *args, **dict(attrs["params"]))
    return rebuilt[e.node]
