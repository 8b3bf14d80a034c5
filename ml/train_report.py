"""The parts of a training run's result computed from its predictions: per-split reports,
operating points (by precision and by false-accept rate), calibration, class diagnosis, and
the per-sample predictions and label-error scores."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ml.calibration import expected_calibration_error, reliability_curve
from ml.classifier import Prediction, TopPrediction
from ml.diagnosis import confused_pairs, diagnose_classes
from ml.metrics import OpenSetReport, open_set_report, threshold_for_precision
from ml.noise import VIP_MISLABELLED, NoiseScores
from ml.operating_point import measurable_far, operating_point_for_far
from ml.train_config import TrainData


def split_report(data: TrainData, idx: np.ndarray, prediction: Prediction | TopPrediction) -> OpenSetReport | None:
    if idx.size == 0:
        return None
    return open_set_report(data.labels[idx], prediction.labels[idx], prediction.confidence[idx], data.n_classes)


def precision_operating_points(
    val: OpenSetReport | None, precision_targets: tuple[float, ...]
) -> dict[str, float | None]:
    """Thresholds chosen on val: max mean F1, max total accuracy, and the lowest reaching each precision target."""
    if val is None:
        return {}
    points: dict[str, float | None] = {
        "max_mean_f1": val.at_max_mean_f1.threshold,
        "max_total_accuracy": val.at_max_total_accuracy.threshold,
    }
    for target in precision_targets:
        points[f"precision_{target:g}"] = threshold_for_precision(val.sweep, target)
    return points


NO_UNKNOWN_VAL_REASON = (
    "val holds no faces of unknown people: the thresholds are chosen with each val VIP face also "
    "scored against the other VIPs only, as someone none of them is (a stand-in for unknown people); "
    "import photos of people who are not VIPs for a measured false-tag rate"
)
# The head scorers have no similarity to stand a VIP face in for an unknown person with.
NO_UNKNOWN_VAL_HEAD_REASON = (
    "val holds no faces of unknown people: the thresholds are chosen on VIP faces alone, so nothing "
    "measured how often they would tag someone who is not a VIP; import photos of people who are not "
    "VIPs, or train with the gallery scorer, which stands val VIP faces in for unknown people"
)


def proxy_unknown_report(
    val_labels: np.ndarray, val_prediction: TopPrediction, val_similarities: np.ndarray, gallery: Any
) -> OpenSetReport:
    """The val report with every val VIP face added once more as an unknown person: scored against
    the other VIPs only (:func:`ml.gallery.vip_proxy_rows`), its best match among them and that
    confidence. On a val set of VIPs alone every face is someone's, and every threshold looks
    right; with the stand-ins a threshold must also reject faces of people who are not VIPs."""
    from ml.gallery import vip_proxy_rows

    proxy = vip_proxy_rows(val_similarities, val_labels)
    return open_set_report(
        np.concatenate([val_labels, np.full(len(proxy), -1)]),
        np.concatenate([val_prediction.labels, proxy.argmax(axis=1)]),
        np.concatenate([val_prediction.confidence, gallery.confidence(proxy.max(axis=1))]),
        len(proxy[0]) if len(proxy) else 0,
    )


def calibration_report(
    data: TrainData, idx: np.ndarray, before: Prediction | TopPrediction, after: Prediction | TopPrediction
) -> dict[str, Any] | None:
    """Reliability curves and ECE before and after temperature scaling, over the split's VIP samples
    (correct = right class) and over all its samples (a distractor is never correct)."""
    if idx.size == 0:
        return None
    groups = {"vip": idx[data.labels[idx] >= 0], "all": idx}
    result: dict[str, Any] = {}
    for name, prediction in (("before", before), ("after", after)):
        correct = prediction.labels == data.labels
        result[name] = {
            group: {
                "ece": expected_calibration_error(prediction.confidence[rows], correct[rows]),
                "curve": reliability_curve(prediction.confidence[rows], correct[rows]).as_dict(),
            }
            for group, rows in groups.items()
            if rows.size
        }
    return result


def diagnosis_report(report: OpenSetReport | None, class_names: list[str]) -> dict[str, Any]:
    """Per-class statuses and confused pairs at the threshold of max mean F1."""
    if report is None:
        return {"threshold": None, "classes": [], "confused_pairs": []}
    confusion = report.at_max_mean_f1.confusion
    return {
        "threshold": report.at_max_mean_f1.threshold,
        "classes": [d.as_dict() for d in diagnose_classes(confusion, class_names)],
        "confused_pairs": [p.as_dict() for p in confused_pairs(confusion, class_names)],
    }


def with_label_error_ranking(noise: NoiseScores, label_errors: Any, n_train: int) -> NoiseScores:
    """The train samples' noise report with the label-error margin (:mod:`ml.label_quality`) as
    its score, rank (within the direction) and suggestion; the older components are kept as they are.
    ``label_errors`` covers the train samples first."""
    margin = label_errors.margin[:n_train]
    rank = np.zeros(n_train, dtype=np.int64)
    for members in (
        np.flatnonzero(noise.direction == VIP_MISLABELLED),
        np.flatnonzero(noise.direction != VIP_MISLABELLED),
    ):
        rank[members[np.argsort(-margin[members], kind="stable")]] = np.arange(1, members.size + 1)
    return replace(noise, combined=margin, rank=rank, suggested_label=label_errors.suggested_label[:n_train])


def far_operating_points(
    data: TrainData, val_idx: np.ndarray, prediction: Prediction | TopPrediction, rates: tuple[float, ...]
) -> dict[float, dict[str, Any]]:
    """The operating point for each false-accept rate on the val distractors (:mod:`ml.operating_point`;
    a rate below what they measure is placed at the lowest they do, and says so); none when val holds
    too few distractor faces to measure any rate."""
    distractors = val_idx[data.labels[val_idx] < 0]
    vips = val_idx[data.labels[val_idx] >= 0]
    return {
        far: operating_point_for_far(
            far=far,
            distractor_confidence=prediction.confidence[distractors],
            vip_confidence=prediction.confidence[vips],
            vip_correct=prediction.labels[vips] == data.labels[vips],
        ).as_dict()
        for far in rates
        if measurable_far(far, int(distractors.size)) is not None
    }


def per_sample_report(
    data: TrainData,
    prediction: Prediction | TopPrediction,
    train_idx: np.ndarray,
    noise: NoiseScores,
    labelled: np.ndarray,
    label_errors: Any,
) -> dict[str, dict[str, Any]]:
    """Per-sample predictions for every sample, the label-error probability and hint of every
    labelled sample (:mod:`ml.label_quality`, one queue over all splits) and the older noise scores
    for train samples, keyed by str(sample_id)."""
    samples: dict[str, dict[str, Any]] = {}
    for i in range(len(data.labels)):
        samples[str(int(data.sample_ids[i]))] = {
            "split": str(data.splits[i]),
            "label": int(data.labels[i]),
            "predicted": int(prediction.labels[i]),
            "confidence": float(prediction.confidence[i]),
        }
    for position, i in enumerate(labelled):
        samples[str(int(data.sample_ids[i]))]["label_error"] = {
            "p_wrong": float(label_errors.p_wrong[position]),
            "margin": float(label_errors.margin[position]),
            "suggested_label": int(label_errors.suggested_label[position]),
            "suggested_probability": float(label_errors.suggested_probability[position]),
        }
    for position, i in enumerate(train_idx):
        samples[str(int(data.sample_ids[i]))]["noise"] = {
            "direction": str(noise.direction[position]),
            "score": float(noise.combined[position]),
            "rank": int(noise.rank[position]),
            "suggested_label": int(noise.suggested_label[position]),
            **{name: float(values[position]) for name, values in noise.components.items()},
        }
    return samples
