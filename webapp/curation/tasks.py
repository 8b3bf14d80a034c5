"""Curation tasks. Like every task: take a job id, call a service, store the result on the Job."""

from celery import shared_task

from webapp.core.services import job_execute

from .services import identity_suggestions_compute


@shared_task(name="identities.compute_suggestions", acks_late=True)
def compute_suggestions(job_id: int) -> None:
    """Merge and split suggestions over all active identities (safe to run twice: open ones are replaced)."""

    def handler(job, progress):
        return identity_suggestions_compute(run_id=job.params.get("run"), job=job, progress=progress)

    job_execute(job_id, handler)
