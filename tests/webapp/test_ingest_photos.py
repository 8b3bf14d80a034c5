"""Photo processing: detection in a job, the identity hint, per-file errors, nothing half-written."""

import shutil

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.core.models import Job
from webapp.faces.models import Face
from webapp.identities.models import Identity
from webapp.media import services
from webapp.media.models import Photo
from webapp.media.tasks import process_photos

from .factories import jpeg_bytes

pytestmark = pytest.mark.django_db


def _upload(client, paths_or_files, identity=None):
    files = [
        p if isinstance(p, SimpleUploadedFile) else SimpleUploadedFile(p.name, p.read_bytes()) for p in paths_or_files
    ]
    body = {"files": files, **({"identity": identity} if identity else {})}
    return client.post("/api/v1/photos/upload/", body, format="multipart")


def _run(job_id: int) -> Job:
    process_photos.apply(args=[job_id])  # the Celery task body, eagerly
    return Job.objects.get(pk=job_id)


@pytest.fixture
def obama_references(shared_data, tmp_path):
    """Six glint24 crops of Barack Obama imported first, so the hint has a reference to match."""
    root = tmp_path / "refs" / "Barack Obama"
    root.mkdir(parents=True)
    for path in sorted((shared_data / "glint24" / "Barack Obama").iterdir())[:6]:
        shutil.copy(path, root / path.name)
    services.faces_import_folder(root=root.parent, cropped=True)
    return Identity.objects.get(name="Barack Obama")


def test_a_hinted_photo_with_several_faces_proposes_only_the_face_matching_the_hint(
    annotator_client, shared_data, obama_references
):
    response = _upload(annotator_client, [shared_data / "photos" / "obama_and_biden.jpg"], identity="Barack Obama")
    assert response.status_code == 202
    job = _run(response.data["job"])
    assert job.state == "succeeded" and job.result["imported"] == 1, job.result
    photo = Photo.objects.get(pk=response.data["files"][0]["photo"])
    faces = list(photo.faces.all())
    assert photo.status == "done" and len(faces) >= 2
    hinted = [f for f in faces if f.identity_id == obama_references.pk]
    assert len(hinted) == 1 and hinted[0].status == "unverified"
    assert all(f.identity_id is None for f in faces if f is not hinted[0])  # the others are unknown people
    reference = np.stack([f.embedding_vector for f in Face.objects.filter(source="crop")]).mean(axis=0)
    assert hinted[0].pk == max(faces, key=lambda f: float(f.embedding_vector @ reference)).pk
    for face in faces:
        assert face.source == "photo" and face.group_key == photo.group_key == f"photo:{photo.pk}"
        assert face.split == services.face_split(photo.group_key) and face.crop.name.startswith("faces/photo/")
        assert default_storage.exists(face.crop.name)


def test_a_photo_without_a_face_and_a_corrupted_stored_file_fail_alone_with_clear_errors(admin_client_api, shared_data):
    response = _upload(
        admin_client_api,
        [
            shared_data / "photos" / "two_people.jpg",
            SimpleUploadedFile("noise.jpg", jpeg_bytes(5, 300)),
            shared_data / "photos" / "obama.jpg",
        ],
    )
    assert response.data["accepted"] == 3
    obama = Photo.objects.get(original_name="obama.jpg")
    data = default_storage.open(obama.image.name).read()
    default_storage.delete(obama.image.name)  # the stored file got damaged after the upload
    default_storage.save(obama.image.name, ContentFile(data[: len(data) // 3]))
    job = _run(response.data["job"])
    assert job.state == "succeeded"
    errors = {e["name"]: e for e in job.result["errors"]}
    assert (
        errors["noise.jpg"]["code"] == "no_face"
        and errors["noise.jpg"]["error"] == "noise.jpg: no face found in this photo."
    )
    assert errors["obama.jpg"]["code"] == "corrupt" and "truncated" in errors["obama.jpg"]["error"]
    assert Photo.objects.get(original_name="noise.jpg").status == "failed"
    assert obama.faces.count() == 0 and Photo.objects.get(pk=obama.pk).error == errors["obama.jpg"]["error"]
    two = Photo.objects.get(original_name="two_people.jpg")
    assert two.status == "done" and two.faces.count() == 2
    assert all(f.identity_id is None for f in two.faces.all())  # no hint: unknown people
    detail = admin_client_api.get(f"/api/v1/photos/{obama.pk}/").data
    assert detail["status"] == "failed" and detail["error"].startswith("obama.jpg: the image data is corrupt")


def test_a_failure_while_writing_a_photos_faces_leaves_no_rows_and_no_crop_files(
    admin_client_api, shared_data, monkeypatch
):
    response = _upload(admin_client_api, [shared_data / "photos" / "two_people.jpg"])

    def broken_bulk_create(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Face.objects, "bulk_create", broken_bulk_create)
    job = _run(response.data["job"])
    assert job.state == "failed" and "database went away" in job.message
    assert not Face.objects.exists()
    assert not default_storage.exists("faces") or default_storage.listdir("faces/photo")[1] == []
    assert Photo.objects.get().status == "pending"  # a rerun of the job processes it
    monkeypatch.undo()
    job.state = "queued"
    job.save()
    assert _run(job.pk).result["imported"] == 1 and Face.objects.count() == 2


def test_running_the_job_twice_creates_the_faces_once(admin_client_api, shared_data):
    response = _upload(admin_client_api, [shared_data / "photos" / "kit_with_rose.jpg"])
    _run(response.data["job"])
    count = Face.objects.count()
    again = services.photos_process(photo_ids=[response.data["files"][0]["photo"]])
    assert count == 2 and Face.objects.count() == count and again["duplicate"] == 1
