"""Contraction batches: tangents wrt a matrix's seeds kept as sums of einsum products.

The seeds of a matrix ``W`` (p x q directions, the identity ``δ(i, A) δ(j, B)``) become, after
``X @ W``, the dense batch ``X[n, A] δ(l, B)``: p·q matrices, mostly zeros, on which every
later op spends p·q times its work.  While the ops allow, the batch is held instead as

    T[seeds..., value...] = Σₜ einsum(factors of term t)

where each factor is a value of the graph with a letter per axis, the value's axes carry
``out`` letters, and the seed axes the fixed letters ``A``, ``B``...: a value axis that still
equals a seed axis carries that seed's letter (the identity's delta, never written out).
Elementwise ops add their partial as a factor (merged into a factor of the same letters),
``@`` adds the other operand with a fresh letter for the contracted axis, transposes permute
letters and sums drop them.  At the end each term is one ``einsum`` whose contraction order
is chosen when it runs (BLAS products over the batch axis), so a Hessian wrt a weight matrix
costs what its hand-written formula does.  An op without a ``contraction`` rule turns the
batch dense (:func:`dense`) for its jvp rule.
"""
from __future__ import annotations

import string

from .. import dims as D
from ..expr import Batched, Expr, apply, as_expr, constant, is_constant
from .band import band
from .banded import LOST, Banded
from .shape import fill

SEEDS = string.ascii_uppercase  # the seed axes' letters
LETTERS = string.ascii_lowercase + string.ascii_uppercase
MAX_TERMS = 8  # more terms than this (or more factors per term) and the batch turns dense
MAX_FACTORS = 8


class Term:
    """``einsum`` of ``factors`` (pairs ``(Expr, letters)``) with the value axes ``out``."""

    __slots__ = ("factors", "out")

    def __init__(self, factors: tuple, out: str) -> None:
        self.factors = factors
        self.out = out

    def letters(self) -> set:
        return set(self.out).union(*(letters for _, letters in self.factors))

    def fresh(self, seeds: str, k: int = 1) -> str | None:
        """``k`` letters this term does not use yet (None when the alphabet runs out)."""
        used = self.letters() | set(seeds)
        free = [c for c in LETTERS if c not in used][:k]
        return "".join(free) if len(free) == k else None

    def times(self, value: Expr, letters: str) -> "Term | None":
        """The term multiplied entrywise by ``value`` on the axes ``letters``: merged into a
        factor with the same letters, a constant 1 left out."""
        if is_constant(value, 1):
            return self
        factors = list(self.factors)
        for k, (f, fl) in enumerate(factors):
            if fl == letters:
                factors[k] = (f * value, fl)
                return Term(tuple(factors), self.out)
        if len(factors) >= MAX_FACTORS:
            return None
        return Term(tuple(factors) + ((value, letters),), self.out)


class Contraction:
    """The tangents ``Σₜ einsum(term t)`` of a value wrt the seeds of shape ``xdims``.

    >>> # after X @ W for W of shape (p, q): one term, X with letters "aA", value axes "aB"
    """

    __slots__ = ("terms", "xdims")

    def __init__(self, terms: list, xdims: tuple) -> None:
        self.terms = terms
        self.xdims = xdims

    @property
    def seeds(self) -> str:
        return SEEDS[:len(self.xdims)]

    def __repr__(self) -> str:
        return f"<Contraction of {len(self.terms)} terms, seeds {D.fmt_shape(self.xdims)}>"


def made(terms: list, xdims: tuple):
    """A Contraction of ``terms`` (None terms: the structure is lost), LOST when there are
    too many, None when there are none (a zero tangent)."""
    if any(t is None for t in terms) or len(terms) > MAX_TERMS:
        return LOST
    return Contraction(terms, xdims) if terms else None


def from_band(t: Banded, v: Expr):
    """A band on the main diagonal of a matrix's seeds as a Contraction (else None): the
    value's axes are the seeds' axes, the coefficient a factor on them."""
    if len(t.xdims) < 2 or list(t.bands) != [(0,) * len(t.xdims)] or v.dims != t.xdims:
        return None
    (c,) = t.bands.values()
    seeds = SEEDS[:len(t.xdims)]
    if c.ndim and c.dims != v.dims[-c.ndim:]:
        return None
    term = Term((), seeds).times(c, seeds[len(seeds) - c.ndim:])
    return Contraction([term], t.xdims)


def contract(t: Contraction, v: Expr, seeds_first: bool) -> Expr:
    """The batch as one array: seeds then value axes (``seeds_first``, a dense batch) or the
    value's axes then the seeds' (a Jacobian).  A value axis equal to a seed axis gets an
    identity factor, a seed axis no factor reads a ones factor."""
    seeds = t.seeds
    total = None
    for term in t.terms:
        factors = list(term.factors)
        out = ""
        for c, d in zip(term.out, v.dims):
            if c in seeds:
                f = Term(tuple(factors), term.out + out).fresh(seeds)
                factors.append((band([constant(1.0, v.dtype, v.g)], [(0,)], (d,), (d,)), c + f))
                c = f
            out += c
        read = set().union(*(letters for _, letters in factors))
        for s, d in zip(seeds, t.xdims):
            if s not in read:
                factors.append((fill((d,), 1.0, v.dtype, v.g), s))
        result = seeds + out if seeds_first else out + seeds
        if len(factors) == 1 and factors[0][1] == result:
            e = factors[0][0]
        else:
            spec = ",".join(letters for _, letters in factors) + "->" + result
            e = apply("einsum", *(f for f, _ in factors), subscripts=spec)
        total = e if total is None else total + e
    return total


def dense(t: Contraction, v: Expr) -> Batched:
    """The batch as a dense :class:`Batched` value (seed axes first)."""
    return Batched(contract(t, v, seeds_first=True), len(t.xdims))


# -- the rules ---------------------------------------------------------------------------
def elementwise_contraction(op):
    """An elementwise op's rule: ``ṫ = Σᵢ ∂ᵢ·tᵢ``, each partial a factor on the value's
    trailing axes; an argument broadcast to the output loses the structure."""
    def rule(tangents, out, *args, **params):
        terms, xdims = [], None
        for t, x, partial in zip(tangents, args, op.partials):
            if t is None or partial is None:
                continue
            if x.dims != out.dims:
                return LOST
            local = partial(out, *args, **params)
            if local is None:
                continue
            local = as_expr(local, out)
            if local.ndim > out.ndim or local.dims != out.dims[out.ndim - local.ndim:]:
                return LOST
            xdims = t.xdims
            terms += [term.times(local, term.out[len(term.out) - local.ndim:]) for term in t.terms]
        return made(terms, xdims) if xdims is not None else None
    return rule


def same_contraction(tangents, out, x, **params):
    """The rule of an op that passes its argument's value through."""
    return tangents[0]
