"""Loops and branches as graph nodes: ``scan`` (with ``fori_loop`` and ``while_loop`` made of
it) and ``cond``.

``sg.scan(step, init, xs)`` traces ``step`` once, in the same graph, on placeholder symbols
for one step's carry and inputs; the values from outside the loop that the step reads (its
closure) are found as the frontier of the traced body and replaced by placeholders too, so
the body is a pure function of placeholders, compiled once.  The loop is one ``scan`` node
per output: the final carries, the stacked per-step outputs (by default followed by the
step values the reverse pass reads, :class:`Saved`) and the stacked carries each step
started from; all of them share the body, and the generated code runs the loop once for
all of them (``rt.scan``: a Python loop over the compiled step, or ``lax.scan`` on the jax
backend; numba's interpreter for small steps).

Derivatives are loops too, built from the body's own rules once, whatever the length:
reverse mode is one scan the other way over the step's vjp (all the outputs' cotangents at
once, :attr:`Op.joint_vjp`), forward mode a scan of the step's jvp, and a batch (Hessians,
``sg.vectorize``) a scan of the body traced again on batched placeholders.  ``cond`` holds
two traced branches the same way and runs the one its predicate picks.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import dims as D
from .autodiff import grad, jvp
from .compile import function
from .errors import ShapeError, SymgradError, UnsupportedError
from .expr import Batched, Expr, apply, as_expr, constant, symbol
from .graph import common_graph
from .lazy import sympy
from .op import REGISTRY, Op, node_params, register
from .ops.arrays import arange
from .ops.elementwise import logical_and, where
from .ops.shape import broadcast_to, expand_dims, zeros_like
from .substitute import clone
from .trees import tree_flatten, tree_map, tree_unflatten


@node_params
class Saved(NamedTuple):
    """What a scan keeps for reverse mode (``checkpoint=False``): the step's vjp, built once
    on the body's placeholders and ``cotangents`` (placeholders for the float new carries'
    and outputs' cotangents), giving ``grads`` (of the float carries, inputs and closure
    values, in that order); it reads the step's values only through the body's last ``kept``
    outputs, which the loop stacks, so the reverse pass recomputes nothing."""

    cotangents: tuple
    grads: tuple
    kept: int


@node_params
class Body(NamedTuple):
    """One step as placeholder nodes: carries, one step's inputs and the closure in; the
    new carries and the step's outputs out (``saved``: see :class:`Saved`)."""

    carries: tuple
    xs: tuple
    closure: tuple
    new_carries: tuple
    ys: tuple
    saved: Saved | None = None


def _picture(label: str, body: Body) -> tuple:
    """``(label, placeholders, results)`` of a body, for ``Op.bodies``."""
    return label, body.carries + body.xs + body.closure, body.new_carries + body.ys


def _identity(values) -> tuple:
    """A memo key for expressions (None for a zero; a Batched value by its batch too)."""
    return tuple(None if v is None else (v.node, getattr(v, "nb", 0)) for v in values)


def _memoized(build):
    """``build`` (a loop's derivative or batch, made of new traced loops) run once per graph
    and arguments, sequences of expressions compared by node: a second request reuses the
    loops the first made instead of tracing them again."""
    def run(*arguments):
        exprs = [e for a in arguments if isinstance(a, (list, tuple)) for e in a
                 if isinstance(e, Expr)]
        key = (build.__name__,) + tuple(
            _identity(a) if isinstance(a, (list, tuple)) and all(
                e is None or isinstance(e, Expr) for e in a) else a for a in arguments)
        memo = exprs[0].g.cache.setdefault("loop rules", {})
        if key not in memo:
            memo[key] = build(*arguments)
        return memo[key]
    return run


def _siblings(count):
    """``Op.siblings`` of an op with ``count(params)`` outputs, told apart by ``output``."""
    return lambda params: [{**params, "output": k} for k in range(count(params))]


def _same_carry(what: str, new: list, new_tree, carries: list, tree) -> None:
    """A step's new carry must have the structure, shapes and dtypes of the carry."""
    if new_tree != tree or any(n.dims != c.dims or n.dtype != c.dtype for n, c in zip(new, carries)):
        raise ShapeError(f"{what}'s new carry {new_tree!r} with shapes "
                         f"{[D.fmt_shape(n.dims) for n in new]} differs from the carry "
                         f"{tree!r} with shapes {[D.fmt_shape(c.dims) for c in carries]}")


def _seeds(pairs: list) -> dict:
    """``known_grads`` from ``(output, cotangent)`` pairs, summed where one expression is
    several outputs (a step returning ``h`` as its carry and its output)."""
    seeds: dict = {}
    for e, c in pairs:
        seeds[e] = seeds[e] + c if e in seeds else c
    return seeds


def _exprs(g, nodes) -> list:
    return [Expr(g, n) for n in nodes]


def _nodes(exprs) -> tuple:
    return tuple(e.node for e in exprs)


def _floats(values: list) -> list:
    """The positions of the float expressions among ``values`` (the others have no
    derivative)."""
    return [k for k, e in enumerate(values) if e.dtype.kind == "f"]


def _outputs(body: Body) -> int:
    return 2 * len(body.carries) + len(body.ys)


def _scan_infer(*args, body: Body, length, reverse: bool, output: int):
    g = args[0].g
    nc, ny = len(body.carries), len(body.ys)
    if output < nc:
        node, lead = body.new_carries[output], ()
    elif output < nc + ny:
        node, lead = body.ys[output - nc], (length,)
    else:
        node, lead = body.carries[output - nc - ny], (length,)
    return lead + g[node]["shape"], g[node]["dtype"]


def _step_function(g, body: Body, backend):
    """The body compiled once per graph and backend: placeholders in, new carries and
    outputs out."""
    memo = g.cache.setdefault("scan steps", {})
    key = (body, backend)  # the object: two backends may share a name (a stand-in's)
    if key not in memo:
        memo[key] = function(_exprs(g, body.carries + body.xs + body.closure),
                             _exprs(g, body.new_carries + body.ys), backend)
    return memo[key]


def _emitter(bodies, call):
    """The emitter of a node among the outputs of one loop or branch: the first of them to
    be emitted runs ``rt.<call>`` (with the ``bodies(params)`` compiled for the backend, or
    the one it names in ``loop_steps``, as ``call(names, args, params)`` spells it) and keeps
    the results, the others read theirs."""
    def emit(args, params, ctx):
        family = _family(ctx.g[ctx.node])
        results = ctx.shared.get(family)
        if results is None:
            results = ctx.shared[family] = f"s{ctx.node}"
            names = [f"body{ctx.node}_{k}" for k in range(len(bodies(params)))]
            steps = ctx.backend.loop_steps or ctx.backend  # compiled for it: not a callback
            for name, body in zip(names, bodies(params)):
                ctx.namespace[name] = _step_function(ctx.g, body, steps)
            return f"({results} := rt.{call(names, args, params, ctx)})[{params['output']}]"
        return f"{results}[{params['output']}]"
    return emit


def _family(attrs) -> tuple:
    """What the output nodes of one loop or branch share: all but the ``output`` parameter."""
    return (attrs["op"], attrs["args"]) + tuple(p for p in attrs["params"] if p[0] != "output")


def _computed_outputs(ctx) -> set:
    """The outputs of the current node's loop that the function being compiled computes."""
    index = ctx.shared.get("loop outputs")
    if index is None:  # built once per function: its loops' outputs
        index = ctx.shared["loop outputs"] = {}
        for node in ctx.order:
            attrs = ctx.g[node]
            if REGISTRY[attrs["op"]].siblings is not None:
                index.setdefault(_family(attrs), set()).add(dict(attrs["params"])["output"])
    return index[_family(ctx.g[ctx.node])]


def _call_scan(names, args, params, ctx) -> str:
    """``scan(step, ...)`` told the shape and dtype of each stacked output the function
    reads (None for the others, which are not stacked)."""
    body, wanted = params["body"], _computed_outputs(ctx)
    nc = len(body.carries)
    stacks = "".join(f"({ctx.shape(ctx.g[n]['shape'])}, {ctx.g[n]['dtype'].name!r}), "
                     if nc + k in wanted else "None, " for k, n in enumerate(body.ys + body.carries))
    return (f"scan({names[0]}, {nc}, {len(body.xs)}, {ctx.dim(params['length'])}, "
            f"{params['reverse']}, ({stacks}), {', '.join(args)})")


_emit_scan = _emitter(lambda params: [params["body"]], _call_scan)


def _body_at(g, body: Body, carries: list, xs: list, closure: list) -> tuple:
    """The body's new carries and outputs with its placeholders replaced by expressions."""
    mapping = dict(zip(_exprs(g, body.carries + body.xs + body.closure), carries + xs + closure))
    return clone((_exprs(g, body.new_carries), _exprs(g, body.ys)), mapping)


@_memoized
def _cotangents(cotangents: tuple, args: tuple, body: Body, length, reverse: bool) -> list:
    """The cotangents of a scan's arguments given those of its outputs (None: zero): one
    scan the other way over the step's vjp, its carry the carries' cotangents and the
    closure's accumulated ones, the outputs' and carries-in's cotangents read per step.
    The step's values are recomputed from the carries it started from, or read from those
    the loop kept (``body.saved``, unless they have cotangents of their own).
    Integer carries, inputs and closure values get none."""
    g = args[0].g
    nc, nx, ny = len(body.carries), len(body.xs), len(body.ys)
    carries, xs, closure = list(args[:nc]), list(args[nc:nc + nx]), list(args[nc + nx:])
    final_bar, ys_bar, residual_bar = cotangents[:nc], cotangents[nc:nc + ny], cotangents[nc + ny:]
    fc, fx, fk = _floats(carries), _floats(xs), _floats(closure)
    saved = body.saved
    if saved is not None and any(c is not None for c in ys_bar[ny - saved.kept:]):
        saved = None  # the kept values have cotangents: recompute the step to pass them on
    own = ny - saved.kept if saved else ny  # the step's own outputs, then the kept values
    read_y = [j for j, c in enumerate(ys_bar) if c is not None]
    read_r = [i for i in fc if residual_bar[i] is not None]
    with g:
        start = [zeros_like(carries[i]) if final_bar[i] is None else final_bar[i] for i in fc]
        acc = [zeros_like(closure[i]) for i in fk]
    stacked = [apply("scan", *args, body=body, length=length, reverse=reverse, output=k)
               for k in range(_outputs(body))]  # the loop's outputs, for the reverse loop

    def back(carry, step_in):
        cbar, kbar = carry
        carry_t, x_t, kept_t, ybar_t, rbar_t = step_in
        if saved is not None:
            ybar = dict(zip(read_y, ybar_t))
            given = list(cbar) + [ybar.get(j) for j in _floats(_exprs(g, body.ys[:own]))]
            cots = _exprs(g, saved.cotangents)
            mapping = dict(zip(
                _exprs(g, body.carries + body.xs + body.closure + body.ys[own:]) + cots,
                list(carry_t) + list(x_t) + closure + list(kept_t)
                + [zeros_like(c) if b is None else b for c, b in zip(cots, given)]))
            grads = clone(_exprs(g, saved.grads), mapping)
        else:
            new, ys = _body_at(g, body, list(carry_t), list(x_t), closure)
            seeds = _seeds([(ys[j], b) for j, b in zip(read_y, ybar_t)]
                           + [(new[i], b) for i, b in zip(fc, cbar)])
            grads = grad(None, [carry_t[i] for i in fc] + [x_t[i] for i in fx]
                         + [closure[i] for i in fk], known_grads=seeds)
        gc, gx, gk = grads[:len(fc)], grads[len(fc):len(fc) + len(fx)], grads[len(fc) + len(fx):]
        extra = dict(zip(read_r, rbar_t))
        gc = [c + extra[i] if i in extra else c for i, c in zip(fc, gc)]
        return (gc, [a + b for a, b in zip(kbar, gk)]), gx

    (cbar, kbar), xbar = scan(back, (start, acc),
                              (stacked[nc + ny:], xs, stacked[nc + own:nc + ny],
                               [ys_bar[j] for j in read_y], [residual_bar[i] for i in read_r]),
                              length=length, reverse=not reverse, checkpoint=True)
    out = [None] * len(args)
    for slots, values in ((fc, cbar), ([nc + i for i in fx], xbar or []),
                          ([nc + nx + i for i in fk], kbar)):
        for slot, value in zip(slots, values):
            out[slot] = value
    return out


@_memoized
def _tangent_scan(tangents: list, args: tuple, body: Body, length, reverse: bool) -> list:
    """The scan of the step's jvp: float carries paired with their tangents, inputs with
    theirs, the closure's tangents passed as constants; its outputs are the tangents of the
    scan's (final carries, stacked outputs, stacked carries-in)."""
    g = args[0].g
    nc, nx = len(body.carries), len(body.xs)
    carries, xs, closure = list(args[:nc]), list(args[nc:nc + nx]), list(args[nc + nx:])
    fc = _floats(carries)
    with g:
        cdots = [zeros_like(carries[i]) if tangents[i] is None else tangents[i] for i in fc]
    moving_x = [i for i, t in enumerate(tangents[nc:nc + nx]) if t is not None]
    moving_k = [i for i, t in enumerate(tangents[nc + nx:]) if t is not None]

    def forward_step(carry, x, kdots=()):
        c, cdot = carry
        x, xdot = x
        new, ys = _body_at(g, body, list(c), list(x), closure)
        wrt = [c[i] for i in fc] + [x[i] for i in moving_x] + [closure[i] for i in moving_k]
        dnew, dys = jvp(([new[i] for i in fc], ys), wrt, list(cdot) + list(xdot) + list(kdots))
        return (new, dnew), (ys, dys)

    (_, cdot), ys, (_, residual_dots) = _scan_all(
        forward_step, (carries, cdots), (xs, [tangents[nc + i] for i in moving_x]), length,
        reverse, consts=[tangents[nc + nx + i] for i in moving_k])
    finals, residuals = [None] * nc, [None] * nc
    for i, final, residual in zip(fc, cdot, residual_dots):
        finals[i], residuals[i] = final, residual
    return finals + (list(ys[1]) if ys is not None else []) + residuals


def _scan_jvp(tangents, out, *args, body, length, reverse, output):
    return _tangent_scan(tangents, args, body, length, reverse)[output]


@_memoized
def _batched_scan(nb: int, flags: tuple, args: tuple, body: Body, length, reverse: bool) -> list:
    """The scan over a batch: the body traced again on batched placeholders (its ops run
    their batching rules), the inputs' scanned axis moved in front of the batch axes; a
    carry is batched from the start when the step makes it so.  Every output is returned
    with the batch axes first."""
    g = args[0].g
    nc, nx = len(body.carries), len(body.xs)
    batch = next(a.dims[:nb] for a, f in zip(args, flags) if f)
    cflags = list(flags[:nc])
    xs = [apply("transpose", x, axes=(nb,) + tuple(range(nb)) + tuple(range(nb + 1, x.ndim)))
          if f else x for x, f in zip(args[nc:nc + nx], flags[nc:nc + nx])]
    closure = [Batched(k, nb) if f else k for k, f in zip(args[nc + nx:], flags[nc + nx:])]
    while True:
        grown = []

        def step(c, x):
            c_in = [Batched(v, nb) if f else v for v, f in zip(c, cflags)]
            x_in = [Batched(v, nb) if f else v for v, f in zip(x, flags[nc:nc + nx])]
            new, ys = _body_at(g, body, c_in, x_in, closure)
            out = []
            for i, n in enumerate(new):
                if isinstance(n, Batched) and not cflags[i]:
                    grown.append(i)
                out.append(_full(n, batch) if cflags[i] else n)
            return out, [_full(y, batch) for y in ys]

        init = [broadcast_to(a, batch + a.dims) if batched and not given else a
                for a, batched, given in zip(args[:nc], cflags, flags[:nc])]
        finals, ys, residuals = _scan_all(step, init, xs, length, reverse)
        if not grown:
            break
        for i in grown:
            cflags[i] = True
    front = [_batch_first(r, nb) if f else broadcast_to(r, batch + r.dims)
             for r, f in zip(residuals, cflags)]
    return ([f if cf else broadcast_to(f, batch + f.dims) for f, cf in zip(finals, cflags)]
            + [_batch_first(y, nb) for y in (ys or [])] + front)


def _full(e: Expr, batch: tuple) -> Expr:
    """A value for every batch entry: a Batched one's whole batch, else ``e`` broadcast."""
    return e.value if isinstance(e, Batched) else broadcast_to(e, batch + e.dims)


def _batch_first(stacked: Expr, nb: int) -> Expr:
    """``(T, batch..., rest)`` as ``(batch..., T, rest)``."""
    return apply("transpose", stacked, axes=tuple(range(1, nb + 1)) + (0,)
                 + tuple(range(nb + 1, stacked.ndim)))


def _scan_batch(nb, batched, *args, body, length, reverse, output):
    return _batched_scan(nb, tuple(batched), args, body, length, reverse)[output]


def _scan_joint_vjp(cotangents, *args, body, length, reverse, output):
    return _cotangents(tuple(cotangents), args, body, length, reverse)


def _scan_sympy(body_entries, *args, body, length, reverse, output):
    """The loop written out on SymPy entries, step by step (a loop of a fixed length)."""
    if not isinstance(length, int) or length < 1:
        raise UnsupportedError(f"to_sympy: a scan of length {length!r} is written out step by "
                               "step, so its length must be a number of steps, at least one")
    nc, nx, ny = len(body.carries), len(body.xs), len(body.ys)
    carries, xs, closure = list(args[:nc]), args[nc:nc + nx], list(args[nc + nx:])
    ys, carries_in = [None] * length, [None] * length
    for t in range(length - 1, -1, -1) if reverse else range(length):
        carries_in[t] = carries
        given = dict(zip(body.carries + body.xs + body.closure,
                         carries + [x[t] for x in xs] + closure))
        out = body_entries(body.new_carries + body.ys, given)
        carries, ys[t] = out[:nc], out[nc:]
    if output < nc:
        return carries[output]
    steps = [y[output - nc] for y in ys] if output < nc + ny else \
        [c[output - nc - ny] for c in carries_in]
    return np.array(steps, dtype=object)


register(Op("scan", _scan_infer, None, emit=_emit_scan, joint_vjp=_scan_joint_vjp,
            siblings=_siblings(lambda params: _outputs(params["body"])), jvp=_scan_jvp,
            batch=_scan_batch,
            bodies=lambda params: [_picture("scan body", params["body"])], sympy=_scan_sympy,
            doc="a loop over a body graph (sg.scan)"))


def scan(step, init, xs=None, length=None, reverse: bool = False, checkpoint: bool = False):
    """JAX's ``lax.scan``: ``step(carry, x) -> (new carry, y)`` over the leading axis of
    ``xs``; returns ``(final carry, ys stacked)``.  Carries and inputs may be trees.
    For reverse mode the loop keeps the step's values its vjp reads, one array of each per
    step; ``checkpoint=True`` keeps only the carries each step started from and recomputes
    the rest in the reverse pass (less memory, one more run of the step).

    >>> h_last, hs = sg.scan(lambda h, x: (sg.tanh(h @ W + x), h), h0, xs)
    """
    if not isinstance(checkpoint, bool):
        raise SymgradError(f"scan: checkpoint must be True or False, got {checkpoint!r}")
    final, ys, _ = _scan_all(step, init, xs, length, reverse, keep=not checkpoint)
    return final, ys


def fori_loop(lower: int, upper: int, body, init):
    """JAX's ``lax.fori_loop``: ``body(i, carry) -> carry`` for ``i`` from ``lower`` to
    ``upper - 1`` (an int64 expression), as one scan; returns the last carry.

    >>> x_n = sg.fori_loop(0, 10, lambda i, x: x - 0.1 * sg.grad(f(x), x), x0)
    """
    if not all(isinstance(b, (int, np.integer)) for b in (lower, upper)):
        raise SymgradError(f"fori_loop: lower and upper must be ints, got {lower!r} and {upper!r}")
    final, _ = scan(lambda carry, i: (body(i, carry), None), init, arange(lower, upper))
    return final


def while_loop(cond, body, init, max_steps: int | None = None):
    """JAX's ``lax.while_loop``: ``carry = body(carry)`` while ``cond(carry)`` (a boolean
    scalar).  Without ``max_steps`` a loop node that runs until ``cond`` fails: values and
    forward mode (reverse mode raises, asking for ``max_steps``).  With ``max_steps`` a scan
    of that many steps whose carry stops changing once ``cond`` fails, so values and
    derivatives (both modes, any order) stop there alike; the body still runs ``max_steps``
    times.

    >>> root = sg.while_loop(lambda x: abs(x * x - a) > 1e-12, lambda x: (x + a / x) / 2, a)
    """
    if max_steps is None:
        return _while(cond, body, init)
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise SymgradError(f"while_loop: max_steps must be a positive int, got {max_steps!r}")

    def step(state, _):
        carry, running = state
        running = logical_and(running, _predicate(cond, carry))
        new = body(carry)
        return (tree_map(lambda n, c: where(running, n, c), new, carry), running), None
    (final, _), _ = scan(step, (init, constant(True)), length=int(max_steps))
    return final


def _predicate(cond, carry) -> Expr:
    go = cond(carry)
    if not isinstance(go, Expr) or go.ndim or go.dtype.kind != "b":
        raise ShapeError(f"while_loop: cond must give a boolean scalar, got {go!r}")
    return go


def _while(cond, body, init):
    """The loop node: ``cond`` and ``body`` traced on one carry's placeholders, run by
    ``rt.while_loop`` until ``cond`` fails."""
    carries, tree = tree_flatten(init)
    carries = [as_expr(c) for c in carries]
    if not carries:
        raise SymgradError("while_loop: give a carry")
    g = common_graph([c.g for c in carries], "while_loop")
    with g:
        ph = [symbol(f"carry{i}", c.dims, c.dtype) for i, c in enumerate(carries)]
        go = _predicate(cond, tree_unflatten(tree, ph))
        new, ntree = tree_flatten(body(tree_unflatten(tree, ph)))
    new = [as_expr(n, go) for n in new]
    _same_carry("while_loop: body", new, ntree, carries, tree)
    closure, closure_ph, ([go], new) = _close_over(g, ph, [[go], new])
    test = Body(_nodes(ph), (), _nodes(closure_ph), (), (go.node,))
    step = Body(_nodes(ph), (), _nodes(closure_ph), _nodes(new), ())
    return tree_unflatten(tree, [apply("while", *carries, *closure, test=test, step=step, output=k)
                                 for k in range(len(carries))])


def _while_infer(*args, test, step, output):
    node = step.carries[output]
    return args[0].g[node]["shape"], args[0].g[node]["dtype"]


_emit_while = _emitter(lambda params: [params["test"], params["step"]],
                       lambda names, args, params, ctx: (
                           f"while_loop({names[0]}, {names[1]}, {len(params['step'].carries)}, "
                           f"{', '.join(args)})"))


@_memoized
def _while_tangents(tangents: list, args: tuple, test: Body, step: Body) -> list:
    """The final carries' tangents: a loop over (carries, their tangents, the closure's
    tangents carried along), ``cond`` read on the carries alone."""
    g = args[0].g
    nc = len(step.carries)
    carries, closure = list(args[:nc]), list(args[nc:])
    fc = _floats(carries)
    moving = [i for i, t in enumerate(tangents[nc:]) if t is not None]
    with g:
        dots = [zeros_like(carries[i]) if tangents[i] is None else tangents[i] for i in fc]

    def test_fn(state):
        return _body_at(g, test, list(state[0]), [], closure)[1][0]

    def step_fn(state):
        c, cdot, kdot = state
        new = _body_at(g, step, list(c), [], closure)[0]
        wrt = [c[i] for i in fc] + [closure[i] for i in moving]
        return new, jvp([new[i] for i in fc], wrt, list(cdot) + list(kdot)), kdot

    _, finals, _ = _while(test_fn, step_fn, (carries, dots, [tangents[nc + i] for i in moving]))
    out = [None] * nc
    for i, d in zip(fc, finals):
        out[i] = d
    return out


def _while_jvp(tangents, out, *args, test, step, output):
    return _while_tangents(tangents, args, test, step)[output]


@_memoized
def _batched_while(nb: int, flags: tuple, args: tuple, test: Body, step: Body) -> list:
    """A batch of loops: run while any example's ``cond`` holds, each carry changing only
    while its own does (as JAX's vmap); every carry is batched."""
    g = args[0].g
    nc = len(step.carries)
    batch = next(a.dims[:nb] for a, f in zip(args, flags) if f)
    closure = [Batched(k, nb) if f else k for k, f in zip(args[nc:], flags[nc:])]
    init = [a if f else broadcast_to(a, batch + a.dims) for a, f in zip(args[:nc], flags)]

    def going(c):
        go = _body_at(g, test, [Batched(x, nb) for x in c], [], closure)[1][0]
        return _full(go, batch)

    def test_fn(c):
        return apply("any", going(c), axis=tuple(range(nb)), keepdims=False)

    def step_fn(c):
        new = _body_at(g, step, [Batched(x, nb) for x in c], [], closure)[0]
        go = going(c)
        return [where(expand_dims(go, tuple(range(nb, nb + x.ndim - nb))), _full(n, batch), x)
                for n, x in zip(new, c)]
    return _while(test_fn, step_fn, init)


def _while_batch(nb, batched, *args, test, step, output):
    return _batched_while(nb, tuple(batched), args, test, step)[output]


def _no_sympy(*args, **params):
    raise UnsupportedError("to_sympy: a while_loop without max_steps runs until its condition "
                           "fails, a number of steps known only from values; with max_steps it "
                           "is written out step by step")


def _no_reverse(*args, **params):
    raise UnsupportedError("while_loop: reverse mode needs max_steps (sg.while_loop(cond, body, "
                           "init, max_steps=N)), so that the loop's steps can be kept")


register(Op("while", _while_infer, None, emit=_emit_while, jvp=_while_jvp, batch=_while_batch,
            bodies=lambda params: [_picture("while condition", params["test"]),
                                   _picture("while body", params["step"])],
            joint_vjp=_no_reverse, siblings=_siblings(lambda params: len(params["step"].carries)),
            sympy=_no_sympy,
            doc="a loop until a traced condition fails (sg.while_loop)"))


def _close_over(g, placeholders: list, outputs: list) -> tuple:
    """``(closure, its placeholders, outputs)``: the values from outside a traced body that
    it reads (the frontier of what depends on ``placeholders``; constants stay inside),
    new placeholders for them, and ``outputs`` (lists of expressions) rebuilt on those."""
    marks = {p.node for p in placeholders}
    roots = [e.node for part in outputs for e in part]
    inside = g.ancestors(roots, stop=marks)
    variant = g.descendants(list(marks), inside) | marks
    frontier = sorted({a for n in variant - marks for a in g[n]["args"] if a not in variant}
                      | {n for n in roots if n not in variant})
    closure = [Expr(g, n) for n in frontier if g[n]["op"] != "constant"]
    with g:
        closure_ph = [symbol(f"k{i}", c.dims, c.dtype) for i, c in enumerate(closure)]
    return closure, closure_ph, clone(outputs, dict(zip(closure, closure_ph)))


def _kept_for_reverse(g, placeholders: list, closure: list, new: list, ys: list) -> tuple:
    """``(kept, cotangents, grads)`` of a traced step (``placeholders``: its carries and
    inputs): its vjp on cotangent placeholders, and the step's values that vjp reads (those
    varying per step and not depending on the cotangents, read by ones that do)."""
    outs = [e for e in new + ys if e.dtype.kind == "f"]
    with g:
        cotangents = [symbol(f"bar{k}", e.dims, e.dtype) for k, e in enumerate(outs)]
    wrt = [e for e in placeholders + closure if e.dtype.kind == "f"]
    grads = grad(None, wrt, known_grads=_seeds(list(zip(outs, cotangents))))
    marks, steps = {c.node for c in cotangents}, {p.node for p in placeholders}
    inside = g.ancestors([e.node for e in grads])
    linear = g.descendants(list(marks), inside)
    varying = g.descendants(list(steps), inside)
    read = [a for n in linear - marks for a in g[n]["args"] if a in varying and a not in linear]
    read += [e.node for e in grads if e.node in varying and e.node not in linear]
    kept, seen = set(), set()
    while read:  # cheap values are recomputed from what they read, the others kept
        node = read.pop()
        if node in seen or node in steps or node not in varying:
            continue
        seen.add(node)
        if _recomputed(REGISTRY[g[node]["op"]]):
            read.extend(g[node]["args"])
        else:
            kept.add(node)
    return _exprs(g, sorted(kept)), cotangents, grads


POLYNOMIAL = ("int_power", "square")  # elementwise ops as cheap as a product


def _recomputed(op: Op) -> bool:
    """Whether a step's value is cheaper to compute again in the reverse pass than to keep
    per step: entries moved, and elementwise ops that are linear, piecewise linear,
    products, powers or not differentiable (comparisons); not contractions or
    transcendental functions."""
    return op.view or op.moves or op.elementwise and (
        op.curvature != "all" or not op.differentiable or op.name in POLYNOMIAL)


def _scan_all(step, init, xs, length, reverse: bool, consts: list = (), keep: bool = False) -> tuple:
    """``(final carry, stacked ys, stacked carries-in)`` of the scan (trees as given).
    ``consts``: values the same at every step, passed to ``step`` as a third argument (as
    placeholders, so batched values among them never enter the traced step).  ``keep``: the
    loop also stacks the values its reverse pass reads (:class:`Saved`)."""
    carries, ctree = tree_flatten(init)
    carries = [as_expr(c) for c in carries]
    xleaves, xtree = tree_flatten(xs) if xs is not None else ([], None)
    xleaves = [as_expr(x) for x in xleaves]
    if not carries and not xleaves:
        raise SymgradError("scan: give a carry or inputs to scan over")
    lengths = {x.dims[0] for x in xleaves if x.ndim}
    if any(x.ndim == 0 for x in xleaves) or len(lengths) > 1:
        raise ShapeError(f"scan: the inputs need one leading axis of the same length, got "
                         f"shapes {[D.fmt_shape(x.dims) for x in xleaves]}")
    if length is None:
        if not lengths:
            raise SymgradError("scan: give length when there are no inputs to scan over")
        (length,) = lengths
    elif lengths and lengths != {length}:
        raise ShapeError(f"scan: length {length!r} differs from the inputs' leading axis "
                         f"{next(iter(lengths))!r}")
    consts = [as_expr(k) for k in consts]
    g = common_graph([e.g for e in carries + xleaves + consts], "scan")
    with g:
        carry_ph = [symbol(f"carry{i}", c.dims, c.dtype) for i, c in enumerate(carries)]
        x_ph = [symbol(f"x{i}", x.dims[1:], x.dtype) for i, x in enumerate(xleaves)]
        const_ph = [symbol(f"const{i}", k.dims, k.dtype) for i, k in enumerate(consts)]
        out = step(tree_unflatten(ctree, carry_ph),
                   tree_unflatten(xtree, x_ph) if xs is not None else None,
                   *([const_ph] if consts else []))
    if not isinstance(out, tuple) or len(out) != 2:
        raise SymgradError("scan: step must return a pair (new carry, y)")
    new, ntree = tree_flatten(out[0])
    new = [as_expr(c, carry_ph[0] if carry_ph else None) for c in new]
    _same_carry("scan: step", new, ntree, carries, ctree)
    ys, ytree = tree_flatten(out[1])
    ys = [as_expr(y) for y in ys]
    closure, closure_ph, (new, ys) = _close_over(g, carry_ph + x_ph + const_ph, [new, ys])
    nc, ny = len(carries), len(ys)
    saved = None
    if keep:
        kept, cotangents, grads = _kept_for_reverse(g, carry_ph + x_ph, closure_ph + const_ph,
                                                    new, ys)
        ys = ys + kept
        saved = Saved(_nodes(cotangents), _nodes(grads), len(kept))
    body = Body(_nodes(carry_ph), _nodes(x_ph), _nodes(closure_ph + const_ph), _nodes(new),
                _nodes(ys), saved)
    args = carries + xleaves + closure + consts
    results = [apply("scan", *args, body=body, length=length, reverse=reverse, output=k)
               for k in range(_outputs(body))]
    return (tree_unflatten(ctree, results[:nc]),
            tree_unflatten(ytree, results[nc:nc + ny]) if ny else None,
            tree_unflatten(ctree, results[nc + len(ys):]))


# -- cond: one of two traced branches -----------------------------------------------------
def cond(pred, true_fn, false_fn, *operands):
    """JAX's ``lax.cond``: ``true_fn(*operands)`` if the boolean scalar ``pred`` holds, else
    ``false_fn(*operands)``; both branches return the same tree of shapes and dtypes, and only
    the branch taken is evaluated (unlike ``sg.where``).  Differentiable in both modes; under
    ``sg.vectorize`` with a batched ``pred`` it evaluates both and selects, as JAX's ``vmap``.

    >>> y = sg.cond(x > 0, lambda x: sg.log(x), lambda x: -x, x)
    """
    pred = as_expr(pred)
    if pred.ndim or pred.dtype.kind != "b":
        raise ShapeError(f"cond: pred must be a boolean scalar, got {pred!r}")
    leaves, tree = tree_flatten(operands)
    leaves = [as_expr(x) for x in leaves]
    g = common_graph([pred.g] + [x.g for x in leaves], "cond")
    with g:
        ph = [symbol(f"operand{i}", x.dims, x.dtype) for i, x in enumerate(leaves)]
        taken = [tree_flatten(fn(*tree_unflatten(tree, ph))) for fn in (true_fn, false_fn)]
    (outs_t, tree_t), (outs_f, tree_f) = taken
    outs_t, outs_f = [as_expr(o, pred) for o in outs_t], [as_expr(o, pred) for o in outs_f]
    if tree_t != tree_f or any(a.dims != b.dims or a.dtype != b.dtype for a, b in zip(outs_t, outs_f)):
        raise ShapeError(f"cond: the branches return {tree_t!r} with shapes "
                         f"{[(D.fmt_shape(a.dims), a.dtype.name) for a in outs_t]} and {tree_f!r} "
                         f"with shapes {[(D.fmt_shape(b.dims), b.dtype.name) for b in outs_f]}")
    if not outs_t:
        raise SymgradError("cond: the branches return nothing")
    closure, closure_ph, (outs_t, outs_f) = _close_over(g, ph, [outs_t, outs_f])
    branches = tuple(Body(_nodes(ph), (), _nodes(closure_ph), (), _nodes(outs))
                     for outs in (outs_t, outs_f))
    args = [pred] + leaves + closure
    return tree_unflatten(tree_t, [apply("cond", *args, branches=branches, output=k)
                                   for k in range(len(outs_t))])


def _cond_infer(pred, *args, branches, output):
    node = branches[0].ys[output]
    return pred.g[node]["shape"], pred.g[node]["dtype"]


_emit_cond = _emitter(lambda params: list(params["branches"]),
                      lambda names, args, params, ctx: (
                          f"cond({args[0]}, {names[0]}, {names[1]}, {', '.join(args[1:])})"))


def _branch_at(g, body: Body, operands: list, closure: list) -> list:
    return _body_at(g, body, operands, [], closure)[1]


@_memoized
def _cond_cotangents(cotangents: tuple, args: tuple, branches: tuple) -> list:
    """The arguments' cotangents: a cond of the branches' vjps (the cotangents of the
    outputs passed in as operands)."""
    g = args[0].g
    n = len(branches[0].carries)
    pred, operands, closure = args[0], list(args[1:1 + n]), list(args[1 + n:])
    fo, fk = _floats(operands), _floats(closure)
    read = [k for k, c in enumerate(cotangents) if c is not None]
    out = [None] * len(args)
    if fo or fk:
        def vjp_of(body):
            def fn(*given):
                ops, cots = list(given[:n]), given[n:]
                outs = _branch_at(g, body, ops, closure)
                return tuple(grad(None, [ops[i] for i in fo] + [closure[i] for i in fk],
                                  known_grads=_seeds([(outs[k], c) for k, c in zip(read, cots)])))
            return fn
        grads = cond(pred, *map(vjp_of, branches), *operands, *[cotangents[k] for k in read])
        for slot, value in zip([1 + i for i in fo] + [1 + n + i for i in fk], grads):
            out[slot] = value
    return out


def _cond_joint_vjp(cotangents, *args, branches, output):
    return _cond_cotangents(tuple(cotangents), args, branches)


@_memoized
def _cond_tangents(tangents: list, args: tuple, branches: tuple) -> list:
    """The outputs' tangents: a cond of the branches' jvps, the moving operands' and
    closure values' tangents passed in as operands (so batched ones never enter a trace)."""
    g = args[0].g
    n = len(branches[0].carries)
    pred, operands, closure = args[0], list(args[1:1 + n]), list(args[1 + n:])
    moving_o = [i for i in range(n) if tangents[1 + i] is not None]
    moving_k = [i for i in range(len(closure)) if tangents[1 + n + i] is not None]
    floats = _floats(_exprs(g, branches[0].ys))

    def jvp_of(body):
        def fn(*given):
            ops, dots = list(given[:n]), list(given[n:])
            outs = _branch_at(g, body, ops, closure)
            wrt = [ops[i] for i in moving_o] + [closure[i] for i in moving_k]
            return tuple(jvp([outs[k] for k in floats], wrt, dots))
        return fn
    dots = cond(pred, *map(jvp_of, branches), *operands,
                *[tangents[1 + i] for i in moving_o], *[tangents[1 + n + i] for i in moving_k])
    out = [None] * len(branches[0].ys)
    for k, d in zip(floats, dots):
        out[k] = d
    return out


def _cond_jvp(tangents, out, *args, branches, output):
    return _cond_tangents(tangents, args, branches)[output]


@_memoized
def _batched_cond(nb: int, flags: tuple, args: tuple, branches: tuple) -> list:
    """A batched ``pred`` selects between both branches evaluated on the batch (as JAX's
    vmap); an unbatched one picks one branch, traced again on batched placeholders."""
    pred, rest = args[0], args[1:]
    g, n = pred.g, len(branches[0].carries)
    batch = next(a.dims[:nb] for a, f in zip(args, flags) if f)
    wrap = [Batched(a, nb) if f else a for a, f in zip(rest, flags[1:])]
    if flags[0]:
        taken = [_branch_at(g, body, wrap[:n], wrap[n:]) for body in branches]
        return [_full(where(Batched(pred, nb), t, f), batch) for t, f in zip(*taken)]

    def on_batch(body):
        def fn(*ops):
            ops = [Batched(o, nb) if f else o for o, f in zip(ops, flags[1:1 + n])]
            return tuple(_full(o, batch) for o in _branch_at(g, body, ops, wrap[n:]))
        return fn
    return list(cond(pred, *map(on_batch, branches), *rest[:n]))


def _cond_batch(nb, batched, *args, branches, output):
    return _batched_cond(nb, tuple(batched), args, branches)[output]


def _cond_sympy(body_entries, pred, *args, branches, output):
    """A ``Piecewise`` per entry: the true branch's value where ``pred`` holds, else the
    false branch's."""
    taken = [body_entries([b.ys[output]], dict(zip(b.carries + b.closure, args)))[0]
             for b in branches]
    piece = np.frompyfunc(lambda t, f: sympy.Piecewise((t, pred), (f, True)), 2, 1)
    return piece(*taken)


register(Op("cond", _cond_infer, None, emit=_emit_cond, joint_vjp=_cond_joint_vjp,
            siblings=_siblings(lambda params: len(params["branches"][0].ys)),
            jvp=_cond_jvp, batch=_cond_batch,
            bodies=lambda params: [_picture(f"cond: {side}", body)
                                   for side, body in zip(("true", "false"), params["branches"])],
            sympy=_cond_sympy,
            doc="one of two traced branches (sg.cond)"))
