"""The primitives, one module per family; importing this package fills the registry."""
from ..op import REGISTRY, Op, register  # noqa: F401
from . import (annotate, arrays, band, banded, custom, decompositions, elementwise,  # noqa: F401
               indexing, linalg, reduce, shape, special)
