"""Starting a training run (its config validated, its VIP set and samples frozen), restarting a
failed one from its snapshot, and cancelling one."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet

from webapp.core.exceptions import InvalidTransition
from webapp.core.models import Job
from webapp.core.roles import Actor, recorded_user
from webapp.core.services import job_start
from webapp.faces.models import Face
from webapp.quality.selectors import faces_unsettled

from .. import selectors
from ..models import RunSample, TrainingRun
from .guards import RunInProgress, RunNotRestartable, serialise_writers

if TYPE_CHECKING:
    from ml.train import TrainConfig

RUN_KIND = selectors.RUN_KIND


LOST_HINT = "restart the run (POST /api/v1/runs/<id>/restart/ or manage.py train --restart <id>)"


def training_config_build(*, mode: str = "head", loss: str | None = None, **overrides: Any) -> TrainConfig:
    """A validated ``ml.train.TrainConfig`` from the mode, the loss (None: ``TrainConfig``'s default) and
    any hyper-parameters given.

    Unknown names are refused with a clear message rather than silently ignored.
    """
    from ml.train import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InvalidTransition(f"Unknown training option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
    values = {key: value for key, value in overrides.items() if value is not None}
    try:
        # mode comes from the API's choices or a stored run; TrainConfig.resolved refuses any other value
        if loss:
            values["loss"] = loss
        return TrainConfig(mode=cast(Literal["head", "finetune"], mode), **values)
    except (TypeError, ValueError) as exc:
        raise InvalidTransition(f"Invalid training configuration: {exc}") from exc


def training_run_start(
    *,
    user: Actor = None,
    mode: str = "head",
    loss: str | None = None,
    options: dict | None = None,
    note: str = "",
    labels: str = TrainingRun.Labels.SETTLED,
    allow_concurrent: bool = False,
    dispatch: bool = True,
) -> TrainingRun:
    """Freeze the VIP set, create the run and queue its ``training.run`` job (gpu queue), whose
    first step freezes every label (:func:`training_run_snapshot`; the run says "snapshotting"
    meanwhile and has no counts yet). A million faces take seconds to snapshot, so the request
    does not wait for it; it answers the refusals below with a few EXISTS queries instead.

    ``labels``: "settled" (default) leaves out of the snapshot, hence out of training and of the
    run's queues, the faces whose label is not settled (:func:`webapp.quality.agreement.faces_unsettled`:
    a decision waiting for a second opinion, or a disagreement no admin has decided); "all" trains on
    every label as it is. The run records which, and ``counts["unsettled_left_out"]`` how many faces.

    One run at a time: refused with 409 while another run is queued or running, unless
    ``allow_concurrent`` and fewer than FACECURATOR_MAX_CONCURRENT_RUNS are in flight. Refused
    with 400 when there is no VIP to train on, when none of the VIPs has a usable face, and when
    none has one in the train split (the task fails the run with the same message should that change
    before it snapshots). ``dispatch=False`` creates the job without sending
    it to a worker (``manage.py train --here`` runs it in its own process).
    """
    config = training_config_build(mode=mode, loss=loss, **(options or {}))
    if labels not in TrainingRun.Labels.values:
        raise InvalidTransition(f"Unknown labels '{labels}'; expected one of {', '.join(TrainingRun.Labels.values)}.")
    _fail_lost_runs()
    with transaction.atomic():
        serialise_writers()
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
        usable = _usable_faces(labels=labels).filter(identity_id__in=[vip.pk for vip in vips])
        if not usable.exists():
            raise InvalidTransition(NO_USABLE_VIP_FACE)
        if not usable.filter(split=Face.Split.TRAIN).exists():
            raise InvalidTransition(NO_VIP_FACE_IN_TRAIN)
        job = (
            job_start(kind=RUN_KIND, params={}, user=user)
            if dispatch
            else Job.objects.create(kind=RUN_KIND, queue="here", created_by=recorded_user(user))
        )
        run = TrainingRun.objects.create(
            job=job,
            mode=config.mode,
            loss=config.loss,
            backbone=getattr(config, "backbone", "") or "",
            config=jsonable(dataclasses.asdict(config)),
            note=note[:300],
            labels=labels,
            vips=[{"index": i, "identity": v.pk, "name": v.name, "chunk": v.chunk} for i, v in enumerate(vips)],
            chunk=max((v.chunk or 0 for v in vips), default=0) or None,
            created_by=recorded_user(user),
        )
        job.params = {"run": run.pk}
        job.message = SNAPSHOTTING
        job.save(update_fields=["params", "message"])
    return run


SNAPSHOTTING = "snapshotting: freezing the label and split of every usable face"
NO_USABLE_VIP_FACE = "None of the VIPs has a usable face (embedded, not excluded) to train on."
NO_VIP_FACE_IN_TRAIN = "None of the VIPs has a face in the train split: import more faces first."


def training_run_snapshot(*, run: TrainingRun) -> dict:
    """Freeze the run's samples and counts, once: the first step of its task. A run that has its
    counts (a restart, or a task delivered twice) keeps its snapshot.

    Labels are frozen here, when a worker takes the run, not when the admin started it: decisions
    made while the run waited in the queue are in it, later ones never leak into it. Fails the
    run (the job keeps the message) when by then none of its VIPs has a usable face, or none in
    the train split; nothing is written then.
    """
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.counts:
            return run.counts
        counts = _snapshot_samples(run=run, class_of={vip["identity"]: vip["index"] for vip in run.vips})
        if counts["vip"] == 0:
            raise InvalidTransition(NO_USABLE_VIP_FACE)
        if counts["vip_train"] == 0:
            raise InvalidTransition(NO_VIP_FACE_IN_TRAIN)
        run.counts = counts
        run.save(update_fields=["counts"])
    return counts


def _usable_faces(*, labels: str) -> QuerySet[Face]:
    """The faces a run on ``labels`` trains on: embedded, not excluded, not a non-face, and
    settled unless the run trains on all labels."""
    faces = Face.objects.filter(embedding__isnull=False).exclude(
        status__in=[Face.Status.NOT_A_FACE, Face.Status.EXCLUDED]
    )
    if labels == TrainingRun.Labels.SETTLED:
        faces = faces.exclude(pk__in=faces.filter(faces_unsettled()).values("pk"))
    return faces.order_by()


def _distractor_person_split(identity_id: int) -> str:
    from ml.splits import split_for_person

    return split_for_person(
        str(identity_id), seed=settings.FACECURATOR_SPLIT_SEED, proportions=settings.FACECURATOR_SPLIT_PROPORTIONS
    )


def _snapshot_samples(*, run: TrainingRun, class_of: dict[int, int]) -> dict:
    """Write one RunSample per usable face (:func:`_usable_faces`) with one ``INSERT ... SELECT``;
    count them with one query.

    VIP and unknown faces keep their face's split (by source group); the faces of a known
    distractor person (a candidate) all take that person's split (:func:`ml.splits.split_for_person`),
    so the val distractors the operating point is measured on are people never trained on.

    The split rule is a Python hash, so it is computed here once per distinct distractor person
    (thousands, not a million faces) and joined in with the VIPs' class indices as a ``VALUES``
    table: a hash join, where a ``CASE`` over thousands of identities would compare every face with
    each of them. The statement is plain SQL that PostgreSQL and SQLite both run.
    """
    from ml.splits import SPLITS

    faces = _usable_faces(labels=run.labels)
    left_out = 0
    if run.labels == TrainingRun.Labels.SETTLED:
        left_out = _usable_faces(labels=TrainingRun.Labels.ALL).filter(faces_unsettled()).count()
    people = (
        faces.filter(identity__isnull=False)
        .exclude(identity_id__in=list(class_of))
        .values_list("identity_id", flat=True)
        .distinct()
    )
    mapping: list[tuple[int, int, str | None]] = [
        (int(identity), int(label), None) for identity, label in class_of.items()
    ]
    mapping += [(int(identity), -1, _distractor_person_split(identity)) for identity in people.iterator()]
    if any(split is not None and split not in SPLITS for _, _, split in mapping):
        raise ValueError("the split rule answered a split outside train/val/test")
    # Literals, not parameters: ids are ints and splits come from SPLITS (checked above), and
    # thousands of parameters would pass SQLite's limit on bound variables.
    values = ", ".join(
        f"({identity}, {label}, {'NULL' if split is None else repr(split)})" for identity, label, split in mapping
    )
    select_sql, params = faces.values_list("id", "identity_id", "split", "version").query.sql_with_params()
    q = connection.ops.quote_name
    field = {f.name: q(f.column) for f in RunSample._meta.concrete_fields}
    face_column = {f.name: q(f.column) for f in Face._meta.concrete_fields}
    sql = (
        f"INSERT INTO {q(RunSample._meta.db_table)} "
        f"({field['run']}, {field['face']}, {field['identity_id']}, {field['label']}, {field['split']}, {field['version']}) "
        f"SELECT %s, f.{face_column['id']}, f.{face_column['identity']}, COALESCE(m.label, -1), "
        f"COALESCE(m.split, f.{face_column['split']}), f.{face_column['version']} "
        f"FROM ({select_sql}) AS f LEFT JOIN "
        f"(SELECT column1 AS identity_id, column2 AS label, column3 AS split FROM (VALUES {values}) AS v) AS m "
        f"ON m.identity_id = f.{face_column['identity']}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (run.pk, *params))
    vip, train = Q(label__gte=0), Q(split="train")
    counts = RunSample.objects.filter(run=run).aggregate(
        total=Count("pk"),
        vip=Count("pk", filter=vip),
        train=Count("pk", filter=train),
        val=Count("pk", filter=Q(split="val")),
        test=Count("pk", filter=Q(split="test")),
        vip_train=Count("pk", filter=vip & train),
    )
    return {
        "total": counts["total"],
        "vip": counts["vip"],
        "distractor": counts["total"] - counts["vip"],
        "train": counts["train"],
        "val": counts["val"],
        "test": counts["test"],
        "vip_train": counts["vip_train"],
        "unsettled_left_out": left_out,
    }


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
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


def training_run_restart(*, run: TrainingRun, user: Actor = None, dispatch: bool = True) -> TrainingRun:
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
        serialise_writers()
        run = TrainingRun.objects.select_for_update(of=("self",)).select_related("job").get(pk=run.pk)
        previous = run.job
        if previous.state == Job.State.SUCCEEDED:
            raise RunNotRestartable(f"Run {run.pk} succeeded; start a new run to train again.")
        if not previous.is_finished:
            raise RunInProgress(
                f"Run {run.pk} is still {previous.state} ({previous.progress:.0%}, worker {previous.worker or 'none yet'}); "
                f"cancel it before restarting it.",
                extra={"run": run.pk, "job": previous.pk},
            )
        busy = selectors.runs_unfinished().exclude(pk=run.pk).order_by("id").first()
        if busy is not None:
            raise RunInProgress(
                f"Training run {busy.pk} is already {busy.job.state} ({busy.job.progress:.0%}); wait for it to finish "
                f"or cancel it before restarting run {run.pk}.",
                extra={"run": busy.pk, "job": busy.job_id},
            )
        params = {"run": run.pk, "restart_of": previous.pk}
        run.job = (
            job_start(kind=RUN_KIND, params=params, user=user)
            if dispatch
            else Job.objects.create(kind=RUN_KIND, queue="here", params=params, created_by=recorded_user(user))
        )
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
