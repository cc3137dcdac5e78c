"""Finite-difference check of symbolic gradients."""
from __future__ import annotations

import numpy as np

from .autodiff import grad
from .compile import function
from .expr import Expr


def check_grad(cost: Expr, wrt, values: dict, eps: float = 1e-6) -> float:
    """Largest relative error of ``sg.grad(cost, wrt)`` against central differences.

    ``values`` gives every symbol ``cost`` depends on.  Each entry of each ``wrt`` is
    moved by ``±eps``, so this costs two evaluations per entry: use it on small problems.

    >>> sg.check_grad(sg.sin(x) * y, [x, y], {x: 0.3, y: 2.0}) < 1e-6
    True
    """
    wrt_list = [wrt] if isinstance(wrt, Expr) else list(wrt)
    symbols = list(values)
    point = [np.array(values[s], dtype=s.dtype) for s in symbols]
    f = function(symbols, cost)
    exact = function(symbols, grad(cost, wrt_list))(*point)
    worst = 0.0
    for w, g in zip(wrt_list, exact):
        i = symbols.index(w)
        numeric = np.zeros(point[i].shape)
        for idx in np.ndindex(*point[i].shape):
            up = [p.copy() for p in point]
            down = [p.copy() for p in point]
            up[i][idx] += eps
            down[i][idx] -= eps
            numeric[idx] = (f(*up) - f(*down)) / (2 * eps)
        scale = np.maximum(1.0, np.maximum(np.abs(numeric), np.abs(g)))
        worst = max(worst, float(np.max(np.abs(numeric - g) / scale, initial=0.0)))
    return worst
