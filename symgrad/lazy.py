"""A module imported on first use: SymPy costs half a second to import, and most programs
that build and compile graphs never print a formula."""
from __future__ import annotations

import importlib


class LazyModule:
    """Stands for the module ``name`` and imports it when an attribute is first read.

    >>> sympy = LazyModule("sympy"); sympy.exp      # sympy is imported here
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


sympy = LazyModule("sympy")
