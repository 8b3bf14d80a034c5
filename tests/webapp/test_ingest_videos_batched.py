"""Several videos in one job (``media.process_videos``): the same frames and faces per video as one
job each, one broken video failing alone, and uploads grouped into such jobs."""

import numpy as np
import pytest
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.ml.test_video import write_video
from webapp.core.models import Job
from webapp.faces.models import Face
from webapp.media import services
from webapp.media.models import Frame, Video
from webapp.media.tasks import process_videos

from .test_ingest_videos import _files_below

pytestmark = pytest.mark.django_db

FRAMES = 16  # two chunks of 8 frames per video on the CPU


def _stored(path, name=None) -> Video:
    with open(path, "rb") as handle:
        return services.video_store(name=name or path.name, fileobj=File(handle, name=name or path.name))


def _faces_per_frame(video: Video) -> dict[int, list[np.ndarray]]:
    """Each sampled frame's face embeddings, largest face first (the order they were detected in)."""
    by_frame: dict[int, list[tuple[str, np.ndarray]]] = {
        index: [] for index in Frame.objects.filter(video=video).values_list("index", flat=True)
    }
    for face in Face.objects.filter(video=video).select_related("frame"):
        by_frame[face.frame.index].append((face.crop.name, np.frombuffer(face.embedding, dtype=np.float32)))
    return {index: [vector for _, vector in sorted(faces, key=lambda f: f[0])] for index, faces in by_frame.items()}


def _process_again_alone(videos: list[Video]) -> None:
    Face.objects.filter(video__in=videos).delete()
    Frame.objects.filter(video__in=videos).delete()
    Video.objects.filter(pk__in=[v.pk for v in videos]).update(status="pending")
    for video in videos:
        result = services.video_process(video_id=video.pk, frames=FRAMES)
        assert result["errors"] == [] and result["frames"] == FRAMES


def test_a_batch_of_three_real_videos_stores_per_frame_the_faces_each_gets_alone(shared_data):
    names = ["obama_whcd_podium_b.mp4", "biden_whitehouse_podium.mp4", "biden_trump_debate_splitscreen.mp4"]
    videos = [_stored(shared_data / "videos" / name) for name in names]

    result = services.videos_process(video_ids=[v.pk for v in videos], frames=FRAMES)

    assert result["errors"] == [] and result["imported"] == 3 and result["frames"] == 3 * FRAMES
    assert result["faces_created"] == Face.objects.count()
    together = {}
    for video in videos:
        video.refresh_from_db()
        frames = list(Frame.objects.filter(video=video))
        assert video.status == "done" and len(frames) == FRAMES
        assert all(default_storage.exists(frame.image.name) for frame in frames)
        assert {f.group_key for f in Face.objects.filter(video=video)} == {f"video:{video.pk}"}
        together[video.pk] = _faces_per_frame(video)
    assert sum(len(faces) for faces in together[videos[2].pk].values()) >= FRAMES  # two people on screen

    _process_again_alone(videos)

    for video in videos:
        alone = _faces_per_frame(video)
        assert {i: len(f) for i, f in together[video.pk].items()} == {i: len(f) for i, f in alone.items()}
        for index, vectors in alone.items():
            for a, b in zip(vectors, together[video.pk][index], strict=True):
                assert float(a @ b) >= 0.999, (video.original_name, index)


def test_a_broken_video_in_a_batch_fails_alone_and_the_others_are_written_whole(shared_data, settings, tmp_path):
    settings.FACECURATOR_VIDEO_FRAMES = 12
    settings.FACECURATOR_VIDEOS_PER_BATCH = 3
    data = (shared_data / "videos" / "obama_whcd_podium_b.mp4").read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) * 3 // 10])  # the header is whole: storing accepts it
    good = [_stored(shared_data / "videos" / "obama_whcd_podium_b.mp4"), _stored(truncated)]
    good.append(_stored(shared_data / "videos" / "hamilton_short.mp4"))
    broken = good.pop(1)
    (job,) = services.videos_start_processing(videos=[good[0], broken, good[1]])
    assert job.kind == "media.process_videos" and job.params == {"video_ids": [good[0].pk, broken.pk, good[1].pk]}

    process_videos.apply(args=[job.pk])

    job.refresh_from_db()
    broken.refresh_from_db()
    assert job.state == "succeeded", job.error
    (error,) = job.result["errors"]
    assert error["video"] == broken.pk and error["code"] == "corrupt" and error["name"] == "truncated.mp4"
    assert error["error"].startswith("truncated.mp4: ") and "truncated" in error["error"]
    assert broken.status == "failed" and "truncated" in broken.error and broken.job_id == job.pk
    assert not Frame.objects.filter(video=broken).exists() and not Face.objects.filter(video=broken).exists()
    assert _files_below(f"frames/{broken.pk}") == [] and _files_below(f"faces/frame/{broken.pk}") == []
    imported = {outcome["video"]: outcome for outcome in job.result["outcomes"]}
    assert set(imported) == {video.pk for video in good} and job.result["frames"] == 24
    for video in good:
        video.refresh_from_db()
        faces = list(Face.objects.filter(video=video))
        assert video.status == "done" and video.error == "" and video.job_id == job.pk
        assert Frame.objects.filter(video=video).count() == 12 and len(_files_below(f"frames/{video.pk}")) == 12
        assert faces and imported[video.pk]["faces"] == len(faces) and all(f.frame_id for f in faces)
        assert all(default_storage.exists(face.crop.name) for face in faces)

    process_videos.apply(args=[job.pk])  # sent twice: nothing changes
    assert Face.objects.count() == sum(imported[video.pk]["faces"] for video in good)


def test_an_upload_with_two_videos_per_batch_makes_batch_jobs_that_process_them(admin_client_api, settings, tmp_path):
    settings.FACECURATOR_VIDEOS_PER_BATCH = 2
    files = [
        SimpleUploadedFile(f"clip{n}.mp4", write_video(tmp_path / f"clip{n}.mp4", 8 + n).read_bytes()) for n in range(3)
    ]

    response = admin_client_api.post("/api/v1/videos/upload/", {"files": files}, format="multipart")

    assert response.status_code == 202, response.data
    videos = [Video.objects.get(pk=f["video"]) for f in response.data["files"]]
    pair, alone = Job.objects.order_by("pk")
    assert response.data["job"] == pair.pk and pair.queue == "default"
    assert pair.kind == "media.process_videos" and pair.params == {"video_ids": [videos[0].pk, videos[1].pk]}
    assert alone.kind == "media.process_video" and alone.params == {"video_id": videos[2].pk}
    assert [v.job_id for v in videos] == [pair.pk, pair.pk, alone.pk]
    process_videos.apply(args=[pair.pk])
    pair.refresh_from_db()
    assert pair.state == "succeeded" and pair.result["imported"] == 2 and pair.result["frames"] == 8 + 9
    assert [Video.objects.get(pk=v.pk).status for v in videos] == ["done", "done", "pending"]


def test_import_videos_processes_a_folder_in_jobs_of_two_here_or_queues_them(settings, tmp_path, capsys):
    from django.core.management import call_command

    settings.FACECURATOR_VIDEOS_PER_BATCH = 2
    here, queued = tmp_path / "here", tmp_path / "queued"
    for folder, frames in ((here, 8), (queued, 12)):
        folder.mkdir()
        for n in range(3):
            write_video(folder / f"clip{n}.mp4", frames + n)

    call_command("import_videos", str(here))

    jobs = list(Job.objects.order_by("pk"))
    assert [(job.kind, job.state, job.queue) for job in jobs] == [
        ("media.process_videos", "succeeded", "here"),
        ("media.process_video", "succeeded", "here"),
    ]
    assert jobs[0].result["imported"] == 2 and jobs[0].result["frames"] == 8 + 9
    assert set(Video.objects.values_list("status", flat=True)) == {"done"}
    assert "videos clip0.mp4, clip1.mp4" in capsys.readouterr().out

    call_command("import_videos", str(queued), "--background")

    pair, alone = Job.objects.exclude(queue="here").order_by("pk")
    assert (pair.kind, len(pair.params["video_ids"]), alone.kind) == ("media.process_videos", 2, "media.process_video")
    assert f"clip0.mp4: accepted  job {pair.pk}" in capsys.readouterr().out
