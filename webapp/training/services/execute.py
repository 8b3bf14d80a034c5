"""Executing a run, inside the ``training.run`` task: load its snapshot, train with ``ml.train``,
store the model and the reports, build the review queues."""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from webapp.core.exceptions import Conflict, InvalidTransition
from webapp.core.models import Job
from webapp.core.services import JobCancelled, Progress
from webapp.faces.models import Face, embedding_array
from webapp.review.selectors import id_batches

from .. import selectors
from ..models import TrainingRun
from .acceptance import activate
from .results import headline_metrics, per_class_table, queue_threshold, run_outcome, samples_store
from .runs import SNAPSHOTTING, training_config_build, training_run_snapshot


class _Throttled:
    """``should_stop`` for the training loop: asks the job row at most once a second."""

    def __init__(self, progress: Progress, interval: float = 1.0):
        self.progress, self.interval, self.last, self.answer = progress, interval, 0.0, False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.answer and now - self.last >= self.interval:
            self.last, self.answer = now, self.progress.cancelled()
        return self.answer


def _embeddings_of(face_ids: np.ndarray) -> np.ndarray:
    """The stored embeddings of these faces (N x D float32), in the given order."""
    position = {int(face_id): i for i, face_id in enumerate(face_ids)}
    vectors = None
    for start in range(0, len(face_ids), 5000):
        chunk = [int(i) for i in face_ids[start : start + 5000]]
        for pk, blob in Face.objects.filter(pk__in=chunk).values_list("pk", "embedding"):
            vector = embedding_array(blob)
            if vectors is None:
                vectors = np.zeros((len(face_ids), len(vector)), dtype=np.float32)
            vectors[position[pk]] = vector
    assert vectors is not None, "no face to train on"  # (None failed in TrainData before, as len(None))
    return vectors


def _crops_of(face_ids: np.ndarray) -> list:
    """The faces' aligned crops for finetuning: local paths, or decoded images from remote storage."""
    crops = {
        pk: name
        for batch in id_batches(face_ids)
        for pk, name in Face.objects.filter(pk__in=batch).values_list("pk", "crop")
    }
    try:
        return [default_storage.path(crops[int(i)]) for i in face_ids]
    except NotImplementedError:  # remote storage (S3): decode the crops into memory
        from ml.images import load_image

        return [load_image(default_storage.open(crops[int(i)], "rb").read()) for i in face_ids]


@contextlib.contextmanager
def _torch_threads(mode: str) -> Iterator[None]:
    """Head mode trains a tiny model on tiny batches: one CPU thread is many times faster than
    several fighting over a busy machine (measured 0.8 ms vs 26 ms per loss step on 2 shared
    cores). Finetune keeps torch's default. The previous setting is restored afterwards."""
    import torch

    previous = torch.get_num_threads()
    if mode == TrainingRun.Mode.HEAD:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def training_run_execute(*, run: TrainingRun, progress: Progress) -> dict:
    """Train from the run's frozen samples, store the calibrated model and the reports, build the
    review queues and, with FACECURATOR_AUTO_ACCEPT_RUNS, make it the active model.

    Idempotent: a rerun after a lost worker overwrites the same fields, model file and queues.
    A failure raises (the job keeps the error) and leaves the active model as it was.
    """
    from ml.train import TrainData, TrainingCancelled, train_classifier

    clock = time.perf_counter()
    progress(0.0, SNAPSHOTTING)
    run.counts = training_run_snapshot(run=run)  # a full save below keeps them
    snapshot_s = time.perf_counter() - clock
    clock = time.perf_counter()
    snapshot = list(run.samples.order_by("face_id").values_list("face_id", "label", "split", "identity_id", "version"))
    existing = {
        pk
        for batch in id_batches([r[0] for r in snapshot])
        for pk in Face.objects.filter(pk__in=batch).values_list("pk", flat=True)
    }
    rows = [r for r in snapshot if r[0] in existing]  # faces deleted since the start are not trained on
    face_ids = np.array([r[0] for r in rows], dtype=np.int64)
    labels = np.array([r[1] for r in rows], dtype=np.int64)
    splits = np.array([r[2] for r in rows])
    identity_ids = np.array([r[3] or 0 for r in rows], dtype=np.int64)
    versions = np.array([r[4] for r in rows], dtype=np.int64)
    embeddings = _embeddings_of(face_ids)
    inputs = embeddings if run.mode == TrainingRun.Mode.HEAD else _crops_of(face_ids)
    config = training_config_build(
        **{k: v for k, v in run.config.items() if k not in ("mode", "loss")}, mode=run.mode, loss=run.loss
    )
    try:
        data = TrainData(inputs=inputs, labels=labels, splits=splits, class_names=run.class_names, sample_ids=face_ids)
    except ValueError as exc:
        raise InvalidTransition(f"Run {run.pk} cannot train on its snapshot: {exc}.") from exc
    load_s = time.perf_counter() - clock

    with tempfile.TemporaryDirectory(prefix=f"run-{run.pk}-") as folder, _torch_threads(run.mode):
        try:
            result = train_classifier(
                config,
                data,
                out_dir=Path(folder),
                progress=lambda f, m: progress(0.9 * f, m),
                should_stop=_Throttled(progress),
            )
        except TrainingCancelled as exc:
            raise JobCancelled(str(exc)) from exc
        progress(0.9, "predicting every face with the calibrated model")
        from ml.train import load_classifier

        classifier = load_classifier(Path(folder) / "model.pt", device="cpu" if run.mode == "head" else None)
        stored_name = _store_model(run=run, path=Path(folder) / "model.pt")

    clock = time.perf_counter()
    outcome = run_outcome(
        run=run,
        result=result,
        face_ids=face_ids,
        labels=labels,
        splits=splits,
        identity_ids=identity_ids,
        predictions=classifier.predict_chunks(inputs),
        embeddings=embeddings,
    )
    with transaction.atomic():
        if not _attempt_owns_run(run):
            default_storage.delete(stored_name)
            raise Conflict(
                f"Run {run.pk} was restarted or declared lost while this attempt trained; its results are dropped."
            )
        samples_store(
            run=run,
            outcome=outcome,
            splits=splits,
            versions=versions,
            deleted=[r for r in snapshot if r[0] not in existing],
        )
        run.config = result["config"]
        run.device = result["device"]
        run.metrics = headline_metrics(result)
        run.per_class = per_class_table(run=run, result=result)
        run.curves = {
            "sweeps": {split: (result["metrics"].get(split) or {}).get("sweep") for split in ("val", "test")},
            "calibration": result["calibration"],
            "operating_points": result["operating_points"],
            "history": result["history"],
        }
        run.confused_pairs = [
            {**pair, "identity_a": run.vips[pair["a"]]["identity"], "identity_b": run.vips[pair["b"]]["identity"]}
            for pair in result["diagnosis"]["confused_pairs"]
        ]
        run.model_file.name = stored_name
        run.finished_at = timezone.now()
        run.save()
    progress(0.95, "building review queues")
    from webapp.review.builders import queues_build_for_run

    outcome.threshold, basis = queue_threshold(run=run, result=result)
    run.metrics = {
        **run.metrics,
        "headline": selectors.run_metrics_at(run=run, threshold=outcome.threshold, basis=basis),
    }
    run.save(update_fields=["metrics"])
    queues = queues_build_for_run(run=run, outcome=outcome)
    run.timings = {
        **result["timings"],
        "snapshot_s": snapshot_s,
        "load_s": load_s,
        "store_s": time.perf_counter() - clock,
        "samples_per_s": result["samples_per_s"],
    }
    run.save(update_fields=["timings"])
    accepted = False
    if settings.FACECURATOR_AUTO_ACCEPT_RUNS:
        activate(run=run, user=None, automatic=True)  # the job succeeds right after this returns
        accepted = True
    return {
        "run": run.pk,
        "metrics": run.metrics.get("val"),
        "queues": {q.kind: q.items.count() for q in queues},
        "accepted": accepted,
    }


def _store_model(*, run: TrainingRun, path: Path) -> str:
    """Store the model under a new name (``models/run-<id>/model-<token>.pt``): a name workers
    cache by is never rewritten. Files an earlier attempt of this run left in its folder go."""
    from webapp.core.storage import storage_listdir

    folder = f"models/run-{run.pk}"
    for leftover in storage_listdir(folder)[1]:
        default_storage.delete(f"{folder}/{leftover}")
    with open(path, "rb") as handle:  # a local temporary file of this process, not media
        return default_storage.save(f"{folder}/model-{uuid.uuid4().hex[:12]}.pt", File(handle))


def _attempt_owns_run(run: TrainingRun) -> bool:
    """Inside a transaction: the run still belongs to the job attempt training it (not restarted
    as another job, not declared lost), so this attempt may write its results."""
    return (
        TrainingRun.objects.select_for_update(of=("self",))
        .filter(
            pk=run.pk,
            job_id=run.job_id,
            job__state=Job.State.RUNNING,
            job__attempts=run.job.attempts,
        )
        .exists()
    )
