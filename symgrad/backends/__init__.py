"""Backends: where generated code runs, and how each op is printed for it.

The compiler plans a function once (order, liveness, buffers) and a backend turns the plan
into running code: each op's emitter for the backend prints a node's expression, the
namespace binds the modules that source names, ``load`` turns the generated Python function
into what is called (``jax.jit`` of it, for instance) and ``asarray`` brings arguments into
the backend's arrays.  ``sg.function(..., backend="jax")`` names one; the modules for
``"numba"``, ``"jax"``, ``"cupy"`` and ``"dask"`` load on first use, so their libraries are
optional extras.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .. import runtime
from ..errors import ArgumentError, UnsupportedError
from ..op import kwargs_code


class Plan(NamedTuple):
    """What a backend lowers into the body of a function (see :meth:`Backend.lower`)."""

    g: object  # the graph
    order: list  # the nodes to compute, constants included, in topological order
    inputs: list  # the input symbols, then the shared variables read: a0, a1, ...
    outputs: list  # the expressions to return, in order
    dim_vars: dict  # {name of a dimension: its variable, d0, d1, ...}
    namespace: dict  # the generated source's globals: bind what it names here
    generic: Callable  # backend -> the lines of one statement per node with its emitters


class Backend:
    """Where generated code runs: the modules its source names and each op's emitter.

    An op's emitter for a backend is ``op.emitters[backend.name]``; ops register theirs
    there (``@op.emitter("name")``) without being edited, and ``emitters`` maps op names to
    emitters ``(op, args, params, ctx, out) -> source`` that this backend object prefers.
    ``namespace`` binds the names the source uses (``np``, ``rt``).  With ``fallback`` the
    NumPy emitter serves ops that have none for this backend; without it such an op is an
    UnsupportedError at compile time.  ``buffers`` lets the code write into dead arrays
    (``out=``) and delete them; ``array_type`` is the class of arrays the fast call path
    accepts as they are (others go through ``asarray``); ``loop_steps`` names the backend
    that compiles the steps of loops (``sg.scan``) when this one does not.

    >>> sg.function([x], sg.exp(x), backend=sg.NUMPY)
    """

    array_type: type = np.ndarray
    quiet_numpy = False  # run the generated code with NumPy's floating-point warnings off
    scalar_math = False  # all-float64-scalar functions also get a body with Python floats
    numpy_scalars = False  # the code takes NumPy scalars (and floats) for 0-d inputs
    loop_steps: str | None = None  # the backend loops' steps compile with, if not this one

    def __init__(self, name: str, namespace: dict, emitters: dict | None = None,
                 fallback: bool = True, *, buffers: bool = True) -> None:
        self.name = name
        self.namespace = namespace
        self.emitters = emitters or {}
        self.fallback = fallback
        self.buffers = buffers

    def emit(self, op, args: list, params: dict, ctx, out: str | None) -> str:
        """Source of one node: this backend's emitter for the op, else the op's own."""
        custom = self.emitters.get(op.name)
        if custom is not None:
            return custom(op, args, params, ctx, out)
        if out is not None:
            return f"{ctx.ref(op.impl)}({', '.join(args)}{kwargs_code(params)}, out={out})"
        emit = op.emitters.get(self.name)
        if emit is None and self.fallback:
            emit = op.emitters["numpy"]
        if emit is None:
            raise UnsupportedError(f"the backend {self.name!r} cannot express the op {op.name!r}")
        return emit(args, params, ctx)

    def lower(self, plan: Plan) -> list:
        """The body's lines (indented four spaces, ending in ``return (results,)``): one
        statement per node printed with each op's emitter for this backend, here."""
        return plan.generic(self)

    def asarray(self, value):
        """An argument as this backend's array (``np.asarray`` here)."""
        return np.asarray(value)

    def astype(self, array, dtype: np.dtype):
        """An argument of another dtype converted to its input's (``array.astype`` here)."""
        return array.astype(dtype)

    def constant(self, value: np.ndarray):
        """A constant as the generated code sees it: a NumPy scalar for a 0-d one."""
        return value[()] if value.ndim == 0 else value

    def options(self) -> dict:
        """The keyword arguments that make this backend again from its class (a pickled
        function keeps them; none here)."""
        return {}

    def load(self, fn, sizes: int):
        """What calls run: the generated ``fn(*arrays, *sizes)`` as it is, here; its last
        ``sizes`` arguments are the sizes of named dimensions (Python ints)."""
        return fn

    def __repr__(self) -> str:
        return f"<symgrad.Backend {self.name}>"


class NumpyBackend(Backend):
    """The default: NumPy calls, buffers reused, floating-point warnings off, and Python
    floats with the ``math`` module for functions whose every value is a float64 scalar."""

    quiet_numpy = True
    scalar_math = True
    numpy_scalars = True


NUMPY = NumpyBackend("numpy", {"np": np, "rt": runtime})
NAMES = ("numpy", "numba", "jax", "cupy", "dask")


def resolve(backend) -> Backend:
    """A Backend from itself or its name, loading an optional backend's module on first use.

    >>> resolve("numpy") is NUMPY
    True
    """
    if isinstance(backend, Backend):
        return backend
    if backend == "numpy":
        return NUMPY
    if backend not in NAMES:
        raise ArgumentError(f"backend must be a Backend or one of {', '.join(map(repr, NAMES))}; "
                            f"got {backend!r}")
    try:
        module = importlib.import_module(f"{__name__}.{backend}")
    except ModuleNotFoundError as err:
        if (err.name or "").startswith(__package__.split(".")[0]):
            raise
        raise UnsupportedError(f"the backend {backend!r} needs {err.name}, which is not "
                               f"installed: pip install 'symgrad[{backend}]'") from None
    return module.BACKEND


def available() -> list:
    """The names of the backends that work here (their libraries installed, a GPU for cupy).

    >>> available()
    ['numpy', 'numba', 'jax', 'dask']
    """
    names = []
    for name in NAMES:
        try:
            resolve(name)
        except UnsupportedError:
            continue
        names.append(name)
    return names
