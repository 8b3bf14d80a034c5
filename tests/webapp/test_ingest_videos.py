"""Videos: evenly spaced frames stored via storage, faces per frame in the video's group and split."""

import itertools

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.core.models import Job
from webapp.faces.models import Face
from webapp.media import services
from webapp.media.models import Frame, Video
from webapp.media.tasks import process_video

pytestmark = pytest.mark.django_db


def _upload(client, files):
    return client.post("/api/v1/videos/upload/", {"files": files}, format="multipart")


@pytest.mark.slow  # 300 frames of 720p through YuNet: 25-70 s on two shared cores
def test_a_real_video_yields_300_frames_and_faces_in_the_videos_group_and_one_split(admin_client_api, shared_data):
    data = (shared_data / "videos" / "obama_speech.mp4").read_bytes()
    response = _upload(admin_client_api, [SimpleUploadedFile("obama_speech.mp4", data, content_type="video/mp4")])
    assert response.status_code == 202, response.data
    video = Video.objects.get(pk=response.data["files"][0]["video"])
    assert (video.width, video.height, video.codec, video.frame_count) == (1280, 720, "h264", 1021)
    job = Job.objects.get(pk=response.data["job"])
    assert job.kind == "media.process_video" and video.job_id == job.pk
    process_video.apply(args=[job.pk])
    job.refresh_from_db()
    video.refresh_from_db()
    assert job.state == "succeeded" and job.progress == 1.0, job.error
    assert video.status == "done" and job.result["frames"] == 300
    frames = list(Frame.objects.filter(video=video))
    assert len(frames) == 300 and all(default_storage.exists(f.image.name) for f in frames)
    assert frames[0].index == 1 and frames[-1].index == 1019  # the middles of 300 equal slices
    assert all(0 <= b.timestamp - a.timestamp < 0.2 for a, b in itertools.pairwise(frames))
    faces = list(Face.objects.filter(video=video))
    assert len(faces) >= 280  # Obama speaks in every frame
    assert {f.group_key for f in faces} == {f"video:{video.pk}"}
    assert {f.split for f in faces} == {services.face_split(f"video:{video.pk}")}
    assert all(f.source == "frame" and f.frame_id and f.identity_id is None for f in faces)
    assert job.result["near_duplicates"] == Face.objects.filter(video=video, duplicate_of__isnull=False).count()
    listing = admin_client_api.get(f"/api/v1/videos/{video.pk}/").data
    assert listing["status"] == "done" and listing["face_count"] == len(faces)


def test_bad_videos_get_per_file_errors_and_a_truncated_one_writes_nothing(admin_client_api, shared_data):
    data = (shared_data / "videos" / "obama_whcd_podium_b.mp4").read_bytes()
    response = _upload(
        admin_client_api,
        [
            SimpleUploadedFile("empty.mp4", b""),
            SimpleUploadedFile("notes.mp4", b"not a video, just text " * 100),
            SimpleUploadedFile(
                "truncated.mp4", data[: len(data) * 3 // 10]
            ),  # the header is whole: the upload accepts it
        ],
    )
    assert response.status_code == 202
    by_name = {f["name"]: f for f in response.data["files"]}
    assert by_name["empty.mp4"]["code"] == "empty" and by_name["notes.mp4"]["code"] == "not_a_video"
    assert by_name["notes.mp4"]["error"].startswith("notes.mp4: not a video file")
    assert by_name["truncated.mp4"]["status"] == "accepted"
    process_video.apply(args=[response.data["job"]])
    job = Job.objects.get(pk=response.data["job"])
    video = Video.objects.get(pk=by_name["truncated.mp4"]["video"])
    assert job.state == "succeeded" and job.result["errors"][0]["code"] == "corrupt"
    assert "truncated" in job.result["errors"][0]["error"] and video.status == "failed" and "truncated" in video.error
    assert not Frame.objects.exists() and not Face.objects.exists()
    assert _files_below(f"frames/{video.pk}") == [] and _files_below("faces") == []


def _files_below(folder: str) -> list[str]:
    if not default_storage.exists(folder):
        return []
    dirs, files = default_storage.listdir(folder)
    return [f"{folder}/{f}" for f in files] + [p for d in dirs for p in _files_below(f"{folder}/{d}")]


def _tiny_video(path) -> bytes:
    from tests.ml.test_video import write_video

    return write_video(path, 10).read_bytes()


def test_a_video_is_stored_under_its_hash_and_container_and_keeps_its_name_as_data(admin_client_api, tmp_path):
    import hashlib

    data = _tiny_video(tmp_path / "clip.mp4")
    response = _upload(admin_client_api, [SimpleUploadedFile("My holiday.MOV", data)])
    assert response.status_code == 202, response.data
    video = Video.objects.get(pk=response.data["files"][0]["video"])
    sha = hashlib.sha256(data).hexdigest()
    assert video.file.name == f"videos/{sha[:2]}/{sha}.mp4" and video.original_name == "My holiday.MOV"


@pytest.mark.parametrize(
    ("name", "code"), [("list.m3u8", "unsupported_video"), ("list.mp4", "not_a_video"), ("list", "unsupported_video")]
)
def test_a_playlist_pointing_at_a_server_file_is_refused_and_nothing_is_stored(admin_client_api, tmp_path, name, code):
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(_tiny_video(secret))
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\nfile://{secret}\n#EXT-X-ENDLIST\n".encode()
    response = _upload(admin_client_api, [SimpleUploadedFile(name, playlist)])
    assert response.status_code == 400
    assert response.data["files"][0]["code"] == code and response.data["files"][0]["error"].startswith(name)
    assert not Video.objects.exists() and _files_below("videos") == []


def test_an_ffconcat_list_named_like_a_video_is_refused(admin_client_api, tmp_path):
    response = _upload(
        admin_client_api, [SimpleUploadedFile("clip.mp4", f"ffconcat version 1.0\nfile {tmp_path}/x.mp4\n".encode())]
    )
    assert response.status_code == 400 and response.data["files"][0]["code"] == "not_a_video"
