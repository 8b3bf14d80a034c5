"""Starting a job and sending it to the task queue: the job row is the outbox (a job the broker
did not take is sent again), routed by queue name; cancelling one."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..exceptions import InvalidTransition, QueueUnavailable
from ..models import Job
from ..roles import Actor, recorded_user

logger = logging.getLogger(__name__)


NOT_SENT_MESSAGE = "not sent to the task queue yet (broker unreachable); it is sent again automatically"


def job_start(*, kind: str, params: dict | None = None, user: Actor = None, queue: str | None = None) -> Job:
    """Create a job row and send its Celery task once the surrounding transaction commits.

    The row is the outbox: a job whose task the broker did not take stays ``queued`` with no
    ``celery_task_id`` and :func:`jobs_reap` sends it again. Views that answer with a started job
    call :func:`job_require_sent` after the transaction, to answer 503 in that case.
    """
    queue = queue or _queue_for(kind, settings.CELERY_TASK_ROUTES)
    job = Job.objects.create(kind=kind, queue=queue, params=params or {}, created_by=recorded_user(user))
    transaction.on_commit(lambda: job_send(job=job))
    return job


def _queue_for(kind: str, routes: dict) -> str:
    from fnmatch import fnmatch

    for pattern, route in routes.items():
        if fnmatch(kind, pattern):
            return route["queue"]
    return "default"


def job_send(*, job: Job) -> bool:
    """Hand a job's task to the broker; True once the broker took it (``celery_task_id`` set).

    Never raises: when the broker is unreachable (after CELERY_TASK_PUBLISH_RETRY_POLICY's few
    quick retries) the job stays queued with no task id, which :func:`jobs_reap` re-sends and
    :func:`job_require_sent` reports; ``job.send_error`` says why.
    """
    try:
        result = current_app.send_task(job.kind, args=[job.pk], queue=job.queue)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the row is the outbox, sent again later
        job.send_error = f"{type(exc).__name__}: {exc}"
        logger.warning("job %s (%s) not sent to the broker: %s", job.pk, job.kind, job.send_error)
        Job.objects.filter(pk=job.pk, state=Job.State.QUEUED, celery_task_id="").update(message=NOT_SENT_MESSAGE)
        job.message = NOT_SENT_MESSAGE
        return False
    job.send_error, job.celery_task_id = "", result.id or ""
    Job.objects.filter(pk=job.pk).update(celery_task_id=job.celery_task_id)
    return True


def job_require_sent(*jobs: Job | None, extra: dict | None = None) -> None:
    """Raise QueueUnavailable (503) if the broker did not take one of these jobs when it started.

    Call it after the transaction that started them committed (a view, after the service); inside
    a transaction the sending is still to come and nothing is checked. The work is saved: the job
    is queued and the reaper sends it again, so the client may simply wait, or retry (a re-upload
    re-queues the photos whose job never ran).
    """
    ids = [job.pk for job in jobs if job is not None]
    if not ids or connection.in_atomic_block:
        return
    refused = list(
        Job.objects.filter(pk__in=ids, state=Job.State.QUEUED, celery_task_id="")
        .exclude(queue="here")
        .values_list("pk", flat=True)
    )
    if refused:
        raise QueueUnavailable(
            f"The task queue is unreachable: the work is saved (job {', '.join(map(str, refused))}, queued) and "
            "is sent again automatically once the queue is back. Retry later if it does not start.",
            extra={"retryable": True, "jobs": refused, **(extra or {})},
        )


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
