"""The Op: one object per primitive holding everything symgrad knows about it; the registry.

An op's rules, side by side (every pass reads these fields and nothing else about an op):

- ``infer(*args, **params) -> (shape, dtype)``: the shape and dtype rule; it checks sizes and
  raises a ShapeError naming the op and the operands' shapes.
- ``impl``: the eager NumPy implementation (constant folding, test reference).
- emitters: ``op.emitters[backend_name] = emit(args, params, ctx) -> source``; the NumPy one
  defaults to a call of ``impl`` (or an infix operator), and other backends register theirs
  without editing the op (:meth:`Op.emitter`).
- ``partials``: for elementwise ops, the local derivative wrt each argument as an expression
  ``(out, *args) -> Expr | None``; the vjp and jvp rules follow from them.
- ``vjp``: one reverse rule per argument ``(g, out, *args, **params) -> Expr | Masked | None``
  (a tuple shorter than the arguments: the rest get no gradient, as integer indices).
- ``jvp``: the forward rule for one tangent per argument, ``(tangents, out, *args, **params)``
  with None for a zero tangent; a tangent has its argument's shape.  Many tangents at once
  go through the batching rules, never through the jvp rule itself.
- ``joint_vjp`` and ``siblings``: for the outputs of one computation held as several nodes
  (a loop's), ``siblings(params)`` lists the params of all of them, and
  ``joint_vjp(cotangents, *args, **params)`` (one cotangent or None per sibling) returns the
  arguments' cotangents in one go, instead of ``vjp`` per node.
- ``bodies``: for loops and branches, ``bodies(params) -> [(label, inputs, outputs)]``, the
  traced graphs the node runs (node ids of their placeholders and results), for pictures.
- ``batch``: ``(nb, batched, *args, **params) -> Expr``: the op applied to arguments of which
  those flagged in ``batched`` carry ``nb`` leading batch axes (see :class:`symgrad.expr.Batched`).
- ``band``: the structure rule for banded batches of tangents (:mod:`symgrad.ops.band`);
  ``contraction``: the rule for batches held as sums of einsum products
  (:mod:`symgrad.ops.contraction`), both answering ``LOST`` where the structure ends.
- ``sparsity``: which argument entries each output entry reads with a structurally nonzero
  derivative (:mod:`symgrad.sparsity`): ``"elementwise"`` (with broadcasting; the default
  of elementwise ops), ``"entries"`` (each output entry is one argument entry or zero:
  read off ``impl`` applied to the entries' numbers), ``"reduce"`` (the groups of an
  ``axis`` reduction), a rule ``(position, arg_shapes, out_shape, params, values) ->
  (rows, cols)``, or None: every output entry reads every entry (other ops).
  ``curvature``: the argument pairs its second derivative joins: ``()`` for an op linear in
  its arguments (piecewise linear included), ``((0, 1),)`` for an elementwise product,
  ``"all"`` (the default) for every pair, or for a sum of products (matmul, einsum) a rule
  ``(shapes, out_shape, params) -> [(a, b, (output entries, entries of a, entries of b))]``
  listing the terms of each pair of arguments (None: every pair).
- ``sympy``: the SymPy function of scalar arguments (elementwise ops) or a rule on object
  arrays of SymPy entries (others; ``impl`` by default; an op with ``bodies`` gets first
  ``body_entries(roots, given)``, which runs a body on entries); ``sympy_matrix(tr, attrs,
  *args)``: the matrix-expression form.
- properties: ``elementwise``, ``commutative``, ``sum_signs`` (``out = Σ sᵢ·argᵢ``),
  ``moves`` (the vjp only moves or zero-fills entries, so it moves a boolean mask too),
  ``view``/``readonly`` (the result may alias argument 0, read-only),
  ``inplace`` (impl takes ``out=``), ``weak_type`` (a 0-d result stands for a Python number),
  ``differentiable``, ``label`` (an annotation naming its argument), ``cli`` (a function of the
  command line), ``function`` (the public function that builds it), ``arity`` (the number of
  arguments, None for any), ``domain`` and ``samples`` (what the registry-driven tests draw
  from: argument shapes and parameters).

Rules are written with symgrad operations, so derivative graphs can be differentiated again.
"""
from __future__ import annotations

from typing import Callable

REGISTRY: dict = {}


class Op:
    """One primitive with all its rules; see the module docstring for the fields.

    >>> sg.op.REGISTRY["exp"].partials[0]      # d/dx exp(x) = out
    """

    def __init__(self, name: str, infer: Callable | None = None, impl: Callable | None = None,
                 *, emit: Callable | None = None, infix: str | None = None,
                 partials: tuple | None = None, vjp: tuple | None = None,
                 jvp: Callable | None = None, batch: Callable | None = None,
                 joint_vjp: Callable | None = None, siblings: Callable | None = None,
                 bodies: Callable | None = None,
                 band: Callable | None = None, contraction: Callable | None = None,
                 sparsity=None, curvature="all",
                 sympy=None, sympy_matrix: Callable | None = None,
                 elementwise: bool = False, commutative: bool = False,
                 sum_signs: tuple | None = None, moves: bool = False,
                 view: bool = False, readonly: bool = False, inplace: bool = False,
                 weak_type: bool = False, differentiable: bool = True,
                 label: Callable | None = None, show: Callable | None = None, cli: bool = False,
                 arity: int | None = None, domain: tuple | None = None, samples: tuple = (),
                 doc: str = "") -> None:
        self.name = name
        self.arity = arity
        self.infer = infer
        self.impl = impl
        self.infix = infix
        self.emitters = {"numpy": emit or self._call}
        self.partials = partials
        self.vjp = vjp
        self.jvp = jvp
        self.joint_vjp = joint_vjp
        self.siblings = siblings
        self.bodies = bodies
        self.batch = batch
        self.band = band
        self.contraction = contraction
        self.sparsity = sparsity or ("elementwise" if elementwise else None)
        self.curvature = curvature
        self.sympy = sympy
        self.sympy_matrix = sympy_matrix
        self.elementwise = elementwise
        self.commutative = commutative
        self.sum_signs = sum_signs
        self.moves = moves
        self.view = view
        self.readonly = readonly
        self.inplace = inplace
        self.weak_type = weak_type
        self.differentiable = differentiable
        self.label = label
        self.show = show
        self.cli = cli
        self.function: Callable | None = None
        self.domain = domain
        self.samples = samples
        self.doc = doc

    def emitter(self, backend: str) -> Callable:
        """Decorator registering this op's emitter for ``backend``.

        >>> @sg.op.REGISTRY["exp"].emitter("mybackend")
        ... def emit(args, params, ctx): return f"xp.exp({args[0]})"
        """
        def register_emitter(fn: Callable) -> Callable:
            self.emitters[backend] = fn
            return fn
        return register_emitter

    def _call(self, args: list, params: dict, ctx) -> str:
        """The default NumPy emitter: the infix operator, else a call of ``impl``."""
        if self.infix and len(args) == 2:
            return f"{args[0]} {self.infix} {args[1]}"
        if self.infix:
            return f"{self.infix}{args[0]}"
        return f"{ctx.ref(self.impl)}({', '.join(args)}{kwargs_code(params)})"

    def vjp_rule(self, position: int) -> Callable | None:
        """The reverse rule for argument ``position``: ``(g, out, *args, **params) -> Expr``."""
        if not self.differentiable:
            return None
        if self.vjp is not None:
            try:  # a tuple may be shorter than the arguments: the others get no gradient
                return self.vjp[position]
            except IndexError:
                return None
        partial = self.partials[position] if self.partials is not None else None
        if partial is None:
            return None
        return lambda g, out, *args, **params: times(g, partial(out, *args, **params))

    def jvp_rule(self) -> Callable | None:
        """The forward rule ``(tangents, out, *args, **params) -> Expr | None``."""
        if not self.differentiable:
            return None
        if self.jvp is not None or self.partials is None:
            return self.jvp
        return self._jvp_from_partials

    def _jvp_from_partials(self, tangents, out, *args, **params):
        """``ṫ = Σᵢ tᵢ · ∂ᵢ`` (each tangent has its argument's shape and broadcasts)."""
        total = None
        for t, partial in zip(tangents, self.partials):
            if t is None or partial is None:
                continue
            term = times(t, partial(out, *args, **params))
            if term is not None:
                total = term if total is None else total + term
        return total

    def __repr__(self) -> str:
        return f"<Op {self.name}>"


def operand_order(e) -> tuple:
    """The canonical order of a product's operands: scalar constants, then scalars, then
    arrays, each by node id.  The rewrites put products in this order; rules that build
    products use it too, so a product is built once, not built and then reordered."""
    return (not (e.op == "constant" and not e.dims), len(e.dims) > 0, e.node)


def times(g, local):
    """``g * local`` with the operands in canonical order; a local derivative of exactly 1
    or -1 (``add``, ``sub``) skips the product, and a Python number goes first."""
    if local is None:
        return None
    if isinstance(local, int) and local in (1, -1):
        return g if local == 1 else -g
    if not hasattr(local, "node") or operand_order(local) < operand_order(g):
        return local * g
    return g * local


class Masked:
    """A cotangent that is ``value`` where ``cond`` holds and exactly 0 elsewhere, as the vjp
    rule of ``where`` returns it.  The reverse sweep keeps the mask apart from the graph
    (so constant folding cannot merge it into the value), carries it through elementwise
    ops and moves, and writes ``where(cond, value, 0)`` only where values mix: a product
    with a local derivative that is inf or NaN outside the mask never meets the zeros.

    >>> Masked(x > 0, g)
    """

    __slots__ = ("cond", "value")

    def __init__(self, cond, value) -> None:
        self.cond = cond
        self.value = value

    def __repr__(self) -> str:
        return f"<Masked {self.value!r} where {self.cond!r}>"


def kwargs_code(params: dict) -> str:
    """``, key=value`` for each parameter (values are literals: ints, floats, strings, tuples)."""
    return "".join(f", {k}={v!r}" for k, v in params.items())


# parameter types that hold nodes (a loop's body): NamedTuples whose tuple fields are node ids
NODE_PARAMS: dict = {}


def node_params(cls: type) -> type:
    """Register ``cls``, a NamedTuple parameter type whose tuple fields are node ids (its
    other fields plain values or such types again), so that saving a graph keeps the nodes
    it names."""
    NODE_PARAMS[cls.__name__] = cls
    return cls


def holds_nodes(value) -> bool:
    """Whether ``value``'s type is one of NODE_PARAMS."""
    return NODE_PARAMS.get(type(value).__name__) is type(value)


def node_refs(value) -> list:
    """The node ids a parameter value holds: those of NODE_PARAMS values, in it or in
    tuples and lists of them."""
    if holds_nodes(value):
        return [n for v in value for n in (v if type(v) is tuple else node_refs(v))]
    if type(value) in (tuple, list):
        return [n for v in value for n in node_refs(v)]
    return []


def register(op: Op, replace: bool = False) -> Op:
    """Add an op to the registry (names are unique unless ``replace``)."""
    if op.name in REGISTRY and not replace:
        raise ValueError(f"op {op.name!r} is defined twice")
    REGISTRY[op.name] = op
    return op
