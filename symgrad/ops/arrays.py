"""NumPy's array helpers and constants, built from symgrad's shape ops where they can be."""
from __future__ import annotations
