"""Tagging tasks: take a job id, call the service. Named ``tagging.*``, so they go to the `gpu` queue."""

from celery import shared_task

from webapp.core.services import job_execute

from . import services


@shared_task(name=services.TAG_VIDEO_KIND, acks_late=True)
def tag_video(job_id: int) -> None:
    """Tag one video with the run, threshold and k pinned in the job's params."""
    job_execute(job_id, lambda job, progress: services.tagging_job_execute(job=job, progress=progress))


@shared_task(name=services.TAG_VIDEOS_KIND, acks_late=True)
def tag_videos(job_id: int) -> None:
    """Tag a scope (untagged, outdated, all) or a list of videos, progress per video."""
    job_execute(job_id, lambda job, progress: services.tagging_job_execute(job=job, progress=progress))
