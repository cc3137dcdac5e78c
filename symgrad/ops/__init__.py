"""The primitives, one module per family; importing this package fills the registry."""
from ..op import REGISTRY, Op, register  # noqa: F401
from . import annotate, band, banded, custom, elementwise, linalg, reduce, shape  # noqa: F401
