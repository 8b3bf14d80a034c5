"""Face tasks. Like every task: take a job id, call one service, store the result on the Job."""

from celery import shared_task
from django.conf import settings

from webapp.core.services import job_execute

from . import index, services


@shared_task(name="faces.rebuild_index", acks_late=True)
def rebuild_index(job_id: int) -> None:
    """Rebuild the similarity index from every stored embedding."""
    job_execute(job_id, lambda job, progress: index.index_rebuild(progress=progress))


@shared_task(name="maintenance.reassign_splits", acks_late=True)
def reassign_splits(job_id: int) -> None:
    """Re-apply the split rule to every face group (after FACECURATOR_SPLIT_SEED or _PROPORTIONS changed)."""

    def handler(job, progress):
        return services.faces_reassign_splits(
            seed=settings.FACECURATOR_SPLIT_SEED, proportions=settings.FACECURATOR_SPLIT_PROPORTIONS, progress=progress
        )

    job_execute(job_id, handler)
