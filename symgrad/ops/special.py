"""Special functions (SciPy's ``scipy.special`` names), elementwise ops."""
from __future__ import annotations
