"""The cupy backend: symgrad's code run on a CUDA GPU by CuPy, CuPy arrays in and out.

The source is NumPy's emission with ``np`` bound to ``cupy`` and dead buffers reused
(``out=``), see symgrad.backends.array_api; constants move to the GPU once, when the
function is compiled.  A 0-d result comes back as a NumPy scalar (the ``np.float64(t)`` of
every backend's output code), larger ones as CuPy arrays.  Without CuPy the import fails
(``pip install 'symgrad[cupy]'``); without a GPU this module says so.
"""
from __future__ import annotations

import cupy

from ..errors import UnsupportedError
from .array_api import cupy_backend


def _gpus() -> int:
    try:
        return cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError:
        return 0


if not _gpus():
    raise UnsupportedError("the backend 'cupy' needs a CUDA GPU, and CuPy finds none here (no GPU)")

import cupyx.scipy.special  # noqa: E402

BACKEND = cupy_backend(cupy, cupyx.scipy.special, cupy.asnumpy)
