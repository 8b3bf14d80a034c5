"""Ingestion tasks. Like every task: take a job id, call one service, store the result on the Job."""

from celery import shared_task

from webapp.core.services import job_execute

from . import services


@shared_task(name="media.process_photos", acks_late=True)
def process_photos(job_id: int) -> None:
    """Detect and embed the faces of uploaded photos (params: photo_ids)."""
    job_execute(
        job_id,
        lambda job, progress: services.photos_process(
            photo_ids=[int(pk) for pk in job.params["photo_ids"]], progress=progress
        ),
    )


@shared_task(name="media.process_video", acks_late=True)
def process_video(job_id: int) -> None:
    """Sample a video into frames and detect their faces (params: video_id)."""
    job_execute(
        job_id, lambda job, progress: services.video_process(video_id=int(job.params["video_id"]), progress=progress)
    )


@shared_task(name="media.process_videos", acks_late=True)
def process_videos(job_id: int) -> None:
    """Process several videos in one pass, their frames batched together (params: video_ids)."""
    job_execute(
        job_id,
        lambda job, progress: services.videos_process(
            video_ids=[int(pk) for pk in job.params["video_ids"]], progress=progress
        ),
    )


@shared_task(name="media.import_faces", acks_late=True)
def import_faces(job_id: int) -> None:
    """Import a face folder inside the import roots (params: root, cropped, role, popularity_csv)."""
    job_execute(
        job_id,
        lambda job, progress: services.faces_import_confined(params=job.params, user=job.created_by, progress=progress),
    )
