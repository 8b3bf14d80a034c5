"""Writes on training: start a run, execute it (in the task), accept it, set the operating point,
promote the next VIP chunk.

A run freezes its inputs when it starts: the VIP set (class order) and one :class:`RunSample`
per face with its label, split and version, bulk-written. The task trains from that snapshot,
not from the live labels, so decisions made while a run is queued never leak into it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from webapp.core.exceptions import Conflict, InvalidTransition
from webapp.core.models import Job
from webapp.core.services import JobCancelled, Progress, job_start
from webapp.faces.models import Face
from webapp.identities.models import Identity
from webapp.quality.selectors import faces_unsettled
from webapp.review.selectors import id_batches

from . import selectors
from .models import ActiveModel, Chunk, OperatingPoint, RunSample, TrainingRun

logger = logging.getLogger(__name__)

RUN_KIND = selectors.RUN_KIND
LOST_HINT = "restart the run (POST /api/v1/runs/<id>/restart/ or manage.py train --restart <id>)"
_LOCK_KEY = 0x7EA1_2C0D  # pg_advisory_xact_lock key: run starts and promotions, one at a time


class RunInProgress(Conflict):
    code = "run_in_progress"


class RunNotAcceptable(InvalidTransition):
    code = "run_not_acceptable"


class RunNotRestartable(InvalidTransition):
    code = "run_not_restartable"


class PromotionGateNotMet(Conflict):
    code = "gate_not_met"


class NoActiveModel(InvalidTransition):
    code = "no_active_model"


def _serialise_writers() -> None:
    """Inside a transaction: one run start or promotion at a time (PostgreSQL advisory lock;
    SQLite's IMMEDIATE transactions already take the write lock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


# --- Starting a run ----------------------------------------------------------------------------

def training_config_build(*, mode: str = "head", loss: str = "me", **overrides):
    """A validated ``ml.train.TrainConfig`` from the mode, the loss and any hyper-parameters given.

    Unknown names are refused with a clear message rather than silently ignored.
    """
    from ml.train import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InvalidTransition(f"Unknown training option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
    values = {key: value for key, value in overrides.items() if value is not None}
    try:
        return TrainConfig(mode=mode, loss=loss, **values)
    except (TypeError, ValueError) as exc:
        raise InvalidTransition(f"Invalid training configuration: {exc}") from exc


def training_run_start(*, user=None, mode: str = "head", loss: str = "me", options: dict | None = None,
                       note: str = "", labels: str = TrainingRun.Labels.SETTLED, allow_concurrent: bool = False,
                       dispatch: bool = True) -> TrainingRun:
    """Freeze the VIP set and every label, create the run and queue its ``training.run`` job (gpu queue).

    ``labels``: "settled" (default) leaves out of the snapshot, hence out of training and of the
    run's queues, the faces whose label is not settled (:func:`webapp.quality.agreement.faces_unsettled`:
    a decision waiting for a second opinion, or a disagreement no admin has decided); "all" trains on
    every label as it is. The run records which, and ``counts["unsettled_left_out"]`` how many faces.

    One run at a time: refused with 409 while another run is queued or running, unless
    ``allow_concurrent`` and fewer than FACECURATOR_MAX_CONCURRENT_RUNS are in flight. Refused
    with 400 when there is no VIP to train on. ``dispatch=False`` creates the job without sending
    it to a worker (``manage.py train --here`` runs it in its own process).
    """
    config = training_config_build(mode=mode, loss=loss, **(options or {}))
    if labels not in TrainingRun.Labels.values:
        raise InvalidTransition(f"Unknown labels '{labels}'; expected one of {', '.join(TrainingRun.Labels.values)}.")
    _fail_lost_runs()
    with transaction.atomic():
        _serialise_writers()
        in_flight = list(selectors.runs_unfinished().order_by("id"))
        limit = max(1, settings.FACECURATOR_MAX_CONCURRENT_RUNS)
        if in_flight and (not allow_concurrent or len(in_flight) >= limit):
            busy = in_flight[0]
            raise RunInProgress(
                f"Training run {busy.pk} is already {busy.job.state} ({busy.job.progress:.0%}); wait for it to finish "
                f"or cancel it before starting another.",
                extra={"run": busy.pk, "job": busy.job_id},
            )
        vips = list(selectors.vips_current())
        if not vips:
            raise InvalidTransition("There are no VIPs to train on yet: promote the first chunk.")
        class_of = {identity.pk: index for index, identity in enumerate(vips)}
        job = (job_start(kind=RUN_KIND, params={}, user=user) if dispatch else
               Job.objects.create(kind=RUN_KIND, queue="here", created_by=user if user and user.is_authenticated else None))
        run = TrainingRun.objects.create(
            job=job, mode=config.mode, loss=config.loss, backbone=getattr(config, "backbone", "") or "",
            config=_jsonable(dataclasses.asdict(config)), note=note[:300], labels=labels,
            vips=[{"index": i, "identity": v.pk, "name": v.name, "chunk": v.chunk} for i, v in enumerate(vips)],
            chunk=max((v.chunk or 0 for v in vips), default=0) or None,
            created_by=user if user and user.is_authenticated else None,
        )
        counts = _snapshot_samples(run=run, class_of=class_of)
        run.counts = counts
        run.save(update_fields=["counts"])
        job.params = {"run": run.pk}
        job.save(update_fields=["params"])
        if counts["vip"] == 0:
            raise InvalidTransition("None of the VIPs has a usable face (embedded, not excluded) to train on.")
        if counts["vip_train"] == 0:
            raise InvalidTransition("None of the VIPs has a face in the train split: import more faces first.")
    return run


def _distractor_person_split(identity_id: int) -> str:
    from ml.splits import split_for_person

    return split_for_person(str(identity_id), seed=settings.FACECURATOR_SPLIT_SEED,
                            proportions=tuple(settings.FACECURATOR_SPLIT_PROPORTIONS))


def _snapshot_samples(*, run: TrainingRun, class_of: dict[int, int]) -> dict:
    """Bulk-write one RunSample per usable face: embedded, not excluded, not a non-face, and settled
    unless the run trains on all labels.

    VIP and unknown faces keep their face's split (by source group); the faces of a known
    distractor person (a candidate) all take that person's split (:func:`ml.splits.split_for_person`),
    so the val distractors the operating point is measured on are people never trained on.
    """
    faces = (
        Face.objects.filter(embedding__isnull=False)
        .exclude(status__in=[Face.Status.NOT_A_FACE, Face.Status.EXCLUDED])
    )
    left_out = 0
    if run.labels == TrainingRun.Labels.SETTLED:
        unsettled = faces.filter(faces_unsettled())
        left_out = unsettled.count()
        faces = faces.exclude(pk__in=unsettled.values("pk"))
    faces = faces.order_by("id").values_list("id", "identity_id", "split", "version")
    counts = {"total": 0, "vip": 0, "distractor": 0, "train": 0, "val": 0, "test": 0, "vip_train": 0,
              "unsettled_left_out": left_out}
    batch: list[RunSample] = []
    for face_id, identity_id, split, version in faces.iterator(chunk_size=5000):
        label = class_of.get(identity_id, -1)
        if label < 0 and identity_id is not None:
            split = _distractor_person_split(identity_id)
        batch.append(RunSample(run=run, face_id=face_id, identity_id=identity_id, label=label, split=split,
                               version=version))
        counts["total"] += 1
        counts["vip" if label >= 0 else "distractor"] += 1
        counts[split] = counts.get(split, 0) + 1
        counts["vip_train"] += int(label >= 0 and split == "train")
        if len(batch) >= 5000:
            RunSample.objects.bulk_create(batch)
            batch = []
    RunSample.objects.bulk_create(batch)
    return counts


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _fail_lost_runs() -> None:
    """Runs whose worker died (no heartbeat) turn failed now, so they neither block a new run
    nor show "running" for hours until the broker would redeliver them."""
    from webapp.core.services import jobs_fail_lost

    jobs_fail_lost(kinds=[RUN_KIND], hint=LOST_HINT)


def training_run_restart(*, run: TrainingRun, user=None, dispatch: bool = True) -> TrainingRun:
    """Train a failed or cancelled run again from its frozen snapshot, as a new ``training.run`` job.

    This is how a run whose GPU worker died is recovered: it shows ``failed`` with "worker lost
    while running" (its attempts ran out, or :func:`jobs_fail_lost` found its worker silent), and
    the active model is untouched. The run keeps its id, VIP set and samples; its results are
    cleared and written again by the new job; the old job stays as the record of the failure.
    Refused with 400 for a run that succeeded (start a new one) and 409 while it or another run
    is queued or running.
    """
    _fail_lost_runs()
    with transaction.atomic():
        _serialise_writers()
        run = TrainingRun.objects.select_for_update(of=("self",)).select_related("job").get(pk=run.pk)
        previous = run.job
        if previous.state == Job.State.SUCCEEDED:
            raise RunNotRestartable(f"Run {run.pk} succeeded; start a new run to train again.")
        if not previous.is_finished:
            raise RunInProgress(
                f"Run {run.pk} is still {previous.state} ({previous.progress:.0%}, worker {previous.worker or 'none yet'}); "
                f"cancel it before restarting it.", extra={"run": run.pk, "job": previous.pk})
        busy = selectors.runs_unfinished().exclude(pk=run.pk).order_by("id").first()
        if busy is not None:
            raise RunInProgress(
                f"Training run {busy.pk} is already {busy.job.state} ({busy.job.progress:.0%}); wait for it to finish "
                f"or cancel it before restarting run {run.pk}.", extra={"run": busy.pk, "job": busy.job_id})
        params = {"run": run.pk, "restart_of": previous.pk}
        run.job = (job_start(kind=RUN_KIND, params=params, user=user) if dispatch else
                   Job.objects.create(kind=RUN_KIND, queue="here", params=params,
                                      created_by=user if user and user.is_authenticated else None))
        run.metrics, run.per_class, run.curves, run.confused_pairs, run.timings = {}, [], {}, [], {}
        run.device, run.finished_at, run.model_file = "", None, ""
        run.save()
    return run


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    """Ask the run's job to stop (a queued run is cancelled at once, a running one at its next progress report)."""
    from webapp.core.services import job_cancel

    job_cancel(job=run.job)
    run.job.refresh_from_db()
    return run



# --- Executing a run (inside the training.run task) --------------------------------------------

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
        chunk = [int(i) for i in face_ids[start:start + 5000]]
        for pk, blob in Face.objects.filter(pk__in=chunk).values_list("pk", "embedding"):
            vector = np.frombuffer(bytes(blob), dtype=np.float32)
            if vectors is None:
                vectors = np.zeros((len(face_ids), len(vector)), dtype=np.float32)
            vectors[position[pk]] = vector
    return vectors


def _crops_of(face_ids: np.ndarray) -> list:
    """The faces' aligned crops for finetuning: local paths, or decoded images from remote storage."""
    crops = {pk: name for batch in id_batches(face_ids)
             for pk, name in Face.objects.filter(pk__in=batch).values_list("pk", "crop")}
    try:
        return [default_storage.path(crops[int(i)]) for i in face_ids]
    except NotImplementedError:  # remote storage (S3): decode the crops into memory
        from ml.images import load_image

        return [load_image(default_storage.open(crops[int(i)], "rb").read()) for i in face_ids]


@contextlib.contextmanager
def _torch_threads(mode: str):
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
    snapshot = list(run.samples.order_by("face_id").values_list("face_id", "label", "split", "identity_id", "version"))
    existing = {pk for batch in id_batches([r[0] for r in snapshot])
                for pk in Face.objects.filter(pk__in=batch).values_list("pk", flat=True)}
    rows = [r for r in snapshot if r[0] in existing]  # faces deleted since the start are not trained on
    face_ids = np.array([r[0] for r in rows], dtype=np.int64)
    labels = np.array([r[1] for r in rows], dtype=np.int64)
    splits = np.array([r[2] for r in rows])
    identity_ids = np.array([r[3] or 0 for r in rows], dtype=np.int64)
    versions = np.array([r[4] for r in rows], dtype=np.int64)
    embeddings = _embeddings_of(face_ids)
    inputs = embeddings if run.mode == TrainingRun.Mode.HEAD else _crops_of(face_ids)
    config = training_config_build(**{k: v for k, v in run.config.items() if k not in ("mode", "loss")},
                                   mode=run.mode, loss=run.loss)
    try:
        data = TrainData(inputs=inputs, labels=labels, splits=splits, class_names=run.class_names, sample_ids=face_ids)
    except ValueError as exc:
        raise InvalidTransition(f"Run {run.pk} cannot train on its snapshot: {exc}.") from exc
    load_s = time.perf_counter() - clock

    with tempfile.TemporaryDirectory(prefix=f"run-{run.pk}-") as folder, _torch_threads(run.mode):
        try:
            result = train_classifier(config, data, out_dir=Path(folder),
                                      progress=lambda f, m: progress(0.9 * f, m), should_stop=_Throttled(progress))
        except TrainingCancelled as exc:
            raise JobCancelled(str(exc)) from exc
        progress(0.9, "predicting every face with the calibrated model")
        from ml.train import load_classifier

        classifier = load_classifier(Path(folder) / "model.pt", device="cpu" if run.mode == "head" else None)
        prediction = classifier.predict(inputs)
        stored_name = _store_model(run=run, path=Path(folder) / "model.pt")

    clock = time.perf_counter()
    outcome = _outcome(run=run, result=result, face_ids=face_ids, labels=labels, splits=splits,
                       identity_ids=identity_ids, prediction=prediction, embeddings=embeddings)
    with transaction.atomic():
        if not _attempt_owns_run(run):
            default_storage.delete(stored_name)
            raise Conflict(f"Run {run.pk} was restarted or declared lost while this attempt trained; "
                           f"its results are dropped.")
        _store_samples(run=run, outcome=outcome, splits=splits, versions=versions,
                       deleted=[r for r in snapshot if r[0] not in existing])
        run.config = result["config"]
        run.device = result["device"]
        run.metrics = _headline_metrics(result)
        run.per_class = _per_class(run=run, result=result)
        run.curves = {"sweeps": {split: (result["metrics"].get(split) or {}).get("sweep") for split in ("val", "test")},
                      "calibration": result["calibration"], "operating_points": result["operating_points"],
                      "history": result["history"]}
        run.confused_pairs = [{**pair, "identity_a": run.vips[pair["a"]]["identity"],
                               "identity_b": run.vips[pair["b"]]["identity"]}
                              for pair in result["diagnosis"]["confused_pairs"]]
        run.model_file.name = stored_name
        run.finished_at = timezone.now()
        run.save()
    progress(0.95, "building review queues")
    from webapp.review.builders import queues_build_for_run

    outcome.threshold, basis = _queue_threshold(run=run, result=result)
    run.metrics = {**run.metrics, "headline": selectors.run_metrics_at(run=run, threshold=outcome.threshold, basis=basis)}
    run.save(update_fields=["metrics"])
    queues = queues_build_for_run(run=run, outcome=outcome)
    run.timings = {**result["timings"], "load_s": load_s, "store_s": time.perf_counter() - clock,
                   "samples_per_s": result["samples_per_s"]}
    run.save(update_fields=["timings"])
    accepted = False
    if settings.FACECURATOR_AUTO_ACCEPT_RUNS:
        _activate(run=run, user=None, automatic=True)  # the job succeeds right after this returns
        accepted = True
    return {"run": run.pk, "metrics": run.metrics.get("val"), "queues": {q.kind: q.items.count() for q in queues},
            "accepted": accepted}


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
    return TrainingRun.objects.select_for_update(of=("self",)).filter(
        pk=run.pk, job_id=run.job_id, job__state=Job.State.RUNNING, job__attempts=run.job.attempts,
    ).exists()


# --- Accepting a run, the operating point ------------------------------------------------------

def training_run_accept(*, run: TrainingRun, user=None, automatic: bool = False) -> ActiveModel:
    """Make a succeeded run the active model, carrying the operating point over.

    The new model keeps the admin's false-tag rate or target precision (its threshold is re-read
    from the new run's validation set) or fixed threshold; with no operating point yet, it starts
    at the default false-tag rate (FACECURATOR_DEFAULT_FAR, 0.001), or at the default target
    precision (FACECURATOR_DEFAULT_TARGET_PRECISION) when val holds no unseen distractor person.
    """
    run.job.refresh_from_db()
    if run.job.state != Job.State.SUCCEEDED:
        raise RunNotAcceptable(f"Run {run.pk} is {run.job.state}; only a run that succeeded can become the active model.")
    if not run.model_file:
        raise RunNotAcceptable(f"Run {run.pk} has no model file.")
    return _activate(run=run, user=user, automatic=automatic)


def active_model_rollback(*, user=None) -> ActiveModel:
    """Make the model that was active before the current one active again (appended to the history,
    so the rollback itself can be rolled back), with the operating point it had then. Video tags
    already proposed stay as they are; the next tagging pass uses the restored model."""
    with transaction.atomic():
        _serialise_writers()
        previous = selectors.active_model_previous()
        if previous is None:
            raise NoActiveModel("There is no earlier active model to roll back to.")
        activation = ActiveModel.objects.create(
            run=previous.run, accepted_by=user if user and user.is_authenticated else None, automatic=False)
        if selectors.operating_point_current(run=previous.run) is None:
            _carry_operating_point(run=previous.run, previous=None, user=user)
    return activation


def _activate(*, run: TrainingRun, user, automatic: bool) -> ActiveModel:
    with transaction.atomic():
        previous = selectors.operating_point_current()
        activation = ActiveModel.objects.create(
            run=run, accepted_by=user if user and user.is_authenticated else None, automatic=automatic
        )
        if previous is None or previous.run_id != run.pk:
            _carry_operating_point(run=run, previous=previous, user=user)
    return activation


def _carried_choice(previous: OperatingPoint | None) -> dict:
    """What a newly active model keeps of the previous operating point (or the default)."""
    if previous is None:
        return {"far": settings.FACECURATOR_DEFAULT_FAR}
    if previous.far is not None:
        return {"far": previous.far, "unknown_share": previous.unknown_share}
    if previous.target_precision is not None:
        return {"target_precision": previous.target_precision}
    return {"threshold": previous.threshold}


def _carry_operating_point(*, run: TrainingRun, previous: OperatingPoint | None, user) -> OperatingPoint:
    choice = _carried_choice(previous)
    try:
        return operating_point_set(run=run, user=user, **choice)
    except InvalidTransition:
        if "far" not in choice:
            raise
        return operating_point_set(run=run, user=user, target_precision=settings.FACECURATOR_DEFAULT_TARGET_PRECISION)


def operating_point_set(*, run: TrainingRun | None = None, user=None, target_precision: float | None = None,
                        threshold: float | None = None, far: float | None = None,
                        unknown_share: float | None = None) -> OperatingPoint:
    """Choose the threshold of a run (default: the active one) by false-tag rate, target precision or directly.

    With ``far``, the threshold accepts that share of val faces of distractor people never used
    in training (:func:`selectors.operating_point_estimate`), and ``estimate`` records the precision
    it implies at ``unknown_share`` (default: what tagged videos show) with its interval and the
    faces and people behind it. With a target precision, the threshold is the lowest whose
    precision of accepted predictions on validation reaches it
    (:func:`ml.metrics.threshold_for_precision`); when no threshold reaches it, the
    highest-precision threshold is used and ``expected.target_reached`` is false.
    """
    from ml.metrics import threshold_for_precision

    if sum(value is not None for value in (target_precision, threshold, far)) != 1:
        raise InvalidTransition("Give one of a false-tag rate (far), a target precision or a threshold.")
    for name, value in (("target precision", target_precision), ("threshold", threshold),
                        ("share of unknown faces", unknown_share)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise InvalidTransition(f"The {name} must lie between 0 and 1.")
    if run is None:
        run = selectors.active_run()
        if run is None:
            raise NoActiveModel("No active model yet: accept a training run first.")
    reached = True
    estimate: dict = {}
    if far is not None:
        point = selectors.operating_point_estimate(run=run, far=far, unknown_share=unknown_share)
        threshold, unknown_share, estimate = point.threshold, point.unknown_share, point.as_dict()
    elif target_precision is not None:
        sweep = selectors.run_sweep(run=run, split="val")
        if sweep is None:
            raise InvalidTransition(f"Run {run.pk} has no validation predictions to choose a threshold from.")
        threshold = threshold_for_precision(sweep, target_precision)
        if threshold is None:
            reached = False
            best = int(np.nanargmax(np.nan_to_num(sweep.kept_accuracy, nan=-1.0)))
            threshold = float(sweep.thresholds[best])
    expected = selectors.run_metrics_at(run=run, threshold=threshold) or {}
    expected["identification_accuracy"] = expected.get("recall")
    expected["target_reached"] = reached
    return OperatingPoint.objects.create(
        run=run, target_precision=target_precision, threshold=float(threshold), expected=expected,
        far=far, unknown_share=unknown_share if far is not None else None, estimate=_jsonable(estimate),
        set_by=user if user and user.is_authenticated else None,
    )


# --- VIP chunks --------------------------------------------------------------------------------

@dataclasses.dataclass
class Promotion:
    chunk: Chunk
    identities: list[Identity]
    review_queue: object | None
    message: str


def chunk_promote(*, user=None, override_reason: str = "", size: int | None = None) -> Promotion:
    """Promote the next FACECURATOR_CHUNK_SIZE candidates (by popularity) to VIPs, as chunk N+1.

    The gate (:func:`selectors.gate_status`) must pass, unless an admin overrides it with a
    reason, which is recorded on the chunk with the metrics of the moment. Opens a review queue
    to verify the new VIPs' faces; the next step is a retrain.
    """
    from webapp.review.builders import queue_build_for_chunk

    size = size or settings.FACECURATOR_CHUNK_SIZE
    if size < 1:
        raise InvalidTransition("A chunk needs at least one identity.")
    override_reason = override_reason.strip()
    with transaction.atomic():
        _serialise_writers()
        gate = selectors.gate_status()
        overridden = gate["required"] and not gate["passed"]
        if overridden and not override_reason:
            raise PromotionGateNotMet(
                f"The promotion gate is not met: {gate['reason']} Improve the current VIPs first, or override "
                f"with a reason.",
                extra={"gate": _jsonable(gate)},
            )
        candidates = selectors.next_chunk_candidates(size=size)
        if not candidates:
            raise InvalidTransition("No candidate identities are left to promote.")
        number = selectors.chunk_next_number()
        ids = [identity.pk for identity in candidates]
        Identity.objects.filter(pk__in=ids).update(role=Identity.Role.VIP, chunk=number, updated_at=timezone.now())
        run = selectors.active_run()
        chunk = Chunk.objects.create(
            number=number, promoted_by=user if user and user.is_authenticated else None,
            identities=[{"id": i.pk, "name": i.name, "popularity_rank": i.popularity_rank} for i in candidates],
            run=run, metrics=run.metrics if run else {}, gate=_jsonable(gate),
            overridden=overridden, override_reason=override_reason if overridden else "",
        )
        queue = queue_build_for_chunk(chunk=chunk)
    message = (f"Chunk {number}: {len(candidates)} new VIPs. Verify their faces in the review queue, then retrain "
               f"(Admin › Training › Start run).")
    return Promotion(chunk=chunk, identities=candidates, review_queue=queue, message=message)


# --- From a RunResult to stored reports and the review queues' input ---------------------------

def _outcome(*, run: TrainingRun, result: dict, face_ids: np.ndarray, labels: np.ndarray, splits: np.ndarray,
             identity_ids: np.ndarray, prediction, embeddings: np.ndarray):
    """The per-face view of a finished run that the review queues are built from.

    ``ml.train`` scores label noise on the train split only, but a wrong label in val or test
    distorts every metric. So the noise score is recomputed over all faces with
    :func:`ml.noise.score_label_noise` (one ranking across splits, neighbours found among every
    face): the train faces keep their training-loss and cross-fitted loss components from the
    run; val and test faces, never trained on, bring their calibrated loss as out-of-sample loss
    (-log p(label) for a VIP face, -entropy for a distractor, as the ME loss measures them).
    """
    from ml.noise import score_label_noise
    from webapp.review.builders import RunOutcome

    samples = result["samples"]
    n, n_classes = len(face_ids), len(run.vips)
    predicted = np.array([samples[str(int(i))]["predicted"] for i in face_ids], dtype=np.int64)
    confidence = np.array([samples[str(int(i))]["confidence"] for i in face_ids], dtype=np.float64)
    probs = np.asarray(prediction.probs, dtype=np.float64)
    own = probs[np.arange(n), np.maximum(labels, 0)]
    calibrated_loss = np.where(labels >= 0, -np.log(np.clip(own, 1e-12, 1.0)),
                               np.sum(probs * np.log(np.clip(probs, 1e-12, 1.0)), axis=1))
    training_loss = np.full(n, np.nan)
    out_of_sample = np.where(splits != "train", calibrated_loss, np.nan)
    for row, face_id in enumerate(face_ids):
        entry = samples[str(int(face_id))].get("noise") or {}
        if entry.get("training_loss") is not None:
            training_loss[row] = entry["training_loss"]
        if entry.get("out_of_sample_loss") is not None:
            out_of_sample[row] = entry["out_of_sample_loss"]
    noise_k = int(run.config.get("noise_k") or 10)
    scores = score_label_noise(labels, n_classes, embeddings=embeddings, training_loss=training_loss,
                               out_of_sample_loss=out_of_sample, k=max(1, min(noise_k, n - 1)))
    k = min(5, n_classes)
    topk = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    classes = {d["class_index"]: d for d in result["diagnosis"]["classes"]}
    return RunOutcome(
        run_id=run.pk, face_ids=face_ids, labels=labels, identity_ids=identity_ids, predicted=predicted,
        confidence=confidence, topk_classes=topk, topk_probabilities=np.take_along_axis(probs, topk, axis=1),
        noise=scores.combined, suggested=scores.suggested_label, embeddings=np.asarray(embeddings, dtype=np.float32),
        class_identity_ids=run.vip_identity_ids, class_names=run.class_names,
        diagnosis=[classes.get(c, {}).get("status", "ok") for c in range(n_classes)],
        recall=[classes.get(c, {}).get("recall") for c in range(n_classes)],
        confused_pairs=result["diagnosis"]["confused_pairs"],
        threshold=result["diagnosis"].get("threshold") or 0.5,
    )


def _store_samples(*, run: TrainingRun, outcome, splits: np.ndarray, versions: np.ndarray, deleted: list) -> None:
    """Rewrite the run's sample rows with their scores (delete + bulk insert: idempotent, fast).
    Faces deleted since the start keep their snapshot row, without scores."""
    RunSample.objects.filter(run=run).delete()
    batch = [RunSample(run=run, face_id=face_id, label=label, split=split, identity_id=identity_id, version=version)
             for face_id, label, split, identity_id, version in deleted]
    for row, face_id in enumerate(outcome.face_ids):
        batch.append(RunSample(
            run=run, face_id=int(face_id), identity_id=int(outcome.identity_ids[row]) or None,
            label=int(outcome.labels[row]), split=str(splits[row]), version=int(versions[row]),
            noise_score=float(outcome.noise[row]), predicted=int(outcome.predicted[row]),
            confidence=float(outcome.confidence[row]),
        ))
        if len(batch) >= 5000:
            RunSample.objects.bulk_create(batch)
            batch = []
    RunSample.objects.bulk_create(batch)


def _queue_threshold(*, run: TrainingRun, result: dict) -> tuple[float, str]:
    """The threshold queues use to call a prediction "accepted", and its name: the one this run
    would get if accepted now (the admin's false-tag rate, target precision or threshold carried
    over, on its validation set), else max mean F1's."""
    from ml.metrics import threshold_for_precision

    choice = _carried_choice(selectors.operating_point_current())
    if "threshold" in choice:
        return choice["threshold"], "the threshold it would keep"
    if "far" in choice:
        try:
            threshold = selectors.operating_point_estimate(run=run, far=choice["far"],
                                                           unknown_share=choice.get("unknown_share")).threshold
            return threshold, f"the threshold for a false-tag rate of {choice['far']:g}"
        except InvalidTransition:
            choice = {"target_precision": settings.FACECURATOR_DEFAULT_TARGET_PRECISION}
    sweep = selectors.run_sweep(run=run, split="val")
    threshold = threshold_for_precision(sweep, choice["target_precision"]) if sweep is not None else None
    if threshold is not None:
        return threshold, f"the threshold for precision {choice['target_precision']:g}"
    return (result["diagnosis"].get("threshold") or 0.5), "the validation max-mean-F1 threshold"


_SUMMARY_KEYS = ("threshold", "mean_f1", "kept_accuracy", "identification_accuracy", "total_accuracy",
                 "distractor_accuracy", "vip_acceptance")


def _headline_metrics(result: dict) -> dict:
    """Per split, the numbers at the threshold of max mean F1, F1 AUC and the calibration errors."""
    metrics: dict = {"temperature": result["temperature"], "operating_points": result["operating_points"],
                     "counts": result["counts"]}
    for split in ("val", "test"):
        report = result["metrics"].get(split)
        calibration = result["calibration"].get(split) or {}
        metrics[split] = None if report is None else {
            "f1_auc": report["f1_auc"], **{key: report["at_max_mean_f1"][key] for key in _SUMMARY_KEYS},
            "ece_before": _ece(calibration.get("before")),
            "ece_after": _ece(calibration.get("after")),
        }
    return metrics


def _ece(curves: dict | None) -> float | None:
    """The expected calibration error over VIP faces, from either shape ``ml.train`` reports
    (``{ece, curve}``, or ``{vip: {ece, curve}, all: {...}}``)."""
    if not curves:
        return None
    return curves["ece"] if "ece" in curves else (curves.get("vip") or {}).get("ece")


def _per_class(*, run: TrainingRun, result: dict) -> list[dict]:
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
        table.append({
            "class_index": c, "identity": vip["identity"], "name": vip["name"], "chunk": vip.get("chunk"),
            "precision": found.get("precision"), "recall": found.get("recall"),
            "f1": (by_split[basis].get(c) or {}).get("f1"), "support": found.get("support"),
            "diagnosis": found.get("status", "ok"), "reasons": found.get("reasons", []),
            **{split: {key: (by_split[split].get(c) or {}).get(key) for key in ("precision", "recall", "f1", "support")}
               for split in ("val", "test")},
        })
    return table
