"""Dtype promotion as NumPy 2 does it: arrays and NumPy scalars are strong, Python numbers weak.

A Python number becomes a constant of the dtype it would take in NumPy next to the other
operands (``x32 * 2.0`` stays float32, see :func:`scalar_dtype`), so after wrapping only the
run-time sizes ``X.shape[0]`` are weak: they stand for Python ints.
"""
from __future__ import annotations

import numbers

import numpy as np

from .op import REGISTRY

FLOAT64 = np.dtype(np.float64)
INT64 = np.dtype(np.int64)
BOOL = np.dtype(bool)


def _weak(e) -> bool:
    return e.ndim == 0 and getattr(REGISTRY.get(e.op), "weak_type", False)


def result_dtype(args, kind: str = "same") -> np.dtype:
    """The dtype of an elementwise result: NumPy's promotion of the operands (``kind="float"``
    makes integers float64, ``kind="bool"`` gives bool).

    >>> result_dtype([x32, y64])      # float64
    """
    if kind == "bool":
        return BOOL
    first = args[0].dtype
    if first.kind == "f" and all([a.dtype is first or a.dtype == first for a in args]):
        return first  # the common case, without np.result_type's cost
    strong = [a.dtype for a in args if not _weak(a)]
    dtype = np.result_type(*(strong or [a.dtype for a in args]))
    if dtype.kind in "biu" and any(a.dtype.kind == "f" for a in args):
        dtype = FLOAT64  # a float size: the weak int meets a float
    if kind == "float" and dtype.kind in "biu":
        dtype = FLOAT64
    return np.dtype(dtype)


def scalar_dtype(value, like) -> np.dtype:
    """The dtype NumPy 2 gives the Python number ``value`` next to the operands ``like``: a
    float takes the operands' float dtype (float64 if none), an int their integer or float
    dtype (int64 if none, or if it does not fit), a bool stays bool.

    >>> scalar_dtype(2.0, [x32])      # float32
    """
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    floats = [e.dtype for e in like if e.dtype.kind in "fc"]
    if floats:
        return np.dtype(np.result_type(*floats))
    if isinstance(value, numbers.Integral):
        ints = [e.dtype for e in like if e.dtype.kind in "iu"]
        if ints:
            dtype = np.dtype(np.result_type(*ints))
            info = np.iinfo(dtype)
            if info.min <= value <= info.max:
                return dtype
        return INT64
    return FLOAT64
