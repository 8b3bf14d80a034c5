"""Maintenance tasks. Like every task: take a job id, call a service, store the result on the Job."""
from celery import shared_task
from django.conf import settings

from .services import job_execute


@shared_task(name="maintenance.reassign_splits", acks_late=True)
def reassign_splits(job_id: int) -> None:
    from webapp.faces.services import faces_reassign_splits

    def handler(job, progress):
        return faces_reassign_splits(
            seed=settings.FACECURATOR_SPLIT_SEED, proportions=settings.FACECURATOR_SPLIT_PROPORTIONS, progress=progress
        )

    job_execute(job_id, handler)
