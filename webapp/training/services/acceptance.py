"""Accepting a run as the active model (and rolling back), and choosing its operating point by
false-tag rate, target precision or threshold; a new model carries the previous choice over."""
from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import transaction

from webapp.core.exceptions import InvalidTransition
from webapp.core.models import Job

from .. import selectors
from ..models import ActiveModel, OperatingPoint, TrainingRun
from .guards import NoActiveModel, RunNotAcceptable, serialise_writers
from .runs import jsonable


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
    return activate(run=run, user=user, automatic=automatic)


def active_model_rollback(*, user=None) -> ActiveModel:
    """Make the model that was active before the current one active again (appended to the history,
    so the rollback itself can be rolled back), with the operating point it had then. Video tags
    already proposed stay as they are; the next tagging pass uses the restored model."""
    with transaction.atomic():
        serialise_writers()
        previous = selectors.active_model_previous()
        if previous is None:
            raise NoActiveModel("There is no earlier active model to roll back to.")
        activation = ActiveModel.objects.create(
            run=previous.run, accepted_by=user if user and user.is_authenticated else None, automatic=False)
        if selectors.operating_point_current(run=previous.run) is None:
            _carry_operating_point(run=previous.run, previous=None, user=user)
    return activation


def activate(*, run: TrainingRun, user, automatic: bool) -> ActiveModel:
    with transaction.atomic():
        previous = selectors.operating_point_current()
        activation = ActiveModel.objects.create(
            run=run, accepted_by=user if user and user.is_authenticated else None, automatic=automatic
        )
        if previous is None or previous.run_id != run.pk:
            _carry_operating_point(run=run, previous=previous, user=user)
    return activation


def carried_choice(previous: OperatingPoint | None) -> dict:
    """What a newly active model keeps of the previous operating point (or the default)."""
    if previous is None:
        return {"far": settings.FACECURATOR_DEFAULT_FAR}
    if previous.far is not None:
        return {"far": previous.far, "unknown_share": previous.unknown_share}
    if previous.target_precision is not None:
        return {"target_precision": previous.target_precision}
    return {"threshold": previous.threshold}


def _carry_operating_point(*, run: TrainingRun, previous: OperatingPoint | None, user) -> OperatingPoint:
    choice = carried_choice(previous)
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
    assert threshold is not None  # given, or found by far or target precision above
    expected = selectors.run_metrics_at(run=run, threshold=threshold) or {}
    expected["identification_accuracy"] = expected.get("recall")
    expected["target_reached"] = reached
    return OperatingPoint.objects.create(
        run=run, target_precision=target_precision, threshold=float(threshold), expected=expected,
        far=far, unknown_share=unknown_share if far is not None else None, estimate=jsonable(estimate),
        set_by=user if user and user.is_authenticated else None,
    )
