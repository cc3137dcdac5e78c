"""Helpers that generated code calls as ``rt.NAME`` and constant folding calls directly.

Each takes ``out=`` like a ufunc so the compiler can reuse a dead buffer.
"""
from __future__ import annotations

import numpy as np


def _buffer(x, out):
    """``out``, or a new float array shaped like ``x`` (0-d for scalars) to work in place."""
    if out is not None:
        return out
    x = np.asarray(x)
    return np.empty(x.shape, x.dtype if x.dtype.kind == "f" else np.float64)


def sigmoid(x, out=None):
    """1 / (1 + exp(-x)); exp overflows to inf for x < -709, giving the exact limit 0."""
    r = _buffer(x, out)
    np.negative(x, out=r)
    with np.errstate(over="ignore"):
        np.exp(r, out=r)
    r += 1.0
    return np.reciprocal(r, out=r)


def softplus(x, out=None):
    """log(1 + exp(x)) computed as max(x, 0) + log1p(exp(-|x|)): no overflow at 1000."""
    positive = np.maximum(x, 0)  # read x before `out` (which may be x's buffer) is written
    r = _buffer(x, out)
    np.abs(x, out=r)
    np.negative(r, out=r)
    np.exp(r, out=r)
    np.log1p(r, out=r)
    r += positive
    return r


def relu(x, out=None):
    """max(x, 0)."""
    return np.maximum(x, 0, out=out)


def sign(x, out=None):
    """np.sign, kept in the caller's dtype."""
    return np.sign(x, out=out)


def int_power(x, n, out=None):
    """x ** n for an integer n, exact at 0 (numpy picks fast paths for small n)."""
    if n == 2:
        return np.multiply(x, x, out=out)
    if n == -1:
        return np.reciprocal(x, out=out)
    return np.power(x, x.dtype.type(n) if hasattr(x, "dtype") else n, out=out)


def scatter(g, shape, index, dtype):
    """zeros(shape) with ``g`` written at the basic index ``index`` (the adjoint of x[index])."""
    out = np.zeros(shape, dtype)
    out[index] = g
    return out


def fill(shape, value, dtype):
    """An array of ``shape`` filled with ``value``."""
    return np.full(shape, value, dtype)


def eye_like(n, dtype):
    """The identity matrix of size n."""
    return np.eye(n, dtype=dtype)
