"""A run's numbers from its frozen samples: predictions per split, the threshold sweep, and its
metrics at one threshold, named (the one truth every screen shows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..models import RunSample, TrainingRun

if TYPE_CHECKING:
    from ml.metrics import ThresholdSweep


@dataclass(frozen=True)
class SplitPredictions:
    labels: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    n_classes: int

    def __len__(self) -> int:
        return len(self.labels)


def run_predictions(*, run: TrainingRun, split: str = "val") -> SplitPredictions:
    """The calibrated predictions a run made on one split (from its stored per-sample scores)."""
    rows = np.array(
        list(
            RunSample.objects.filter(run=run, split=split, predicted__isnull=False)
            .order_by("face_id")
            .values_list("label", "predicted", "confidence")
        ),
        dtype=np.float64,
    ).reshape(-1, 3)
    return SplitPredictions(
        labels=rows[:, 0].astype(np.int64),
        predicted=rows[:, 1].astype(np.int64),
        confidence=rows[:, 2],
        n_classes=len(run.vips),
    )


def run_sweep(*, run: TrainingRun, split: str = "val") -> ThresholdSweep | None:
    """The exact threshold sweep on a split (:func:`ml.metrics.threshold_sweep`), or None if it is empty."""
    from ml.metrics import threshold_sweep

    predictions = run_predictions(run=run, split=split)
    if len(predictions) == 0 or predictions.n_classes == 0:
        return None
    return threshold_sweep(predictions.labels, predictions.predicted, predictions.confidence, predictions.n_classes)


def run_evaluation(*, run: TrainingRun, threshold: float, split: str = "val") -> dict | None:
    """Every open-set metric of a run on a split at one threshold (JSON-ready), or None if the split is empty."""
    from ml.metrics import evaluate_at_threshold

    predictions = run_predictions(run=run, split=split)
    if len(predictions) == 0 or predictions.n_classes == 0:
        return None
    result = evaluate_at_threshold(
        predictions.labels, predictions.predicted, predictions.confidence, threshold, predictions.n_classes
    )
    return result.as_dict(run.class_names)


HEADLINE_SPLIT = "val"  # the split thresholds are chosen on; numbers read at a threshold chosen on test never headline


def run_metrics_at(*, run: TrainingRun, threshold: float, basis: str = "the operating point") -> dict | None:
    """THE headline of run ``run`` at ``threshold`` on validation, named: every surface (runs table,
    dashboard, gate, operating-point panel, ``curation_status``) shows this dict.

    ``label`` says where it was read ("at the operating point 0.780"); ``precision`` is the
    precision of what would be tagged (kept accuracy), ``recall`` the share of VIP faces tagged
    with the right name (identification accuracy); ``f1_auc`` is threshold-free. None when the
    run has no validation predictions.
    """
    evaluation = run_evaluation(run=run, threshold=threshold, split=HEADLINE_SPLIT)
    if evaluation is None:
        return None
    split_metrics = run.metrics.get(HEADLINE_SPLIT) or {}
    return {
        "threshold": float(threshold),
        "split": HEADLINE_SPLIT,
        "basis": basis,
        "label": f"at {basis} {threshold:.3f}",
        "precision": evaluation["kept_accuracy"],
        "recall": evaluation["identification_accuracy"],
        "mean_f1": evaluation["mean_f1"],
        "distractor_accuracy": evaluation["distractor_accuracy"],
        "vip_acceptance": evaluation["vip_acceptance"],
        "total_accuracy": evaluation.get("total_accuracy"),
        "f1_auc": split_metrics.get("f1_auc"),
    }
