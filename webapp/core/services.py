"""Writes on jobs: starting one, running it inside a Celery task, reporting progress, cancelling."""
from __future__ import annotations

import logging
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from .exceptions import Conflict, InvalidTransition
from .models import Job

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a running job when an admin asked to cancel it."""


class Progress:
    """Reports a job's progress to its row, at most a few times a second, and notices cancels.

    Long work calls ``progress(fraction, message)`` often; the row is written only when a
    quarter second has passed or the fraction moved by a percent, so reporting stays cheap.
    """

    def __init__(self, job_id: int, *, min_interval: float = 0.25):
        self.job_id = job_id
        self.min_interval = min_interval
        self._last_write = 0.0
        self._last_fraction = -1.0

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = time.monotonic()
        if now - self._last_write < self.min_interval and fraction - self._last_fraction < 0.01:
            return
        self._last_write, self._last_fraction = now, fraction
        Job.objects.filter(pk=self.job_id).update(progress=fraction, message=message[:500])
        self.raise_if_cancelled()

    def cancelled(self) -> bool:
        return Job.objects.filter(pk=self.job_id, cancel_requested=True).exists()

    def raise_if_cancelled(self) -> None:
        if self.cancelled():
            raise JobCancelled("cancelled by request")


JobHandler = Callable[[Job, Progress], dict[str, Any] | None]


def job_start(*, kind: str, params: dict | None = None, user=None, queue: str | None = None) -> Job:
    """Create a job row and send its Celery task once the surrounding transaction commits."""
    from django.conf import settings

    queue = queue or _queue_for(kind, settings.CELERY_TASK_ROUTES)
    job = Job.objects.create(
        kind=kind, queue=queue, params=params or {}, created_by=user if user and user.is_authenticated else None
    )
    transaction.on_commit(lambda: _send(job.pk, kind, queue))
    return job


def _queue_for(kind: str, routes: dict) -> str:
    from fnmatch import fnmatch

    for pattern, route in routes.items():
        if fnmatch(kind, pattern):
            return route["queue"]
    return "default"


def _send(job_id: int, kind: str, queue: str) -> None:
    result = current_app.send_task(kind, args=[job_id], queue=queue)
    Job.objects.filter(pk=job_id).update(celery_task_id=result.id or "")


def job_cancel(*, job: Job) -> Job:
    """Ask a queued or running job to stop; a queued job is cancelled at once."""
    if job.is_finished:
        raise InvalidTransition(f"Job {job.pk} already {job.state}; nothing to cancel.")
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        job.cancel_requested = True
        fields = ["cancel_requested"]
        if job.state == Job.State.QUEUED:
            job.state, job.finished_at, job.message = Job.State.CANCELLED, timezone.now(), "cancelled"
            fields += ["state", "finished_at", "message"]
        job.save(update_fields=fields)
    return job


def job_execute(job_id: int, handler: JobHandler) -> None:
    """Run ``handler`` for a job inside a Celery task, storing state, result and error on the row.

    Safe to run twice: a job that already finished is left alone, and a job found ``running``
    (its worker died and the broker redelivered it) is started again from the beginning;
    handlers are written to be idempotent, so a rerun leaves the same result.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("job %s no longer exists; task dropped", job_id)
            return
        if job.is_finished:
            logger.info("job %s already %s; redelivered task ignored", job_id, job.state)
            return
        if job.cancel_requested:
            job.state, job.finished_at = Job.State.CANCELLED, timezone.now()
            job.save(update_fields=["state", "finished_at"])
            return
        rerun = job.state == Job.State.RUNNING
        job.state = Job.State.RUNNING
        job.attempts += 1
        job.started_at = timezone.now()
        job.worker = socket.gethostname()[:200]
        job.message = "restarted after a worker was lost" if rerun else "started"
        job.save(update_fields=["state", "attempts", "started_at", "worker", "message"])

    progress = Progress(job.pk)
    try:
        result = handler(job, progress) or {}
    except JobCancelled:
        _finish(job.pk, Job.State.CANCELLED, message="cancelled")
    except Conflict as exc:
        _finish(job.pk, Job.State.FAILED, message=str(exc)[:500], error=str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure must land on the row, not vanish
        logger.exception("job %s (%s) failed", job_id, job.kind)
        _finish(
            job.pk,
            Job.State.FAILED,
            message=f"{type(exc).__name__}: {exc}"[:500],
            error="".join(traceback.format_exception(exc))[-20000:],
        )
    else:
        _finish(job.pk, Job.State.SUCCEEDED, message="done", result=result, progress=1.0)


def _finish(job_id: int, state: str, *, message: str, error: str = "", result=None, progress=None) -> None:
    fields: dict[str, Any] = {"state": state, "message": message, "error": error, "finished_at": timezone.now()}
    if result is not None:
        fields["result"] = result
    if progress is not None:
        fields["progress"] = progress
    Job.objects.filter(pk=job_id).update(**fields)


def job_fail_lost(*, job: Job, reason: str) -> None:
    """Mark a job whose worker is gone for good as failed, with a message a person can act on."""
    _finish(job.pk, Job.State.FAILED, message=reason[:500], error=reason)
