"""How queue items are ranked and capped: the cap on a queue's items, the top rows by a score, one
item per face, and the label-error probability (``ml.label_quality``) that orders a run's
``likely_wrong`` queue and a chunk's verification queue, with the hint of who a face probably is.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings

from ..models import Item

MIN_P_WRONG = 0.5  # a face is worth a look when its label is more likely wrong than right


def max_items() -> int:
    return max(1, settings.FACECURATOR_REVIEW_MAX_ITEMS)


def top(rows: np.ndarray, scores: np.ndarray, limit: int | None = None) -> np.ndarray:
    """``rows`` sorted by descending score (stable), cut to ``limit``."""
    order = rows[np.argsort(-scores[rows], kind="stable")]
    return order[: limit or max_items()]


def dedupe(items: list[Item]) -> list[Item]:
    """One item per face (the highest-scoring one), keeping the order."""
    seen, kept = set(), []
    for item in items:
        if item.face_id not in seen:
            seen.add(item.face_id)
            kept.append(item)
    return kept


def label_error_scores(*, embeddings: np.ndarray, labels: np.ndarray):
    """``ml.label_quality.score_label_errors`` on these faces (one kNN search), or None with fewer than 2."""
    from ml.label_quality import score_label_errors

    if len(labels) < 2:
        return None
    return score_label_errors(
        np.asarray(embeddings, dtype=np.float32), np.asarray(labels, dtype=np.int64), k=min(20, len(labels) - 1)
    )


def served_score(scores) -> np.ndarray:
    """The item score that serves faces in ``scores.order``: the label-error margin when the scorer
    gives one (it ranks errors better), else ``p_wrong``; ``p_wrong`` is what the payload shows."""
    margin = getattr(scores, "margin", None)
    return np.asarray(margin if margin is not None else scores.p_wrong, dtype=np.float64)


def identity_hint(*, label: int, probability: float, class_identity_ids: list[int], class_names: list[str]) -> dict:
    """Who the face probably is: a VIP (identity, name) or nobody we know (identity None)."""
    if 0 <= label < len(class_names):
        return {"identity": class_identity_ids[label], "name": class_names[label], "probability": round(probability, 4)}
    return {"identity": None, "name": "not a VIP", "probability": round(probability, 4)}
