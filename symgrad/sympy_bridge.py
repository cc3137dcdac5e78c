"""The SymPy bridge: graphs to SymPy expressions and back, LaTeX, SymPy simplification.

:func:`to_sympy` visits the nodes an expression needs once, in id order (a topological
order), so deep chains never recurse.  Each op maps through the ``sympy`` rule of its Op,
in one of two forms:

- ``"elements"``: a scalar is a SymPy expression, a small static tensor an array of
  entries (a ``Matrix`` in two dimensions, else an ``Array``).  Elementwise ops apply
  their scalar SymPy function entry by entry; the others move entries as NumPy moves
  numbers, running their ``sympy`` rule (else their NumPy ``impl``) on object arrays.
- ``"matrix"``: tensors of up to two axes are SymPy matrix expressions (``MatrixSymbol``,
  ``MatMul``, ``Transpose``, ``HadamardProduct``, elementwise functions applied with
  ``∘``).  Vectors are columns, named dimensions integer symbols, and broadcasting is a
  product with the ones matrix 𝟙, so ``X @ W + b`` reads ``X W + 𝟙 bᵀ``.

With ``cse=True`` every node the graph uses more than once becomes a replacement symbol,
so the size follows the graph rather than its (possibly exponential) tree.  A named
intermediate (:func:`symgrad.name`) becomes a symbol of its name, defined in the
replacements, wherever its node occurs.
"""
from __future__ import annotations

import functools
import itertools
import math
import operator
import types
from collections import Counter
from fractions import Fraction

import numpy as np

from . import dims as D
from .autodiff import jvp
from .errors import SymgradError, UnsupportedError
from .expr import Expr, apply, constant, symbol
from .graph import common_graph
from .lazy import sympy
from .op import REGISTRY
from .ops.elementwise import int_power, power, sqrt, where
from .ops.shape import reshape, stack
from .rewrite import rebuild

SMALL = 25  # form="auto" writes out entries when every tensor has at most this many
FORMS = ("auto", "elements", "matrix")


# -- numbers ------------------------------------------------------------------------------
def _number(v) -> sympy.Basic:
    """A SymPy number for a NumPy or Python one: a float equal to a simple fraction becomes
    that fraction (0.5 -> 1/2), other floats stay floats."""
    if isinstance(v, sympy.Basic):
        return v
    if isinstance(v, (bool, np.bool_)):
        return sympy.true if v else sympy.false
    if isinstance(v, (int, np.integer)):
        return sympy.Integer(int(v))
    v = float(v)
    if math.isnan(v):
        return sympy.nan
    if math.isinf(v):
        return sympy.oo if v > 0 else -sympy.oo
    ratio = Fraction(v).limit_denominator(10**6)
    if float(ratio) == v:
        return sympy.Rational(ratio.numerator, ratio.denominator)
    return sympy.Float(v)


def _array(v) -> np.ndarray:
    """``v`` as an object array of SymPy entries (0-d for a scalar)."""
    if isinstance(v, np.ndarray):
        return v
    a = np.empty((), dtype=object)
    a[()] = v
    return a


def _entries(v):
    """A NumPy result as SymPy: numbers become SymPy numbers, a 0-d array its entry."""
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return _number(v[()])
        return np.frompyfunc(_number, 1, 1)(v.astype(object))
    return _number(v)


def _atomic(v) -> bool:
    """Values not worth a replacement symbol: symbols, numbers, transposed matrix symbols."""
    if isinstance(v, sympy.Transpose):
        v = v.arg
    return v.is_Atom or isinstance(v, (sympy.MatrixSymbol, sympy.Indexed))


def _dim(d) -> sympy.Expr:
    """A dimension as SymPy: an int, or its names as positive integer symbols (``n - 1``)."""
    terms, const = D.affine(d)
    return sum((k * sympy.Symbol(n, integer=True, positive=True) for n, k in terms.items()),
               sympy.Integer(const))


def _hadamard(*factors) -> "sympy.MatrixExpr":
    """The entrywise product, scalar factors pulled out, ``(s A) ∘ B = s (A ∘ B)``, and
    columns or rows spread by 𝟙 written as diagonal matrices, ``(v 𝟙ᵀ) ∘ A = diag(v) A`` and
    ``(𝟙 w) ∘ A = A diag(w)``, or as an outer product, ``(v 𝟙ᵀ) ∘ (𝟙 w) = v w``."""
    scale, parts = sympy.Integer(1), []
    for f in factors:
        coeff, matrices = _coeff_matrices(f)
        scale *= coeff
        parts.append(_chain(matrices, None))
    columns = [_spread(p, 1) for p in parts]  # v where p = v 𝟙ᵀ
    rows = [_spread(p, 0) for p in parts]  # w where p = 𝟙 w
    plain = [p for p, c, r in zip(parts, columns, rows) if c is None and r is None]
    column, row = _entrywise(columns), _entrywise(rows)
    if not plain:
        if column is None or row is None:
            return scale * sympy.HadamardProduct(*parts)
        return scale * column * row
    product = _entrywise(plain)
    if column is not None:
        product = _with_diagonal(product, column, left=True)
    if row is not None:
        product = _with_diagonal(product, row.T, left=False)
    return scale * product


def _with_diagonal(product, v, left: bool) -> "sympy.MatrixExpr":
    """``diag(v) product`` (``left``) or ``product diag(v)``, merged with a diagonal factor
    already at that end: ``diag(v) diag(u) A = diag(v ∘ u) A``."""
    coeff, matrices = _coeff_matrices(product)
    end = 0 if left else -1
    if isinstance(matrices[end], sympy.DiagMatrix):
        matrices[end] = sympy.DiagMatrix(sympy.HadamardProduct(v, matrices[end].args[0]))
    else:
        matrices.insert(0 if left else len(matrices), sympy.DiagMatrix(v))
    return coeff * sympy.MatMul(*matrices)


def _coeff_matrices(e) -> tuple:
    """``(scalar coefficient, [matrix factors])`` of a matrix expression."""
    if isinstance(e, sympy.MatMul):
        coeff, matrices = e.as_coeff_matrices()
        return coeff, list(matrices)
    return sympy.Integer(1), [e]


def _entrywise(factors: list):
    """The entrywise product of the factors that are not None (None if none is)."""
    factors = [f for f in factors if f is not None]
    if len(factors) > 1:
        return sympy.HadamardProduct(*factors)
    return factors[0] if factors else None


def _spread(p, side: int):
    """The vector that ``p`` copies by a product with 𝟙 on ``side`` (1: ``v 𝟙ᵀ``, a column
    across columns; 0: ``𝟙 w``, a row down rows), else None."""
    if not isinstance(p, sympy.MatMul) or len(p.args) != 2:
        return None
    ones, vector = (p.args[1], p.args[0]) if side else (p.args[0], p.args[1])
    if isinstance(ones, sympy.OneMatrix) and ones.shape[1 - side] == 1:
        return vector
    return None


def _scalar(op, params: dict, args: list):
    """An op applied to scalars: its SymPy function."""
    if op.bodies is not None:
        raise UnsupportedError(f"to_sympy(form='matrix'): loops and branches ({op.name!r}) "
                               "are written out in form='elements' only")
    if op.sympy is None:
        raise UnsupportedError(f"to_sympy: the op {op.name!r} has no SymPy mapping")
    return op.sympy(*args, **params)


# -- graph to SymPy -------------------------------------------------------------------------
class _Sum(list):
    """The terms of a scalar sum, made into one SymPy ``Add`` only when another op needs it:
    ``Add`` sorts its terms whenever it is made, so building a chain of n binary additions
    one by one (an adjoint accumulating its contributions) would cost O(n² log n)."""

    @staticmethod
    def terms(value) -> list:
        return value if isinstance(value, _Sum) else [value]


class _Translator:
    """One walk over the nodes ``roots`` need, in id order; subclasses give the form of
    leaves and of each op's value, read from the op's ``sympy`` and ``sympy_matrix`` rules."""

    def __init__(self, g, roots: list, share: bool, keep_names: bool,
                 given: dict | None = None) -> None:
        self.g = g
        self.roots = roots
        needed = g.ancestors(roots)
        self.nodes = sorted(needed)
        self.share = share
        self.given = given or {}  # symbol node -> the caller's SymPy value for it
        self.labels = {}  # node -> the name sg.name gave it (the name node may lie outside)
        if keep_names:
            for node in range(len(g)):
                label = REGISTRY[g[node]["op"]].label
                if label is not None and g[node]["args"][0] in needed:
                    self.labels.setdefault(g[node]["args"][0], label(**dict(g[node]["params"])))
        self.reserved = {g[n]["name"] for n in self.nodes if g[n]["op"] == "symbol"}
        self.reserved |= set(self.labels.values())
        theirs = {getattr(v, "name", None) for v in self.given.values()} - {None}
        self.reserved |= theirs
        self.claimed: set = set(theirs)  # a symbol of the same name becomes name_1
        self.fresh = (f"x{i}" for i in itertools.count() if f"x{i}" not in self.reserved)
        self.replacements: list = []
        self.leaves: dict = {}  # SymPy name -> node, to map SymPy results back

    def run(self) -> list:
        g = self.g
        uses = Counter(a for n in self.nodes for a in g[n]["args"])
        values: dict = {}

        def take(node):  # a node's value, its sum built if it was gathering terms
            if isinstance(values[node], _Sum):
                values[node] = sympy.Add(*values[node])
            return values[node]

        for node in self.nodes:
            attrs = g[node]
            op = REGISTRY[attrs["op"]]
            if attrs["op"] == "symbol" and node in self.given:
                value = self.theirs(self.given[node], attrs)
            elif attrs["op"] == "symbol":
                value = self.symbol(self.claim(attrs["name"], node), attrs["shape"])
            elif attrs["op"] == "constant":
                value = self.constant(attrs["value"], attrs["shape"])
            elif op.sum_signs is not None and not attrs["shape"]:
                value = _Sum(t if s > 0 else -t for arg, s in zip(attrs["args"], op.sum_signs)
                             for t in _Sum.terms(values[arg]))
            else:
                args = [take(a) for a in attrs["args"]]
                value = self.value(op, attrs, args)
            values[node] = value
            label = self.labels.get(node)
            if label is not None:
                values[node] = self.define(self.claim(label, node), take(node), every=True)
            elif (self.share and uses[node] > 1 and attrs["args"]
                  and attrs["dtype"].kind != "b"):
                values[node] = self.define(next(self.fresh), take(node), every=False)
        return [self.finish(take(r)) for r in self.roots]

    def claim(self, name: str, node: int) -> str:
        """``name``, or ``name_1``, ``name_2``... when another node already has it."""
        unique = name
        for k in itertools.count(1):
            if unique not in self.claimed:
                break
            unique = f"{name}_{k}"
        self.claimed.add(unique)
        self.leaves[unique] = node
        return unique

    def define(self, name: str, value, every: bool):
        """A symbol ``name`` standing for ``value``, listed among the replacements."""
        if isinstance(value, np.ndarray):
            base = sympy.IndexedBase(name, real=True)
            out = value.copy()
            for idx in np.ndindex(value.shape):
                if every or not _atomic(value[idx]):
                    out[idx] = base[idx]
                    self.replacements.append((base[idx], value[idx]))
            return out
        if not every and _atomic(value):
            return value
        if isinstance(value, sympy.MatrixExpr):
            s = sympy.MatrixSymbol(name, *value.shape)
        else:
            s = sympy.Symbol(name, real=True)
        self.replacements.append((s, value))
        return s

    def finish(self, value):
        return value


class _Elements(_Translator):
    """Scalars and small static tensors, entry by entry."""

    def value(self, op, attrs: dict, args: list):
        params = dict(attrs["params"])
        if op.elementwise:  # the scalar function, entry by entry
            if not any(isinstance(a, np.ndarray) for a in args):
                return _scalar(op, params, args)
            fn = functools.partial(op.sympy, **params) if params else op.sympy
            return np.frompyfunc(fn, len(args), 1)(*args)
        if op.bodies is not None and op.sympy is not None:  # a loop or a branch
            return op.sympy(self.body_entries, *args, **params)
        rule = op.sympy or op.impl  # entries move as NumPy moves numbers
        if rule is None:
            raise UnsupportedError(f"to_sympy: the op {op.name!r} has no SymPy mapping")
        return _entries(rule(*(_array(a) for a in args), **params))

    def body_entries(self, roots: tuple, given: dict) -> list:
        """The entries of a traced body's ``roots`` (nodes), its placeholders' entries
        ``given`` (node -> entries): how the SymPy rules of loops and branches run their
        bodies (``op.sympy(body_entries, *args, **params)``)."""
        return _BodyEntries(self.g, list(roots), False, False, given).run()

    def symbol(self, name: str, dims: tuple):
        if not dims:
            return sympy.Symbol(name, real=True)
        base = sympy.IndexedBase(name, real=True)
        out = np.empty(dims, dtype=object)
        for idx in np.ndindex(out.shape):
            out[idx] = base[idx]
        return out

    def constant(self, value: np.ndarray, dims: tuple):
        return _entries(value)

    def theirs(self, value, attrs: dict):
        """The caller's SymPy value for a symbol: a scalar expression, or for an array an
        ``IndexedBase``, a ``Matrix``/``Array`` or a ``MatrixSymbol`` of its size."""
        dims = attrs["shape"]
        if not dims:
            return _their_scalar(value, attrs)
        if isinstance(value, sympy.IndexedBase):
            out = np.empty(dims, dtype=object)
            for idx in np.ndindex(out.shape):
                out[idx] = value[idx]
            return out
        if isinstance(value, sympy.MatrixExpr) and not isinstance(value, sympy.MatrixBase):
            value = value.as_explicit()
        if not hasattr(value, "tolist") or D.size_of(dims) != int(np.prod(value.shape)):
            raise SymgradError(f"to_sympy: symbols gives {value!r} for {attrs['name']!r} of shape "
                               f"{D.fmt_shape(dims)}; give an IndexedBase, or a Matrix, Array or "
                               "MatrixSymbol of as many entries")
        return np.array(sympy.flatten(value.tolist()), dtype=object).reshape(dims)

    def finish(self, value):
        if not isinstance(value, np.ndarray):
            return value
        if value.ndim == 2:
            return sympy.ImmutableMatrix(value.tolist())
        return sympy.ImmutableDenseNDimArray(value.tolist(), value.shape)


class _BodyEntries(_Elements):
    """A body's values on the entries given for its placeholders, left as entries."""

    def theirs(self, value, attrs: dict):
        return value

    def finish(self, value):
        return value


class _Matrices(_Translator):
    """Matrix expressions: vectors are columns, broadcasting multiplies by 𝟙.  An op's
    ``sympy_matrix(tr, attrs, *args)`` rule builds its value with the helpers below;
    elementwise ops without one apply their scalar function entrywise."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.d = sympy.Dummy("d", real=True)  # the variable of elementwise functions

    def value(self, op, attrs: dict, args: list):
        if not any(self.is_matrix(a) for a in args) and not attrs["shape"] and attrs["args"]:
            return _scalar(op, dict(attrs["params"]), args)
        if op.sympy_matrix is not None:
            return op.sympy_matrix(self, attrs, *args)
        if op.elementwise:
            return self.entrywise(attrs, args)
        raise UnsupportedError(f"to_sympy(form='matrix'): the op {attrs['op']!r} has no "
                               "matrix expression; use form='elements' for small static shapes")

    # -- helpers for the ops' rules ------------------------------------------------------
    @staticmethod
    def is_matrix(value) -> bool:
        return isinstance(value, sympy.MatrixExpr)

    @staticmethod
    def rep(dims: tuple) -> tuple:
        """The matrix shape standing for ``dims``: a vector is a column."""
        if len(dims) > 2:
            raise UnsupportedError(f"to_sympy(form='matrix'): shape {D.fmt_shape(dims)} has more "
                                   "than two axes; use form='elements' for small static shapes")
        return (_dim(dims[0]), sympy.Integer(1)) if len(dims) == 1 else tuple(map(_dim, dims))

    dim = staticmethod(lambda d: _dim(d))
    number = staticmethod(lambda v: _number(v))
    hadamard = staticmethod(lambda *factors: _hadamard(*factors))

    def finish(self, value):
        return _softmax_rows(value) if isinstance(value, sympy.Basic) else value

    def extreme(self, attrs: dict, x, kind: str):
        """``Max`` or ``Min`` of the matrix ``x`` over the node's axes: per row, per column
        or of all entries, laid out as the node's shape."""
        axis = dict(attrs["params"])["axis"]
        (dims,) = self.arg_dims(attrs)
        if len(dims) == 1 or len(axis) == 2:
            axis = None
        else:
            axis, = axis
        value = _classes().Extreme(sympy.Symbol(kind), x, sympy.Integer(-1 if axis is None else axis))
        if not attrs["shape"]:
            return _classes().Entry(value, 0, 0)
        return self.orient(value, attrs["shape"])

    def scalar(self, value):
        """The entry of a 1 x 1 matrix expression: SymPy's, unless SymPy writes it out as a
        sum over the factors' entries, which is kept as the product (``yᵀ K⁻¹ y``)."""
        if not self.is_matrix(value):
            return value
        entry = value[0, 0]
        if not entry.has(sympy.Sum):
            return entry
        return _classes().Entry(value, 0, 0)

    def arg_dims(self, attrs: dict) -> list:
        return [self.g[a]["shape"] for a in attrs["args"]]

    def spread(self, value, dims: tuple, out: tuple, ones: bool = False):
        """``value`` broadcast to ``out`` by NumPy's rules, as products with 𝟙 (a scalar stays
        a scalar unless ``ones``)."""
        if not self.is_matrix(value):
            return value * sympy.OneMatrix(*self.rep(out)) if ones and out else value
        if len(dims) < len(out):  # NumPy lines a vector up with the last axis: a row
            value = value.T
        (r, c), (rows, cols) = value.shape, self.rep(out)
        if r != rows:
            value = sympy.OneMatrix(rows, 1) * value
        if c != cols:
            value = value * sympy.OneMatrix(1, cols)
        return value

    def orient(self, value, out: tuple):
        """``value``, holding the entries of a node of dims ``out`` up to size-1 axes, in the
        matrix shape that stands for ``out``."""
        if not out:
            return self.scalar(value)
        shape = self.rep(out)
        if not self.is_matrix(value):
            return value * sympy.OneMatrix(*shape)
        if value.shape == shape:
            return value
        if value.shape == shape[::-1]:
            return value.T
        raise UnsupportedError(f"to_sympy(form='matrix'): cannot lay out a {value.shape} "
                               f"matrix as shape {D.fmt_shape(out)}")

    def broadcast(self, attrs: dict, args: list, ones: bool = False) -> list:
        return [self.spread(a, d, attrs["shape"], ones) for a, d in zip(args, self.arg_dims(attrs))]

    def entrywise(self, attrs: dict, args: list):
        """The node's op (an elementwise one) of ``args`` as ``(d ↦ f(d))∘(X)``."""
        return self.lambda_of(REGISTRY[attrs["op"]], dict(attrs["params"]), args)

    def bases(self, args: list) -> set:
        """The matrices ``args`` are elementwise functions of."""
        from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
        return {a.expr if isinstance(a, ElementwiseApplyFunction) else a
                for a in args if self.is_matrix(a)}

    def lambda_of(self, op, params: dict, args: list):
        """``op`` of a single matrix X (and scalars): ``(d ↦ f(d))∘(X)``."""
        from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
        bases = self.bases(args)
        if len(bases) != 1:
            raise UnsupportedError(f"to_sympy(form='matrix'): {op.name} of {len(bases)} "
                                   "different matrices has no matrix expression; use "
                                   "form='elements' for small static shapes")
        base, = bases
        scalars = [a.function(self.d) if isinstance(a, ElementwiseApplyFunction) else
                   self.d if a == base else a for a in args]
        return ElementwiseApplyFunction(sympy.Lambda(self.d, _scalar(op, params, scalars)), base)

    # -- leaves ------------------------------------------------------------------------
    def symbol(self, name: str, dims: tuple):
        if not dims:
            return sympy.Symbol(name, real=True)
        return sympy.MatrixSymbol(name, *self.rep(dims))

    def theirs(self, value, attrs: dict):
        """The caller's SymPy value for a symbol: a scalar expression, or a matrix
        expression of the shape that stands for the symbol's (a vector is a column)."""
        dims = attrs["shape"]
        if not dims:
            return _their_scalar(value, attrs)
        shape = self.rep(dims)
        if not self.is_matrix(value) or tuple(value.shape) != shape:
            raise SymgradError(f"to_sympy: symbols gives {value!r} for {attrs['name']!r} of shape "
                               f"{D.fmt_shape(dims)}; in the matrix form give a matrix "
                               f"expression of shape {shape}")
        return value

    def constant(self, value: np.ndarray, dims: tuple):
        if value.ndim == 0:
            return _number(value[()])
        flat = value.reshape(-1)
        if np.all(flat == flat[0]):
            number = _number(flat[0])
            shape = self.rep(dims)
            return sympy.ZeroMatrix(*shape) if number == 0 else number * sympy.OneMatrix(*shape)
        table = value.reshape(-1, 1) if value.ndim == 1 else value
        return sympy.ImmutableMatrix(_entries(table).tolist())


def _their_scalar(value, attrs: dict):
    """The caller's SymPy value for a scalar symbol: a SymPy expression, or a number made a
    SymPy number.  Nothing else is converted (SymPy's sympify parses strings, even inside a
    tuple, with ``eval``)."""
    if isinstance(value, (sympy.Basic, bool, int, float, np.number, np.bool_)):
        return _number(value)
    raise SymgradError(f"to_sympy: symbols gives {value!r} for the scalar {attrs['name']!r}; "
                       "give a SymPy expression, such as sympy.Symbol(name)")


def _given(g, exprs: list, symbols) -> dict:
    """``{symbol node: SymPy value}`` from ``{symgrad symbol or its name: SymPy value}`` (a
    name stands for every symbol of that name; keys the expressions do not use are ignored)."""
    if not symbols:
        return {}
    by_name: dict = {}
    for node in g.ancestors([e.node for e in exprs]):
        if g[node]["op"] == "symbol":
            by_name.setdefault(g[node]["name"], []).append(node)
    given = {}
    for key, value in symbols.items():
        if isinstance(key, str):
            for node in by_name.get(key, ()):
                given[node] = value
        elif isinstance(key, Expr) and key.op == "symbol":
            common_graph([g, key.g], "to_sympy")
            given[key.node] = value
        else:
            raise SymgradError(f"to_sympy: the keys of symbols are symgrad symbols or their "
                               f"names, got {key!r}")
    return given


def _form(exprs: list, form: str) -> str:
    """The form to use: ``"auto"`` is elements when every tensor is static and small."""
    if form not in FORMS:
        raise SymgradError(f"to_sympy: form must be one of {FORMS}, got {form!r}")
    for e in exprs:
        if not isinstance(e, Expr):
            raise SymgradError(f"to_sympy takes symgrad expressions, got {type(e).__name__} {e!r}")
    g = common_graph([e.g for e in exprs], "to_sympy")
    sizes = [D.size_of(g[n]["shape"]) for n in g.ancestors([e.node for e in exprs])]
    static = all(s is not None for s in sizes)
    if form == "auto":
        return "elements" if static and max(sizes, default=0) <= SMALL else "matrix"
    if form == "elements" and not static:
        raise UnsupportedError("to_sympy(form='elements'): the expression has named dimensions; "
                               "use form='matrix'")
    return form


def _translate(exprs: list, form: str, share: bool, keep_names: bool, symbols=None):
    """``(translator, values)`` for the expressions ``exprs`` of one graph; ``symbols`` maps
    symgrad symbols (or their names) to the caller's SymPy values for them.

    In the matrix form a Jacobian (or Hessian) of more than two axes is the matrix ``M`` with
    ``vec(dy) = M vec(dx)``: its directional derivative along a new symbol ``δ`` is
    translated, then written as Kronecker products (:func:`_vec_map`)."""
    kind = _Elements if _form(exprs, form) == "elements" else _Matrices
    g = exprs[0].g
    given = _given(g, exprs, symbols)
    directions = [None] * len(exprs)
    if kind is _Matrices:
        exprs, directions = _directional(exprs, given)
    translator = kind(g, [e.node for e in exprs], share, keep_names, given)
    values = translator.run()
    return translator, [v if d is None else _vec_map(_inlined(translator, v, d), d)
                        for v, d in zip(values, directions)]


def _directional(exprs: list, given: dict) -> tuple:
    """``(expressions, directions)``: each recorded Jacobian ``∂y/∂x`` of more than two axes
    replaced by ``jvp(y, x, δ)`` for a new symbol δ, its SymPy symbol put in ``given``."""
    out, directions = [], []
    for e in exprs:
        recorded = e.g.cache.get("jacobians", {}).get(e.node)
        if e.ndim <= 2 or recorded is None:
            out.append(e)
            directions.append(None)
            continue
        made = e.g.cache.setdefault("directional", {})  # built once per Jacobian
        if e.node not in made:
            y, x = (Expr(e.g, n) for n in recorded)
            with e.g:
                delta = symbol("δ", x.dims, x.dtype)
            made[e.node] = delta, jvp(y, x, delta)
        delta, derivative = made[e.node]
        given[delta.node] = sympy.MatrixSymbol("δ", *_Matrices.rep(delta.dims))
        out.append(derivative)
        directions.append(given[delta.node])
    return out, directions


def _inlined(translator: _Translator, value, delta):
    """``value`` with the replacement symbols that stand for expressions of ``delta`` put
    back (and dropped from the replacements), so the formula is visibly linear in it."""
    tainted, kept = [], []
    for s, v in translator.replacements:
        if v.has(delta) or any(v.has(t) for t, _ in tainted):
            tainted.append((s, v))
        else:
            kept.append((s, v))
    for s, v in reversed(tainted):
        value = value.xreplace({s: v})
    translator.replacements[:] = kept
    return value


def to_sympy(e, cse: bool = False, form: str = "auto",
             symbols: dict | None = None) -> "sympy.Basic | tuple":
    """``e`` (or a list of expressions) as SymPy; ``cse=True`` gives ``(replacements, expr)``.

    Symbols become real SymPy symbols of the same name, unless ``symbols`` gives the SymPy
    value to use: ``{x: sympy.Symbol("x")}`` (keys are symgrad symbols or their names; an
    array symbol takes an ``IndexedBase``, a ``Matrix`` or a ``MatrixSymbol``; keys the
    expression does not use are ignored), so results compare equal to the caller's own SymPy
    expressions.  ``form`` is ``"elements"`` (scalars,
    and small static tensors as a ``Matrix``/``Array`` of entries), ``"matrix"`` (matrix
    expressions such as ``W^T x``) or ``"auto"`` (elements when every tensor is small and
    static).  With ``cse=True`` each node used more than once, and each named intermediate,
    is a replacement symbol defined in the list, in order.

    >>> x, y, z = sg.scalars("x y z")
    >>> sg.to_sympy(sg.grad((x + y) * z, x))
    z
    >>> t = sympy.Symbol("t")
    >>> sg.to_sympy(sg.diff(sg.sin(x), x), symbols={x: t}) == sympy.cos(t)
    True
    """
    single = not isinstance(e, (list, tuple))
    translator, values = _translate([e] if single else list(e), form, share=cse, keep_names=cse,
                                    symbols=symbols)
    result = values[0] if single else values
    return (translator.replacements, result) if cse else result


@functools.cache
def _classes():
    """SymPy classes of our own (made on first use, as SymPy is imported lazily)."""
    from sympy.matrices.expressions.matexpr import MatrixElement
    from sympy.printing.precedence import PRECEDENCE

    class Entry(MatrixElement):
        """The entry of a 1 x 1 matrix product, kept as the product (``xᵀ y``, not
        ``Σᵢ xᵢ yᵢ``) when SymPy evaluates the expressions around it."""
        precedence = PRECEDENCE["Mul"]  # printed in parentheses as a power's base

        def doit(self, **hints):
            parent = self.parent.doit(**hints)
            if isinstance(parent, sympy.MatrixBase):
                return parent[0, 0]
            return self.func(parent, *self.indices)

    class Vec(sympy.MatrixExpr):
        """``vec(A)``: the columns of ``A`` stacked into one column (the Matrix Cookbook's)."""

        @property
        def shape(self) -> tuple:
            rows, cols = self.args[0].shape
            return rows * cols, sympy.Integer(1)

        def _entry(self, i, j, **kwargs):
            rows = self.args[0].shape[0]
            return self.args[0][i % rows, i // rows]

        def _latex(self, printer) -> str:
            return rf"\operatorname{{vec}}\left({printer._print(self.args[0])}\right)"

    class Commutation(sympy.MatrixExpr):
        """``K_{m,n}``, the permutation with ``vec(Aᵀ) = K_{m,n} vec(A)`` for A of m x n."""

        @property
        def shape(self) -> tuple:
            m, n = self.args
            return m * n, m * n

        def _entry(self, i, j, **kwargs):
            m, n = self.args
            return sympy.Integer(int(j % m == i // n and j // m == i % n))

        def _latex(self, printer) -> str:
            m, n = (printer._print(a) for a in self.args)
            return f"K_{{{m},{n}}}"

    class Extreme(sympy.MatrixExpr):
        """The largest (``Max``) or smallest (``Min``) entry of each row (axis 1: a column),
        of each column (axis 0: a row) or of the whole matrix (axis -1: 1 x 1)."""

        @property
        def shape(self) -> tuple:
            x, axis = self.args[1], self.args[2]
            one = sympy.Integer(1)
            return {1: (x.shape[0], one), 0: (one, x.shape[1])}.get(axis, (one, one))

        def _entry(self, i, j, **kwargs):
            kind, x, axis = self.args
            rows, cols = x.shape
            if axis == 1:
                return getattr(sympy, kind.name)(*(x[i, c] for c in range(cols)))
            if axis == 0:
                return getattr(sympy, kind.name)(*(x[r, j] for r in range(rows)))
            return getattr(sympy, kind.name)(*(x[r, c] for r in range(rows) for c in range(cols)))

        def _latex(self, printer) -> str:
            kind, x, axis = self.args
            where = {1: r"_{\text{row}}", 0: r"_{\text{col}}"}.get(int(axis), "")
            return rf"\{kind.name.lower()}{where}\left({printer._print(x)}\right)"

    class Softmax(sympy.MatrixExpr):
        """``softmax`` of each row: ``diag((e^Z 𝟙)^{∘-1}) e^Z``."""

        @property
        def shape(self) -> tuple:
            return self.args[0].shape

        def _entry(self, i, j, **kwargs):
            z = self.args[0]
            return sympy.exp(z[i, j]) / sum(sympy.exp(z[i, c]) for c in range(z.shape[1]))

        def _latex(self, printer) -> str:
            return rf"\operatorname{{softmax}}\left({printer._print(self.args[0])}\right)"

    return types.SimpleNamespace(Entry=Entry, Vec=Vec, Commutation=Commutation, Extreme=Extreme,
                                 Softmax=Softmax)


def _softmax_rows(value):
    """``value`` with ``diag(h ∘ (E 𝟙)^{∘-1}) E`` written ``diag(h) softmax(Z)`` where
    ``E = e^{Z - c 𝟙ᵀ}``: the rows normalised, the shift (any column c: the max that keeps
    exp from overflowing) left out, as softmax does not see it."""
    from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

    def is_exp(e) -> bool:
        return isinstance(e, ElementwiseApplyFunction) and \
            e.function.expr == sympy.exp(e.function.variables[0])

    def unshifted(z):
        terms = z.args if isinstance(z, sympy.MatAdd) else (z,)
        kept = [t for t in terms if _spread(-t, 1) is None]
        return sympy.MatAdd(*kept) if len(kept) > 1 else kept[0]

    def fold(product):
        args = list(product.args)
        for i in range(len(args) - 1):
            diagonal, e = args[i], args[i + 1]
            if not isinstance(diagonal, sympy.DiagMatrix) or not is_exp(e):
                continue
            h = diagonal.args[0]
            factors = list(h.args) if isinstance(h, sympy.HadamardProduct) else [h]
            norm = sympy.HadamardPower(e * sympy.OneMatrix(e.shape[1], 1), -1)
            if norm in factors:
                factors.remove(norm)
                rest = [sympy.DiagMatrix(_entrywise(factors))] if factors else []
                args[i:i + 2] = rest + [_classes().Softmax(unshifted(e.expr))]
                return sympy.MatMul(*args)
        return product
    return value.replace(lambda e: isinstance(e, sympy.MatMul), fold)


# -- Jacobians of and wrt matrices as matrices: vec(dY) = M vec(dX) -------------------------
def _vec_map(e, v) -> "sympy.MatrixExpr":
    """The matrix ``M`` with ``vec(e) = M vec(v)``, for a matrix expression ``e`` linear in
    the matrix symbol ``v``, by ``vec(A V B) = (Bᵀ ⊗ A) vec(V)``, ``vec(Vᵀ) = K vec(V)``,
    ``vec(A ∘ V) = diag(vec A) vec(V)`` and ``vec(s(V) C) = vec(C) (∂s/∂vec V)``.  The walk
    is over the printed formula (a few nodes deep), not over a graph."""
    rows, cols = e.shape
    if not e.has(v):
        return sympy.ZeroMatrix(rows * cols, v.shape[0] * v.shape[1])
    if e == v:
        return sympy.Identity(rows * cols)
    if isinstance(e, sympy.Transpose):
        return _classes().Commutation(*e.arg.shape) * _vec_map(e.arg, v)
    if isinstance(e, sympy.DiagMatrix):  # diag(u) = I ∘ (u 𝟙ᵀ)
        return _vec_map(sympy.HadamardProduct(sympy.Identity(rows),
                                              e.args[0] * sympy.OneMatrix(1, rows)), v)
    if isinstance(e, sympy.MatAdd):
        return _grouped_sum([_vec_map(t, v) for t in e.args])
    if isinstance(e, sympy.MatMul):
        coeff, factors = e.as_coeff_matrices()
        if coeff.has(v):  # a scalar linear in v times a constant matrix
            rest = _chain(factors, None)
            if rest.has(v):
                raise _not_linear(e)
            return _classes().Vec(rest) * _linear_form(coeff, v)
        k, = _the_one(factors, v, e)
        inner = factors[k]
        left, right = _chain(factors[:k], inner.shape[0]), _chain(factors[k + 1:], inner.shape[1])
        return coeff * sympy.kronecker_product(right.T, left) * _vec_map(inner, v)
    if isinstance(e, sympy.HadamardProduct):
        k, = _the_one(e.args, v, e)
        others = [a for i, a in enumerate(e.args) if i != k]
        weight = others[0] if len(others) == 1 else sympy.HadamardProduct(*others)
        return sympy.DiagMatrix(_classes().Vec(weight)) * _vec_map(e.args[k], v)
    raise _not_linear(e)


def _linear_form(s, v) -> "sympy.MatrixExpr":
    """The row ``r`` with ``s = r vec(v)``, for a scalar ``s`` linear in ``v``."""
    if not s.has(v):
        return sympy.ZeroMatrix(1, v.shape[0] * v.shape[1])
    if isinstance(s, sympy.Add):
        return _grouped_sum([_linear_form(t, v) for t in s.args])
    if isinstance(s, sympy.Mul):
        k, = _the_one(s.args, v, s)
        return sympy.Mul(*(a for i, a in enumerate(s.args) if i != k)) * _linear_form(s.args[k], v)
    if isinstance(s, sympy.Trace):  # tr(c L F R) = c vec((R L)ᵀ)ᵀ vec(F)
        coeff, factors = _coeff_matrices(s.arg)
        k, = _the_one(factors, v, s)
        if coeff.has(v):
            raise _not_linear(s)
        turned = _chain(factors[k + 1:] + factors[:k], factors[k].shape[1])
        return coeff * _classes().Vec(turned.T).T * _vec_map(factors[k], v)
    if isinstance(s, _classes().Entry):
        return _vec_map(s.parent, v)
    raise _not_linear(s)


def _chain(factors: list, size):
    """The matrix product of ``factors``; with none, the identity of ``size``."""
    if not factors:
        return sympy.Identity(size)
    return factors[0] if len(factors) == 1 else sympy.MatMul(*factors)


def _the_one(factors, v, e) -> list:
    """``[k]``, the position of the only factor of ``e`` that holds ``v``."""
    holding = [k for k, f in enumerate(factors) if f.has(v)]
    if len(holding) != 1:
        raise _not_linear(e)
    return holding


def _not_linear(e) -> UnsupportedError:
    return UnsupportedError(f"to_sympy(form='matrix'): cannot write the derivative {e} as a "
                            "Kronecker-product matrix; use form='elements' for small static shapes")


def _grouped_sum(terms: list) -> "sympy.MatrixExpr":
    """The sum, Kronecker products with the same left factor gathered, ``I ⊗ A + I ⊗ B =
    I ⊗ (A + B)``, so no factor is written twice."""
    groups: dict = {}
    others = []
    for t in terms:
        coeff, factors = _coeff_matrices(t)
        if len(factors) == 1 and isinstance(factors[0], sympy.KroneckerProduct) \
                and len(factors[0].args) == 2:
            left, right = factors[0].args
            groups.setdefault(left, []).append(coeff * right)
        else:
            others.append(t)
    merged = []
    for left, rights in groups.items():
        total = sympy.MatAdd(*rights).doit() if len(rights) > 1 else rights[0]
        coeff, factors = _coeff_matrices(total)
        merged.append(coeff * sympy.kronecker_product(left, _chain(factors, None)))
    return sympy.MatAdd(*merged, *others).doit()


# -- LaTeX ----------------------------------------------------------------------------------
@functools.cache
def _printer_class() -> type:
    """SymPy's LaTeX printer, with 𝟙 for the ones matrix and ``f(X)`` for f applied
    entrywise (made on first use: SymPy is imported when a formula is asked for)."""
    from sympy.printing.latex import LatexPrinter

    class Printer(LatexPrinter):
        def _print_OneMatrix(self, expr) -> str:
            return r"\mathbb{1}"

        def _print_DiagMatrix(self, expr) -> str:
            return rf"\operatorname{{diag}}\left({self._print(expr.args[0])}\right)"

        def _print_MatMul(self, expr) -> str:  # - (A ⊗ B) K keeps its parentheses
            if expr.could_extract_minus_sign():
                return "- " + self._print(-expr)
            return super()._print_MatMul(expr)

        def _print_MatrixElement(self, expr) -> str:
            if expr.parent.shape == (1, 1):  # the entry of a 1 x 1 product: the product
                return self._print(expr.parent)
            return super()._print_MatrixElement(expr)

        def _print_ElementwiseApplyFunction(self, expr) -> str:
            var, body = expr.function.variables[0], expr.function.expr
            inner = self._print(expr.expr)
            if not _atomic(expr.expr) and any(var in node.args and not isinstance(node, sympy.Function)
                                              for node in sympy.preorder_traversal(body)):
                inner = rf"\left({inner}\right)"  # f(X) has its parentheses, -X and X > 0 need them
            names = self._settings["symbol_names"]
            self._settings["symbol_names"] = {**names, var: inner}
            try:
                return self._print(body)
            finally:
                self._settings["symbol_names"] = names
    return Printer


def latex(e, cse: bool = False, form: str = "auto") -> str:
    """A LaTeX string of the formula; named intermediates print by name, their definitions
    listed after it (``cse=True`` also names every shared subexpression).

    >>> sg.latex(sg.diff(sg.exp(sg.sin(x)), x))
    'e^{\\\\sin{\\\\left(x \\\\right)}} \\\\cos{\\\\left(x \\\\right)}'
    """
    translator, (value,) = _translate([e], form, share=cse, keep_names=True)
    printer = _printer_class()()
    text = printer.doprint(_sigma(value))
    if translator.replacements:
        text += r" \quad \text{where} \quad " + r", \; ".join(
            f"{printer.doprint(s)} = {printer.doprint(_sigma(v))}"
            for s, v in translator.replacements)
    return text


def _sigma(value):
    """``value`` with the logistic sigmoid ``1 / (1 + e^{-u})`` written ``σ(u)`` (to print)."""
    def exponential(e):
        return next((a for a in e.base.args if isinstance(a, sympy.exp)), None)

    def is_sigmoid(e) -> bool:
        return (isinstance(e, sympy.Pow) and e.exp == -1 and isinstance(e.base, sympy.Add)
                and len(e.base.args) == 2 and sympy.Integer(1) in e.base.args
                and exponential(e) is not None)
    return value.replace(is_sigmoid, lambda e: sympy.Function("sigma")(-exponential(e).args[0]))


def sympy_simplify(e: Expr) -> Expr:
    """``e`` simplified by SymPy, a scalar whole and a small static tensor entry by entry,
    rebuilt as a graph over the same symbols.

    Other expressions (named dimensions, large tensors), and results SymPy writes with
    functions symgrad lacks, come back as they are: simplification never fails.

    >>> sg.simplify(sg.sin(x) ** 2 + sg.cos(x) ** 2, sympy=True)    # 1
    """
    if _form([e], "auto") != "elements":
        return e
    try:
        translator, (value,) = _translate([e], "elements", share=False, keep_names=False)
        symbols = {name: Expr(e.g, node) for name, node in translator.leaves.items()}
        simpler = value.applyfunc(sympy.simplify) if e.ndim else sympy.simplify(value)
        return from_sympy(simpler, symbols)
    except UnsupportedError:
        return e


# -- SymPy to graph -------------------------------------------------------------------------
def _sympy_ops() -> dict:
    """``{SymPy class: op name}``: an op whose ``sympy`` rule, applied to fresh symbols, is
    one SymPy function of exactly those symbols (``exp(a)``, ``Max(a, b)``) maps back from
    that function (user-defined ops included)."""
    table: dict = {}
    for name, op in REGISTRY.items():
        if not op.elementwise or op.sympy is None or op.arity is None:
            continue
        dummies = sympy.symbols(f"a0:{op.arity}", real=True)
        try:
            value = op.sympy(*dummies)
        except TypeError:  # a rule that needs parameters, or booleans
            continue
        if not value.is_Atom and len(value.args) == op.arity and set(value.args) == set(dummies):
            table.setdefault(type(value), name)
    return table


def _fraction(node) -> tuple:
    """A product as ``(sign, numerator factors, denominator factors)``: negative powers and a
    rational coefficient's denominator go below the line, so ``-x/(2y)`` is ``-(x / (2y))``."""
    factors = node.args if isinstance(node, sympy.Mul) else (node,)
    sign, num, den = 1, [], []
    for f in factors:
        if f.is_Rational:
            sign *= -1 if f < 0 else 1
            p, q = abs(f.p), f.q
            num += [sympy.Integer(p)] if p != 1 else []
            den += [sympy.Integer(q)] if q != 1 else []
        elif f.is_Pow and f.exp.is_Number and f.exp < 0:
            den.append(f.base ** -f.exp)
        else:
            num.append(f)
    return sign, num, den


def _product(xs: list, graph) -> Expr:
    return functools.reduce(operator.mul, xs) if xs else constant(1.0, graph=graph)


class _Builder:
    """The plan for each SymPy node: its children, and how to make its graph from theirs."""

    def __init__(self, symbols: dict, graph) -> None:
        self.symbols = symbols
        self.graph = graph
        # by id (hashing a deep unevaluated SymPy tree would recurse); an entry keeps its
        # SymPy node alive, so no id is reused
        self.built: dict = {}
        self.ops = _sympy_ops()

    def build(self, expr) -> Expr:
        """The graph of ``expr``, children first, with an explicit stack."""
        built, plans, stack = self.built, {}, [expr]
        while stack:
            node = stack[-1]
            if id(node) in built:
                stack.pop()
            elif id(node) not in plans:
                plans[id(node)] = self.plan(node)
                stack.extend(c for c in plans[id(node)][0] if id(c) not in built)
            else:
                children, make = plans.pop(id(node))
                built[id(node)] = node, make(*(built[id(c)][1] for c in children))
                stack.pop()
        return built[id(expr)][1]

    def leaf(self, name: str) -> Expr:
        if name not in self.symbols:
            self.symbols[name] = symbol(name)
        return self.symbols[name]

    def number(self, node) -> Expr:
        if node.is_Boolean:
            return constant(bool(node), graph=self.graph)
        try:
            return constant(float(node), np.float64, self.graph)
        except TypeError:
            raise UnsupportedError(f"from_sympy: {node} is not a real number") from None

    def plan(self, node) -> tuple:
        """``(children, make)``: ``make(*graphs of the children)`` is the node's graph."""
        if isinstance(node, sympy.Symbol):
            return (), lambda: self.leaf(node.name)
        if isinstance(node, sympy.Indexed):
            array = self.symbols.get(node.base.name)
            if array is None:
                raise SymgradError(f"from_sympy: {node} indexes {node.base.name!r}, which is "
                                   "not among the given symbols")
            return (), lambda: array[tuple(int(i) for i in node.indices)]
        if node.is_Number or node.is_NumberSymbol or isinstance(node, sympy.logic.boolalg.BooleanAtom):
            return (), lambda: self.number(node)
        if isinstance(node, sympy.Add):
            return node.args, lambda *xs: functools.reduce(operator.add, xs)
        if isinstance(node, sympy.Mul) or node.is_Pow and node.exp.is_Number and node.exp < 0:
            sign, num, den = _fraction(node)
            def make(*xs):
                out = _product(list(xs[:len(num)]), self.graph)
                out = out / _product(list(xs[len(num):]), self.graph) if den else out
                return -out if sign < 0 else out
            return num + den, make
        if node.is_Pow:
            base, exp = node.args
            if exp.is_Integer:
                return (base,), lambda b: int_power(b, int(exp))
            if exp == sympy.S.Half:
                return (base,), sqrt
            if base == sympy.E:
                return (exp,), lambda x: apply("exp", x)
            return (base, exp), power
        if isinstance(node, sympy.Piecewise):
            pairs = node.args
            def make(*xs):
                out = constant(np.nan, np.float64, self.graph)
                for k in reversed(range(len(pairs))):
                    out = where(xs[2 * k + 1], xs[2 * k], out)
                return out
            return tuple(part for pair in pairs for part in pair), make
        name = self.ops.get(type(node))
        if name is None:
            raise UnsupportedError(f"from_sympy: SymPy's {type(node).__name__} (in {node}) has "
                                   "no symgrad op")
        def make(*xs):  # Max and Min take any number of arguments
            return apply(name, *xs) if len(xs) <= 2 else functools.reduce(
                lambda a, b: apply(name, a, b), xs)
        return node.args, make


def from_sympy(expr, symbols: dict | None = None) -> Expr:
    """A symgrad expression for the SymPy expression (or ``Matrix``/``Array``) ``expr``.

    SymPy functions map to the ops whose ``sympy`` rule they are (``exp``, ``Abs``, ``Max``,
    comparisons...), integer powers to ``int_power``, ``Piecewise`` to ``where``, numbers
    (``pi``, rationals) to float64 constants.  A symbol maps to ``symbols[symbol or its
    name]``, else to a new scalar of its name (in the default graph); an ``Indexed`` entry
    ``A[i, j]`` to an entry of ``symbols["A"]``.  Other functions raise an error naming them.
    The walk uses an explicit stack; a subexpression SymPy shares is built once (and equal
    ones are one node anyway, by hash-consing).

    >>> s = sympy.Symbol("s")
    >>> f = sg.from_sympy(sympy.exp(-s**2) * sympy.cos(s))
    """
    given = {(k.name if isinstance(k, sympy.Basic) else k): v for k, v in (symbols or {}).items()}
    exprs = [v for v in given.values() if isinstance(v, Expr)]
    builder = _Builder(given, common_graph([v.g for v in exprs], "from_sympy"))
    if isinstance(expr, (sympy.MatrixBase, sympy.NDimArray)):
        entries = [builder.build(v) for v in sympy.flatten(expr.tolist())]
        return reshape(stack(entries), tuple(int(d) for d in expr.shape))
    if not isinstance(expr, sympy.Basic):
        raise SymgradError(f"from_sympy takes a SymPy expression, got {type(expr).__name__}")
    return builder.build(expr)


def simplify(e: Expr, sympy: bool = False) -> Expr:
    """Rebuild ``e`` through the rewrite rules (folding, identities, stable forms; sharing
    comes from hash-consing); ``sympy=True`` also simplifies scalar parts with SymPy.

    >>> sg.simplify(x * 1 + 0)       # x
    """
    result = rebuild(e)
    return sympy_simplify(result) if sympy else result
