"""The jax backend (being written)."""
from ..errors import UnsupportedError

raise UnsupportedError("the backend 'jax' is not written yet")
