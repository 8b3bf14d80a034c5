"""Open-set evaluation: VIP identification with rejection of distractors by a confidence threshold.

Conventions: labels 0..C-1 are VIPs, -1 is a distractor. A prediction is the top VIP class and
its calibrated confidence; :func:`is_rejected` alone decides whether it is rejected (turned into
"Distractor"), and every metric here goes through it.

Definitions at a threshold t (N samples, N+ VIP samples, N- distractors):

* distractor accuracy = distractors rejected / N-
* identification accuracy = VIP samples accepted with the right class / N+
* total accuracy = (VIPs accepted and right + distractors rejected) / N
* kept accuracy = VIPs accepted and right / all accepted predictions (the precision of what the
  admin would see tagged; NaN when nothing is accepted)
* VIP acceptance (the "TPR" of "accuracy at 95% TPR") = VIP samples accepted, right or wrong / N+
* per VIP class c: precision = right c / predicted c (0 if none predicted), recall = right c /
  support c, F1 = 2 right / (predicted + support); mean F1 averages the VIP classes present in
  the labels (support > 0).
* F1 AUC = the integral of mean F1 over t in [0, 1] (exact: mean F1 is a step function of t).

The confusion matrix has one row and one column per VIP class plus a last "Distractor" row
(true distractors) and column (rejected predictions). Everything is vectorised numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ml.sampling import even_sample

DISTRACTOR = -1


def is_rejected(confidence: ArrayLike, threshold: ArrayLike) -> np.ndarray:
    """THE rejection rule: a prediction is rejected (-> Distractor) when its confidence < threshold (broadcasts)."""
    return np.asarray(confidence) < np.asarray(threshold)


def apply_threshold(predicted: ArrayLike, confidence: ArrayLike, threshold: float) -> np.ndarray:
    """Predicted VIP labels with rejected predictions replaced by -1 (Distractor)."""
    predicted = np.asarray(predicted)
    return np.where(is_rejected(confidence, threshold), DISTRACTOR, predicted)


def confusion_matrix(labels: ArrayLike, decided: ArrayLike, n_classes: int) -> np.ndarray:
    """(C+1) x (C+1) counts, rows = true label, columns = decided label, index C = Distractor (-1)."""
    true = np.asarray(labels, dtype=np.int64)
    pred = np.asarray(decided, dtype=np.int64)
    true = np.where(true < 0, n_classes, true)
    pred = np.where(pred < 0, n_classes, pred)
    size = n_classes + 1
    return np.bincount(true * size + pred, minlength=size * size).reshape(size, size)


def _divide(numerator: ArrayLike, denominator: ArrayLike, empty: float = np.nan) -> np.ndarray:
    """numerator / denominator with ``empty`` where the denominator is 0."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, empty)
    np.divide(num, den, out=out, where=den != 0)
    return out


@dataclass(frozen=True)
class ClassScores:
    """Per-class precision, recall, F1 and support; arrays of length C+1, the last entry is Distractor."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


def class_scores(confusion: np.ndarray) -> ClassScores:
    """Precision / recall / F1 / support per row of a confusion matrix (Distractor row included)."""
    right = np.diag(confusion)
    predicted = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    return ClassScores(
        precision=_divide(right, predicted, empty=0.0),
        recall=_divide(right, support),
        f1=_divide(2 * right, predicted + support, empty=0.0),
        support=support,
    )


def _summary(
    *,
    right: np.ndarray,
    vip_accepted: np.ndarray,
    distractors_rejected: np.ndarray,
    accepted: np.ndarray,
    right_per_class: np.ndarray,
    predicted_per_class: np.ndarray,
    support: np.ndarray,
    n_vip: int,
    n_distractors: int,
) -> dict[str, np.ndarray]:
    """The headline metrics from counts (scalars, or arrays over thresholds with a trailing class axis for the per-class counts)."""
    return {
        **_counts_summary(
            right=right,
            vip_accepted=vip_accepted,
            distractors_rejected=distractors_rejected,
            accepted=accepted,
            n_vip=n_vip,
            n_distractors=n_distractors,
        ),
        "mean_f1": _mean_f1(right_per_class, predicted_per_class, support, np.shape(right)),
    }


def _mean_f1(
    right_per_class: np.ndarray, predicted_per_class: np.ndarray, support: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """Mean F1 over the classes with support (NaN without any), per leading index."""
    f1 = _divide(2 * right_per_class, predicted_per_class + support, empty=0.0)
    present = support > 0
    mean_f1 = f1[..., present].mean(axis=-1) if present.any() else np.full(shape, np.nan)
    return np.asarray(mean_f1, dtype=np.float64)


def _counts_summary(
    *,
    right: np.ndarray,
    vip_accepted: np.ndarray,
    distractors_rejected: np.ndarray,
    accepted: np.ndarray,
    n_vip: int,
    n_distractors: int,
) -> dict[str, np.ndarray]:
    return {
        "distractor_accuracy": _divide(distractors_rejected, n_distractors),
        "identification_accuracy": _divide(right, n_vip),
        "total_accuracy": _divide(right + distractors_rejected, n_vip + n_distractors),
        "kept_accuracy": _divide(right, accepted),
        "vip_acceptance": _divide(vip_accepted, n_vip),
    }


@dataclass(frozen=True)
class ThresholdResult:
    """All metrics at one threshold, with the confusion matrix and the per-class table."""

    threshold: float
    distractor_accuracy: float
    identification_accuracy: float
    total_accuracy: float
    kept_accuracy: float
    vip_acceptance: float
    mean_f1: float
    confusion: np.ndarray
    per_class: ClassScores

    def as_dict(self, class_names: list[str]) -> dict[str, object]:
        """JSON-ready: floats (None for NaN), the confusion matrix's non-zero cells as [true row, decided
        column, count] (a dense matrix is (C + 1)^2 numbers: 4 million at 2,000 VIPs), and one row per
        class plus Distractor."""
        names = [*class_names, "Distractor"]
        rows, columns = np.nonzero(self.confusion)
        scores = self.per_class
        return {
            "threshold": _json_float(self.threshold),
            "distractor_accuracy": _json_float(self.distractor_accuracy),
            "identification_accuracy": _json_float(self.identification_accuracy),
            "total_accuracy": _json_float(self.total_accuracy),
            "kept_accuracy": _json_float(self.kept_accuracy),
            "vip_acceptance": _json_float(self.vip_acceptance),
            "mean_f1": _json_float(self.mean_f1),
            "confusion": {
                "labels": names,
                "cells": np.stack([rows, columns, self.confusion[rows, columns]], axis=1).tolist(),
            },
            "per_class": [
                {
                    "class_index": i if i < len(class_names) else DISTRACTOR,
                    "name": name,
                    "precision": _json_float(scores.precision[i]),
                    "recall": _json_float(scores.recall[i]),
                    "f1": _json_float(scores.f1[i]),
                    "support": int(scores.support[i]),
                }
                for i, name in enumerate(names)
            ],
        }


def evaluate_at_threshold(
    labels: ArrayLike, predicted: ArrayLike, confidence: ArrayLike, threshold: float, n_classes: int
) -> ThresholdResult:
    """Every metric of the module docstring for one threshold, from the confusion matrix."""
    confusion = confusion_matrix(labels, apply_threshold(predicted, confidence, threshold), n_classes)
    vip_rows = confusion[:n_classes]
    right_per_class = np.diag(confusion)[:n_classes]
    summary = _summary(
        right=right_per_class.sum(),
        vip_accepted=vip_rows[:, :n_classes].sum(),
        distractors_rejected=confusion[n_classes, n_classes],
        accepted=confusion[:, :n_classes].sum(),
        right_per_class=right_per_class,
        predicted_per_class=confusion[:, :n_classes].sum(axis=0),
        support=vip_rows.sum(axis=1),
        n_vip=int(vip_rows.sum()),
        n_distractors=int(confusion[n_classes].sum()),
    )
    return ThresholdResult(
        threshold=float(threshold),
        confusion=confusion,
        per_class=class_scores(confusion),
        **{key: float(value) for key, value in summary.items()},
    )


@dataclass(frozen=True)
class ThresholdSweep:
    """Metrics at every distinct threshold, ascending: each distinct confidence (accept those >= it)
    and finally one just above the largest (reject everything)."""

    thresholds: np.ndarray
    distractor_accuracy: np.ndarray
    identification_accuracy: np.ndarray
    total_accuracy: np.ndarray
    kept_accuracy: np.ndarray
    vip_acceptance: np.ndarray
    mean_f1: np.ndarray

    @property
    def f1_auc(self) -> float:
        """Integral of mean F1 over t in [0, 1]: on (t_{k-1}, t_k] the accepted set is {conf >= t_k}
        (t_{-1} = 0), and past the largest confidence nothing is accepted."""
        confidences = self.thresholds[:-1]
        lower = np.concatenate([[0.0], confidences[:-1]])
        widths = np.clip(confidences, 0.0, 1.0) - np.clip(lower, 0.0, 1.0)
        tail = 1.0 - np.clip(confidences[-1], 0.0, 1.0)
        return float(np.sum(widths * self.mean_f1[:-1]) + tail * self.mean_f1[-1])

    def as_dict(self, max_points: int = 256) -> dict[str, list[float | None]]:
        """JSON-ready curves, thinned to at most ``max_points`` evenly spaced thresholds (ends kept)."""
        n = len(self.thresholds)
        keep = even_sample(n, max_points)
        fields = (
            "thresholds",
            "distractor_accuracy",
            "identification_accuracy",
            "total_accuracy",
            "kept_accuracy",
            "vip_acceptance",
            "mean_f1",
        )
        return {name: [_json_float(v) for v in getattr(self, name)[keep]] for name in fields}


SWEEP_BLOCK = 2_000_000  # per-class counts held at once by the sweep's mean F1 (16 MB of int64 each)


def _accepted_counts(confidence_desc: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of the descending confidences each threshold accepts, asking only :func:`is_rejected`.

    Accepted predictions form a prefix of the descending order, so a vectorised bisection over the
    prefix length finds the first rejected position for every threshold at once.
    """
    n = len(confidence_desc)
    lo = np.zeros(len(thresholds), dtype=np.int64)
    hi = np.full(len(thresholds), n, dtype=np.int64)
    while np.any(lo < hi):
        active = lo < hi
        mid = (lo + hi) // 2
        rejected = is_rejected(confidence_desc[np.minimum(mid, n - 1)], thresholds)
        hi = np.where(active & rejected, mid, hi)
        lo = np.where(active & ~rejected, mid + 1, lo)
    return lo


def threshold_sweep(labels: ArrayLike, predicted: ArrayLike, confidence: ArrayLike, n_classes: int) -> ThresholdSweep:
    """Metrics at every distinct threshold in one vectorised pass (prefix sums over the samples sorted by confidence)."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    confidence = np.asarray(confidence, dtype=np.float64)
    if labels.size == 0:
        raise ValueError("cannot sweep thresholds over an empty set")
    order = np.argsort(-confidence, kind="stable")
    conf_desc, true_desc, pred_desc = confidence[order], labels[order], predicted[order]
    vip = true_desc >= 0
    right = vip & (pred_desc == true_desc)

    def prefix(values: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros((1, *values.shape[1:]), dtype=np.int64), np.cumsum(values, axis=0)])

    distinct = np.unique(confidence)
    thresholds = np.concatenate([distinct, [np.nextafter(distinct[-1], np.inf)]])
    n_accepted = _accepted_counts(conf_desc, thresholds)
    n_vip = int(vip.sum())
    n_distractors = len(labels) - n_vip
    support = np.bincount(labels[labels >= 0], minlength=n_classes)
    summary = _counts_summary(
        right=prefix(right)[n_accepted],
        vip_accepted=prefix(vip)[n_accepted],
        distractors_rejected=n_distractors - prefix(~vip)[n_accepted],
        accepted=n_accepted,
        n_vip=n_vip,
        n_distractors=n_distractors,
    )
    return ThresholdSweep(
        thresholds=thresholds, mean_f1=_mean_f1_per_threshold(pred_desc, right, n_accepted, support), **summary
    )


def _mean_f1_per_threshold(
    pred_desc: np.ndarray, right: np.ndarray, n_accepted: np.ndarray, support: np.ndarray
) -> np.ndarray:
    """Mean F1 over the classes with support at each threshold (accepting the first ``n_accepted``
    of the descending samples), the per-class counts built a block of thresholds at a time (about
    SWEEP_BLOCK counts held), never as a samples x classes matrix. ``n_accepted`` is ascending-threshold,
    so descending in prefix length."""
    n_classes = len(support)
    if not (support > 0).any() or not len(n_accepted):
        return np.full(len(n_accepted), np.nan)
    out = np.empty(len(n_accepted), dtype=np.float64)
    by_length = np.argsort(n_accepted, kind="stable")
    lengths = n_accepted[by_length]
    rows = max(1, SWEEP_BLOCK // max(n_classes, 1))
    predicted = np.zeros(n_classes, dtype=np.int64)
    right_counts = np.zeros(n_classes, dtype=np.int64)
    done = 0  # samples already counted into predicted / right_counts
    for start in range(0, len(lengths), rows):
        want = lengths[start : start + rows]
        # counts after each sample from `done` to the block's longest prefix, relative to `done`
        span = int(want[-1]) - done
        step_pred = np.zeros((span + 1, n_classes), dtype=np.int64)
        step_right = np.zeros((span + 1, n_classes), dtype=np.int64)
        positions = np.arange(done, done + span)
        step_pred[np.arange(1, span + 1), pred_desc[positions]] = 1
        step_right[np.arange(1, span + 1), pred_desc[positions]] = right[positions]
        cum_pred = predicted + np.cumsum(step_pred, axis=0)
        cum_right = right_counts + np.cumsum(step_right, axis=0)
        at = want - done
        out[by_length[start : start + rows]] = _mean_f1(cum_right[at], cum_pred[at], support, (len(at),))
        predicted, right_counts, done = cum_pred[-1], cum_right[-1], done + span
    return out


def threshold_for_precision(sweep: ThresholdSweep, target: float) -> float | None:
    """The admin's operating point: the lowest threshold whose kept accuracy >= ``target`` (None if none reaches it)."""
    reached = np.flatnonzero(np.nan_to_num(sweep.kept_accuracy, nan=-np.inf) >= target)
    return float(sweep.thresholds[reached[0]]) if reached.size else None


def threshold_for_vip_acceptance(sweep: ThresholdSweep, rate: float) -> float:
    """The highest threshold that still accepts at least ``rate`` of the VIP samples ("at 95% TPR")."""
    reached = np.flatnonzero(np.nan_to_num(sweep.vip_acceptance, nan=-np.inf) >= rate)
    return float(sweep.thresholds[reached[-1]]) if reached.size else float(sweep.thresholds[0])


@dataclass(frozen=True)
class OpenSetReport:
    """The test evaluation: the sweep, detailed results at the best thresholds and at fixed VIP acceptance."""

    sweep: ThresholdSweep
    at_max_total_accuracy: ThresholdResult
    at_max_mean_f1: ThresholdResult
    at_vip_acceptance: dict[float, ThresholdResult]

    def as_dict(self, class_names: list[str]) -> dict[str, object]:
        """JSON-ready report."""
        return {
            "f1_auc": _json_float(self.sweep.f1_auc),
            "at_max_total_accuracy": self.at_max_total_accuracy.as_dict(class_names),
            "at_max_mean_f1": self.at_max_mean_f1.as_dict(class_names),
            "at_vip_acceptance": {
                f"{rate:g}": {
                    "threshold": result.threshold,
                    "identification_accuracy": _json_float(result.identification_accuracy),
                    "total_accuracy": _json_float(result.total_accuracy),
                    "vip_acceptance": _json_float(result.vip_acceptance),
                }
                for rate, result in self.at_vip_acceptance.items()
            },
            "sweep": self.sweep.as_dict(),
        }


def open_set_report(
    labels: ArrayLike,
    predicted: ArrayLike,
    confidence: ArrayLike,
    n_classes: int,
    vip_acceptance_rates: tuple[float, ...] = (0.95, 0.99),
) -> OpenSetReport:
    """Sweep all thresholds, then evaluate in detail at max total accuracy, at max mean F1 (the
    lowest threshold on ties) and at each VIP acceptance rate."""
    sweep = threshold_sweep(labels, predicted, confidence, n_classes)

    def at(threshold: float) -> ThresholdResult:
        return evaluate_at_threshold(labels, predicted, confidence, threshold, n_classes)

    def best(values: np.ndarray) -> float:
        return float(sweep.thresholds[int(np.argmax(np.nan_to_num(values, nan=-np.inf)))])

    return OpenSetReport(
        sweep=sweep,
        at_max_total_accuracy=at(best(sweep.total_accuracy)),
        at_max_mean_f1=at(best(sweep.mean_f1)),
        at_vip_acceptance={rate: at(threshold_for_vip_acceptance(sweep, rate)) for rate in vip_acceptance_rates},
    )


def _json_float(value: float | np.floating) -> float | None:
    """A float for JSON, None for NaN / inf."""
    value = float(value)
    return value if np.isfinite(value) else None
