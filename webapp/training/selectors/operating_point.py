"""The operating point: the one in force, its threshold and state, the estimate by false-accept
rate on unseen people, and the rule that chooses a run's threshold."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

from ..models import OperatingPoint, RunSample, TrainingRun
from .evaluation import run_sweep
from .runs import active_run, active_run_id

if TYPE_CHECKING:
    from ml.operating_point import OperatingPoint as FarOperatingPoint


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
        tradeoff = {
            "thresholds": curves["thresholds"],
            "precision": curves["kept_accuracy"],
            "recall": curves["identification_accuracy"],
            "vip_acceptance": curves["vip_acceptance"],
            "distractor_accuracy": curves["distractor_accuracy"],
            "mean_f1": curves["mean_f1"],
        }
    expected_share = unknown_share_expected()
    share = (
        unknown_share
        if unknown_share is not None
        else (point.unknown_share if point is not None and point.unknown_share is not None else expected_share["value"])
    )
    return {
        "run": run.pk if run else None,
        "current": point,
        "threshold": point.threshold if point else None,
        "tradeoff": tradeoff,
        "presets": run.curves.get("operating_points", {}) if run else {},
        "unknown_share": share,
        "unknown_share_expected": expected_share,
        "far_options": operating_point_far_options(run=run, unknown_share=share) if run else [],
    }


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
    rows = list(
        RunSample.objects.filter(run=run, split="val", predicted__isnull=False).values_list(
            "face_id", "identity_id", "label", "predicted", "confidence"
        )
    )
    trained = set(
        RunSample.objects.filter(run=run, split="train", identity_id__isnull=False)
        .values_list("identity_id", flat=True)
        .distinct()
    )
    distractors = [r for r in rows if r[2] < 0 and (r[1] is None or r[1] not in trained)]
    vips = [r for r in rows if r[2] >= 0]
    return FarInputs(
        distractor_confidence=np.array([r[4] for r in distractors], dtype=np.float64),
        distractor_groups=np.array([r[1] if r[1] is not None else -r[0] for r in distractors], dtype=np.int64),
        vip_confidence=np.array([r[4] for r in vips], dtype=np.float64),
        vip_correct=np.array([r[2] == r[3] for r in vips], dtype=bool),
    )


def operating_point_estimate(
    *, run: TrainingRun, far: float, unknown_share: float | None = None, inputs: FarInputs | None = None
) -> FarOperatingPoint:
    """The threshold for false-accept rate ``far`` on the run's val distractor people
    (:func:`ml.operating_point.operating_point_for_far`), with the precision it implies at
    ``unknown_share`` (default :func:`unknown_share_expected`); a rate val holds too few unknown
    faces to measure is placed at the lowest rate it does, and the estimate says so. Raises
    ``InvalidTransition`` when val holds too few distractor faces of unseen people to measure any
    rate (:func:`ml.operating_point.measurable_far`) or no VIP face."""
    from ml.operating_point import MAX_MEASURABLE_FAR, measurable_far, operating_point_for_far
    from webapp.core.exceptions import InvalidTransition

    if not 0.0 < far < 1.0:
        raise InvalidTransition(
            "The false-tag rate must lie strictly between 0 and 1 (e.g. 0.001 for one in a thousand)."
        )
    if unknown_share is None:
        unknown_share = unknown_share_expected()["value"]
    if not 0.0 <= unknown_share <= 1.0:
        raise InvalidTransition("The share of unknown faces must lie between 0 and 1.")
    inputs = inputs or run_far_inputs(run=run)
    faces = inputs.distractor_confidence.size
    if measurable_far(far, faces) is None:
        why = (
            f"val holds {faces or 'no'} face{'' if faces == 1 else 's'} of unknown people never used in training, "
            f"too few to measure a false-tag rate on (at least {math.ceil(1 / MAX_MEASURABLE_FAR)} are needed)"
        )
        raise InvalidTransition(f"Run {run.pk}: {why}. Import photos of people who are not VIPs.", extra={"why": why})
    if inputs.vip_confidence.size == 0:
        raise InvalidTransition(f"Run {run.pk} has no validation VIP faces to measure recall on.")
    return operating_point_for_far(
        far=far,
        distractor_confidence=inputs.distractor_confidence,
        vip_confidence=inputs.vip_confidence,
        vip_correct=inputs.vip_correct,
        unknown_share=unknown_share,
        distractor_groups=inputs.distractor_groups,
    )


def operating_point_far_options(*, run: TrainingRun, unknown_share: float) -> list[dict]:
    """The estimate at each of FAR_CHOICES (empty when the run's val set cannot give one)."""
    from webapp.core.exceptions import InvalidTransition

    inputs = run_far_inputs(run=run)
    try:
        return [
            operating_point_estimate(run=run, far=far, unknown_share=unknown_share, inputs=inputs).as_dict()
            for far in FAR_CHOICES
        ]
    except InvalidTransition:
        return []


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


def operating_point_choose(
    *,
    run: TrainingRun,
    far: float | None = None,
    target_precision: float | None = None,
    threshold: float | None = None,
    unknown_share: float | None = None,
    fallback: bool = False,
) -> ThresholdChoice:
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
        return ThresholdChoice(
            threshold=float(threshold), rule=Point.Rule.THRESHOLD, reason="", basis="the threshold set"
        )
    fallback_reason = ""
    if far is not None:
        try:
            point = operating_point_estimate(run=run, far=far, unknown_share=unknown_share)
        except InvalidTransition as exc:
            if not fallback:
                raise
            why = (exc.extra or {}).get("why") or exc.message.rstrip(".")
            fallback_reason = (
                f"{why}: the threshold is set for the default "
                f"target precision {settings.FACECURATOR_DEFAULT_TARGET_PRECISION:g} on validation "
                f"instead of the false-tag rate of {far:g}"
            )
            target_precision = settings.FACECURATOR_DEFAULT_TARGET_PRECISION
        else:
            lowest = point.far_rule == "lowest_measurable"
            return ThresholdChoice(
                threshold=point.threshold,
                rule=Point.Rule.LOWEST_MEASURABLE_FAR if lowest else Point.Rule.FAR,
                reason=point.reason,
                basis=f"the threshold for a false-tag rate of {point.far_used:.2g}"
                + (f" ({far:g} asked; val measures no lower)" if lowest else ""),
                far=far,
                unknown_share=point.unknown_share,
                estimate=point.as_dict(),
            )
    assert target_precision is not None
    sweep = run_sweep(run=run, split="val")
    if sweep is None:
        raise InvalidTransition(f"Run {run.pk} has no validation predictions to choose a threshold from.")
    # a val set of VIP faces alone accepts every face at every threshold it can tell apart; the run
    # chose its precision thresholds with each val VIP face also scored as an unknown person
    # (ml.train_report.proxy_unknown_report): for the fallback, that one, and the reason says so
    without_unknown = (run.metrics or {}).get("operating_points_reason") or ""
    preset = ((run.metrics or {}).get("operating_points") or {}).get(f"precision_{target_precision:g}")
    if fallback_reason and without_unknown and preset is not None:
        chosen: float | None = float(preset)
        fallback_reason = f"{fallback_reason}; {without_unknown}"
    else:
        chosen = threshold_for_precision(sweep, target_precision)
    reached = chosen is not None
    if chosen is None:
        best = int(np.nanargmax(np.nan_to_num(sweep.kept_accuracy, nan=-1.0)))
        chosen = float(sweep.thresholds[best])
    return ThresholdChoice(
        threshold=float(chosen),
        rule=Point.Rule.TARGET_PRECISION_FALLBACK if fallback_reason else Point.Rule.TARGET_PRECISION,
        reason=fallback_reason,
        basis=f"the threshold for precision {target_precision:g}",
        far=far,
        target_precision=target_precision,
        target_reached=reached,
        estimate={},
    )


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
    said = (
        "set directly"
        if point.rule == OperatingPoint.Rule.THRESHOLD
        else f"chosen for a false-tag rate of {used:g}"
        if point.rule == OperatingPoint.Rule.FAR
        else f"chosen for a false-tag rate of {used:.2g}, the lowest val measures"
        if point.rule == OperatingPoint.Rule.LOWEST_MEASURABLE_FAR
        else f"chosen for the default precision {precision:g}"
        if point.rule == OperatingPoint.Rule.TARGET_PRECISION_FALLBACK
        else f"chosen for precision {precision:g}"
    )
    return {"rule": point.rule, "reason": point.reason, "text": f"{said} ({point.reason})" if point.reason else said}
