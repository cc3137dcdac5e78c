"""Rewrites: small pattern -> replacement rules, run as each node is built.

Because every node goes through :func:`rewrite` before it is hash-consed, graphs stay
canonical as they grow: constants fold, identities vanish (``x*1``, ``x+0``, ``--x``),
repeated factors merge (``x*x -> x**2``), like terms of a sum merge (``2x + 3x -> 5x``),
numerically stable forms replace unstable ones (``log(sigmoid(x)) -> -softplus(-x)``) and a
``where`` mask is pulled around products so the branch not taken contributes an exact zero
instead of ``0 * nan``.  Derivative graphs are
built from the same constructors, so they are cleaned by the same rules (one mechanism, as
in tinygrad).  A rule returns an expression of the same shape and dtype or None; one that
would change either is ignored, which keeps every rule short.  Rules never change a value
beyond rounding, except that ``0 * x`` and ``x - x`` are 0 for any ``x`` (the convention of
symbolic algebra, which keeps derivative graphs small).
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from .dims import broadcast_shapes, size_of
from .expr import Expr, apply, constant, is_constant

RULES: dict = defaultdict(list)


def rule(*ops: str):
    """Register a rule ``(args, params) -> Expr | None`` for nodes of the given ops."""
    def register(fn):
        for op in ops:
            RULES[op].append(fn)
        return fn
    return register


def rewrite(op, args: tuple, params: tuple, shape: tuple, dtype) -> Expr | None:
    """A simpler equivalent of ``op(*args)`` if a rule finds one, else None."""
    if args and op.impl is not None and all([a.op == "constant" for a in args]) \
            and _foldable(shape, args):
        return _fold(op, args, params, dtype)
    kwargs = dict(params)
    for fn in RULES.get(op.name, ()):
        better = fn(*args, **kwargs)
        if better is not None and better.dims == tuple(shape) and better.dtype == dtype:
            return better
    return None


def _foldable(shape: tuple, args: tuple) -> bool:
    """Fold when the result has a static shape no larger than its inputs (or small)."""
    size = size_of(shape)
    return size is not None and size <= max(4096, *(a.attrs["value"].size for a in args))


def _fold(op, args, params, dtype) -> Expr:
    with np.errstate(all="ignore"):
        value = op.impl(*(a.attrs["value"] for a in args), **dict(params))
    return constant(np.asarray(value, dtype=dtype), dtype, args[0].g)


def _zero(e: Expr) -> bool:
    return is_constant(e, 0)


def _one(e: Expr) -> bool:
    return is_constant(e, 1)


def _scalar_const(e: Expr) -> bool:
    return e.op == "constant" and e.ndim == 0


def _zeros(a: Expr, b: Expr) -> Expr:
    """Zeros of the shape and dtype that ``a * b`` would have."""
    from .ops.elementwise import result_dtype
    from .ops.shape import fill
    return fill(broadcast_shapes("mul", [a.dims, b.dims], ["a", "b"]), 0.0,
                result_dtype([a, b]), a.g)


# -- identities ---------------------------------------------------------------------------
@rule("add")
def _add_zero(a, b):
    return b if _zero(a) else a if _zero(b) else None


@rule("add")
def _add_same(a, b):
    return 2 * a if a == b else None


@rule("add")
def _add_neg(a, b):
    if b.op == "neg":
        return a - b.args[0]
    return b - a.args[0] if a.op == "neg" else None


@rule("sub")
def _sub_identities(a, b):
    if _zero(b):
        return a
    if _zero(a):
        return -b
    return a + b.args[0] if b.op == "neg" else None


@rule("neg")
def _neg_neg(x):
    """``--x -> x`` and ``-(c*x) -> (-c)*x`` for a constant c."""
    if x.op == "neg":
        return x.args[0]
    if x.op == "mul" and _scalar_const(x.args[0]):
        return (-x.args[0]) * x.args[1]
    return None


@rule("mul")
def _mul_identities(a, b):
    for x, c in ((a, b), (b, a)):
        if c.op != "constant":
            continue
        if _one(c):
            return x
        if _zero(c):
            return _zeros(a, b)
        if is_constant(c, -1):
            return -x
    return None


@rule("mul")
def _mul_scalar_first(a, b):
    """Scalars go left and merge, so an array is scaled once: ``s * (2 * y) -> (2*s) * y``."""
    if b.ndim == 0 and a.ndim > 0 or _scalar_const(b) and not _scalar_const(a):
        return b * a
    if a.ndim == 0 and b.ndim > 0 and b.op == "mul" and b.args[0].ndim == 0 and b.args[1].ndim > 0:
        return (a * b.args[0]) * b.args[1]
    return None


@rule("mul")
def _mul_neg(a, b):
    if a.op == "neg":
        return -(a.args[0] * b)
    return -(a * b.args[0]) if b.op == "neg" else None


@rule("mul")
def _mul_reciprocal(a, b):
    """``a * (1/b) -> a / b``."""
    if b.op == "div" and _one(b.args[0]):
        return a / b.args[1]
    return b / a.args[1] if a.op == "div" and _one(a.args[0]) else None


def _power_of(e: Expr):
    if e.op == "int_power":
        return e.args[0], e.params["n"]
    return e, 1


@rule("mul")
def _mul_merge_powers(a, b):
    """``x * x -> x**2``, ``x**m * x**n -> x**(m+n)``."""
    (xa, m), (xb, n) = _power_of(a), _power_of(b)
    if xa != xb or _scalar_const(xa):
        return None
    from .ops.elementwise import int_power
    return int_power(xa, m + n)


@rule("div")
def _div_identities(a, b):
    if _one(b):
        return a
    if _zero(a):
        return _zeros(a, b)
    return None


@rule("int_power")
def _power_of_power(x, n):
    from .ops.elementwise import int_power
    return int_power(x.args[0], x.params["n"] * n) if x.op == "int_power" else None


@rule("transpose")
def _transpose_twice(x, axes):
    if x.op != "transpose":
        return None
    inner = x.params["axes"]
    from .ops.linalg import transpose
    return transpose(x.args[0], tuple(inner[a] for a in axes))


@rule("reshape", "broadcast_to")
def _reshape_twice(x, shape):
    return apply("reshape", x.args[0], shape=shape) if x.op == "reshape" else None


@rule("broadcast_to")
def _broadcast_twice(x, shape):
    return apply("broadcast_to", x.args[0], shape=shape) if x.op == "broadcast_to" else None


@rule("stop_gradient")
def _stop_constant(x):
    return x if x.op in ("constant", "stop_gradient", "fill") else None


# -- broadcasting that the elementwise op does anyway ------------------------------------
def _drop_broadcast(op: str):
    """Apply elementwise ops before broadcasting: ``broadcast_to(s) * y -> s * y`` when y
    has the full shape already, ``c * broadcast_to(s) -> broadcast_to(c * s)`` otherwise."""
    def fn(*args):
        if "broadcast_to" not in [a.op for a in args]:
            return None
        from .ops.shape import broadcast_to
        shape = broadcast_shapes(op, [a.dims for a in args], [a.op for a in args])
        inner = apply(op, *(a.args[0] if a.op == "broadcast_to" else a for a in args))
        return broadcast_to(inner, shape)
    return fn


for _op in ("add", "sub", "mul", "div", "where", "maximum", "minimum"):
    RULES[_op].append(_drop_broadcast(_op))


# -- where: keep the mask around whole products --------------------------------------------
def _masked(e: Expr):
    """``(cond, value, zero_on_true)`` for ``where(cond, value, 0)`` or ``where(cond, 0, value)``."""
    if e.op != "where":
        return None
    c, a, b = e.args
    if _zero(b):
        return c, a, False
    return (c, b, True) if _zero(a) else None


def _remask(masked, value: Expr) -> Expr:
    c, _, zero_on_true = masked
    from .ops.elementwise import where
    return where(c, 0.0, value) if zero_on_true else where(c, value, 0.0)


@rule("mul")
def _mul_masked(a, b):
    """``where(c, u, 0) * v -> where(c, u*v, 0)``: a NaN in v never leaks through the zero."""
    for m, other, left in ((_masked(a), b, True), (_masked(b), a, False)):
        if m is not None:
            return _remask(m, m[1] * other if left else other * m[1])
    return None


@rule("div")
def _div_masked(a, b):
    m = _masked(a)
    return None if m is None else _remask(m, m[1] / b)


@rule("neg")
def _neg_masked(x):
    m = _masked(x)
    return None if m is None else _remask(m, -m[1])


def _where_combine(op: str):
    """``where(c, p, q) ± where(c, r, s) -> where(c, p ± r, q ± s)``: adjoints arriving by two
    paths stay one masked value, so a later product cannot turn ``0 + 0`` into ``0 * nan``."""
    def fn(a, b):
        if a.op != "where" or b.op != "where" or a.args[0] != b.args[0]:
            return None
        from .ops.elementwise import where
        (c, p, q), (_, r, s) = a.args, b.args
        return where(c, apply(op, p, r), apply(op, q, s))
    return fn


for _op in ("add", "sub"):
    RULES[_op].append(_where_combine(_op))


def _move_masked(op: str):
    """``L(where(c, u, 0)) -> where(L(c), L(u), 0)`` for an op L that only moves entries: the
    mask moves with the values, so an adjoint passing a transpose or a slice keeps it."""
    def fn(x, **params):
        m = _masked(x)
        if m is None:
            return None
        from .ops.shape import broadcast_to
        c, value, zero_on_true = (broadcast_to(e, x.dims) if isinstance(e, Expr) else e for e in m)
        moved = apply(op, value, **params)
        return _remask((apply(op, c, **params), moved, zero_on_true), moved)
    return fn


for _op in ("transpose", "reshape", "getitem", "scatter"):
    RULES[_op].append(_move_masked(_op))


@rule("sum")
def _sum_masked(x, axis, keepdims):
    """``sum(where(c, u, 0)) -> where(c, sum(u), 0)`` when ``c`` is constant along the summed
    axes: the adjoint of a broadcast masked value, summed back by sum_to, keeps its mask."""
    m = _masked(x)
    if m is None:
        return None
    c, value, zero_on_true = m
    lead = x.ndim - c.ndim
    if any(a >= lead and c.dims[a - lead] != 1 for a in axis):
        return None
    from .ops.shape import broadcast_to, getitem
    if not keepdims:
        c = getitem(c, tuple(0 if i + lead in axis else slice(None) for i in range(c.ndim)))
    total = apply("sum", broadcast_to(value, x.dims), axis=axis, keepdims=keepdims)
    return _remask((c, total, zero_on_true), total)


@rule("where")
def _where_identities(c, a, b):
    if a == b:
        return a
    if c.op == "constant" and c.attrs["value"].all():
        return a
    if c.op == "constant" and not c.attrs["value"].any():
        return b
    from .ops.elementwise import where
    if a.op == "where" and a.args[0] == c:
        return where(c, a.args[1], b)
    if b.op == "where" and b.args[0] == c:
        return where(c, a, b.args[2])
    return None


# -- numerically stable forms -----------------------------------------------------------------
@rule("log")
def _stable_log(x):
    from .ops.elementwise import softplus
    if x.op == "sigmoid":
        return -softplus(-x.args[0])
    if x.op == "exp":
        return x.args[0]
    if x.op == "add":
        a, b = x.args
        for one, other in ((a, b), (b, a)):
            if _one(one) and other.op == "exp":
                return softplus(other.args[0])
    if x.op == "sub" and _one(x.args[0]) and x.args[1].op == "sigmoid":
        return -softplus(x.args[1].args[0])
    return None


@rule("log1p")
def _stable_log1p(x):
    from .ops.elementwise import softplus
    return softplus(x.args[0]) if x.op == "exp" else None


# -- canonical products and sums: repeated derivatives stay small ---------------------------
# Differentiating ``u'v + uv'`` again gives ``u'v'`` twice, as ``u'·v'`` and ``v'·u'``.  So
# that such terms meet, commutative operands are put in one order, constant factors of
# scalar products move out, and a sum is rebuilt as one chain of distinct terms ``c·t`` in
# a fixed order (like terms merged).  With forward mode this keeps ``sg.diff(f, x, n)``
# polynomial in n (Leibniz's rule falls out of the merged terms).

def _order(e: Expr) -> tuple:
    """Operand order: scalar constants, then scalars, then arrays, each by node id."""
    return (not _scalar_const(e), e.ndim > 0, e.node)


@rule("mul")
def _mul_commute(a, b):
    return b * a if _order(b) < _order(a) else None


@rule("mul")
def _mul_constant_out(a, b):
    """For scalars: ``c·(d·u) -> (cd)·u`` and ``(c·u)·v -> c·(u·v)``."""
    if a.ndim or b.ndim:
        return None
    if _scalar_const(a) and b.op == "mul" and _scalar_const(b.args[0]):
        return (a * b.args[0]) * b.args[1]
    for x, y in ((a, b), (b, a)):
        if x.op == "mul" and _scalar_const(x.args[0]) and not _scalar_const(y):
            return x.args[0] * (x.args[1] * y)
    return None


_MAX_TERMS = 16  # longer sums are left as built: canonical order costs O(terms) per node


def _sum_terms(a: Expr, b: Expr, sign: float, dims: tuple):
    """``a + sign·b`` as ``(constant, {term node: coefficient})``, reading through +, -,
    negation and constant multiples (operands of other shapes, and for arrays constant
    multiples of sums, are terms); None beyond _MAX_TERMS.  Works on raw node attributes:
    it runs for every sum built."""
    nodes = a.g
    const, terms = 0.0, {}
    todo = [(a.node, 1.0), (b.node, sign)]
    while todo:
        node, c = todo.pop()
        attrs = nodes[node]
        op, args = attrs["op"], attrs["args"]
        if op == "constant" and attrs["shape"] == ():
            const += c * float(attrs["value"])
        elif op == "neg":
            todo.append((args[0], -c))
        elif attrs["shape"] != dims:
            terms[node] = terms.get(node, 0.0) + c
        elif op in ("add", "sub"):
            todo += [(args[0], c), (args[1], -c if op == "sub" else c)]
        elif op == "mul" and nodes[args[0]]["op"] == "constant" and nodes[args[0]]["shape"] == () \
                and (dims == () or nodes[args[1]]["op"] not in ("add", "sub", "neg")):
            todo.append((args[1], c * float(nodes[args[0]]["value"])))
        else:
            terms[node] = terms.get(node, 0.0) + c
        if len(todo) + len(terms) > _MAX_TERMS:
            return None
    return const, terms


def _pieces(const: float, terms: dict) -> list:
    """``[(term node or None for the constant, coefficient)]`` in canonical order: terms by
    node id, the constant last, the first positive piece moved to the front."""
    pieces = [(n, c) for n, c in sorted(terms.items()) if c != 0]
    if const:
        pieces.append((None, const))
    first = 0
    for i, (_, c) in enumerate(pieces):
        if c > 0:
            first = i
            break
    return pieces[first:first + 1] + pieces[:first] + pieces[first + 1:]


def _piece(g, node, c: float, dtype) -> Expr:
    if node is None:
        return constant(c, dtype, g)
    t = Expr(g, node)
    return t if c == 1 else -t if c == -1 else c * t


def _build_sum(g, pieces: list, dtype) -> Expr:
    node, c = pieces[0]
    acc = _piece(g, node, c, dtype)
    for node, c in pieces[1:]:
        term = _piece(g, node, abs(c), dtype)
        acc = acc + term if c > 0 else acc - term
    return acc


def _is_piece(e: Expr, node, c: float) -> bool:
    """True when ``e`` is the expression :func:`_piece` builds for ``c·node``."""
    if node is None:
        return _scalar_const(e) and float(e.attrs["value"]) == c
    args = e.attrs["args"]
    if c == 1:
        return e.node == node
    if c == -1:
        return e.op == "neg" and args[0] == node
    return e.op == "mul" and args[1] == node and _scalar_const(e.args[0]) \
        and float(e.args[0].attrs["value"]) == c


def _canonical_sum(op: str):
    """``a ± b`` as the canonical chain of its terms, None if it is that chain already
    (``a`` a canonical chain of all but the last piece, ``b`` the last piece)."""
    def fn(a, b):
        if a.dtype.kind != "f" or b.dtype.kind != "f":
            return None
        known = a.g.cache.setdefault("canonical sums", set())
        if (op, a.node, b.node) in known:
            return None
        dims = broadcast_shapes(op, [a.dims, b.dims], ["a", "b"])
        long = a.g.cache.setdefault("sums beyond _MAX_TERMS", set())
        flat = None  # a sum holding a too-long sum of its shape is too long: no walk needed
        if not (_in_sums(a, dims, long) or _in_sums(b, dims, long)):
            flat = _sum_terms(a, b, -1.0 if op == "sub" else 1.0, dims)
        if flat is None:
            long.add((op, a.node, b.node))
            return None
        pieces = _pieces(*flat)
        dtype = a.dtype if a.ndim or not b.ndim else b.dtype
        if not pieces:
            return _zeros(a, b)
        if len(pieces) == 1:
            return _piece(a.g, *pieces[0], dtype)
        (node, c), rest = pieces[-1], pieces[:-1]
        if op == ("add" if c > 0 else "sub") and _is_piece(b, node, abs(c)) and (
                _is_piece(a, *rest[0]) if len(rest) == 1 else _is_chain(a, rest, known)):
            known.add((op, a.node, b.node))
            return None
        return _build_sum(a.g, pieces, dtype)
    return fn


def _in_sums(e: Expr, dims: tuple, sums: set) -> bool:
    """True when ``e`` is a sum of shape ``dims`` that ``sums`` holds."""
    return e.dims == dims and (e.op, *e.attrs["args"]) in sums


def _is_chain(e: Expr, pieces: list, known: set) -> bool:
    """True when ``e`` is a canonical sum (checked before) of exactly ``pieces``."""
    if e.op not in ("add", "sub") or (e.op, *e.attrs["args"]) not in known:
        return False
    flat = _sum_terms(*e.args, -1.0 if e.op == "sub" else 1.0, e.dims)
    return flat is not None and _pieces(*flat) == pieces


for _op in ("add", "sub"):
    RULES[_op].append(_canonical_sum(_op))


def simplify(e: Expr, sympy: bool = False) -> Expr:
    """Rebuild ``e`` through the rewrite rules (folding, identities, stable forms; sharing
    comes from hash-consing); ``sympy=True`` also simplifies scalar parts with SymPy.

    >>> sg.simplify(x * 1 + 0)       # x
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
    result = rebuilt[e.node]
    if sympy:
        from .sympy_bridge import sympy_simplify
        result = sympy_simplify(result)
    return result
