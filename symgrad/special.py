"""``sg.special``: SciPy's ``scipy.special`` names and semantics, each an elementwise symgrad
op with derivatives of every order (SciPy computes the values; it is imported on first use).

>>> sg.special.erf(x)
"""
from __future__ import annotations

from .ops.elementwise import xlogy
from .ops.special import (digamma, erf, erfc, erfinv, expit, gammaln, log_ndtr, logit, ndtr,
                          polygamma, xlog1py)

__all__: list = ["erf", "erfc", "erfinv", "gammaln", "digamma", "polygamma", "xlogy", "xlog1py",
                 "logit", "expit", "ndtr", "log_ndtr"]
