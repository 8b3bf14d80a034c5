"""Maintenance tasks. Like every task: take a job id, call a service, store the result on the Job.

Two are periodic (Celery beat, ``CELERY_BEAT_SCHEDULE`` in settings): the job reaper, which runs
every minute and records nothing but log lines, and the media sweep, which records its report on
a Job row of its own.
"""

from celery import current_task, shared_task

from .models import Job
from .services import job_execute, jobs_reap

SWEEP_KIND = "maintenance.sweep_media"


@shared_task(name="maintenance.reap_jobs", ignore_result=True)
def reap_jobs() -> dict:
    """Re-queue or fail jobs whose worker went silent; re-send jobs the broker never took."""
    return jobs_reap()


@shared_task(name=SWEEP_KIND, acks_late=True)
def sweep_media(job_id: int | None = None) -> None:
    """Remove media files no row refers to (after the grace period); from beat, a Job row of its own."""
    from .sweep import media_sweep

    if job_id is None:
        request_id = getattr(current_task.request, "id", None) or ""
        job_id = Job.objects.create(kind=SWEEP_KIND, celery_task_id=request_id).pk
    job_execute(
        job_id,
        lambda job, progress: media_sweep(
            grace_hours=job.params.get("grace_hours"), dry_run=bool(job.params.get("dry_run")), progress=progress
        ),
    )
