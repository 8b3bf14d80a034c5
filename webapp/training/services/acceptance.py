"""Accepting a run as the active model (and rolling back), and choosing its operating point by
false-tag rate, target precision or threshold; a new model carries the previous choice over."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from webapp.core.exceptions import InvalidTransition
from webapp.core.models import Job
from webapp.core.roles import Actor, recorded_user

from .. import selectors
from ..models import ActiveModel, OperatingPoint, TrainingRun
from .guards import NoActiveModel, RunNotAcceptable, serialise_writers
from .runs import jsonable


def training_run_accept(*, run: TrainingRun, user: Actor = None, automatic: bool = False) -> ActiveModel:
    """Make a succeeded run the active model, carrying the operating point over.

    The new model keeps the admin's false-tag rate or target precision (its threshold is re-read
    from the new run's validation set) or fixed threshold; with no operating point yet, it starts
    at the default false-tag rate (FACECURATOR_DEFAULT_FAR, 0.001): placed at the lowest rate val
    measures when it holds too few unknown faces for it, or at the default target precision
    (FACECURATOR_DEFAULT_TARGET_PRECISION) below 10 of them; the point records which and why.
    """
    run.job.refresh_from_db()
    if run.job.state != Job.State.SUCCEEDED:
        raise RunNotAcceptable(
            f"Run {run.pk} is {run.job.state}; only a run that succeeded can become the active model."
        )
    if not run.model_file:
        raise RunNotAcceptable(f"Run {run.pk} has no model file.")
    return activate(run=run, user=user, automatic=automatic)


def active_model_rollback(*, user: Actor = None) -> ActiveModel:
    """Make the model that was active before the current one active again (appended to the history,
    so the rollback itself can be rolled back), with the operating point it had then. Video tags
    already proposed stay as they are; the next tagging pass uses the restored model."""
    with transaction.atomic():
        serialise_writers()
        previous = selectors.active_model_previous()
        if previous is None:
            raise NoActiveModel("There is no earlier active model to roll back to.")
        activation = ActiveModel.objects.create(run=previous.run, accepted_by=recorded_user(user), automatic=False)
        if selectors.operating_point_current(run=previous.run) is None:
            _carry_operating_point(run=previous.run, previous=None, user=user)
    return activation


def activate(*, run: TrainingRun, user: Actor, automatic: bool) -> ActiveModel:
    with transaction.atomic():
        previous = selectors.operating_point_current()
        activation = ActiveModel.objects.create(run=run, accepted_by=recorded_user(user), automatic=automatic)
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


def _carry_operating_point(*, run: TrainingRun, previous: OperatingPoint | None, user: Actor) -> OperatingPoint:
    """The new model's point: the previous choice (or the default rate), falling back to the default
    target precision, and saying so, when val measures no false-tag rate."""
    return operating_point_set(run=run, user=user, fallback=True, **carried_choice(previous))


def operating_point_set(
    *,
    run: TrainingRun | None = None,
    user: Actor = None,
    target_precision: float | None = None,
    threshold: float | None = None,
    far: float | None = None,
    unknown_share: float | None = None,
    fallback: bool = False,
) -> OperatingPoint:
    """Choose the threshold of a run (default: the active one) by false-tag rate, target precision or directly.

    The rule is :func:`selectors.operating_point_choose`: with ``far``, the threshold accepts that
    share of val faces of distractor people never used in training, or the lowest share val
    measures when it holds too few of them, and ``estimate`` records the precision it implies at
    ``unknown_share`` (default: what tagged videos show) with its interval and the faces and people
    behind it. With a target precision, the threshold is the lowest whose precision of accepted
    predictions on validation reaches it; when none reaches it, the most precise threshold is
    used and ``expected.target_reached`` is false. ``rule`` and ``reason`` record which rule chose
    the threshold and why; ``fallback``: see :func:`selectors.operating_point_choose`.
    """
    for name, value in (
        ("target precision", target_precision),
        ("threshold", threshold),
        ("share of unknown faces", unknown_share),
    ):
        if value is not None and not 0.0 <= value <= 1.0:
            raise InvalidTransition(f"The {name} must lie between 0 and 1.")
    if run is None:
        run = selectors.active_run()
        if run is None:
            raise NoActiveModel("No active model yet: accept a training run first.")
    choice = selectors.operating_point_choose(
        run=run,
        far=far,
        target_precision=target_precision,
        threshold=threshold,
        unknown_share=unknown_share,
        fallback=fallback,
    )
    expected = selectors.run_metrics_at(run=run, threshold=choice.threshold) or {}
    expected["identification_accuracy"] = expected.get("recall")
    expected["target_reached"] = choice.target_reached
    return OperatingPoint.objects.create(
        run=run,
        rule=choice.rule,
        reason=choice.reason,
        target_precision=choice.target_precision,
        threshold=choice.threshold,
        expected=expected,
        far=choice.far,
        unknown_share=choice.unknown_share,
        estimate=jsonable(choice.estimate or {}),
        set_by=recorded_user(user),
    )
