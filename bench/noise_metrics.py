"""How well a suspicion ranking finds injected label errors: precision at n, average precision,
the share found in the first 10%, and a flagged set's precision and recall."""

from __future__ import annotations

import math

import numpy as np


def ranking_metrics(is_error: np.ndarray, score: np.ndarray, rng: np.random.Generator) -> dict[str, float | None]:
    """Precision at n (= recall at n), average precision and the share of errors in the first 10%,
    for the queue sorted by descending score (ties in a random order, never by position)."""
    n_errors = int(is_error.sum())
    if n_errors == 0:
        return {
            "precision_at_n": None,
            "recall_at_n": None,
            "average_precision": None,
            "found_in_first_10pct": None,
            "n_errors": 0,
            "n_samples": len(is_error),
        }
    order = np.lexsort((rng.random(len(score)), -score))
    hits = is_error[order].astype(np.float64)
    found = np.cumsum(hits)
    precision_at_rank = found / np.arange(1, len(hits) + 1)
    at_n = float(found[n_errors - 1]) / n_errors
    first = max(1, math.ceil(0.10 * len(hits)))
    return {
        "precision_at_n": at_n,
        "recall_at_n": at_n,
        "average_precision": float(np.sum(precision_at_rank * hits) / n_errors),
        "found_in_first_10pct": float(found[first - 1]) / n_errors,
        "n_errors": n_errors,
        "n_samples": len(hits),
    }


def set_metrics(is_error: np.ndarray, flagged: np.ndarray) -> dict[str, float | None]:
    hits = int(np.sum(is_error & flagged))
    return {
        "flagged": int(flagged.sum()),
        "precision": hits / flagged.sum() if flagged.any() else None,
        "recall": hits / is_error.sum() if is_error.any() else None,
    }
