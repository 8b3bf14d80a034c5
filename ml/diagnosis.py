"""What to do next per VIP class, and which identities the model mixes up.

A class is ``low_precision`` when other faces end up predicted as it: its training data probably
holds other people, so rework its data. It is ``low_recall`` when its own faces are missed
(rejected or taken for someone else): add samples. ``low_precision_and_recall`` when both, ``ok``
otherwise. Low means below an absolute floor, or a low outlier against the other classes by a
robust z-score (median and MAD), so one bad class stands out even when every class is decent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from ml.metrics import class_scores

OK = "ok"
LOW_PRECISION = "low_precision"
LOW_RECALL = "low_recall"
LOW_PRECISION_AND_RECALL = "low_precision_and_recall"


def robust_z_scores(values: ArrayLike) -> np.ndarray:
    """Modified z-scores ``(x - median) / (1.4826 MAD)`` (NaN stays NaN).

    When more than half the values are equal (MAD = 0) the mean absolute deviation, scaled by
    1.2533, replaces it; when every value is equal, all scores are 0.
    """
    x = np.asarray(values, dtype=np.float64)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return np.full_like(x, np.nan)
    median = np.median(finite)
    scale = 1.4826 * np.median(np.abs(finite - median))
    if scale == 0:
        scale = 1.2533 * np.mean(np.abs(finite - median))
    if scale == 0:
        return np.where(np.isfinite(x), 0.0, np.nan)
    return (x - median) / scale


@dataclass(frozen=True)
class ClassDiagnosis:
    """One VIP class's status, the numbers behind it and the reasons in words."""

    class_index: int
    name: str
    status: str
    precision: float | None
    recall: float | None
    support: int
    precision_z: float | None
    recall_z: float | None
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "reasons": list(self.reasons)}


def _low(
    values: np.ndarray, z: np.ndarray, floor: float, outlier_z: float, what: str
) -> tuple[np.ndarray, list[list[str]]]:
    below = np.isfinite(values) & (values < floor)
    outlier = np.isfinite(z) & (z < -outlier_z)
    reasons = [
        ([f"{what} {v:.2f} below {floor:.2f}"] if b else [])
        + ([f"{what} {v:.2f} far below the other classes (robust z {zz:.1f})"] if o else [])
        for v, zz, b, o in zip(values, z, below, outlier, strict=True)
    ]
    return below | outlier, reasons


def diagnose_classes(
    confusion: np.ndarray,
    class_names: list[str],
    *,
    min_precision: float = 0.9,
    min_recall: float = 0.8,
    outlier_z: float = 3.0,
    min_classes_for_outliers: int = 5,
) -> list[ClassDiagnosis]:
    """A :class:`ClassDiagnosis` per VIP class from an open-set confusion matrix (:func:`ml.metrics.confusion_matrix`).

    Precision is unknown (None) for a class nothing was predicted as, recall for a class with no
    sample in the evaluated set; unknown numbers flag nothing. The outlier rule needs at least
    ``min_classes_for_outliers`` classes with known values.
    """
    n_classes = len(class_names)
    scores = class_scores(confusion)
    predicted = confusion[:, :n_classes].sum(axis=0)
    precision = np.where(predicted > 0, scores.precision[:n_classes], np.nan)
    recall = scores.recall[:n_classes]

    def z_of(values: np.ndarray) -> np.ndarray:
        if np.isfinite(values).sum() < min_classes_for_outliers:
            return np.full_like(values, np.nan)
        return robust_z_scores(values)

    precision_z, recall_z = z_of(precision), z_of(recall)
    low_precision, precision_reasons = _low(precision, precision_z, min_precision, outlier_z, "precision")
    low_recall, recall_reasons = _low(recall, recall_z, min_recall, outlier_z, "recall")
    status = np.select(
        [low_precision & low_recall, low_precision, low_recall],
        [LOW_PRECISION_AND_RECALL, LOW_PRECISION, LOW_RECALL],
        default=OK,
    )

    def known(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None

    return [
        ClassDiagnosis(
            class_index=c,
            name=class_names[c],
            status=str(status[c]),
            precision=known(precision[c]),
            recall=known(recall[c]),
            support=int(scores.support[c]),
            precision_z=known(precision_z[c]),
            recall_z=known(recall_z[c]),
            reasons=tuple(precision_reasons[c] + recall_reasons[c]),
        )
        for c in range(n_classes)
    ]


@dataclass(frozen=True)
class ConfusedPair:
    """Two VIP classes and how often each was taken for the other; ``rate`` = both counts / both supports."""

    a: int
    b: int
    name_a: str
    name_b: str
    a_as_b: int
    b_as_a: int
    rate: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def confused_pairs(confusion: np.ndarray, class_names: list[str], *, top: int = 10) -> list[ConfusedPair]:
    """The ``top`` most confused pairs of VIP identities (both directions counted), most confusions first."""
    n_classes = len(class_names)
    vip = confusion[:n_classes, :n_classes]
    support = confusion[:n_classes].sum(axis=1)
    a, b = np.triu_indices(n_classes, k=1)
    both = vip[a, b] + vip[b, a]
    rate = both / np.maximum(support[a] + support[b], 1)
    order = np.lexsort((-rate, -both))
    order = order[both[order] > 0][:top]
    return [
        ConfusedPair(
            a=int(a[i]),
            b=int(b[i]),
            name_a=class_names[a[i]],
            name_b=class_names[b[i]],
            a_as_b=int(vip[a[i], b[i]]),
            b_as_a=int(vip[b[i], a[i]]),
            rate=float(rate[i]),
        )
        for i in order
    ]
