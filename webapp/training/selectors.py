"""Reads on training: runs, the active model and its operating point, the promotion gate, status."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery

from webapp.core.models import Job
from webapp.faces.models import Face
from webapp.identities.models import Identity

from .models import ActiveModel, Chunk, OperatingPoint, RunSample, TrainingRun

if TYPE_CHECKING:
    from ml.metrics import ThresholdSweep
    from ml.operating_point import OperatingPoint as FarOperatingPoint

RUN_KIND = "training.run"
HEAVY_FIELDS = ("per_class", "curves", "confused_pairs", "config", "vips")


def runs_for_listing() -> QuerySet[TrainingRun]:
    """Runs with their job and author in the same query; the large JSON reports are left out."""
    return TrainingRun.objects.select_related("job", "created_by").defer(*HEAVY_FIELDS)


def runs_unfinished() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("job").exclude(job__state__in=Job.FINISHED_STATES)


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


def operating_point_current(*, run: TrainingRun | None = None) -> OperatingPoint | None:
    """The operating point in force for ``run`` (default: the active run)."""
    run_id = run.pk if run is not None else active_run_id()
    if run_id is None:
        return None
    return OperatingPoint.objects.filter(run_id=run_id).select_related("set_by").first()


def operating_threshold() -> float | None:
    """The confidence threshold video tagging uses: the active model's operating point (None: no model yet).

    Predictions are rejected by :func:`ml.metrics.is_rejected` at this threshold.
    """
    run_id = active_run_id()
    if run_id is None:
        return None
    return OperatingPoint.objects.filter(run_id=run_id).values_list("threshold", flat=True).first()


def operating_point_state(*, unknown_share: float | None = None) -> dict:
    """The active model's operating point and the trade-off to choose it from: the exact validation
    sweep (precision = kept accuracy, recall = identification accuracy), the run's presets, and
    the estimate at each offered false-tag rate at ``unknown_share`` (default: the current point's,
    else :func:`unknown_share_expected`)."""
    run = active_run()
    point = operating_point_current(run=run) if run else None
    sweep = run_sweep(run=run, split="val") if run else None
    tradeoff = None
    if sweep is not None:
        curves = sweep.as_dict()
        tradeoff = {"thresholds": curves["thresholds"], "precision": curves["kept_accuracy"],
                    "recall": curves["identification_accuracy"], "vip_acceptance": curves["vip_acceptance"],
                    "distractor_accuracy": curves["distractor_accuracy"], "mean_f1": curves["mean_f1"]}
    expected_share = unknown_share_expected()
    share = unknown_share if unknown_share is not None else (
        point.unknown_share if point is not None and point.unknown_share is not None else expected_share["value"])
    return {"run": run.pk if run else None, "current": point, "threshold": point.threshold if point else None,
            "tradeoff": tradeoff, "presets": run.curves.get("operating_points", {}) if run else {},
            "unknown_share": share, "unknown_share_expected": expected_share,
            "far_options": operating_point_far_options(run=run, unknown_share=share) if run else []}


# --- The operating point by false-accept rate ---------------------------------------------------

FAR_CHOICES = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)  # what the panel offers; any 0 < far < 1 works


def unknown_share_expected() -> dict:
    """The share of unknown faces to expect: of the faces in tagged videos, those the model tagged
    as no VIP (below the threshold); ``ml.operating_point.DEFAULT_UNKNOWN_SHARE`` (0.9) before any
    video was tagged. Returns ``{value, source, faces}``."""
    from django.db.models import Sum

    from ml.operating_point import DEFAULT_UNKNOWN_SHARE
    from webapp.tagging.models import VideoTagging

    totals = VideoTagging.objects.aggregate(faces=Sum("faces"), accepted=Sum("faces_accepted"))
    faces = totals["faces"] or 0
    if not faces:
        return {"value": DEFAULT_UNKNOWN_SHARE, "source": "default", "faces": 0}
    return {"value": 1.0 - (totals["accepted"] or 0) / faces, "source": "tagged_videos", "faces": faces}


@dataclass(frozen=True)
class FarInputs:
    """Val scores the FAR operating point is read from: distractor faces of people with no face in
    the run's train split (their person ids: identity, or the face itself for an unknown person),
    and VIP faces with whether their top VIP is right."""

    distractor_confidence: np.ndarray
    distractor_groups: np.ndarray
    vip_confidence: np.ndarray
    vip_correct: np.ndarray


def run_far_inputs(*, run: TrainingRun) -> FarInputs:
    rows = list(RunSample.objects.filter(run=run, split="val", predicted__isnull=False)
                .values_list("face_id", "identity_id", "label", "predicted", "confidence"))
    trained = set(RunSample.objects.filter(run=run, split="train", identity_id__isnull=False)
                  .values_list("identity_id", flat=True).distinct())
    distractors = [r for r in rows if r[2] < 0 and (r[1] is None or r[1] not in trained)]
    vips = [r for r in rows if r[2] >= 0]
    return FarInputs(
        distractor_confidence=np.array([r[4] for r in distractors], dtype=np.float64),
        distractor_groups=np.array([r[1] if r[1] is not None else -r[0] for r in distractors], dtype=np.int64),
        vip_confidence=np.array([r[4] for r in vips], dtype=np.float64),
        vip_correct=np.array([r[2] == r[3] for r in vips], dtype=bool),
    )


def operating_point_estimate(*, run: TrainingRun, far: float, unknown_share: float | None = None,
                             inputs: FarInputs | None = None) -> FarOperatingPoint:
    """The threshold for false-accept rate ``far`` on the run's val distractor people
    (:func:`ml.operating_point.operating_point_for_far`), with the precision it implies at
    ``unknown_share`` (default :func:`unknown_share_expected`); a rate val holds too few unknown
    faces to measure is placed at the lowest rate it does, and the estimate says so. Raises
    ``InvalidTransition`` when val holds too few distractor faces of unseen people to measure any
    rate (:func:`ml.operating_point.measurable_far`) or no VIP face."""
    from ml.operating_point import MAX_MEASURABLE_FAR, measurable_far, operating_point_for_far
    from webapp.core.exceptions import InvalidTransition

    if not 0.0 < far < 1.0:
        raise InvalidTransition("The false-tag rate must lie strictly between 0 and 1 (e.g. 0.001 for one in a thousand).")
    if unknown_share is None:
        unknown_share = unknown_share_expected()["value"]
    if not 0.0 <= unknown_share <= 1.0:
        raise InvalidTransition("The share of unknown faces must lie between 0 and 1.")
    inputs = inputs or run_far_inputs(run=run)
    faces = inputs.distractor_confidence.size
    if measurable_far(far, faces) is None:
        why = (f"val holds {faces or 'no'} face{'' if faces == 1 else 's'} of unknown people never used in training, "
               f"too few to measure a false-tag rate on (at least {math.ceil(1 / MAX_MEASURABLE_FAR)} are needed)")
        raise InvalidTransition(f"Run {run.pk}: {why}. Import photos of people who are not VIPs.", extra={"why": why})
    if inputs.vip_confidence.size == 0:
        raise InvalidTransition(f"Run {run.pk} has no validation VIP faces to measure recall on.")
    return operating_point_for_far(far=far, distractor_confidence=inputs.distractor_confidence,
                                   vip_confidence=inputs.vip_confidence, vip_correct=inputs.vip_correct,
                                   unknown_share=unknown_share, distractor_groups=inputs.distractor_groups)


def operating_point_far_options(*, run: TrainingRun, unknown_share: float) -> list[dict]:
    """The estimate at each of FAR_CHOICES (empty when the run's val set cannot give one)."""
    from webapp.core.exceptions import InvalidTransition

    inputs = run_far_inputs(run=run)
    try:
        return [operating_point_estimate(run=run, far=far, unknown_share=unknown_share, inputs=inputs).as_dict()
                for far in FAR_CHOICES]
    except InvalidTransition:
        return []


# --- What chooses a run's threshold: one rule, read by accepting, setting and the queues -----------

@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold a request gives on a run's val set, which rule chose it and why (``reason``,
    empty when the request was met as asked). ``rule`` is an ``OperatingPoint.Rule`` value;
    ``basis`` names the threshold in a headline ("the threshold for a false-tag rate of 0.001");
    ``far``/``target_precision`` are what the request asked for (the fallback's precision when
    it chose), ``estimate`` the FAR estimate as a dict ({} when no rate chose)."""

    threshold: float
    rule: str
    reason: str
    basis: str
    far: float | None = None
    unknown_share: float | None = None
    target_precision: float | None = None
    target_reached: bool = True
    estimate: dict | None = None


def operating_point_choose(*, run: TrainingRun, far: float | None = None, target_precision: float | None = None,
                           threshold: float | None = None, unknown_share: float | None = None,
                           fallback: bool = False) -> ThresholdChoice:
    """The threshold for one of a false-tag rate, a target precision or a threshold on ``run``'s val set.

    A false-tag rate val holds too few unknown faces to measure is placed at the lowest rate it
    does (:func:`operating_point_estimate`). When val measures no rate at all (fewer than 10
    unknown faces of people never trained on), an admin's request is refused (``InvalidTransition``);
    with ``fallback`` (the default a new model starts at, or a rate carried from the previous
    model) the default target precision chooses instead, and ``reason`` says so. A target
    precision takes the lowest threshold whose val precision reaches it
    (:func:`ml.metrics.threshold_for_precision`), else the most precise one (``target_reached`` false).
    """
    from ml.metrics import threshold_for_precision
    from webapp.core.exceptions import InvalidTransition

    Point = OperatingPoint  # noqa: N806 - the rule names read as Point.Rule.FAR

    if sum(value is not None for value in (target_precision, threshold, far)) != 1:
        raise InvalidTransition("Give one of a false-tag rate (far), a target precision or a threshold.")
    if threshold is not None:
        return ThresholdChoice(threshold=float(threshold), rule=Point.Rule.THRESHOLD, reason="",
                               basis="the threshold set")
    fallback_reason = ""
    if far is not None:
        try:
            point = operating_point_estimate(run=run, far=far, unknown_share=unknown_share)
        except InvalidTransition as exc:
            if not fallback:
                raise
            why = (exc.extra or {}).get("why") or exc.message.rstrip(".")
            fallback_reason = (f"{why}: the threshold is set for the default "
                               f"target precision {settings.FACECURATOR_DEFAULT_TARGET_PRECISION:g} on validation "
                               f"instead of the false-tag rate of {far:g}")
            target_precision = settings.FACECURATOR_DEFAULT_TARGET_PRECISION
        else:
            lowest = point.far_rule == "lowest_measurable"
            return ThresholdChoice(
                threshold=point.threshold, rule=Point.Rule.LOWEST_MEASURABLE_FAR if lowest else Point.Rule.FAR,
                reason=point.reason, basis=f"the threshold for a false-tag rate of {point.far_used:.2g}"
                + (f" ({far:g} asked; val measures no lower)" if lowest else ""),
                far=far, unknown_share=point.unknown_share, estimate=point.as_dict())
    assert target_precision is not None
    sweep = run_sweep(run=run, split="val")
    if sweep is None:
        raise InvalidTransition(f"Run {run.pk} has no validation predictions to choose a threshold from.")
    chosen = threshold_for_precision(sweep, target_precision)
    reached = chosen is not None
    if chosen is None:
        best = int(np.nanargmax(np.nan_to_num(sweep.kept_accuracy, nan=-1.0)))
        chosen = float(sweep.thresholds[best])
    return ThresholdChoice(
        threshold=float(chosen),
        rule=Point.Rule.TARGET_PRECISION_FALLBACK if fallback_reason else Point.Rule.TARGET_PRECISION,
        reason=fallback_reason, basis=f"the threshold for precision {target_precision:g}",
        far=far, target_precision=target_precision, target_reached=reached, estimate={})


# --- Evaluation from a run's frozen samples ------------------------------------------------

@dataclass(frozen=True)
class SplitPredictions:
    labels: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    n_classes: int

    def __len__(self) -> int:
        return len(self.labels)


def run_predictions(*, run: TrainingRun, split: str = "val") -> SplitPredictions:
    """The calibrated predictions a run made on one split (from its stored per-sample scores)."""
    rows = np.array(
        list(RunSample.objects.filter(run=run, split=split, predicted__isnull=False)
             .order_by("face_id").values_list("label", "predicted", "confidence")),
        dtype=np.float64,
    ).reshape(-1, 3)
    return SplitPredictions(labels=rows[:, 0].astype(np.int64), predicted=rows[:, 1].astype(np.int64),
                            confidence=rows[:, 2], n_classes=len(run.vips))


def run_sweep(*, run: TrainingRun, split: str = "val") -> ThresholdSweep | None:
    """The exact threshold sweep on a split (:func:`ml.metrics.threshold_sweep`), or None if it is empty."""
    from ml.metrics import threshold_sweep

    predictions = run_predictions(run=run, split=split)
    if len(predictions) == 0 or predictions.n_classes == 0:
        return None
    return threshold_sweep(predictions.labels, predictions.predicted, predictions.confidence, predictions.n_classes)


def run_evaluation(*, run: TrainingRun, threshold: float, split: str = "val") -> dict | None:
    """Every open-set metric of a run on a split at one threshold (JSON-ready), or None if the split is empty."""
    from ml.metrics import evaluate_at_threshold

    predictions = run_predictions(run=run, split=split)
    if len(predictions) == 0 or predictions.n_classes == 0:
        return None
    result = evaluate_at_threshold(predictions.labels, predictions.predicted, predictions.confidence, threshold,
                                   predictions.n_classes)
    return result.as_dict(run.class_names)


# --- One truth about a model: its metrics at one threshold, named -----------------------------

HEADLINE_SPLIT = "val"  # the split thresholds are chosen on; numbers read at a threshold chosen on test never headline


def run_metrics_at(*, run: TrainingRun, threshold: float, basis: str = "the operating point") -> dict | None:
    """THE headline of run ``run`` at ``threshold`` on validation, named: every surface (runs table,
    dashboard, gate, operating-point panel, ``curation_status``) shows this dict.

    ``label`` says where it was read ("at the operating point 0.780"); ``precision`` is the
    precision of what would be tagged (kept accuracy), ``recall`` the share of VIP faces tagged
    with the right name (identification accuracy); ``f1_auc`` is threshold-free. None when the
    run has no validation predictions.
    """
    evaluation = run_evaluation(run=run, threshold=threshold, split=HEADLINE_SPLIT)
    if evaluation is None:
        return None
    split_metrics = run.metrics.get(HEADLINE_SPLIT) or {}
    return {
        "threshold": float(threshold), "split": HEADLINE_SPLIT, "basis": basis,
        "label": f"at {basis} {threshold:.3f}",
        "precision": evaluation["kept_accuracy"], "recall": evaluation["identification_accuracy"],
        "mean_f1": evaluation["mean_f1"], "distractor_accuracy": evaluation["distractor_accuracy"],
        "vip_acceptance": evaluation["vip_acceptance"], "total_accuracy": evaluation.get("total_accuracy"),
        "f1_auc": split_metrics.get("f1_auc"),
    }


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
    return None if threshold is None else run_metrics_at(run=run, threshold=threshold,
                                                          basis="the validation max-mean-F1 threshold")


# --- Promotion gate ----------------------------------------------------------------------------

def vips_current() -> QuerySet[Identity]:
    """The VIP set today in class order: by chunk, then popularity, then name."""
    return Identity.objects.filter(role=Identity.Role.VIP, merged_into__isnull=True).order_by(
        F("chunk").asc(nulls_last=True), F("popularity_rank").asc(nulls_last=True), "name", "id"
    )


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
        return {"required": False, "passed": True, "run": None, "threshold": None, "checks": [], "minima": minima,
                "reason": "No VIPs yet: the first chunk needs no gate."}
    run = active_run()
    if run is None:
        return {"required": True, "passed": False, "run": None, "threshold": None, "checks": [], "minima": minima,
                "reason": "No active model: train a run on the current VIPs and accept it first."}
    base = {"required": True, "run": run.pk, "minima": minima}
    if set(run.vip_identity_ids) != vip_ids:
        return {**base, "passed": False, "threshold": None, "checks": [],
                "reason": f"The active model (run {run.pk}) was trained on another VIP set than today's "
                          f"{len(vip_ids)} VIPs: train and accept a run on the current VIPs first."}
    point = operating_point_current(run=run)
    threshold = point.threshold if point is not None else None
    rule = operating_point_rule(point)
    base["operating_point"] = rule
    headline = run_metrics_at(run=run, threshold=threshold) if threshold is not None else None
    if headline is None:
        return {**base, "passed": False, "threshold": threshold, "checks": [],
                "reason": f"Run {run.pk} has no validation predictions to judge it by."}
    values = {name: headline[name] for name in ("precision", "recall", "mean_f1")}
    checks = [
        {"metric": name, "value": values[name], "minimum": minima[name],
         "passed": values[name] is not None and values[name] >= minima[name]}
        for name in ("precision", "recall", "mean_f1")
    ]
    passed = all(check["passed"] for check in checks)
    failing = [f"{c['metric']} {_fmt(c['value'])} < {c['minimum']:g}" for c in checks if not c["passed"]]
    chosen = rule["text"] if rule else ""
    reason = (f"Run {run.pk} meets every minimum on validation {headline['label']}." if passed
              else f"Run {run.pk} on validation {headline['label']}: {'; '.join(failing)}.") + \
        (f" The threshold was {chosen}." if chosen else "")
    return {**base, "passed": passed, "threshold": threshold, "checks": checks, "reason": reason,
            "headline": headline, "weak_identities": _weak_identities(run)}


def operating_point_rule_text(point: OperatingPoint) -> str:
    """The phrase of :func:`operating_point_rule` for a point in force."""
    rule = operating_point_rule(point)
    return rule["text"] if rule else ""


def operating_point_rule(point: OperatingPoint | None) -> dict | None:
    """Which rule chose ``point``'s threshold and why, for the gate and the status: ``{rule, reason,
    text}``, ``text`` one phrase ("chosen for a false-tag rate of 0.001", with the reason when the
    request could not be met as asked)."""
    if point is None:
        return None
    used = (point.estimate or {}).get("far_used") or point.far or 0.0
    precision = point.target_precision or 0.0
    said = ("set directly" if point.rule == OperatingPoint.Rule.THRESHOLD else
            f"chosen for a false-tag rate of {used:g}" if point.rule == OperatingPoint.Rule.FAR else
            f"chosen for a false-tag rate of {used:.2g}, the lowest val measures"
            if point.rule == OperatingPoint.Rule.LOWEST_MEASURABLE_FAR else
            f"chosen for the default precision {precision:g}"
            if point.rule == OperatingPoint.Rule.TARGET_PRECISION_FALLBACK else
            f"chosen for precision {precision:g}")
    return {"rule": point.rule, "reason": point.reason,
            "text": f"{said} ({point.reason})" if point.reason else said}


def _weak_identities(run: TrainingRun) -> list[dict]:
    return [
        {key: row.get(key) for key in ("identity", "name", "precision", "recall", "f1", "diagnosis")}
        for row in run.per_class if row.get("diagnosis") not in (None, "ok")
    ]


def _fmt(value: float | None) -> str:
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


# --- Status ------------------------------------------------------------------------------------

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
        "active_model": None if run is None or activation is None else {
            "run": run.pk, "mode": run.mode, "loss": run.loss, "accepted_at": activation.accepted_at,
            "accepted_by": activation.accepted_by.get_username() if activation.accepted_by else None,
            "automatic": activation.automatic, "vip_count": len(run.vips), "metrics": run.metrics,
            "headline": None if point is None else run_metrics_at(run=run, threshold=point.threshold),
            "operating_point": None if point is None else {
                "threshold": point.threshold, "target_precision": point.target_precision, "expected": point.expected,
                "far": point.far, "unknown_share": point.unknown_share, "estimate": point.estimate,
                "rule": point.rule, "reason": point.reason, "rule_text": operating_point_rule_text(point),
            },
        },
        "previous_model": _previous_model(),
        "latest_run": None if latest is None else {"run": latest.pk, "state": latest.job.state,
                                                   "progress": latest.job.progress, "created_at": latest.created_at},
        "run_in_progress": None if in_progress is None else {"run": in_progress.pk, "state": in_progress.job.state,
                                                             "progress": in_progress.job.progress},
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
            entry = by_identity.setdefault(row["identity"], {"identity": row["identity"], "name": row["name"], "runs": {}})
            entry["runs"][str(run.pk)] = {key: row.get(key) for key in ("precision", "recall", "f1", "support", "diagnosis")}
    return {
        "runs": [{"run": run.pk, "mode": run.mode, "loss": run.loss, "created_at": run.created_at,
                  "vip_count": len(run.vips), "metrics": run.metrics} for run in runs],
        "identities": sorted(by_identity.values(), key=lambda entry: entry["name"]),
    }


def active_model_confidence() -> Subquery:
    """The active model's calibrated top-VIP confidence for the face (``OuterRef("pk")``), in SQL:
    the sample of the face in the newest accepted run; null where that run did not see the face."""
    active_run = ActiveModel.objects.order_by("-accepted_at", "-id").values("run")[:1]
    return Subquery(RunSample.objects.filter(run=Subquery(active_run), face=OuterRef("pk")).values("confidence")[:1])
