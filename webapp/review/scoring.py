"""Scores that order review items without a trained model: plain numpy, arrays in, arrays out.

The model's noise score (likely label errors) comes from ``ml.train``; these two cover what it
cannot see: crops that are probably not faces, and faces far from the rest of their identity
(used before any model knows a newly promoted VIP).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def centroid_outlier_scores(embeddings: ArrayLike, groups: ArrayLike) -> np.ndarray:
    """``1 - cos(x, c_g)`` for each row x of group g, where ``c_g`` is the mean of the *other* rows of g.

    Leaving the face out of its own centroid keeps a lone outlier in a small group from pulling the
    centroid towards itself. Rows are L2-normalised first. A group of one scores 0 (nothing to
    compare with). Scores lie in [0, 2]; higher means further from the rest of the identity.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    groups = np.asarray(groups)
    if x.ndim != 2 or len(x) != len(groups):
        raise ValueError("embeddings must be N x D and groups of length N")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    scores = np.zeros(len(x))
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        if len(rows) < 2:
            continue
        total = x[rows].sum(axis=0)
        others = (total[None, :] - x[rows]) / (len(rows) - 1)
        others /= np.maximum(np.linalg.norm(others, axis=1, keepdims=True), 1e-12)
        scores[rows] = 1.0 - np.sum(x[rows] * others, axis=1)
    return scores


def non_face_scores(detector_scores: ArrayLike, outlier_scores: ArrayLike) -> np.ndarray:
    """How likely a crop is not a face: ``max(1 - detector score, outlier score / 2)``, in [0, 1].

    A missing detector score (NaN: imported crops were never detected) counts as 1 (no evidence
    against the crop), so such crops are ranked by how far they sit from their identity.
    """
    detector = np.nan_to_num(np.asarray(detector_scores, dtype=np.float64), nan=1.0)
    outlier = np.asarray(outlier_scores, dtype=np.float64)
    return np.maximum(1.0 - np.clip(detector, 0.0, 1.0), np.clip(outlier / 2.0, 0.0, 1.0))
