"""``sg.linalg``: NumPy's ``np.linalg`` names and semantics (leading batch axes broadcast as
NumPy does), each a symgrad op with derivatives of every order; ``solve_triangular`` is
SciPy's (``scipy.linalg``).

>>> sg.linalg.solve(K, y)
"""
from __future__ import annotations

from .ops.decompositions import (EighResult, SlogdetResult, cholesky, det, diagonal, eigh, inv,
                                 norm, slogdet, solve, solve_triangular, trace)
from .ops.linalg import cross, matmul, tensordot

__all__: list = ["solve", "solve_triangular", "inv", "det", "slogdet", "cholesky", "eigh",
                 "norm", "trace", "diagonal", "cross", "matmul", "tensordot", "SlogdetResult",
                 "EighResult"]
