"""``sg.linalg``: NumPy's ``np.linalg`` names and semantics (leading batch axes broadcast as
NumPy does), each a symgrad op with derivatives of every order.

>>> sg.linalg.solve(K, y)
"""
from __future__ import annotations

__all__: list = []
