"""Finite-difference checks of symbolic derivatives, forward and reverse, up to order 2."""
from __future__ import annotations

import functools

import numpy as np

from .autodiff import grad, hessian, jvp
from .backends import Backend
from .compile import function as compile_function
from .errors import GradientCheckError, SymgradError
from .expr import Expr, as_expr, symbol
from .ops.reduce import sum as sum_


def central_difference(fn, args: list, i: int, eps: float = 1e-6) -> np.ndarray:
    """The derivative of ``fn(*args)`` wrt ``args[i]``, entry by entry, shape
    ``out.shape + args[i].shape``: ``(f(p + eps e) - f(p - eps e)) / (2 eps)``."""
    numeric = None
    for idx in np.ndindex(*np.shape(args[i])):
        unit = np.zeros(np.shape(args[i]))
        unit[idx] = eps
        up, down = list(args), list(args)
        up[i], down[i] = args[i] + unit, args[i] - unit
        column = (np.asarray(fn(*up), float) - np.asarray(fn(*down), float)) / (2 * eps)
        if numeric is None:
            numeric = np.zeros(column.shape + np.shape(args[i]))
        numeric[(...,) + idx] = column
    return numeric if numeric is not None else np.zeros(np.shape(fn(*args)) + np.shape(args[i]))


def directional_difference(fn, args: list, positions: list, directions: list,
                           eps: float = 1e-6):
    """``(fn(p + eps v) - fn(p - eps v)) / (2 eps)`` moving every ``args[positions[k]]``
    along ``directions[k]`` at once (``fn`` may return a tuple of arrays)."""
    def moved(sign):
        a = list(args)
        for i, d in zip(positions, directions):
            a[i] = a[i] + sign * eps * d
        return fn(*a)
    up, down = moved(1), moved(-1)
    if isinstance(up, tuple):
        return [(np.asarray(u) - np.asarray(d)) / (2 * eps) for u, d in zip(up, down)]
    return (np.asarray(up) - np.asarray(down)) / (2 * eps)


def _error(actual, expected) -> float:
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    if actual.shape != expected.shape:
        return float("inf")
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    return float(np.max(np.abs(actual - expected), initial=0.0)) / scale


def check_grad(f: Expr, wrt, values: dict, eps: float = 1e-6, order: int = 1,
               tol: float | None = None, seed: int = 0,
               backend: Backend | str = "numpy") -> float:
    """Largest relative error of symgrad's derivatives of ``f`` against central differences.

    ``values`` gives every symbol ``f`` depends on.  An ``f`` that is not a scalar is
    contracted with random weights ``w`` into ``C = sum(w * f)``.  Order 1 checks the
    reverse gradient of ``C`` entry by entry (two evaluations per entry: use small problems)
    and the forward product along random directions ``v``; order 2 also checks ``H v``
    three ways (reverse over reverse, forward over reverse, and the batched ``sg.hessian``)
    against differences of the gradient along ``v``.  With ``tol`` a larger error raises
    GradientCheckError naming each check and its error.  Every function compiled for the
    checks runs on ``backend``.

    >>> sg.check_grad(sg.sin(x) * y, [x, y], {x: 0.3, y: 2.0}, order=2) < 1e-6
    True
    """
    if order not in (1, 2):
        raise SymgradError(f"check_grad: order must be 1 or 2, got {order!r}")
    function = functools.partial(compile_function, backend=backend)
    f = as_expr(f)
    wrt = [wrt] if isinstance(wrt, Expr) else list(wrt)
    rng = np.random.default_rng(seed)
    inputs = list(values)
    args = [np.array(values[s], dtype=s.dtype) for s in inputs]
    cost = f
    with f.g:
        if f.ndim:
            w = symbol("w", f.dims, f.dtype)
            shape = np.shape(function(inputs, f)(*args))
            cost, inputs, args = sum_(f * w), inputs + [w], args + [rng.standard_normal(shape)]
        vs = [symbol(f"v{k}", x.dims, x.dtype) for k, x in enumerate(wrt)]
    positions = [inputs.index(x) for x in wrt]
    directions = [rng.standard_normal(args[i].shape) for i in positions]
    errors = {}

    cost_fn = function(inputs, cost)
    grads = grad(cost, wrt)
    grad_fn = function(inputs, grads)
    for x, i, gx in zip(wrt, positions, grad_fn(*args)):
        errors[f"reverse d/d{x.name}"] = _error(gx, central_difference(cost_fn, args, i, eps))
    forward = function(inputs + vs, jvp(cost, wrt, vs))(*args, *directions)
    errors["forward along v"] = _error(
        forward, directional_difference(cost_fn, args, positions, directions, eps))

    if order == 2:
        numeric = directional_difference(grad_fn, args, positions, directions, eps)
        products = {"reverse over reverse": grad(sum(sum_(gx * v) for gx, v in zip(grads, vs)), wrt),
                    "forward over reverse": jvp(grads, wrt, vs)}
        for name, hv in products.items():
            for x, h, n in zip(wrt, function(inputs + vs, hv)(*args, *directions), numeric):
                errors[f"{name} H v, d/d{x.name}"] = _error(h, n)
        blocks = function(inputs, hessian(cost, wrt))(*args)
        for x, row, n in zip(wrt, blocks, numeric):
            hv = sum(np.tensordot(block, d, axes=d.ndim) for block, d in zip(row, directions))
            errors[f"hessian H v, d/d{x.name}"] = _error(hv, n)

    worst = max(errors.values())
    if tol is not None and not worst <= tol:
        rows = "\n".join(f"  {name}: {err:.3g}" for name, err in errors.items())
        raise GradientCheckError(f"check_grad of {f!r}: an error above {tol:g}\n{rows}")
    return worst
