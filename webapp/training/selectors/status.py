"""What the dashboard shows: a run's headline (at the operating point when it is the active
run), the curation status of the header and ``manage.py curation_status``, and run comparisons."""

from __future__ import annotations

from django.db.models import Max

from webapp.identities.models import Identity

from ..models import Chunk, OperatingPoint, TrainingRun
from .evaluation import HEADLINE_SPLIT, run_metrics_at
from .operating_point import operating_point_current, operating_point_rule_text
from .promotion import gate_status, vips_current
from .runs import HEAVY_FIELDS, active_model, active_model_previous, active_run_id, runs_unfinished


def run_headline(*, run: TrainingRun, active_id: int | None = None, point: OperatingPoint | None = None) -> dict | None:
    """The headline of a run: the active run at its operating point (read now); any other run at
    the threshold it would get if accepted, stored when it finished; a run from before that was
    stored, at its validation max-mean-F1 threshold. Always validation, always named."""
    if active_id is None:
        active_id = active_run_id()
    if run.pk == active_id:
        point = point or operating_point_current(run=run)
        if point is not None:
            return run_metrics_at(run=run, threshold=point.threshold, basis="the operating point")
    stored = run.metrics.get("headline") if run.metrics else None
    if stored:
        return stored
    threshold = (run.metrics.get(HEADLINE_SPLIT) or {}).get("threshold") if run.metrics else None
    return (
        None
        if threshold is None
        else run_metrics_at(run=run, threshold=threshold, basis="the validation max-mean-F1 threshold")
    )


def run_key_metrics(run: TrainingRun | None) -> dict | None:
    if run is None:
        return None
    return {key: run.metrics.get(key) for key in ("val", "test") if key in run.metrics} or run.metrics


def curation_status() -> dict:
    """Everything the dashboard header and `manage.py curation_status` show, in a handful of queries."""
    from webapp.review.selectors import queue_sizes_open

    activation = active_model()
    run = activation.run if activation else None
    point = operating_point_current(run=run) if run else None
    latest = TrainingRun.objects.select_related("job").defer(*HEAVY_FIELDS).first()
    in_progress = runs_unfinished().first()
    return {
        "vip_count": vips_current().count(),
        "candidate_count": Identity.objects.filter(role=Identity.Role.CANDIDATE, merged_into__isnull=True).count(),
        "chunk": Chunk.objects.aggregate(n=Max("number"))["n"],
        "active_model": None
        if run is None or activation is None
        else {
            "run": run.pk,
            "mode": run.mode,
            "loss": run.loss,
            "accepted_at": activation.accepted_at,
            "accepted_by": activation.accepted_by.get_username() if activation.accepted_by else None,
            "automatic": activation.automatic,
            "vip_count": len(run.vips),
            "metrics": run.metrics,
            "headline": None if point is None else run_metrics_at(run=run, threshold=point.threshold),
            "operating_point": None
            if point is None
            else {
                "threshold": point.threshold,
                "target_precision": point.target_precision,
                "expected": point.expected,
                "far": point.far,
                "unknown_share": point.unknown_share,
                "estimate": point.estimate,
                "rule": point.rule,
                "reason": point.reason,
                "rule_text": operating_point_rule_text(point),
            },
        },
        "previous_model": _previous_model(),
        "latest_run": None
        if latest is None
        else {
            "run": latest.pk,
            "state": latest.job.state,
            "progress": latest.job.progress,
            "created_at": latest.created_at,
        },
        "run_in_progress": None
        if in_progress is None
        else {"run": in_progress.pk, "state": in_progress.job.state, "progress": in_progress.job.progress},
        "queues": queue_sizes_open(),
        "gate": gate_status(),
    }


def _previous_model() -> dict | None:
    previous = active_model_previous()
    return None if previous is None else {"run": previous.run_id, "accepted_at": previous.accepted_at}


def runs_compare(*, runs: list[TrainingRun]) -> dict:
    """Headline metrics side by side and, per identity, precision/recall/F1 in each run."""
    by_identity: dict[int, dict] = {}
    for run in runs:
        for row in run.per_class:
            entry = by_identity.setdefault(
                row["identity"], {"identity": row["identity"], "name": row["name"], "runs": {}}
            )
            entry["runs"][str(run.pk)] = {
                key: row.get(key) for key in ("precision", "recall", "f1", "support", "diagnosis")
            }
    return {
        "runs": [
            {
                "run": run.pk,
                "mode": run.mode,
                "loss": run.loss,
                "created_at": run.created_at,
                "vip_count": len(run.vips),
                "metrics": run.metrics,
            }
            for run in runs
        ],
        "identities": sorted(by_identity.values(), key=lambda entry: entry["name"]),
    }
