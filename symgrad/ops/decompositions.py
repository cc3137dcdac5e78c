"""Matrix functions and decompositions (``np.linalg``'s names): solves, inverses, determinants,
factorizations and norms, over leading batch axes."""
from __future__ import annotations
