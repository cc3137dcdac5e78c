"""The numba backend (being written)."""
from ..errors import UnsupportedError

raise UnsupportedError("the backend 'numba' is not written yet")
