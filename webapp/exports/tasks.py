"""Export tasks (default queue). Each takes a job id and calls one service; the Job row keeps progress."""

from celery import shared_task

from webapp.core.services import job_execute

from . import services


@shared_task(name=services.FREEZE_KIND, acks_late=True)
def freeze_version(job_id: int) -> None:
    job_execute(
        job_id, lambda job, progress: services.version_freeze(version_id=int(job.params["version"]), progress=progress)
    )


@shared_task(name=services.BUILD_KIND, acks_late=True)
def build_export(job_id: int) -> None:
    job_execute(job_id, lambda job, progress: services.build_run(build_id=int(job.params["build"]), progress=progress))
