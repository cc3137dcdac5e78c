"""The dask backend (being written)."""
from ..errors import UnsupportedError

raise UnsupportedError("the backend 'dask' is not written yet")
