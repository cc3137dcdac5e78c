"""Shared test helpers: a fresh default graph per test, and the finite-difference check
of first and second derivatives that the op tests run (autograd's ``check_grads`` idea).

``check_grads(out, wrt, values)`` weights ``out`` by random numbers into a scalar cost
``C = sum(out * w)`` and compares

- ``sg.grad(C, wrt)`` with central differences of the compiled ``C``, entry by entry;
- the Hessian-vector product ``sg.grad(sum_i sum(grad_i * v_i), wrt)`` (reverse over
  reverse) with central differences of the compiled gradient along ``v``.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import symgrad as sg

settings.register_profile("symgrad", deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("symgrad")

EPS = 1e-6


@pytest.fixture(autouse=True)
def fresh_graph():
    """Every test builds into its own default graph, so tests cannot see each other's nodes."""
    with sg.Graph() as g:
        yield g


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _weight_symbol(name: str, dims: tuple):
    """A symbol of the given dims when they are ints or plain names, else None."""
    if all(isinstance(d, int) or d.isidentifier() for d in dims):
        return sg.tensor(name, dims)
    return None


def _close(actual, expected, tol: float, what: str) -> None:
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    err = float(np.max(np.abs(actual - expected), initial=0.0))
    assert err <= tol * scale, (f"{what}: symbolic and finite differences differ by {err:.3g} "
                                f"(scale {scale:.3g})\nsymbolic:\n{actual}\nnumeric:\n{expected}")


def central_difference(f, point: list, i: int, eps: float = EPS) -> np.ndarray:
    """The gradient of the scalar ``f(*point)`` wrt ``point[i]``, entry by entry:
    (f(p + eps e) - f(p - eps e)) / (2 eps)."""
    def moved(delta):
        args = [p.copy() for p in point]
        args[i] = args[i] + delta
        return f(*args)
    numeric = np.zeros(point[i].shape)
    for idx in np.ndindex(*point[i].shape):
        unit = np.zeros(point[i].shape)
        unit[idx] = eps
        numeric[idx] = (moved(unit) - moved(-unit)) / (2 * eps)
    return numeric


def check_grads(out, wrt, values: dict, order: int = 2, tol: float = 1e-5, seed: int = 0):
    """Check the first (and with ``order=2`` the second) derivative of ``out`` wrt the symbols
    ``wrt`` against central differences at ``values`` ({symbol: array}, every input)."""
    rng = np.random.default_rng(seed)
    wrt = [wrt] if isinstance(wrt, sg.Expr) else list(wrt)
    symbols = list(values)
    point = [np.array(values[s], dtype=np.float64) for s in symbols]
    out_value = np.asarray(sg.function(symbols, out)(*point))
    weight = _weight_symbol("w", out.dims)
    if weight is None:  # dims such as "n-1" from slicing: weight by a smooth function instead
        cost, inputs, args = sg.sum(sg.sin(out)), symbols, point
    else:
        cost = sg.sum(out * weight)
        inputs, args = symbols + [weight], point + [rng.standard_normal(out_value.shape)]
    positions = [inputs.index(w) for w in wrt]

    grads = sg.grad(cost, wrt)
    for w, gr in zip(wrt, grads):
        assert gr.dims == w.dims and gr.dtype == w.dtype, f"grad wrt {w!r} is {gr!r}"
    f = sg.function(inputs, cost)
    grad_fn = sg.function(inputs, grads)
    exact = grad_fn(*args)
    for w, i, gr in zip(wrt, positions, exact):
        _close(gr, central_difference(f, args, i), tol, f"d/d{w.name} of {out!r}")
    if order < 2:
        return

    vs = [sg.tensor(f"v{k}", w.dims) for k, w in enumerate(wrt)]
    hvp = sg.grad(sum(sg.sum(gr * v) for gr, v in zip(grads, vs)), wrt)
    hvp_fn = sg.function(inputs + vs, hvp)
    directions = [rng.standard_normal(args[i].shape) for i in positions]
    exact = hvp_fn(*args, *directions)
    numeric = _directional(grad_fn, args, positions, directions)
    for w, h, n in zip(wrt, exact, numeric):
        _close(h, n, tol, f"Hessian-vector product wrt {w.name} of {out!r}")


def _directional(fn, args: list, positions: list, directions: list, eps: float = EPS) -> list:
    """Central difference of the list-valued ``fn`` moving every ``args[positions[k]]`` along
    ``directions[k]`` at once."""
    def moved(sign):
        a = [p.copy() for p in args]
        for i, d in zip(positions, directions):
            a[i] = a[i] + sign * eps * d
        return fn(*a)
    up, down = moved(1), moved(-1)
    return [(np.asarray(u) - np.asarray(d)) / (2 * eps) for u, d in zip(up, down)]


# -- random programs: compositions of elementwise ops, matmul and moves on small arrays -------
def _np_sum0(a):
    if a.ndim == 0:  # NumPy accepts axis=0 on 0-d arrays; symgrad's ShapeError is deliberate
        raise ValueError("axis 0 is out of range for a 0-d array")
    return np.sum(a, 0, keepdims=True)


RANDOM_OPS = [  # (arity, symgrad builder, NumPy reference)
    (2, lambda a, b: a + b, np.add), (2, lambda a, b: a - b, np.subtract),
    (2, lambda a, b: a * b, np.multiply), (2, lambda a, b: a @ b, np.matmul),
    (1, sg.sin, np.sin), (1, sg.tanh, np.tanh), (1, sg.sigmoid, lambda a: 1 / (1 + np.exp(-a))),
    (1, lambda a: -a, np.negative), (1, lambda a: a * a, np.square),
    (1, lambda a: a.T, np.transpose), (1, lambda a: sg.sum(a, 0, keepdims=True), _np_sum0),
    (1, lambda a: a[::-1], lambda a: a[::-1]),
    (1, lambda a: sg.maximum(a, 0.5), lambda a: np.maximum(a, 0.5)),
]

PROGRAMS = st.lists(st.tuples(st.integers(0, len(RANDOM_OPS) - 1), st.integers(0, 99),
                              st.integers(0, 99)), min_size=1, max_size=25)


def random_program(program: list, seed: int):
    """Run ``program`` (steps ``(op, i, j)``) in symgrad and NumPy side by side on inputs
    X (3, 3), v (3,), s (), Y (3, 3): returns the inputs, their values, every expression
    built and its NumPy value.  A step whose shapes do not fit is skipped (NumPy must refuse
    it too)."""
    rng = np.random.default_rng(seed)
    inputs = [sg.matrix("X", (3, 3)), sg.vector("v", 3), sg.scalar("s"), sg.matrix("Y", (3, 3))]
    arrays = [rng.standard_normal((3, 3)), rng.standard_normal(3), np.array(rng.standard_normal()),
              rng.standard_normal((3, 3))]
    exprs, values = list(inputs), list(arrays)
    for op, i, j in program:
        arity, build, reference = RANDOM_OPS[op]
        # the first operand is one of the last three values, so chains (and dead buffers) form
        operands = [len(exprs) - 1 - i % 3, j % len(exprs)][:arity]
        try:
            e = build(*(exprs[k] for k in operands))
        except sg.ShapeError:  # e.g. matmul of a scalar
            with pytest.raises((ValueError, IndexError)):
                reference(*(values[k] for k in operands))
            continue
        exprs.append(e)
        values.append(np.asarray(reference(*(values[k] for k in operands))))
    return inputs, arrays, exprs, values
