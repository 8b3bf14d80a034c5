"""VIP promotion: the current VIPs, the promotion gate, the next chunk's candidates and the chunks."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, F, Max, Q, QuerySet

from webapp.faces.models import Face
from webapp.identities.models import Identity
from webapp.identities.selectors import vips_current

from ..models import Chunk, TrainingRun
from .evaluation import run_metrics_at
from .operating_point import operating_point_current, operating_point_rule
from .runs import active_run


def gate_status() -> dict:
    """Whether the next chunk may be promoted: the active model's validation metrics against the minima.

    The gate reads the active model at its operating point on the validation split: precision is
    the precision of what would be tagged (kept accuracy), recall the share of VIP faces tagged
    with the right name (identification accuracy), and mean F1 averages the VIPs' F1. A model
    trained before the latest promotion (a different VIP set) does not count. The very first
    chunk needs no gate.
    """
    minima = {
        "precision": settings.FACECURATOR_GATE_MIN_PRECISION,
        "recall": settings.FACECURATOR_GATE_MIN_RECALL,
        "mean_f1": settings.FACECURATOR_GATE_MIN_MEAN_F1,
    }
    vip_ids = set(vips_current().values_list("id", flat=True))
    if not Chunk.objects.exists() and not vip_ids:
        return {
            "required": False,
            "passed": True,
            "run": None,
            "threshold": None,
            "checks": [],
            "minima": minima,
            "reason": "No VIPs yet: the first chunk needs no gate.",
        }
    run = active_run()
    if run is None:
        return {
            "required": True,
            "passed": False,
            "run": None,
            "threshold": None,
            "checks": [],
            "minima": minima,
            "reason": "No active model: train a run on the current VIPs and accept it first.",
        }
    base = {"required": True, "run": run.pk, "minima": minima}
    if set(run.vip_identity_ids) != vip_ids:
        return {
            **base,
            "passed": False,
            "threshold": None,
            "checks": [],
            "reason": f"The active model (run {run.pk}) was trained on another VIP set than today's "
            f"{len(vip_ids)} VIPs: train and accept a run on the current VIPs first.",
        }
    point = operating_point_current(run=run)
    threshold = point.threshold if point is not None else None
    rule = operating_point_rule(point)
    base["operating_point"] = rule
    headline = run_metrics_at(run=run, threshold=threshold) if threshold is not None else None
    if headline is None:
        return {
            **base,
            "passed": False,
            "threshold": threshold,
            "checks": [],
            "reason": f"Run {run.pk} has no validation predictions to judge it by.",
        }
    values = {name: headline[name] for name in ("precision", "recall", "mean_f1")}
    checks = [
        {
            "metric": name,
            "value": values[name],
            "minimum": minima[name],
            "passed": values[name] is not None and values[name] >= minima[name],
        }
        for name in ("precision", "recall", "mean_f1")
    ]
    passed = all(check["passed"] for check in checks)
    failing = [f"{c['metric']} {fmt_number(c['value'])} < {c['minimum']:g}" for c in checks if not c["passed"]]
    chosen = rule["text"] if rule else ""
    reason = (
        f"Run {run.pk} meets every minimum on validation {headline['label']}."
        if passed
        else f"Run {run.pk} on validation {headline['label']}: {'; '.join(failing)}."
    ) + (f" The threshold was {chosen}." if chosen else "")
    return {
        **base,
        "passed": passed,
        "threshold": threshold,
        "checks": checks,
        "reason": reason,
        "headline": headline,
        "weak_identities": _weak_identities(run),
    }


def _weak_identities(run: TrainingRun) -> list[dict]:
    return [
        {key: row.get(key) for key in ("identity", "name", "precision", "recall", "f1", "diagnosis")}
        for row in run.per_class
        if row.get("diagnosis") not in (None, "ok")
    ]


def fmt_number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def next_chunk_candidates(*, size: int) -> list[Identity]:
    """The next candidates to promote, by popularity (rank 1 first; unranked last, most faces first)."""
    live = ~Q(faces__status__in=[Face.Status.NOT_A_FACE, Face.Status.EXCLUDED])
    return list(
        Identity.objects.filter(role=Identity.Role.CANDIDATE, merged_into__isnull=True)
        .annotate(face_count=Count("faces", filter=live))
        .order_by(F("popularity_rank").asc(nulls_last=True), "-face_count", "name")[:size]
    )


def chunk_next_number() -> int:
    top_chunk = Chunk.objects.aggregate(n=Max("number"))["n"] or 0
    top_identity = Identity.objects.aggregate(n=Max("chunk"))["n"] or 0
    return max(top_chunk, top_identity) + 1


def chunks_for_listing() -> QuerySet[Chunk]:
    return Chunk.objects.select_related("promoted_by", "run")
