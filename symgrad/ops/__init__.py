"""The primitives, one module per family; importing this package fills the registry."""
from . import annotate, band, elementwise, linalg, reduce, shape  # noqa: F401  (registration)
from .base import REGISTRY, Op, register  # noqa: F401
