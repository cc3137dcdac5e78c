"""Linear algebra: ``matmul``, ``transpose``, ``einsum``, ``diagonal``, ``trace``, ``triu`` and
``tril`` are primitives (NumPy semantics, 1-D operands and leading axes included); ``dot``,
``outer``, ``tensordot`` (an einsum), ``diag``, ``cross`` and ``kron`` are built from them."""
from __future__ import annotations

import numpy as np

from .. import dims as D
from .. import runtime
from ..dtypes import result_dtype
from ..errors import ShapeError, UnsupportedError
from ..expr import Batched, Expr, apply, as_expr, expr_method
from ..lazy import sympy
from ..op import Op, register
from .band import band
from .banded import LOST
from .contraction import Term, made
from .shape import FULL, broadcast_to, expand_dims, lift, reshape, stack


def _matmul_infer(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must have at least one dimension, got shapes "
                         f"{D.fmt_shape(a.dims)} @ {D.fmt_shape(b.dims)}; use * for scalars")
    da = (1,) + a.dims if a.ndim == 1 else a.dims
    db = b.dims + (1,) if b.ndim == 1 else b.dims
    if da[-1] != db[-2]:
        raise ShapeError(f"matmul: inner dimensions differ, {da[-1]!r} against {db[-2]!r} "
                         f"(operand shapes {D.fmt_shape(a.dims)} @ {D.fmt_shape(b.dims)})")
    batch = D.broadcast_shapes("matmul", [da[:-2], db[:-2]], ["a", "b"])
    shape = batch + (() if a.ndim == 1 else (da[-2],)) + (() if b.ndim == 1 else (db[-1],))
    return shape, result_dtype([a, b])


def swap_last(x: Expr) -> Expr:
    """``x`` with its last two axes exchanged (the batched matrix transpose)."""
    axes = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return apply("transpose", x, axes=axes)


def _matmul_vjp_a(g, out, a, b):
    """ā = ḡ bᵀ (with 1-D operands promoted as NumPy does)."""
    if a.ndim == 1 and b.ndim == 1:
        return g * b
    if b.ndim == 1:
        return expand_dims(g, g.ndim) * b
    if a.ndim == 1:
        return matmul(b, expand_dims(g, g.ndim))[..., 0] if g.ndim > 1 else matmul(b, g)
    return matmul(g, swap_last(b))


def _matmul_vjp_b(g, out, a, b):
    """b̄ = aᵀ ḡ (with 1-D operands promoted as NumPy does)."""
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if a.ndim == 1:
        return expand_dims(a, 1) * expand_dims(g, g.ndim - 1)
    if b.ndim == 1:
        if a.ndim == 2:
            return matmul(g, a)
        return matmul(swap_last(a), expand_dims(g, g.ndim))[..., 0]
    return matmul(swap_last(a), g)


def _matmul_jvp(tangents, out, a, b):
    """(a @ b)˙ = ȧ @ b + a @ ḃ."""
    ta, tb = tangents
    left = None if ta is None else matmul(ta, b)
    right = None if tb is None else matmul(a, tb)
    return right if left is None else left if right is None else left + right


def _matmul_batch(nb, batched, a, b):
    """``a @ b`` over a batch: one matrix product where NumPy can broadcast, else 1-D
    operands promoted to matrices, both lifted to one rank, and the promoted axes dropped."""
    (ba, bb), ra, rb = batched, a.ndim - nb * batched[0], b.ndim - nb * batched[1]
    if ba and not bb and rb <= 2:
        return matmul(a, b)  # rows of a batch of a times b: NumPy stacks them
    if bb and not ba and rb == 1 and ra <= 2:
        return matmul(b, a) if ra == 1 else matmul(b, swap_last(a))  # (a bᵢ)ᵢ = (bᵢᵀ aᵀ)ᵢ
    if ra == 1:
        a = expand_dims(a, nb if ba else 0)
    if rb == 1:
        b = expand_dims(b, b.ndim)
    rank = max(a.ndim - nb * ba, b.ndim - nb * bb)
    a = lift(a, nb, rank) if ba else a
    b = lift(b, nb, rank) if bb else b
    out = matmul(a, b)
    if rb == 1:
        out = out[..., 0]
    if ra == 1:
        out = out[..., 0, :] if rb != 1 else out[..., 0]
    return out


def _matmul_band(tangents, out, a, b):
    """``A @ x`` with diagonal seeds ``c`` on x: the dense batch is ``(A · c)ᵀ``, no product."""
    ta, tb = tangents
    if ta is not None or a.ndim != 2 or b.ndim != 1 or list(tb.bands) != [(0,)] \
            or tb.xdims != b.dims:
        return LOST
    return Batched(transpose(a * tb.bands[(0,)]), 1)


def _matmul_contraction(tangents, out, a, b):
    """``ȧ @ b + a @ ḃ`` for matrices and vectors: the other operand joins each term with a
    fresh letter for its free axis, sharing the letter of the contracted one."""
    if a.ndim > 2 or b.ndim > 2:
        return LOST
    terms, xdims = [], None
    for k, t in enumerate(tangents):
        if t is None:
            continue
        xdims = t.xdims
        for term in t.terms:
            free = term.fresh(t.seeds)
            if free is None:
                return LOST
            if k == 0:  # ȧ @ b: b's rows meet ȧ's last axis
                inner = term.out[-1]
                factor = inner + free if b.ndim == 2 else inner
                kept = term.out[:-1] + (free if b.ndim == 2 else "")
                terms.append(Term(term.factors + ((b, factor),), kept))
            else:  # a @ ḃ: a's last axis meets ḃ's first
                inner = term.out[0]
                factor = free + inner if a.ndim == 2 else inner
                kept = (free if a.ndim == 2 else "") + term.out[1:]
                terms.append(Term(term.factors + ((a, factor),), kept))
    return made(terms, xdims)


def _matmul_matrix(tr, attrs, a, b):
    da, db = tr.arg_dims(attrs)
    if len(da) == 1 and len(db) == 1:
        return tr.scalar(a.T * b)
    return b.T * a if len(da) == 1 else a * b


def _matmul_terms(shapes, out_shape, params, values=(None, None)):
    """The terms ``a[..., i, k] · b[..., k, j]`` of the output entries ``[..., i, j]``:
    ``(output entry, entry of a, entry of b)``, without those where an operand given in
    ``values`` (a constant) is zero."""
    def promoted(k):  # operand k's entry numbers as a matrix, b transposed to [..., j, k]
        n = np.arange(int(np.prod(shapes[k], dtype=np.int64))).reshape(shapes[k])
        if len(shapes[k]) == 1:
            n = n[None, :] if k == 0 else n[:, None]
        return n if k == 0 else np.swapaxes(n, -1, -2)
    a, b = promoted(0), promoted(1)
    out = np.arange(int(np.prod(out_shape, dtype=np.int64))).reshape(
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-2]))
    rows, a, b = np.broadcast_arrays(out[..., None], a[..., :, None, :], b[..., None, :, :])
    keep = np.ones(rows.shape, bool)
    for entries, value in zip((a, b), values):
        if value is not None:
            keep &= np.asarray(value).ravel()[entries] != 0
    return rows[keep], a[keep], b[keep]


def _matmul_sparsity(position, shapes, out_shape, params, values):
    """Output entry ``[..., i, j]`` reads ``a[..., i, k]`` and ``b[..., k, j]`` for every
    ``k`` where the other operand, if it is a constant, is nonzero."""
    other = [values[0], values[1]]
    other[position] = None
    terms = _matmul_terms(shapes, out_shape, params, other)
    return terms[0], terms[1 + position]


register(Op("matmul", _matmul_infer, np.matmul, infix="@",
            vjp=(_matmul_vjp_a, _matmul_vjp_b), jvp=_matmul_jvp, batch=_matmul_batch,
            band=_matmul_band, contraction=_matmul_contraction, sympy_matrix=_matmul_matrix,
            sparsity=_matmul_sparsity,
            curvature=lambda shapes, out_shape, params:
            [(0, 1, _matmul_terms(shapes, out_shape, params))],
            samples=tuple(((sa, sb), {}) for sa, sb in [
                ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 4)),
                ((4, 3), (2, 3, 2)), ((2, 1, 2, 3), (3, 3, 2)), ((3,), (2, 3, 4)), ((2, 4, 3), (3,))]),
            doc="matrix product with NumPy's rules"))


def matmul(a, b) -> Expr:
    """Matrix product ``a @ b`` with NumPy's rules (1-D operands, batch broadcasting).

    >>> sg.matmul(X, W)
    """
    return apply("matmul", a, b)


def _transpose_emit(args, params, ctx):
    axes = params["axes"]
    if axes == tuple(reversed(range(len(axes)))):
        return f"{args[0]}.T"
    return f"np.transpose({args[0]}, {axes})"


def _transpose_infer(x, axes):
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of the axes of an operand "
                         f"of shape {D.fmt_shape(x.dims)}")
    return tuple(x.dims[i] for i in axes), x.dtype


register(Op("transpose", _transpose_infer, np.transpose, emit=_transpose_emit,
            vjp=(lambda g, out, x, axes: apply("transpose", g, axes=tuple(np.argsort(axes).tolist())),),
            jvp=lambda tangents, out, x, axes: apply("transpose", tangents[0], axes=axes),
            batch=lambda nb, batched, x, axes: apply(
                "transpose", x, axes=tuple(range(nb)) + tuple(a + nb for a in axes)),
            contraction=lambda tangents, out, x, axes: made(
                [Term(t.factors, "".join(t.out[i] for i in axes)) for t in tangents[0].terms],
                tangents[0].xdims),
            sympy_matrix=lambda tr, attrs, x: x.T, moves=True, view=True,
            samples=((((2, 3),), dict(axes=(1, 0))), (((2, 3, 4),), dict(axes=(1, 2, 0)))),
            sparsity="entries", curvature=(),
            doc="permutes the axes"))


def transpose(x, axes=None) -> Expr:
    """Permute axes; by default reverse them (``x.T``).

    >>> sg.transpose(W)
    """
    x = as_expr(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(a % max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of the axes of an operand "
                         f"of shape {D.fmt_shape(x.dims)}")
    return x if axes == tuple(range(x.ndim)) else apply("transpose", x, axes=axes)


Expr.T = property(transpose, doc="The axes reversed, as NumPy's ``.T``.")


def dot(a, b) -> Expr:
    """``np.dot`` for operands of up to two dimensions (scalars multiply).

    >>> sg.dot(w, x)
    """
    a = as_expr(a, b if isinstance(b, Expr) else None)
    b = as_expr(b, a)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim > 2 or b.ndim > 2:
        raise UnsupportedError(f"dot: operands of more than two dimensions (shapes "
                               f"{D.fmt_shape(a.dims)}, {D.fmt_shape(b.dims)}) are not "
                               "supported; use sg.matmul")
    return matmul(a, b)


def outer(a, b) -> Expr:
    """Outer product of the flattened operands, shape ``(a.size, b.size)``.

    >>> sg.outer(u, v)
    """
    a, b = reshape(as_expr(a), (-1,)), reshape(as_expr(b), (-1,))
    return expand_dims(a, 1) * expand_dims(b, 0)


# -- einsum and tensordot -----------------------------------------------------------------------
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _split(subscripts: str) -> tuple:
    """``"ab,bc->ac"`` as ``(["ab", "bc"], "ac")``."""
    inputs, output = subscripts.split("->")
    return inputs.split(","), output


def _einsum_sizes(terms: list, output: str, xs: list, spec: str) -> dict:
    """``{letter: size}`` for operands ``xs`` labelled by ``terms``; sizes 1 broadcast, as in
    NumPy.  A ShapeError names the subscripts and the operands' shapes."""
    shapes = ", ".join(D.fmt_shape(x.dims) for x in xs)
    if len(terms) != len(xs):
        raise ShapeError(f"einsum: the subscripts {spec!r} name {len(terms)} operand(s), "
                         f"got {len(xs)} (shapes {shapes})")
    sizes: dict = {}
    for k, (t, x) in enumerate(zip(terms, xs)):
        if len(t) != x.ndim:
            raise ShapeError(f"einsum: the subscripts {t!r} of operand {k} name {len(t)} axes, "
                             f"but it has shape {D.fmt_shape(x.dims)} (subscripts {spec!r})")
        for c, d in zip(t, x.dims):
            seen = sizes.setdefault(c, d)
            if d != seen and d != 1:
                if seen != 1:
                    raise ShapeError(f"einsum: the axis {c!r} has size {d!r} in operand {k} but "
                                     f"{seen!r} elsewhere (subscripts {spec!r}, operand shapes "
                                     f"{shapes})")
                sizes[c] = d
    if len(set(output)) != len(output) or not set(output) <= set(sizes):
        raise ShapeError(f"einsum: the output subscripts {output!r} must name distinct axes of "
                         f"the operands (subscripts {spec!r})")
    return sizes


def _einsum_infer(*xs, subscripts):
    terms, output = _split(subscripts)
    sizes = _einsum_sizes(terms, output, list(xs), subscripts)
    return tuple(sizes[c] for c in output), result_dtype(xs)


def _einsum_emit(args, params, ctx):
    """Two operands: NumPy's einsum (one BLAS product where it can); one or more than two:
    the runtime's (a copy, never a view; a contraction order with large intermediates)."""
    if len(args) == 2:
        return f"np.einsum({params['subscripts']!r}, {', '.join(args)}, optimize=True)"
    return f"rt.einsum({params['subscripts']!r}, {', '.join(args)})"


class _EinsumVJP:
    """The adjoint of operand k is the einsum of the cotangent with the other operands, its
    letters found nowhere else (summed in the forward pass) broadcast back."""

    def __getitem__(self, k: int):
        def rule(g, out, *xs, subscripts):
            terms, output = _split(subscripts)
            others = [j for j in range(len(xs)) if j != k]
            have = set(output).union(*(terms[j] for j in others))
            target = terms[k]
            keep = "".join(c for c in target if c in have)
            spec = ",".join([output] + [terms[j] for j in others]) + "->" + keep
            adjoint = einsum(spec, g, *(xs[j] for j in others))
            if keep == target:
                return adjoint
            missing = tuple(i for i, c in enumerate(target) if c not in have)
            adjoint = expand_dims(adjoint, missing)
            return broadcast_to(adjoint, tuple(xs[k].dims[i] if i in missing else d
                                               for i, d in enumerate(adjoint.dims)))
        return rule


def _einsum_jvp(tangents, out, *xs, subscripts):
    """Linear in each operand: Σₖ einsum(x₁, …, ẋₖ, …, xₘ)."""
    total = None
    for k, t in enumerate(tangents):
        if t is not None:
            term = apply("einsum", *xs[:k], t, *xs[k + 1:], subscripts=subscripts)
            total = term if total is None else total + term
    return total


def _einsum_batch(nb, batched, *xs, subscripts):
    """Fresh letters for the batch axes, in front of the batched operands and the output."""
    terms, output = _split(subscripts)
    lead = "".join([c for c in _LETTERS if c not in subscripts][:nb])
    terms = [lead + t if b else t for t, b in zip(terms, batched)]
    return einsum(",".join(terms) + "->" + lead + output, *xs)


def _einsum_matrix(tr, attrs, *args):
    """Operands of up to two axes as one SymPy array contraction (columns carry a size-1
    axis, summed letters a contraction with 𝟙), turned into a matrix expression:
    ``"ij,jk->ik"`` is ``A B``, ``"ij,ji->"`` is ``tr(A B)``."""
    from sympy.tensor.array.expressions import (ArrayContraction, ArrayTensorProduct,
                                                PermuteDims)
    from sympy.tensor.array.expressions.from_array_to_matrix import convert_array_to_matrix
    terms, output = _split(dict(attrs["params"])["subscripts"])
    dims = tr.arg_dims(attrs)
    sizes = dict(zip("".join(terms), (d for ds in dims for d in ds)))
    scale, factors, labels = sympy.Integer(1), [], []
    for t, a in zip(terms, args):
        if not t:
            scale *= a
            continue
        factors.append(a)
        labels += list(t) + [None] * (2 - len(t))
    summed = sorted(set(labels) - set(output) - {None})
    for c in summed:
        if labels.count(c) == 1:  # a sum: the contraction with a column of ones
            factors.append(sympy.OneMatrix(tr.dim(sizes[c]), 1))
            labels += [c, None]
    ones = [i for i, c in enumerate(labels) if c is None]
    keep = len(output) % 2  # a vector is a column: one size-1 axis stays
    if any(labels.count(c) != (1 if c in output else 2) for c in set(labels) - {None}) \
            or len(ones) < keep:
        raise UnsupportedError(f"to_sympy(form='matrix'): einsum {attrs['params']} has no "
                               "matrix expression; use form='elements' for small static shapes")
    pairs = [tuple(i for i, x in enumerate(labels) if x == c) for c in summed]
    pairs += [tuple(ones[i:i + 2]) for i in range(0, len(ones) - keep, 2)]
    value = ArrayTensorProduct(*factors) if len(factors) > 1 else factors[0]
    if pairs:
        value = ArrayContraction(value, *pairs)
    left = [i for i in range(len(labels)) if all(i not in p for p in pairs)]
    names = {i: _LETTERS[n] for n, i in enumerate(left)}
    order = [names[labels.index(c)] for c in output] + [names[i] for i in left if labels[i] is None]
    if len(left) > 1:
        value = PermuteDims(value, index_order_old="".join(names.values()),
                            index_order_new="".join(order))
    return scale * tr.orient(convert_array_to_matrix(value), attrs["shape"])


def _einsum_terms(shapes, out_shape, params, values=None):
    """The terms of an einsum over its index space: ``(output entry, [entry of each
    operand])`` at every point, without those where an operand given in ``values`` (a
    constant) is zero; None for subscripts with ``...``."""
    spec = params["subscripts"]
    if "." in spec:
        return None
    inputs, output = _split(spec)
    letters = sorted(set("".join(inputs)))
    size = dict.fromkeys(letters, 1)
    for term, shape in zip(inputs, shapes):
        for letter, d in zip(term, shape):
            size[letter] = max(size[letter], d)
    space = np.indices([size[letter] for letter in letters], sparse=True)
    full = tuple(size[letter] for letter in letters)

    def at(term, shape, array=None):  # the operand's entry number (or value) at each point
        if array is None:
            array = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        index = tuple(space[letters.index(letter)] % d for letter, d in zip(term, shape))
        return np.broadcast_to(array[index] if term else array, full)
    keep = np.ones(full, bool)
    for term, shape, value in zip(inputs, shapes, values or [None] * len(shapes)):
        if value is not None:
            keep &= at(term, shape, np.asarray(value) != 0)
    return at(output, out_shape)[keep], [at(t, s)[keep] for t, s in zip(inputs, shapes)]


def _einsum_sparsity(position, shapes, out_shape, params, values):
    """Output entry j reads each operand's entries in its terms (where the other operands,
    if constants, are nonzero)."""
    others = [None if k == position else v for k, v in enumerate(values)]
    terms = _einsum_terms(shapes, out_shape, params, others)
    return None if terms is None else (terms[0], terms[1][position])


def _einsum_curvature(shapes, out_shape, params):
    """Every pair of operands, term by term (an einsum is linear in each)."""
    terms = _einsum_terms(shapes, out_shape, params)
    if terms is None:
        return None
    rows, entries = terms
    return [(a, b, (rows, entries[a], entries[b]))
            for a in range(len(entries)) for b in range(a + 1, len(entries))]


register(Op("einsum", _einsum_infer, lambda *xs, subscripts: runtime.einsum(subscripts, *xs),
            emit=_einsum_emit, vjp=_EinsumVJP(), jvp=_einsum_jvp, batch=_einsum_batch,
            sympy_matrix=_einsum_matrix, sparsity=_einsum_sparsity, curvature=_einsum_curvature,
            samples=tuple((shapes, dict(subscripts=s)) for shapes, s in [
                (((2, 3), (3, 4)), "ab,bc->ac"), (((3, 3), (3, 3)), "ab,ba->"),
                (((2, 3, 4), (4,), (3,)), "abc,c,b->a"), (((2, 1), (2, 3)), "ab,ab->ba"),
                (((2, 3),), "ab->b")]),
            doc="Einstein summation over explicit subscripts"))


def _expand_ellipsis(terms: list, output: str, xs: list, spec: str) -> tuple:
    """Letters for the axes ``...`` stands for (right-aligned, broadcast as NumPy)."""
    free = [c for c in _LETTERS if c not in spec]
    ranks = [x.ndim - (len(t) - 3) if "..." in t else 0 for t, x in zip(terms, xs)]
    if any(r < 0 for r in ranks):
        raise ShapeError(f"einsum: operand shapes {[D.fmt_shape(x.dims) for x in xs]} have "
                         f"fewer axes than the subscripts {spec!r} name")
    rank = max(ranks, default=0)
    if rank and "..." not in output:
        raise ShapeError(f"einsum: the output subscripts of {spec!r} need '...' for the axes "
                         "the inputs' '...' stand for")
    lead = "".join(free[:rank])
    return [t.replace("...", lead[rank - r:]) for t, r in zip(terms, ranks)], \
        output.replace("...", lead)


def einsum(subscripts: str, *operands) -> Expr:
    """Einstein summation as ``np.einsum`` with explicit output subscripts (``->``): letters
    shared by operands are multiplied, letters missing from the output summed, ``...``
    stands for leading (broadcast) axes and a letter repeated within an operand takes its
    diagonal (its trace where it is summed).  The implicit form (no ``->``) is not supported.

    >>> sg.einsum("ij,jk->ik", A, B)        # A @ B
    >>> sg.einsum("...ij,...ji->...", A, B) # tr(A B) over leading axes
    """
    if not isinstance(subscripts, str):
        raise UnsupportedError("einsum: give the subscripts as a string first, e.g. "
                               "sg.einsum('ij,jk->ik', A, B) (the interleaved form is not "
                               "supported)")
    spec = subscripts.replace(" ", "")
    if spec.count("->") != 1:
        raise UnsupportedError(f"einsum: write the output subscripts explicitly, e.g. "
                               f"'ij,jk->ik', got {subscripts!r} (the implicit form is not "
                               "supported)")
    like = next((x for x in operands if isinstance(x, Expr)), None)
    xs = [as_expr(x, like) for x in operands]
    terms, output = _split(spec)
    if len(terms) != len(xs):
        _einsum_sizes(terms, output, xs, spec)
    if any(set(t.replace("...", "")) - set(_LETTERS) for t in terms + [output]):
        raise ShapeError(f"einsum: subscripts are letters a-z, A-Z and '...', got {subscripts!r}")
    terms, output = _expand_ellipsis(terms, output, xs, spec)
    for k, t in enumerate(terms):
        while len(set(t)) < len(t):  # a repeated letter takes the diagonal of its two axes
            c = next(c for c in t if t.count(c) > 1)
            p = t.index(c)
            q = t.index(c, p + 1)
            if xs[k].dims[p] != xs[k].dims[q]:
                raise ShapeError(f"einsum: the repeated subscript {c!r} of operand {k} labels axes "
                                 f"of sizes {xs[k].dims[p]!r} and {xs[k].dims[q]!r} "
                                 f"(shape {D.fmt_shape(xs[k].dims)}, subscripts {subscripts!r})")
            t = t[:p] + t[p + 1:q] + t[q + 1:]
            if c in output or any(c in u for j, u in enumerate(terms) if j != k) or c in t:
                xs[k] = diagonal(xs[k], 0, p, q)
                t += c
            else:  # summed here and nowhere else: the trace
                xs[k] = trace(xs[k], 0, p, q)
        terms[k] = t
    _einsum_sizes(terms, output, xs, subscripts)
    if len(xs) == 1:  # one operand: a sum and a transpose
        summed = tuple(i for i, c in enumerate(terms[0]) if c not in output)
        x = apply("sum", xs[0], axis=summed, keepdims=False) if summed else xs[0]
        kept = [c for c in terms[0] if c in output]
        return transpose(x, [kept.index(c) for c in output]) if kept else x
    names: dict = {}
    for c in "".join(terms) + output:
        names.setdefault(c, _LETTERS[len(names)])
    canonical = ",".join("".join(names[c] for c in t) for t in terms) + "->" + \
        "".join(names[c] for c in output)
    return apply("einsum", *xs, subscripts=canonical)


def _axes_list(op: str, x: Expr, axes) -> list:
    """``axes`` (an int or a sequence of ints) as non-negative axes of ``x``."""
    axes = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -x.ndim <= a < x.ndim:
            raise ShapeError(f"{op}: axis {a!r} is out of range for an operand of shape "
                             f"{D.fmt_shape(x.dims)}")
    return [int(a) % x.ndim for a in axes]


def tensordot(a, b, axes=2) -> Expr:
    """``np.tensordot``: the sum of products over the last ``axes`` axes of ``a`` and the first
    of ``b`` (an int), or over the axes listed in ``axes = (axes_a, axes_b)``; the result has
    ``a``'s remaining axes, then ``b``'s.

    >>> sg.tensordot(A, B, axes=([1, 0], [0, 1]))
    """
    a = as_expr(a, b if isinstance(b, Expr) else None)
    b = as_expr(b, a)
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot: axes={axes} does not fit operands of shapes "
                             f"{D.fmt_shape(a.dims)} and {D.fmt_shape(b.dims)}")
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        axes_a, axes_b = (_axes_list("tensordot", x, ax) for x, ax in zip((a, b), axes))
    if len(axes_a) != len(axes_b) or any(a.dims[i] != b.dims[j] for i, j in zip(axes_a, axes_b)):
        raise ShapeError(f"tensordot: the summed axes {axes_a} of {D.fmt_shape(a.dims)} and "
                         f"{axes_b} of {D.fmt_shape(b.dims)} differ in number or size")
    la = _LETTERS[:a.ndim]
    lb = [_LETTERS[a.ndim + j] for j in range(b.ndim)]
    for i, j in zip(axes_a, axes_b):
        lb[j] = la[i]
    out = "".join(c for i, c in enumerate(la) if i not in axes_a) + \
        "".join(c for j, c in enumerate(lb) if j not in axes_b)
    return einsum(f"{la},{''.join(lb)}->{out}", a, b)


# -- diagonals and traces -----------------------------------------------------------------------
def _diagonal_axes(op: str, x: Expr, axis1: int, axis2: int) -> tuple:
    """The two (distinct, non-negative) axes whose diagonal ``op`` takes."""
    if x.ndim < 2:
        raise ShapeError(f"{op}: needs an operand of at least two dimensions, got shape "
                         f"{D.fmt_shape(x.dims)}")
    a1, a2 = _axes_list(op, x, [axis1, axis2])
    if a1 == a2:
        raise ShapeError(f"{op}: axis1 and axis2 cannot be the same axis ({axis1}, {axis2})")
    return a1, a2


def _diagonal_rows(op: str, n1, n2, offset: int) -> tuple:
    """``(start, stop, length)``: the rows i (of n1) whose entry ``[i, i + offset]`` lies in
    an n1 x n2 block, as slice bounds (``stop`` None, an int, or negative for named sizes)."""
    start = max(0, -offset)
    if isinstance(n1, int) and isinstance(n2, int):
        stop = min(n1, n2 - offset)
        return start, stop, max(0, stop - start)
    if n1 != n2:
        raise UnsupportedError(f"{op}: the diagonal of an ({n1}, {n2}) block has a length known "
                               "only at run time; give the two axes the same size")
    return start, (-offset if offset > 0 else None), D.dim_add(n1, abs(offset), -1)


def _rest(x_dims: tuple, axis1: int, axis2: int) -> tuple:
    return tuple(d for i, d in enumerate(x_dims) if i not in (axis1, axis2))


def place_diagonal(c: Expr, offset: int, axis1: int, axis2: int, dims: tuple) -> Expr:
    """Zeros of shape ``dims`` with ``c[..., i]`` at ``[..., i, i + offset]`` of the axes
    ``axis1``, ``axis2`` (``c`` broadcasts against the other axes + the rows of axis1;
    entries falling outside are left out): a band, moved into place."""
    m = band([c], [(offset,)], (dims[axis1],), (dims[axis2],))
    order = [i for i in range(len(dims)) if i not in (axis1, axis2)] + [axis1, axis2]
    if order == sorted(order):
        return m
    return apply("transpose", m, axes=tuple(int(i) for i in np.argsort(order)))


def _diagonal_adjoint(g, offset, axis1, axis2, dims):
    """The diagonal ``g`` written back into zeros of shape ``dims`` (its rows padded first)."""
    n1 = dims[axis1]
    start, stop, length = _diagonal_rows("diagonal", n1, dims[axis2], offset)
    if length != n1:
        rest = _rest(dims, axis1, axis2)
        g = apply("scatter", g, index=(FULL,) * len(rest) + (("slice", start, stop, None),),
                  shape=rest + (n1,))
    return place_diagonal(g, offset, axis1, axis2, dims)


def _diagonal_infer(x, offset, axis1, axis2):
    _diagonal_axes("diagonal", x, axis1, axis2)
    _, _, length = _diagonal_rows("diagonal", x.dims[axis1], x.dims[axis2], offset)
    return _rest(x.dims, axis1, axis2) + (length,), x.dtype


def _square_matrix(tr, attrs, x, form):
    params = dict(attrs["params"])
    if len(tr.arg_dims(attrs)[0]) != 2 or params["offset"] != 0:
        raise UnsupportedError(f"to_sympy(form='matrix'): {attrs['op']} {params} has no "
                               "matrix expression; use form='elements' for small static shapes")
    return tr.orient(form(x), attrs["shape"])


def _diagonal_matrix(tr, attrs, x):
    from sympy.matrices.expressions.diagonal import DiagonalOf
    return _square_matrix(tr, attrs, x, DiagonalOf)


register(Op("diagonal", _diagonal_infer, np.diagonal,
            vjp=(lambda g, out, x, offset, axis1, axis2:
                 _diagonal_adjoint(g, offset, axis1, axis2, x.dims),),
            jvp=lambda tangents, out, x, **params: apply("diagonal", tangents[0], **params),
            batch=lambda nb, batched, x, offset, axis1, axis2: apply(
                "diagonal", x, offset=offset, axis1=axis1 + nb, axis2=axis2 + nb),
            sympy_matrix=_diagonal_matrix, view=True, readonly=True,
            samples=((((3, 4),), dict(offset=1, axis1=0, axis2=1)),
                     (((2, 3, 3),), dict(offset=-1, axis1=1, axis2=2)),
                     (((3, 2, 4),), dict(offset=0, axis1=2, axis2=0))),
            sparsity="entries", curvature=(),
            doc="the diagonal entries x[..., i, i + offset] of two axes, as a last axis"))


def _trace_infer(x, offset, axis1, axis2):
    _diagonal_axes("trace", x, axis1, axis2)
    _diagonal_rows("trace", x.dims[axis1], x.dims[axis2], offset)
    return _rest(x.dims, axis1, axis2), np.dtype(np.int64) if x.dtype == bool else x.dtype


def _trace_sparsity(position, shapes, out_shape, params, values):
    """Output entry j reads the diagonal entries it sums."""
    numbers = np.arange(int(np.prod(shapes[0], dtype=np.int64))).reshape(shapes[0])
    diagonal = np.diagonal(numbers, params["offset"], params["axis1"], params["axis2"])
    rows = np.arange(int(np.prod(out_shape, dtype=np.int64))).reshape(tuple(out_shape) + (1,))
    return np.broadcast_to(rows, diagonal.shape).ravel(), diagonal.ravel()


register(Op("trace", _trace_infer, np.trace, sparsity=_trace_sparsity, curvature=(),
            vjp=(lambda g, out, x, offset, axis1, axis2:
                 place_diagonal(expand_dims(g, g.ndim), offset, axis1, axis2, x.dims),),
            jvp=lambda tangents, out, x, **params: apply("trace", tangents[0], **params),
            batch=lambda nb, batched, x, offset, axis1, axis2: apply(
                "trace", x, offset=offset, axis1=axis1 + nb, axis2=axis2 + nb),
            sympy_matrix=lambda tr, attrs, x: _square_matrix(tr, attrs, x, sympy.Trace),
            samples=((((3, 3),), dict(offset=0, axis1=0, axis2=1)),
                     (((3, 4),), dict(offset=1, axis1=0, axis2=1)),
                     (((2, 3, 4),), dict(offset=-1, axis1=2, axis2=0))),
            doc="the sum of the diagonal entries x[..., i, i + offset] of two axes"))


@expr_method()
def diagonal(a, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Expr:
    """``np.diagonal``: the entries ``a[i, i + offset]`` of the axes ``axis1``, ``axis2``, as
    a last axis behind the others.

    >>> sg.diagonal(A)                     # the main diagonal
    """
    a = as_expr(a)
    axis1, axis2 = _diagonal_axes("diagonal", a, axis1, axis2)
    return apply("diagonal", a, offset=int(offset), axis1=axis1, axis2=axis2)


@expr_method()
def trace(a, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Expr:
    """``np.trace``: ``Σᵢ a[i, i + offset]`` over the axes ``axis1``, ``axis2``; its gradient
    is the identity (shifted by ``offset``).

    >>> sg.trace(A)
    """
    a = as_expr(a)
    axis1, axis2 = _diagonal_axes("trace", a, axis1, axis2)
    return apply("trace", a, offset=int(offset), axis1=axis1, axis2=axis2)


def diag(v, k: int = 0) -> Expr:
    """``np.diag``: a vector on the k-th diagonal of a square matrix, or a matrix's k-th
    diagonal as a vector.

    >>> sg.diag(v)                          # (n,) -> (n, n)
    """
    v = as_expr(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ShapeError(f"diag: needs a vector or a matrix, got shape {D.fmt_shape(v.dims)}")
    k = int(k)
    n = D.dim_add(v.dims[0], abs(k))
    if k:
        bounds = (0, -k) if k > 0 else (-k, None)
        v = apply("scatter", v, index=(("slice", *bounds, None),), shape=(n,))
    return place_diagonal(v, k, 0, 1, (n, n))


# -- triangles -----------------------------------------------------------------------------------
def _triangle(name: str, impl, doc: str) -> None:
    """Register ``triu``/``tril``: an entry mask on the last two axes, its own adjoint."""
    def infer(m, k):
        if m.ndim < 2:
            raise ShapeError(f"{name}: needs an operand of at least two dimensions, got shape "
                             f"{D.fmt_shape(m.dims)}")
        return m.dims, m.dtype
    register(Op(name, infer, impl, vjp=(lambda g, out, m, k: apply(name, g, k=k),),
                jvp=lambda tangents, out, m, k: apply(name, tangents[0], k=k),
                batch=lambda nb, batched, m, k: apply(name, m, k=k), moves=True,
                sparsity="entries", curvature=(),
                samples=((((3, 4),), dict(k=0)), (((2, 3, 3),), dict(k=-1)),
                         (((3, 3),), dict(k=1))), doc=doc))


_triangle("triu", np.triu, "the entries on and above the k-th diagonal, zeros below")
_triangle("tril", np.tril, "the entries on and below the k-th diagonal, zeros above")


def triu(m, k: int = 0) -> Expr:
    """``np.triu``: ``m`` with the entries below the k-th diagonal zeroed (last two axes;
    a vector is the rows of a square matrix).

    >>> sg.triu(A, 1)                       # strictly upper triangle
    """
    m = as_expr(m)
    m = broadcast_to(m, m.dims * 2) if m.ndim == 1 else m
    return apply("triu", m, k=int(k))


def tril(m, k: int = 0) -> Expr:
    """``np.tril``: ``m`` with the entries above the k-th diagonal zeroed (last two axes;
    a vector is the rows of a square matrix).

    >>> sg.tril(A)
    """
    m = as_expr(m)
    m = broadcast_to(m, m.dims * 2) if m.ndim == 1 else m
    return apply("tril", m, k=int(k))


# -- products made from the others ----------------------------------------------------------------
def cross(a, b, axis: int = -1) -> Expr:
    """``np.cross`` of 3-vectors along ``axis`` (the other axes broadcast), from their
    components: ``(a₁b₂ - a₂b₁, a₂b₀ - a₀b₂, a₀b₁ - a₁b₀)``.

    >>> sg.cross(u, v)
    """
    a = as_expr(a, b if isinstance(b, Expr) else None)
    b = as_expr(b, a)
    parts = []
    for x in (a, b):
        if x.ndim == 0 or not -x.ndim <= axis < x.ndim or x.dims[axis] != 3:
            raise ShapeError(f"cross: needs 3-vectors along axis {axis}, got shapes "
                             f"{D.fmt_shape(a.dims)} and {D.fmt_shape(b.dims)} (2-vectors are "
                             "not supported)")
        lead = (slice(None),) * (axis % x.ndim)
        parts.append([x[lead + (i,)] for i in range(3)])
    (a0, a1, a2), (b0, b1, b2) = parts
    D.broadcast_shapes("cross", [a0.dims, b0.dims], ["a", "b"])  # the other axes broadcast
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis)


def _dim_product(da, db):
    if isinstance(da, int) and isinstance(db, int):
        return da * db
    if not isinstance(da, int) and not isinstance(db, int):
        raise UnsupportedError(f"kron: the size {da} * {db} of two named dimensions cannot be "
                               "a dimension")
    k, named = (da, db) if isinstance(da, int) else (db, da)
    terms, const = D.affine(named)
    return D.from_affine({n: c * k for n, c in terms.items()}, const * k)


def kron(a, b) -> Expr:
    """``np.kron``: the Kronecker product, block ``(i, j)`` of ``a ⊗ b`` being ``a[i, j] b``
    (operands of unequal rank get leading axes of size 1).

    >>> sg.kron(A, B)                       # (m, n) and (p, q) -> (m p, n q)
    """
    a = as_expr(a, b if isinstance(b, Expr) else None)
    b = as_expr(b, a)
    nd = max(a.ndim, b.ndim)
    a = reshape(a, (1,) * (nd - a.ndim) + a.dims)
    b = reshape(b, (1,) * (nd - b.ndim) + b.dims)
    if nd == 0:
        return a * b
    product = a[(slice(None), None) * nd] * b[(None, slice(None)) * nd]
    return reshape(product, tuple(_dim_product(da, db) for da, db in zip(a.dims, b.dims)))
