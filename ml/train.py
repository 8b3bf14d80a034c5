"""Training a VIP classifier, in the style of torchvision's ``references/classification``.

Plain functions over a :class:`TrainConfig`: :func:`train_one_epoch` and :func:`evaluate` do the
loops, :func:`train_classifier` runs a whole job (train, calibrate on val, evaluate on test, score
label noise on train, diagnose classes, save ``model.pt``) and :func:`load_classifier` gives the
:class:`Classifier` that video tagging uses.

Two modes:

* ``head``: a small head on frozen face embeddings (N x D float32); seconds on a CPU. The
  out-of-sample noise score (k-fold cross-fitting) is only computed here, where it is cheap.
* ``finetune``: a torchvision backbone trained on aligned face crops (paths or uint8 arrays) with
  horizontal flips, RandomResizedCrop over 80-100% of the area (aspect 0.9-1.1: aligned faces
  keep their geometry), TrivialAugmentWide; never a vertical flip. Mixed precision and pinned
  memory on CUDA.

Labels: 0..C-1 VIPs, -1 distractors. Same seed, same machine, CPU: same result.

This module runs the whole job; its parts live beside it: :mod:`ml.train_config` (what a run is
given), :mod:`ml.train_batches`, :mod:`ml.train_loops`, :mod:`ml.classifier` (inference and the
checkpoint) and :mod:`ml.train_report` (the result's reports). The names callers use
(:class:`TrainConfig`, :class:`TrainData`, :class:`Classifier`, :func:`load_classifier`...) are
importable from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch

from ml.calibration import fit_temperature
from ml.classifier import Classifier, Prediction, TopPrediction, load_classifier, save_classifier
from ml.device import pick_device
from ml.fusion import fit_fusion
from ml.gallery import Gallery, fit_probability_map
from ml.label_quality import score_label_errors
from ml.losses import get_loss
from ml.noise import cross_fit, score_label_noise, training_loss_score
from ml.splits import SPLITS
from ml.train_batches import batch_positions, inputs_subset, make_batches
from ml.train_config import TrainConfig, TrainData, json_ready
from ml.train_loops import LossSettings, TrainingCancelled, evaluate, fit
from ml.train_report import (
    NO_UNKNOWN_VAL_HEAD_REASON,
    NO_UNKNOWN_VAL_REASON,
    calibration_report,
    diagnosis_report,
    far_operating_points,
    per_sample_report,
    precision_operating_points,
    proxy_unknown_report,
    split_report,
    with_label_error_ranking,
)

__all__ = [  # the training job's public names, wherever they are defined
    "Classifier",
    "Prediction",
    "RunResult",
    "TrainConfig",
    "TrainData",
    "TrainingCancelled",
    "load_classifier",
    "save_classifier",
    "train_classifier",
]


LEGACY_NOISE_LIMIT = 20_000_000  # train samples x classes up to which the older noise components are computed


class RunResult(TypedDict):
    """What :func:`train_classifier` returns: plain JSON-serialisable data (None where a number is undefined)."""

    config: dict[str, Any]
    device: str
    class_names: list[str]
    counts: dict[str, dict[str, int]]
    temperature: float
    metrics: dict[str, Any]
    operating_points: dict[str, float | None]
    operating_points_by_far: dict[str, Any]
    operating_points_reason: str  # why the thresholds were chosen otherwise than asked ("" when as asked)
    # the scorer that gives the predictions ("fused", "gallery", "head") and why, if not the one asked
    scorer: dict[str, str]
    calibration: dict[str, Any]
    diagnosis: dict[str, Any]
    samples: dict[str, dict[str, Any]]
    label_errors: dict[str, float | None]
    history: dict[str, list[float]]
    timings: dict[str, float]
    samples_per_s: float


def train_classifier(
    config: TrainConfig,
    data: TrainData,
    *,
    out_dir: Path,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Train, calibrate on val, evaluate on test, score label noise on train, diagnose, save.

    Writes ``out_dir / "model.pt"`` (atomically) and returns a JSON-serialisable :class:`RunResult`.
    ``progress(fraction, message)`` is called as work advances; when ``should_stop()`` turns true,
    :class:`TrainingCancelled` is raised and nothing is written. Torch's random state is seeded from
    ``config.seed`` for the run and restored afterwards.
    """
    device = pick_device(config.device)
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device.type == "cuda" else []):
        return _train_classifier(
            config, data, device, out_dir=Path(out_dir), progress=progress, should_stop=should_stop
        )


def _train_classifier(
    config: TrainConfig,
    data: TrainData,
    device: torch.device,
    *,
    out_dir: Path,
    progress: Callable[[float, str], None] | None,
    should_stop: Callable[[], bool] | None,
) -> RunResult:
    started = time.perf_counter()
    config = config.resolved(device)
    assert config.epochs is not None  # resolved() fills it in
    if config.mode == "head":
        embeddings_in = np.asarray(data.inputs, dtype=np.float32)
        if embeddings_in.ndim != 2:
            raise ValueError(f"head mode trains on N x D embeddings, got inputs of shape {embeddings_in.shape}")
        data = replace(data, inputs=embeddings_in)
    report = progress or (lambda fraction, message: None)
    cross_fitting = config.mode == "head" and config.noise_folds >= 2
    train_share = 0.45 if cross_fitting else 0.85
    train_idx, val_idx, test_idx = (data.indices(s) for s in SPLITS)

    def check() -> None:
        if should_stop is not None and should_stop():
            raise TrainingCancelled("training was cancelled")

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    net, history, epoch_losses = fit(
        config,
        data,
        train_idx,
        device,
        seed=config.seed,
        progress=lambda f, m: report(train_share * f, m),
        should_stop=should_stop,
    )
    timings["train_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    out_of_sample = None
    if cross_fitting:
        out_of_sample = _cross_fitted_loss(
            config,
            data,
            train_idx,
            device,
            should_stop=should_stop,
            progress=lambda f, m: report(train_share + (0.85 - train_share) * f, m),
        )
    timings["cross_fit_s"] = time.perf_counter() - clock

    check()
    report(0.87, "calibrating and evaluating")
    clock = time.perf_counter()
    classifier = Classifier(
        net=net.eval(),
        loss=LossSettings(get_loss(config.loss), config.arcface_s, config.margin),
        config=config,
        class_names=list(data.class_names),
        device=device,
    )
    targets = classifier.loss.spec.calibration_targets(torch.as_tensor(data.labels), data.n_classes)
    if config.mode == "head" and config.scorer != "head":
        # the head's logits are needed on val only (its temperature, for when it is selected): at
        # 1M faces x 2,000 VIPs every face's would be 8 GB; in head mode the embeddings are the inputs
        inputs = np.asarray(data.inputs, dtype=np.float32)
        embeddings = torch.as_tensor(inputs)
        logits = classifier.loss.logits(classifier.outputs(inputs[val_idx])[0]) if len(val_idx) else None
        if logits is not None:
            classifier.temperature = fit_temperature(logits, targets[val_idx])
    else:
        outputs, embeddings = classifier.outputs(data.inputs)
        logits = classifier.loss.logits(outputs)
        classifier.temperature = fit_temperature(logits[val_idx], targets[val_idx])
    uncalibrated: Prediction | TopPrediction
    prediction: Prediction | TopPrediction
    scorer = {"name": config.scorer, "reason": ""}
    if config.scorer == "head":
        assert logits is not None
        uncalibrated = classifier.from_logits(logits, temperature=1.0)
        prediction = classifier.from_logits(logits)
    else:
        # one streamed pass over every face: its best match (the top VIP and the confidence before and
        # after the probability map is fitted follow from it) and the val faces' rows to fit the map on;
        # evaluation reads labels and confidences only, never the N x C probabilities
        gallery = Gallery.from_faces(embeddings[train_idx].numpy(), data.labels[train_idx], data.n_classes)
        classifier.gallery = gallery
        best, top, val_similarities = gallery.best_matches(embeddings.numpy(), keep=val_idx)
        labels_top = np.maximum(best, 0)
        uncalibrated = TopPrediction(labels=labels_top, confidence=gallery.confidence(top))
        gallery.scale, gallery.bias = fit_probability_map(val_similarities, data.labels[val_idx])
        prediction = TopPrediction(labels=labels_top, confidence=gallery.confidence(top))
        if config.scorer == "fused":
            # every face's head log-odds of its gallery VIP, streamed; the fusion is fitted on val's
            head = classifier.head_scores(embeddings.numpy(), labels_top)
            fusion, why_not = fit_fusion(data.labels[val_idx], labels_top[val_idx], top[val_idx], head.subset(val_idx))
            if fusion is None:
                scorer = {"name": "gallery", "reason": why_not}
            else:
                classifier.fusion = fusion
                fused = fusion.scores(top, head.log_odds)
                unfitted = replace(fusion, scale=1.0, bias=0.0)
                uncalibrated = TopPrediction(labels=labels_top, confidence=unfitted.confidence(fused))
                prediction = TopPrediction(labels=labels_top, confidence=fusion.confidence(fused))
    metrics = {split: split_report(data, idx, prediction) for split, idx in (("val", val_idx), ("test", test_idx))}
    points_val, points_reason = metrics["val"], ""
    if config.scorer != "head" and metrics["val"] is not None and not np.any(data.labels[val_idx] < 0):
        assert isinstance(prediction, TopPrediction)
        vip_val = TopPrediction(labels=prediction.labels[val_idx], confidence=prediction.confidence[val_idx])
        points_val = proxy_unknown_report(data.labels[val_idx], vip_val, val_similarities, classifier.gallery)
        points_reason = NO_UNKNOWN_VAL_REASON
    elif metrics["val"] is not None and not np.any(data.labels[val_idx] < 0):
        points_reason = NO_UNKNOWN_VAL_HEAD_REASON
    classifier.thresholds = precision_operating_points(points_val, config.precision_targets)
    by_far = far_operating_points(data, val_idx, prediction, config.false_accept_rates)
    classifier.thresholds.update({f"far_{far:g}": point["threshold"] for far, point in by_far.items()})
    timings["evaluate_s"] = time.perf_counter() - clock

    check()
    report(0.92, "scoring label noise")
    clock = time.perf_counter()
    labelled = np.concatenate([train_idx, val_idx, test_idx])
    label_errors = score_label_errors(embeddings[labelled].numpy(), data.labels[labelled], k=2 * config.noise_k)
    # the older per-direction components stay as diagnostics while they are affordable (their
    # prototype cosines are train x classes dense); the noise score itself is the label-error probability
    legacy = len(train_idx) * max(data.n_classes, 1) <= LEGACY_NOISE_LIMIT
    noise = score_label_noise(
        data.labels[train_idx],
        data.n_classes,
        embeddings=embeddings[train_idx].numpy() if legacy else None,
        training_loss=training_loss_score(history, warmup_epochs=config.warmup_epochs),
        out_of_sample_loss=out_of_sample,
        k=config.noise_k,
    )
    noise = with_label_error_ranking(noise, label_errors, len(train_idx))
    timings["noise_s"] = time.perf_counter() - clock

    check()
    report(0.97, "saving the model")
    save_classifier(classifier, out_dir / "model.pt")
    timings["total_s"] = time.perf_counter() - started
    result: RunResult = {
        "config": json_ready(asdict(config)),
        "device": str(device),
        "class_names": list(data.class_names),
        "counts": {
            split: {"vip": int(np.sum(data.labels[idx] >= 0)), "distractor": int(np.sum(data.labels[idx] < 0))}
            for split, idx in zip(SPLITS, (train_idx, val_idx, test_idx), strict=True)
        },
        "temperature": classifier.temperature,
        "metrics": {split: None if r is None else r.as_dict(data.class_names) for split, r in metrics.items()},
        "operating_points": classifier.thresholds,
        "operating_points_by_far": {f"{far:g}": point for far, point in by_far.items()},
        "operating_points_reason": points_reason,
        "scorer": scorer,
        "calibration": {
            split: calibration_report(data, idx, uncalibrated, prediction)
            for split, idx in (("val", val_idx), ("test", test_idx))
        },
        "diagnosis": diagnosis_report(metrics["test"] or metrics["val"], data.class_names),
        "samples": per_sample_report(data, prediction, train_idx, noise, labelled, label_errors),
        # the label-error posterior's fitted parameters; each sample's scores are in samples[id]["label_error"]
        "label_errors": {
            "temperature": label_errors.temperature,
            "background": label_errors.background,
            "centroid_temperature": label_errors.centroid_temperature,
            "centroid_background": label_errors.centroid_background,
            "centroid_weight": label_errors.centroid_weight,
            "centroid_floor": label_errors.centroid_floor,
            "k": 2 * config.noise_k,
        },
        "history": {"loss": epoch_losses},
        "timings": timings,
        "samples_per_s": len(train_idx) * len(history) / max(timings["train_s"], 1e-9),
    }
    report(1.0, "done")
    return json_ready(result)


def _cross_fitted_loss(
    config: TrainConfig,
    data: TrainData,
    train_idx: np.ndarray,
    device: torch.device,
    *,
    should_stop: Callable[[], bool] | None,
    progress: Callable[[float, str], None],
) -> np.ndarray:
    """Each train sample's loss under a head trained on the other folds (:func:`ml.noise.cross_fit`)."""
    loss = LossSettings(get_loss(config.loss), config.arcface_s, config.margin)
    done = [0]

    def fit_and_score(fit_positions: np.ndarray, held_out: np.ndarray) -> np.ndarray:
        fold = done[0]
        model, _, _ = fit(
            config,
            data,
            train_idx[fit_positions],
            device,
            seed=config.seed + 1 + fold,
            progress=lambda f, m: progress((fold + f) / config.noise_folds, f"noise fold {fold + 1}: {m}"),
            should_stop=should_stop,
        )
        batches = make_batches(
            inputs_subset(data.inputs, train_idx[held_out]),
            data.labels[train_idx[held_out]],
            batch_positions(np.arange(len(held_out)), config.batch_size or 256, None),
            mode="head",
            transform=None,
            device=device,
        )
        outputs, _ = evaluate(model, batches, device, len(held_out))
        done[0] += 1
        return loss.compute(outputs, torch.as_tensor(data.labels[train_idx[held_out]]), reduction="none").numpy()

    return cross_fit(data.labels[train_idx], fit_and_score, folds=config.noise_folds, seed=config.seed)
