"""Deterministic subsamples of a large split, for fitting a few parameters or thinning a curve."""

from __future__ import annotations

import numpy as np


def even_sample(n: int, limit: int) -> np.ndarray:
    """At most ``limit`` of the positions 0..n-1, evenly spaced, both ends kept (all of them when
    n <= limit): a deterministic sample for fitting a few parameters on a large split."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max(limit, 1)).round().astype(np.int64))
