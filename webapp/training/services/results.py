"""From a finished run's ``RunResult`` to what is stored: the per-face outcome the review queues
are built from, the scored samples, the headline metrics and per-class table, and the
threshold the queues use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from webapp.core.exceptions import InvalidTransition

from .. import selectors
from ..models import OperatingPoint, RunSample, TrainingRun
from .acceptance import carried_choice

if TYPE_CHECKING:
    from ml.label_quality import LabelErrorScores
    from webapp.review.builders import RunOutcome


def run_outcome(
    *,
    run: TrainingRun,
    result: Mapping[str, Any],
    face_ids: np.ndarray,
    labels: np.ndarray,
    splits: np.ndarray,
    identity_ids: np.ndarray,
    predictions: Iterable,
    embeddings: np.ndarray,
) -> RunOutcome:
    """The per-face view of a finished run that the review queues are built from.

    ``ml.train`` scores label noise on the train split only, but a wrong label in val or test
    distorts every metric. So the noise score is recomputed over all faces with
    :func:`ml.noise.score_label_noise` (one ranking across splits, neighbours found among every
    face): the train faces keep their training-loss and cross-fitted loss components from the
    run; val and test faces, never trained on, bring their calibrated loss as out-of-sample loss
    (-log p(label) for a VIP face, -entropy for a distractor, as the ME loss measures them).

    The label-error probabilities (:mod:`ml.label_quality`, the merged queue's order and hints)
    are the run's own, read from ``samples[id]["label_error"]``: scored once, by the run.
    """
    from ml.noise import score_label_noise
    from webapp.review.builders import RunOutcome

    samples = result["samples"]
    n, n_classes = len(face_ids), len(run.vips)
    predicted = np.array([samples[str(int(i))]["predicted"] for i in face_ids], dtype=np.int64)
    confidence = np.array([samples[str(int(i))]["confidence"] for i in face_ids], dtype=np.float64)
    k = min(5, n_classes)
    calibrated_loss = np.empty(n, dtype=np.float64)
    topk = np.zeros((n, k), dtype=np.int64)
    topk_probabilities = np.zeros((n, k), dtype=np.float64)
    for rows, part in predictions:  # the calibrated model's predictions, a chunk of faces at a time
        probs = np.asarray(part.probs, dtype=np.float64)
        own = probs[np.arange(len(probs)), np.maximum(labels[rows], 0)]
        calibrated_loss[rows] = np.where(
            labels[rows] >= 0,
            -np.log(np.clip(own, 1e-12, 1.0)),
            np.sum(probs * np.log(np.clip(probs, 1e-12, 1.0)), axis=1),
        )
        topk[rows] = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        topk_probabilities[rows] = np.take_along_axis(probs, topk[rows], axis=1)
    training_loss = np.full(n, np.nan)
    out_of_sample = np.where(splits != "train", calibrated_loss, np.nan)
    for row, face_id in enumerate(face_ids):
        entry = samples[str(int(face_id))].get("noise") or {}
        if entry.get("training_loss") is not None:
            training_loss[row] = entry["training_loss"]
        if entry.get("out_of_sample_loss") is not None:
            out_of_sample[row] = entry["out_of_sample_loss"]
    noise_k = int(run.config.get("noise_k") or 10)
    scores = score_label_noise(
        labels,
        n_classes,
        embeddings=embeddings,
        training_loss=training_loss,
        out_of_sample_loss=out_of_sample,
        k=max(1, min(noise_k, n - 1)),
    )
    label_errors = stored_label_errors(result=result, face_ids=face_ids, labels=labels)
    classes = {d["class_index"]: d for d in result["diagnosis"]["classes"]}
    return RunOutcome(
        run_id=run.pk,
        face_ids=face_ids,
        labels=labels,
        identity_ids=identity_ids,
        predicted=predicted,
        confidence=confidence,
        topk_classes=topk,
        topk_probabilities=topk_probabilities,
        noise=scores.combined,
        suggested=scores.suggested_label,
        embeddings=np.asarray(embeddings, dtype=np.float32),
        class_identity_ids=run.vip_identity_ids,
        class_names=run.class_names,
        diagnosis=[classes.get(c, {}).get("status", "ok") for c in range(n_classes)],
        recall=[classes.get(c, {}).get("recall") for c in range(n_classes)],
        confused_pairs=result["diagnosis"]["confused_pairs"],
        threshold=result["diagnosis"].get("threshold") or 0.5,
        label_errors=label_errors,
    )


def stored_label_errors(
    *, result: Mapping[str, Any], face_ids: np.ndarray, labels: np.ndarray
) -> LabelErrorScores | None:
    """The run's label-error scores of these faces (``ml.label_quality.LabelErrorScores``), as it
    stored them per sample; None when the run scored none of them (fewer than two faces)."""
    from ml.label_quality import LabelErrorScores

    samples, posterior = result["samples"], result.get("label_errors")
    parts = [samples[str(int(i))].get("label_error") for i in face_ids]
    if posterior is None or not parts or any(part is None for part in parts):
        return None
    return LabelErrorScores.from_parts(
        labels=labels,
        p_wrong=[part["p_wrong"] for part in parts],
        suggested_label=[part["suggested_label"] for part in parts],
        suggested_probability=[part["suggested_probability"] for part in parts],
        temperature=posterior["temperature"],
        background=posterior["background"],
        centroid_temperature=posterior.get("centroid_temperature"),
        centroid_background=posterior.get("centroid_background"),
        centroid_weight=posterior.get("centroid_weight"),
        centroid_floor=posterior.get("centroid_floor"),
    )


def samples_store(
    *, run: TrainingRun, outcome: RunOutcome, splits: np.ndarray, versions: np.ndarray, deleted: list
) -> None:
    """Rewrite the run's sample rows with their scores (delete + bulk insert: idempotent, fast).
    Faces deleted since the start keep their snapshot row, without scores."""
    RunSample.objects.filter(run=run).delete()
    batch = [
        RunSample(run=run, face_id=face_id, label=label, split=split, identity_id=identity_id, version=version)
        for face_id, label, split, identity_id, version in deleted
    ]
    for row, face_id in enumerate(outcome.face_ids):
        batch.append(
            RunSample(
                run=run,
                face_id=int(face_id),
                identity_id=int(outcome.identity_ids[row]) or None,
                label=int(outcome.labels[row]),
                split=str(splits[row]),
                version=int(versions[row]),
                noise_score=float(outcome.noise[row]),
                predicted=int(outcome.predicted[row]),
                confidence=float(outcome.confidence[row]),
            )
        )
        if len(batch) >= 5000:
            RunSample.objects.bulk_create(batch)
            batch = []
    RunSample.objects.bulk_create(batch)


def queue_threshold(*, run: TrainingRun, result: Mapping[str, Any]) -> tuple[float, str]:
    """The threshold queues use to call a prediction "accepted", and its name: the one this run
    would get if accepted now (:func:`selectors.operating_point_choose` on the choice carried over,
    the same rule accepting applies), else max mean F1's."""
    try:
        choice = selectors.operating_point_choose(
            run=run, fallback=True, **carried_choice(selectors.operating_point_current())
        )
    except InvalidTransition:
        return (result["diagnosis"].get("threshold") or 0.5), "the validation max-mean-F1 threshold"
    if choice.rule == OperatingPoint.Rule.THRESHOLD:
        return choice.threshold, "the threshold it would keep"
    return choice.threshold, choice.basis


_SUMMARY_KEYS = (
    "threshold",
    "mean_f1",
    "kept_accuracy",
    "identification_accuracy",
    "total_accuracy",
    "distractor_accuracy",
    "vip_acceptance",
)


def headline_metrics(result: Mapping[str, Any]) -> dict:
    """Per split, the numbers at the threshold of max mean F1, F1 AUC and the calibration errors."""
    metrics: dict = {
        "temperature": result["temperature"],
        "operating_points": result["operating_points"],
        "operating_points_reason": result.get("operating_points_reason", ""),
        # what scored the faces and why, when not the scorer asked for (runs before the fusion: the gallery)
        "scorer": result.get("scorer") or {"name": result["config"].get("scorer", "head"), "reason": ""},
        "counts": result["counts"],
    }
    for split in ("val", "test"):
        report = result["metrics"].get(split)
        calibration = result["calibration"].get(split) or {}
        metrics[split] = (
            None
            if report is None
            else {
                "f1_auc": report["f1_auc"],
                **{key: report["at_max_mean_f1"][key] for key in _SUMMARY_KEYS},
                "ece_before": _ece(calibration.get("before")),
                "ece_after": _ece(calibration.get("after")),
            }
        )
    return metrics


def _ece(curves: dict | None) -> float | None:
    """The expected calibration error over VIP faces, from either shape ``ml.train`` reports
    (``{ece, curve}``, or ``{vip: {ece, curve}, all: {...}}``)."""
    if not curves:
        return None
    return curves["ece"] if "ece" in curves else (curves.get("vip") or {}).get("ece")


def per_class_table(*, run: TrainingRun, result: Mapping[str, Any]) -> list[dict]:
    """One row per VIP: the diagnosis (on test, else val) with its precision/recall, and both splits' numbers."""
    diagnosis = {d["class_index"]: d for d in result["diagnosis"]["classes"]}
    by_split = {}
    for split in ("val", "test"):
        report = result["metrics"].get(split)
        rows = report["at_max_mean_f1"]["per_class"] if report else []
        by_split[split] = {row["class_index"]: row for row in rows}
    basis = "test" if result["metrics"].get("test") else "val"
    table = []
    for vip in run.vips:
        c = vip["index"]
        found = diagnosis.get(c, {})
        table.append(
            {
                "class_index": c,
                "identity": vip["identity"],
                "name": vip["name"],
                "chunk": vip.get("chunk"),
                "precision": found.get("precision"),
                "recall": found.get("recall"),
                "f1": (by_split[basis].get(c) or {}).get("f1"),
                "support": found.get("support"),
                "diagnosis": found.get("status", "ok"),
                "reasons": found.get("reasons", []),
                **{
                    split: {
                        key: (by_split[split].get(c) or {}).get(key) for key in ("precision", "recall", "f1", "support")
                    }
                    for split in ("val", "test")
                },
            }
        )
    return table
