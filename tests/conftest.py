"""Shared test helpers: a fresh default graph per test, ``check_grads`` (``sg.check_grad`` at
order 2 with the suite's tolerance) and random programs run in symgrad and NumPy side by side.
"""
from __future__ import annotations

import ast
import functools
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import symgrad as sg

settings.register_profile("symgrad", deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("symgrad")



@pytest.fixture(autouse=True)
def fresh_graph():
    """Every test builds into its own default graph, so tests cannot see each other's nodes."""
    with sg.Graph() as g:
        yield g


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# every derivative check in the suite: first and second order, forward and reverse, against
# central differences (sg.check_grad raises naming the check that failed)
check_grads = functools.partial(sg.check_grad, order=2, tol=1e-5)


# the identifiers generated code may use: its own variables, the names its backend binds, and
# builtins; never a name a user chose
_OWN_NAME = re.compile(r"^(a|d|t|c|S|T)\d+$|^symgrad_(fn|math|call)_\d+$|^(np|rt|math)$"
                       r"|^(quiet|QUIET|restore|_state|args|kwargs|slow|shared|ARRAY|MATH_ERRORS)$"
                       r"|^(structure|unflatten|float|type|len)$"
                       r"|^(da|dk|chunks)$"  # the dask backend's
                       r"|^(tape|r|k\d+)$")  # the numba backend's


def foreign_identifiers(source: str) -> set:
    """The identifiers in generated ``source`` that are not symgrad's own (see _OWN_NAME)."""
    tree = ast.parse(source)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.args}
    return {name for name in names if not _OWN_NAME.match(name)}


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
    it too).  Also returns, per expression, the largest finite magnitude among it and the
    values it was computed from: NumPy's rounding is relative to those, where symgrad's
    rewrites may cancel terms exactly (``(Y + v) - Y - v`` is 0 here, 1e-16 in NumPy)."""
    rng = np.random.default_rng(seed)
    inputs = [sg.matrix("X", (3, 3)), sg.vector("v", 3), sg.scalar("s"), sg.matrix("Y", (3, 3))]
    arrays = [rng.standard_normal((3, 3)), rng.standard_normal(3), np.array(rng.standard_normal()),
              rng.standard_normal((3, 3))]
    exprs, values = list(inputs), list(arrays)
    scales = [_magnitude(a) for a in arrays]
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
        scales.append(max([_magnitude(values[-1])] + [scales[k] for k in operands]))
    return inputs, arrays, exprs, values, scales


def _magnitude(a: np.ndarray) -> float:
    return float(np.max(np.abs(a), initial=0.0, where=np.isfinite(a)))
