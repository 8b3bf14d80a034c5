"""Jobs whose worker went silent or whose message the broker lost: failed, queued again or sent
again by the reaper (``maintenance.reap_jobs``, every minute)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..models import Job
from .running import job_finish, job_limits, last_sign_of_life
from .sending import job_send

logger = logging.getLogger(__name__)


def job_fail_lost(*, job: Job, reason: str) -> None:
    """Mark a job whose worker is gone for good as failed, with a message a person can act on."""
    job_finish(job.pk, Job.State.FAILED, message=reason[:500], error=reason)


def jobs_fail_lost(*, kinds: list[str] | None = None, hint: str = "start it again") -> list[int]:
    """Fail the running jobs whose worker went silent (no heartbeat for FACECURATOR_JOB_LOST_AFTER_SECONDS).

    A worker that dies (killed, out of memory, host lost) leaves its job ``running``; the broker
    redelivers the task only after its visibility timeout (hours, so long jobs are never sent
    twice). Callers that need the truth now (starting or restarting a training run) call this
    first: such a job becomes ``failed`` with "worker lost while running" and ``hint``. Returns
    the ids failed. A late redelivery of a failed job is ignored.
    """
    limits = job_limits()
    now = timezone.now()
    cutoff = now - timedelta(seconds=limits["lost_after_s"])
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    rows = Job.objects.filter(silent, state=Job.State.RUNNING)
    if kinds:
        rows = rows.filter(kind__in=kinds)
    failed = []
    for job in rows.only("pk", "worker", "heartbeat_at", "started_at", "attempts"):
        beat = last_sign_of_life(job)
        assert beat is not None  # ``silent`` holds only jobs that beat or started before the cutoff
        silence = (now - beat).total_seconds()
        reason = (
            f"worker lost while running (no sign of life from {job.worker or 'its worker'} for {silence:.0f} s); {hint}"
        )
        updated = Job.objects.filter(silent, pk=job.pk, state=Job.State.RUNNING, attempts=job.attempts).update(
            state=Job.State.FAILED, message=reason[:500], error=reason, finished_at=now
        )
        if updated:
            logger.warning("job %s: %s", job.pk, reason)
            failed.append(job.pk)
    return failed


def jobs_reap() -> dict[str, list[int]]:
    """The periodic check of jobs (task ``maintenance.reap_jobs``, run by Celery beat every
    FACECURATOR_REAPER_SECONDS): no job stays ``running`` or ``queued`` forever.

    - A running job whose worker went silent (no heartbeat for FACECURATOR_JOB_LOST_AFTER_SECONDS:
      killed, out of memory, host lost; or the filesystem broker, which deletes a message once
      fetched, so nothing is ever redelivered) is queued again and re-sent: the worker that takes
      it runs it again from the start, or fails it as lost once it used up the attempts of its
      kind (:func:`job_execute`; a training run has one, and says how to restart it). A cancel
      asked for meanwhile makes it ``cancelled``; a job run by a management command in its own
      process (queue ``here``) cannot be re-sent and fails as lost.
    - A queued job the broker never took (no task id after FACECURATOR_JOB_RESEND_AFTER_SECONDS:
      the broker was down when it started) is sent again: the row is the outbox.
    - A queued job whose message the broker lost (a Redis restarted without persistence forgets
      its queues) is sent again too, once it is that old: the broker is asked which messages it
      holds (Redis and the filesystem transport can say; with others this step is skipped).

    Returns the job ids by what was done: ``requeued``, ``failed``, ``cancelled``, ``resent``.
    """
    limits = job_limits()
    now = timezone.now()
    cutoff = now - timedelta(seconds=limits["lost_after_s"])
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    report: dict[str, list[int]] = {"requeued": [], "failed": [], "cancelled": [], "resent": []}
    to_send: list[Job] = []
    lost = Job.objects.filter(silent, state=Job.State.RUNNING).only(
        "pk", "kind", "queue", "worker", "heartbeat_at", "started_at", "attempts", "cancel_requested"
    )
    for job in lost:
        beat = last_sign_of_life(job)
        assert beat is not None  # ``silent`` holds only jobs that beat or started before the cutoff
        silence = (now - beat).total_seconds()
        gone = f"no sign of life from {job.worker or 'its worker'} for {silence:.0f} s"
        same = Job.objects.filter(silent, pk=job.pk, state=Job.State.RUNNING, attempts=job.attempts)
        if job.cancel_requested:
            if same.update(state=Job.State.CANCELLED, message=f"cancelled ({gone})", finished_at=now):
                report["cancelled"].append(job.pk)
        elif job.queue == "here":
            reason = f"worker lost while running ({gone}; it ran in a command's own process); start it again"
            if same.update(state=Job.State.FAILED, message=reason[:500], error=reason, finished_at=now):
                report["failed"].append(job.pk)
        elif same.update(
            state=Job.State.QUEUED,
            celery_task_id="",
            message=f"worker lost ({gone}); queued again (attempt {job.attempts} done)"[:500],
        ):
            logger.warning("job %s (%s): %s; queued again", job.pk, job.kind, gone)
            report["requeued"].append(job.pk)
            to_send.append(job)
    resend_before = now - timedelta(seconds=float(settings.FACECURATOR_JOB_RESEND_AFTER_SECONDS))
    to_send += list(
        Job.objects.filter(
            state=Job.State.QUEUED, celery_task_id="", cancel_requested=False, created_at__lt=resend_before
        )
        .exclude(queue="here")
        .exclude(pk__in=report["requeued"])
        .only("pk", "kind", "queue")
    )
    for job in to_send:
        if job_send(job=job) and job.pk not in report["requeued"]:
            report["resent"].append(job.pk)
    report["resent"] += _jobs_resend_lost_by_broker(before=resend_before, skip=report["requeued"] + report["resent"])
    return report


LOST_BY_BROKER_MESSAGE = "its task was lost by the broker (restarted without saving its queues?); sent again"


def _jobs_resend_lost_by_broker(*, before: datetime, skip: list[int]) -> list[int]:
    """Send again the queued jobs whose message the broker no longer holds (:mod:`webapp.core.broker`).

    The jobs are read first, the broker second, and a job is re-sent only if it is still queued
    with the same task id after that: a message taken by a worker in between is either still
    held (delivered, not acknowledged: tasks acknowledge late) or its job is running or done. A
    message in flight at that very moment may be sent twice, which :func:`job_execute` makes
    harmless. With a transport that cannot be asked, nothing is re-sent.
    """
    from ..broker import broker_task_ids

    waiting = list(
        Job.objects.filter(state=Job.State.QUEUED, cancel_requested=False, created_at__lt=before)
        .exclude(celery_task_id="")
        .exclude(queue="here")
        .exclude(pk__in=skip)
        .values_list("pk", "queue", "celery_task_id")
    )
    if not waiting:
        return []
    held = broker_task_ids(queues={queue for _, queue, _ in waiting})
    if held is None:
        return []
    resent = []
    for pk, _queue, task_id in waiting:
        if task_id in held:
            continue
        if not Job.objects.filter(pk=pk, state=Job.State.QUEUED, celery_task_id=task_id).update(
            celery_task_id="", message=LOST_BY_BROKER_MESSAGE
        ):
            continue  # taken by a worker meanwhile
        job = Job.objects.only("pk", "kind", "queue").get(pk=pk)
        logger.warning("job %s (%s): task %s no longer in the broker; sent again", pk, job.kind, task_id)
        if job_send(job=job):
            resent.append(pk)
    return resent
