"""``sg.special``: SciPy's ``scipy.special`` names and semantics, each an elementwise symgrad
op with derivatives of every order.

>>> sg.special.erf(x)
"""
from __future__ import annotations

__all__: list = []
