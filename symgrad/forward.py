"""Forward mode: tangents pushed through the graph, adding nodes.

One sweep in topological order over the nodes between the seeds and the outputs: each
node's tangent is its op's jvp rule applied to its arguments' tangents (None is a symbolic
zero and costs nothing).  A tangent is one of

- an Expr of the node's shape: one direction (``sg.jvp``);
- a :class:`~symgrad.expr.Batched` value: many directions at once, one per batch entry.
  The jvp rules are written for one tangent; applied to a Batched one, every op they build
  runs its batching rule, so one rule serves both (``sg.jacobian``, ``sg.hessian``);
- a :class:`~symgrad.ops.banded.Banded` batch: the seeds of an array kept as a band while
  the ops' band rules allow, densified for the jvp rule where one answers LOST;
- a :class:`~symgrad.ops.contraction.Contraction`: the seeds of a matrix as sums of einsum
  products, taken up where their band is lost and densified where the contraction is.
"""
from __future__ import annotations

from .errors import UnsupportedError
from .expr import Batched, Expr, as_expr
from .op import REGISTRY
from .ops import contraction
from .ops.band import dense
from .ops.banded import LOST, Banded
from .ops.contraction import Contraction
from .ops.shape import broadcast_to


def forward(outputs: list, seeds: dict, known: dict | None = None) -> dict:
    """Tangents ``{node: tangent}`` of ``outputs`` given ``{node: tangent}`` for the seeds.

    Nodes that do not depend on a seed are skipped, and so are integer and boolean nodes
    (their tangent is zero).  ``known`` holds tangents from earlier sweeps with the same
    seeds (they are reused and the new ones added to it).
    """
    g = outputs[0].g
    needed = g.ancestors([y.node for y in outputs], stop=set(seeds))
    active = g.descendants(list(seeds), needed)
    tangent = {} if known is None else known
    tangent.update(seeds)
    with g.marking_gradient():
        for node in sorted(active - tangent.keys()):
            attrs = g[node]
            if attrs["dtype"].kind != "f":
                continue
            tangents = [tangent.get(a) for a in attrs["args"]]
            if all(t is None for t in tangents):
                continue
            t = push(REGISTRY[attrs["op"]], tangents, Expr(g, node),
                     [Expr(g, a) for a in attrs["args"]], dict(attrs["params"]))
            if t is not None:
                tangent[node] = t
    return tangent


def push(op, tangents: list, out: Expr, args: list, params: dict):
    """One node's tangent: banded while its band rule allows, then held as a contraction
    while its contraction rule allows, else its jvp rule's."""
    for kind, field, lost in _STRUCTURES:
        if any(isinstance(t, kind) for t in tangents):
            t = _structured(getattr(op, field), kind, tangents, out, args, params)
            if t is not LOST:
                return t
            tangents = lost(op, tangents, args)
    rule = op.jvp_rule()
    if rule is None:
        if op.differentiable:
            raise UnsupportedError(f"{op.name}: the op has no forward (jvp) rule")
        return None
    result = rule(tangents, out, *args, **params)
    if result is None:
        return None
    batch = next((t for t in tangents if isinstance(t, Batched)), None)
    return fit_tangent(as_expr(result, out), out, batch)


def _band_lost(op, tangents: list, args: list) -> list:
    """Bands an op's band rule cannot keep: a contraction where its contraction rule may
    take them on, else dense batches."""
    held = [contraction.from_band(t, x) if isinstance(t, Banded) else t
            for t, x in zip(tangents, args)]
    if op.contraction is None or any(h is None and t is not None for h, t in zip(held, tangents)):
        held = [dense(t, x) if isinstance(t, Banded) else t for t, x in zip(tangents, args)]
    return held


def _contraction_lost(op, tangents: list, args: list) -> list:
    return [contraction.dense(t, x) if isinstance(t, Contraction) else t
            for t, x in zip(tangents, args)]


# the structured batches, in the order a tangent passes from one to the next: its kind, the
# op's rule for it, and what it becomes where that rule answers LOST
_STRUCTURES = ((Banded, "band", _band_lost), (Contraction, "contraction", _contraction_lost))


def _structured(rule, kind: type, tangents: list, out: Expr, args: list, params: dict):
    """``rule``'s tangent where every tangent is of ``kind`` (or zero), else LOST."""
    if rule is None or not all(t is None or isinstance(t, kind) for t in tangents):
        return LOST
    return rule(tangents, out, *args, **params)


def fit_tangent(t: Expr, out: Expr, batch: Batched | None) -> Expr:
    """A rule's tangent given the output's shape and dtype: broadcast where the rule left
    size-1 axes, cast where a local derivative had another float dtype, and given the batch
    axes when it does not depend on the batched tangents (a zero, say)."""
    if batch is not None and not isinstance(t, Batched):
        t = Batched(broadcast_to(t, batch.batch + t.dims), batch.nb)
    if t.dims != out.dims:
        t = broadcast_to(t, out.dims)
    return t if t.dtype == out.dtype else t.astype(out.dtype)
