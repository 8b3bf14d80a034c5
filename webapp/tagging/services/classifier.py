"""The classifier of a training run, loaded once per process, and the inputs it takes for a video's
faces (stored embeddings in head mode, aligned crops in finetune mode)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from django.core.files.storage import default_storage

from webapp.core.exceptions import InvalidTransition
from webapp.faces.models import Face, embedding_array
from webapp.training.models import RunSample, TrainingRun

if TYPE_CHECKING:
    from ml.classifier import Classifier


class UnsupportedRun(InvalidTransition):
    code = "unsupported_run"


def run_check(run: TrainingRun) -> None:
    if run.mode not in (TrainingRun.Mode.HEAD, TrainingRun.Mode.FINETUNE):
        raise UnsupportedRun(f"Run {run.pk} has mode '{run.mode}'; tagging supports head and finetune runs.")
    if not run.model_file:
        raise UnsupportedRun(f"Run {run.pk} has no model file to tag with.")


_CLASSIFIERS: dict[tuple, Classifier] = {}


_EMBEDDING_MODELS: dict[tuple, str | None] = {}


def _run_key(run: TrainingRun) -> tuple:
    """Identifies a run's model file for the caches; a rerun of the training rewrites it with a new finish time."""
    return (run.pk, run.model_file.name, run.finished_at.isoformat() if run.finished_at else None)


def classifier_for_run(*, run: TrainingRun) -> Classifier:
    """The run's calibrated ``ml.train.Classifier``, loaded once per process (one model kept in memory).

    Head mode runs on the CPU (a few thousand 128-d rows: moving them to a GPU costs more than
    the product); finetune mode on CUDA when present.
    """
    from ml.train import load_classifier

    run_check(run)
    key = _run_key(run)
    if key not in _CLASSIFIERS:
        device = "cpu" if run.mode == TrainingRun.Mode.HEAD else None
        try:
            classifier = load_classifier(default_storage.path(run.model_file.name), device=device)
        except NotImplementedError:  # remote storage: through a local temporary file
            with tempfile.NamedTemporaryFile(suffix=".pt") as local:
                with default_storage.open(run.model_file.name, "rb") as stored:
                    for chunk in iter(lambda: stored.read(1 << 20), b""):
                        local.write(chunk)
                local.flush()
                classifier = load_classifier(local.name, device=device)
        except FileNotFoundError as exc:
            raise UnsupportedRun(f"The model file of run {run.pk} ({run.model_file.name}) is missing.") from exc
        if len(classifier.class_names) != len(run.vips):
            raise UnsupportedRun(
                f"Run {run.pk}'s model has {len(classifier.class_names)} classes but the run lists "
                f"{len(run.vips)} VIPs."
            )
        _CLASSIFIERS.clear()
        _CLASSIFIERS[key] = classifier
    return _CLASSIFIERS[key]


def run_embedding_model(*, run: TrainingRun) -> str | None:
    """The embedding model of the faces a head run was trained on (None: unknown or mixed)."""
    key = _run_key(run)
    if key not in _EMBEDDING_MODELS:
        sample = RunSample.objects.filter(run=run).order_by("face_id").values_list("face_id", flat=True)[:500]
        names = set(
            Face.objects.filter(pk__in=list(sample))
            .exclude(embedding_model="")
            .values_list("embedding_model", flat=True)
            .distinct()
        )
        _EMBEDDING_MODELS[key] = names.pop() if len(names) == 1 else None
    return _EMBEDDING_MODELS[key]


def _crop_input(name: str) -> str | np.ndarray:
    """A stored crop as the classifier takes it: a local path, or decoded pixels from remote storage."""
    try:
        return default_storage.path(name)
    except NotImplementedError:
        from ml.images import load_image

        with default_storage.open(name, "rb") as handle:
            return load_image(handle.read())


@dataclass
class _Inputs:
    face_ids: np.ndarray
    frame_ids: np.ndarray
    inputs: np.ndarray | list[str | np.ndarray]
    skipped: int


def video_inputs(*, video_id: int, run: TrainingRun, faces: list[tuple]) -> _Inputs:
    """What the run's mode classifies, for the faces that have it: embeddings (of the run's embedding
    model and width) in head mode, aligned crops in finetune mode."""
    if run.mode == TrainingRun.Mode.FINETUNE:
        with_crop = [(pk, frame, crop) for pk, frame, model, crop in faces if crop]
        return _Inputs(
            face_ids=np.array([pk for pk, _, _ in with_crop], dtype=np.int64),
            frame_ids=np.array([frame for _, frame, _ in with_crop], dtype=np.int64),
            inputs=[_crop_input(crop) for _, _, crop in with_crop],
            skipped=len(faces) - len(with_crop),
        )
    wanted = run_embedding_model(run=run)
    usable = [(pk, frame) for pk, frame, model, crop in faces if model and (wanted is None or model == wanted)]
    vectors = dict(
        Face.objects.filter(pk__in=[pk for pk, _ in usable], embedding__isnull=False).values_list("pk", "embedding")
    )
    classifier = classifier_for_run(run=run)
    width = _input_width(classifier)
    rows, kept = [], []
    for pk, frame in usable:
        blob = vectors.get(pk)
        if blob is None:
            continue
        vector = embedding_array(blob)
        if width is not None and vector.shape[0] != width:
            continue
        rows.append(vector)
        kept.append((pk, frame))
    inputs = np.stack(rows) if rows else np.zeros((0, width or 0), dtype=np.float32)
    return _Inputs(
        face_ids=np.array([pk for pk, _ in kept], dtype=np.int64),
        frame_ids=np.array([frame for _, frame in kept], dtype=np.int64),
        inputs=inputs,
        skipped=len(faces) - len(kept),
    )


def _input_width(classifier: Classifier) -> int | None:
    head = getattr(classifier.net, "head", None)
    first = getattr(head, "features", None)
    layer = first[0] if first is not None and hasattr(first, "__getitem__") else getattr(head, "out", None)
    weight = getattr(layer, "weight", None)
    return int(weight.shape[1]) if weight is not None else None
