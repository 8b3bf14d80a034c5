"""Face tasks. Like every task: take a job id, call one service, store the result on the Job."""
from celery import shared_task

from webapp.core.services import job_execute

from . import index


@shared_task(name="faces.rebuild_index", acks_late=True)
def rebuild_index(job_id: int) -> None:
    """Rebuild the similarity index from every stored embedding."""
    job_execute(job_id, lambda job, progress: index.index_rebuild(progress=progress))
