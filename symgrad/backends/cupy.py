"""The cupy backend (being written)."""
from ..errors import UnsupportedError

raise UnsupportedError("the backend 'cupy' is not written yet")
