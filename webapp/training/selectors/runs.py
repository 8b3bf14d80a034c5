"""Reads on training runs and the active model: listings, the runs in flight, the model in force
and its per-face confidence."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from webapp.core.models import Job

from ..models import ActiveModel, RunSample, TrainingRun

RUN_KIND = "training.run"


HEAVY_FIELDS = ("per_class", "curves", "confused_pairs", "config", "vips")


def runs_for_listing() -> QuerySet[TrainingRun]:
    """Runs with their job and author in the same query; the large JSON reports are left out."""
    return TrainingRun.objects.select_related("job", "created_by").defer(*HEAVY_FIELDS)


def runs_unfinished() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("job").exclude(job__state__in=Job.FINISHED_STATES)


def run_succeeded_exists() -> bool:
    """Whether any training run succeeded (its job finished well)."""
    return TrainingRun.objects.filter(job__state=Job.State.SUCCEEDED).exists()


def active_model() -> ActiveModel | None:
    """The newest acceptance, i.e. the model in force (None before any run was accepted)."""
    return ActiveModel.objects.select_related("run", "run__job", "accepted_by").first()


def active_run() -> TrainingRun | None:
    activation = active_model()
    return activation.run if activation else None


def active_model_previous() -> ActiveModel | None:
    """The model that was active before the current one (another run), the one a rollback returns to."""
    rows = list(ActiveModel.objects.select_related("run", "run__job").order_by("-accepted_at", "-id")[:50])
    if not rows:
        return None
    return next((row for row in rows[1:] if row.run_id != rows[0].run_id), None)


def active_run_id() -> int | None:
    return ActiveModel.objects.values_list("run_id", flat=True).first()


def active_model_confidence() -> Subquery:
    """The active model's calibrated top-VIP confidence for the face (``OuterRef("pk")``), in SQL:
    the sample of the face in the newest accepted run; null where that run did not see the face."""
    active_run = ActiveModel.objects.order_by("-accepted_at", "-id").values("run")[:1]
    return Subquery(RunSample.objects.filter(run=Subquery(active_run), face=OuterRef("pk")).values("confidence")[:1])
