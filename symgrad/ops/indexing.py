"""Integer-array indexing, gathers and functional updates (``x.at[idx].set(v)``)."""
from __future__ import annotations
