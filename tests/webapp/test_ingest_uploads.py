"""Uploads: who may upload what, per-file errors in the answer, limits, exact duplicates, nothing half-written."""

import hashlib
import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from webapp.core.models import Job
from webapp.media.models import Photo

from .factories import IdentityFactory, jpeg_bytes

pytestmark = pytest.mark.django_db


def _upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def _stored_files() -> list[str]:
    found = []

    def walk(folder):
        dirs, files = default_storage.listdir(folder)
        found.extend(f"{folder}/{f}" for f in files)
        for d in dirs:
            walk(f"{folder}/{d}")

    if default_storage.exists("photos"):
        walk("photos")
    return found


@pytest.fixture
def obama_jpeg(shared_data) -> bytes:
    return (shared_data / "photos" / "obama.jpg").read_bytes()


def test_annotators_upload_photos_with_an_identity_hint_and_a_detection_job_is_queued(annotator_client, obama_jpeg):
    person = IdentityFactory(name="Barack Obama")
    response = annotator_client.post(
        "/api/v1/photos/upload/",
        {"files": [_upload("obama.jpg", obama_jpeg)], "identity": "Barack Obama"},
        format="multipart",
    )
    assert response.status_code == 202, response.data
    photo = Photo.objects.get(pk=response.data["files"][0]["photo"])
    assert photo.identity_hint == person and photo.status == "pending"
    job = Job.objects.get(pk=response.data["job"])
    assert job.kind == "media.process_photos" and job.params == {"photo_ids": [photo.pk]}
    assert job.queue == "default" and photo.job_id == job.pk


def test_annotators_may_not_bulk_upload_without_an_identity_hint(annotator_client):
    response = annotator_client.post(
        "/api/v1/photos/upload/", {"files": [_upload("a.jpg", jpeg_bytes(1))]}, format="multipart"
    )
    assert response.status_code == 403
    assert "admins only" in response.data["detail"]
    assert not Photo.objects.exists()


def test_anonymous_users_cannot_upload_anything(anonymous_client):
    for url in ["/api/v1/photos/upload/", "/api/v1/videos/upload/", "/api/v1/imports/faces/"]:
        assert anonymous_client.post(
            url, {"files": [_upload("a.jpg", jpeg_bytes(1))]}, format="multipart"
        ).status_code in (401, 403)


def test_only_admins_upload_videos_and_import_server_folders(annotator_client, tmp_path):
    assert (
        annotator_client.post(
            "/api/v1/videos/upload/", {"files": [_upload("v.mp4", b"x")]}, format="multipart"
        ).status_code
        == 403
    )
    assert annotator_client.post("/api/v1/imports/faces/", {"path": str(tmp_path)}).status_code == 403


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bad_files_get_per_file_errors_and_the_rest_of_the_batch_goes_on(admin_client_api):
    good = jpeg_bytes(7, 200)
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, format="PNG")  # 144 MP in a few kB
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(png, format="PNG")
    files = [
        _upload("empty.jpg", b""),
        _upload("notes.txt", b"this is not an image at all", "text/plain"),
        _upload("truncated.png", png.getvalue()[: len(png.getvalue()) // 2], "image/png"),
        _upload("bomb.png", bomb.getvalue(), "image/png"),
        _upload("good.jpg", good),
    ]
    response = admin_client_api.post("/api/v1/photos/upload/", {"files": files}, format="multipart")
    assert response.status_code == 202
    by_name = {f["name"]: f for f in response.data["files"]}
    assert {name: f.get("code") for name, f in by_name.items() if f["status"] == "error"} == {
        "empty.jpg": "empty",
        "notes.txt": "not_an_image",
        "truncated.png": "corrupt",
        "bomb.png": "too_many_pixels",
    }
    assert all(f["error"].startswith(f["name"]) for f in by_name.values() if f["status"] == "error")
    assert by_name["good.jpg"]["status"] == "accepted"
    assert response.data["accepted"] == 1 and response.data["errors"] == 4
    assert Photo.objects.count() == 1 and len(_stored_files()) == 1  # refused files were never stored


def test_a_jpeg_truncated_inside_its_pixels_is_accepted_and_left_to_the_detection_job(admin_client_api):
    # The upload only probes the header (no decoding in the web process); the job decodes and
    # marks such a photo failed (test_ingest_photos).
    good = jpeg_bytes(7, 200)
    response = admin_client_api.post(
        "/api/v1/photos/upload/", {"files": [_upload("cut.jpg", good[: len(good) // 2])]}, format="multipart"
    )
    assert response.status_code == 202 and response.data["files"][0]["status"] == "accepted"


def test_a_batch_of_only_bad_files_answers_400_with_each_error(admin_client_api):
    response = admin_client_api.post(
        "/api/v1/photos/upload/", {"files": [_upload("empty.jpg", b"")]}, format="multipart"
    )
    assert response.status_code == 400
    assert response.data["detail"] == "empty.jpg: the file is empty (0 bytes)."


def test_a_file_above_the_upload_limit_answers_413_with_the_limit_in_the_message(admin_client_api, settings):
    settings.FACECURATOR_MAX_UPLOAD_MB = 1
    response = admin_client_api.post(
        "/api/v1/photos/upload/",
        {"files": [_upload("huge.jpg", b"\xff\xd8" + b"0" * (1024 * 1024 + 10))]},
        format="multipart",
    )
    assert response.status_code == 413
    assert "above the upload limit of 1 MB" in response.data["detail"]
    assert not Photo.objects.exists()


def test_the_same_photo_is_stored_once_and_a_second_upload_is_reported_as_duplicate(
    admin_client_api, django_capture_on_commit_callbacks
):
    data = jpeg_bytes(3, 150)
    with django_capture_on_commit_callbacks(execute=True):  # its job is sent to the broker, as outside tests
        first = admin_client_api.post("/api/v1/photos/upload/", {"files": [_upload("a.jpg", data)]}, format="multipart")
    again = admin_client_api.post("/api/v1/photos/upload/", {"files": [_upload("copy.jpg", data)]}, format="multipart")
    assert first.status_code == 202 and again.status_code == 200
    assert again.data["files"][0] == {
        "name": "copy.jpg",
        "status": "duplicate",
        "code": "duplicate",
        "error": f"copy.jpg: already uploaded as photo {first.data['files'][0]['photo']}.",
        "photo": first.data["files"][0]["photo"],
    }
    assert again.data["job"] is None and Photo.objects.count() == 1 and len(_stored_files()) == 1


def test_an_unknown_identity_hint_is_refused_before_anything_is_stored(annotator_client):
    response = annotator_client.post(
        "/api/v1/photos/upload/",
        {"files": [_upload("a.jpg", jpeg_bytes(1))], "identity": "Nobody Known"},
        format="multipart",
    )
    assert response.status_code == 404 and "Nobody Known" in response.data["detail"]
    assert not Photo.objects.exists()


def test_importing_a_server_folder_checks_the_path_and_starts_a_job(admin_client_api, import_root):
    missing = admin_client_api.post("/api/v1/imports/faces/", {"path": str(import_root / "nope")})
    assert missing.status_code == 400 and "not a folder" in missing.data["detail"]
    (import_root / "Ada").mkdir()
    started = admin_client_api.post("/api/v1/imports/faces/", {"path": str(import_root), "cropped": True})
    assert started.status_code == 202
    assert started.data["kind"] == "media.import_faces"
    assert started.data["params"] == {
        "root": str(import_root),
        "cropped": True,
        "role": "candidate",
        "popularity_csv": "",
    }


def test_photo_and_video_listings_take_the_same_queries_for_2_or_6_rows(annotator_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from .factories import FaceFactory, PhotoFactory, VideoFactory

    counts = []
    for n in (2, 4):
        for _ in range(n):
            photo = PhotoFactory(identity_hint=IdentityFactory())
            FaceFactory(photo=photo, source="photo")
            VideoFactory()
        with CaptureQueriesContext(connection) as queries:
            photos = annotator_client.get("/api/v1/photos/").data
            videos = annotator_client.get("/api/v1/videos/").data
        counts.append(len(queries))
    assert photos["count"] == videos["count"] == 6 and photos["results"][0]["face_count"] == 1
    assert counts[0] == counts[1]


def _png_with_a_script_in_a_text_chunk() -> bytes:
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "<html><script>fetch('/api/v1/users/', {method: 'POST'})</script></html>")
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(9).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
        buffer, format="PNG", pnginfo=text
    )
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["evil.html", "evil.svg", "evil.xhtml"])
def test_an_uploaded_image_is_stored_under_its_hash_and_detected_format_whatever_its_name(
    annotator_client, client, annotator, name
):
    IdentityFactory(name="Ada")
    data = _png_with_a_script_in_a_text_chunk()
    response = annotator_client.post(
        "/api/v1/photos/upload/", {"files": [_upload(name, data, "text/html")], "identity": "Ada"}, format="multipart"
    )
    assert response.status_code == 202, response.data
    photo = Photo.objects.get(pk=response.data["files"][0]["photo"])
    sha = hashlib.sha256(data).hexdigest()
    assert photo.image.name == f"photos/{sha[:2]}/{sha}.png"
    assert annotator_client.get(f"/api/v1/photos/{photo.pk}/").data["original_name"] == name  # kept, as text
    client.force_login(annotator)
    served = client.get(photo.image.url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served["Content-Security-Policy"] == "sandbox; default-src 'none'"


@pytest.mark.parametrize("url", ["/api/v1/photos/upload/", "/api/v1/videos/upload/"])
def test_more_files_than_one_request_may_carry_are_refused_with_400_and_nothing_is_stored(
    admin_client_api, settings, url
):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2  # FACECURATOR_MAX_UPLOAD_FILES
    files = [_upload(f"{n}.jpg", jpeg_bytes(n)) for n in range(3)]
    response = admin_client_api.post(url, {"files": files}, format="multipart")
    assert response.status_code == 400 and response.data["code"] == "too_many_files"
    assert response.data["detail"].startswith("At most 2 files per upload request")
    assert not Photo.objects.exists() and _stored_files() == []


@pytest.mark.parametrize("url", ["/api/v1/photos/upload/", "/api/v1/videos/upload/"])
def test_a_request_above_the_size_limit_is_refused_with_413_before_it_is_read(admin_client_api, settings, url):
    settings.FACECURATOR_MAX_UPLOAD_REQUEST_MB = 1
    files = [_upload(f"{n}.jpg", jpeg_bytes(n, 100) + bytes(400_000)) for n in range(3)]  # 3 x 400 kB
    response = admin_client_api.post(url, {"files": files}, format="multipart")
    assert response.status_code == 413 and response.data["code"] == "too_large"
    assert "above the limit of 1 MB per request" in response.data["detail"]
    assert not Photo.objects.exists() and _stored_files() == []


def test_the_request_limit_also_answers_json_to_a_browser_session_checked_for_csrf(admin_user, settings):
    from django.test import Client

    settings.FACECURATOR_MAX_UPLOAD_REQUEST_MB = 1
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    token = browser.get("/").cookies["csrftoken"].value
    files = [_upload(f"{n}.jpg", jpeg_bytes(n, 100) + bytes(400_000)) for n in range(3)]
    response = browser.post("/api/v1/photos/upload/", {"files": files}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert not Photo.objects.exists()
