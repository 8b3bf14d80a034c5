"""Face-folder import: identities by folder name, crops embedded without detection, idempotent re-runs."""

import shutil

import pytest
from django.core.management import call_command

from webapp.core.models import Job
from webapp.faces.models import Face
from webapp.identities.models import Identity
from webapp.media import services
from webapp.media.models import Photo
from webapp.media.tasks import import_faces

pytestmark = pytest.mark.django_db


@pytest.fixture
def glint_folder(shared_data, tmp_path):
    """Three glint24 identities, 6 aligned crops each, copied into root/<identity>/<image>."""
    root = tmp_path / "glint"
    for name in ["Lindsay Lohan", "Jessica Alba", "Will Smith"]:
        (root / name).mkdir(parents=True)
        for path in sorted((shared_data / "glint24" / name).iterdir())[:6]:
            shutil.copy(path, root / name / path.name)
    return root


def test_importing_a_cropped_folder_creates_one_identity_per_folder_and_one_face_per_crop(glint_folder, tmp_path):
    popularity = tmp_path / "popularity.csv"
    popularity.write_text("name,rank\nWill Smith,1\nJessica Alba,2\nLindsay Lohan,3\n")
    call_command("import_faces", str(glint_folder), "--cropped", "--role", "candidate", "--popularity", str(popularity))
    identities = {i.name: i for i in Identity.objects.all()}
    assert set(identities) == {"Lindsay Lohan", "Jessica Alba", "Will Smith"}
    assert [i.popularity_rank for i in Identity.objects.order_by("popularity_rank")] == [1, 2, 3]
    assert identities["Will Smith"].popularity_rank == 1 and identities["Will Smith"].role == "candidate"
    faces = list(Face.objects.all())
    assert len(faces) == 18
    for face in faces:
        assert face.source == "crop" and face.status == "unverified" and face.box is None  # no re-detection
        assert face.source_path.split("/")[0] == face.identity.name
        assert face.group_key in (f"crop:{face.content_sha256}", face.duplicate_of and face.duplicate_of.group_key)
        assert face.split == services.face_split(face.group_key)
        assert len(face.embedding_vector) == 128 and face.embedding_model == "sface-2021dec-int8bq"
        assert face.phash is not None
    job = Job.objects.get(kind="media.import_faces")
    assert job.state == "succeeded" and job.result["imported"] == 18 and job.result["identities_created"] == 3


def test_a_folder_import_runs_the_same_number_of_queries_for_6_or_18_faces(glint_folder, tmp_path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small = tmp_path / "small"
    shutil.copytree(glint_folder / "Will Smith", small / "Will Smith")
    counts = []
    for root in (small, glint_folder):  # 6 crops, then 18 (6 of them already there: skipped)
        Face.objects.all().delete()
        with CaptureQueriesContext(connection) as queries:
            services.faces_import_folder(root=root, cropped=True)
        counts.append(len(queries))
    assert Face.objects.count() == 18
    assert counts[1] <= counts[0] + 2, counts  # two more identities to look up, not a query per face


def test_re_importing_the_same_folder_adds_nothing(glint_folder):
    first = services.faces_import_folder(root=glint_folder, cropped=True)
    again = services.faces_import_folder(root=glint_folder, cropped=True)
    assert first["imported"] == 18 and again["imported"] == 0 and again["duplicate"] == 18
    assert Face.objects.count() == 18 and Identity.objects.count() == 3


def test_a_copy_of_a_crop_under_another_name_is_an_exact_duplicate_and_skipped(glint_folder):
    original = next((glint_folder / "Will Smith").iterdir())
    shutil.copy(original, glint_folder / "Will Smith" / "copy.jpg")
    result = services.faces_import_folder(root=glint_folder, cropped=True)
    assert result["imported"] == 18 and result["duplicate"] == 1
    assert (
        Face.objects.filter(
            content_sha256=Face.objects.get(source_path=f"Will Smith/{original.name}").content_sha256
        ).count()
        == 1
    )


def test_the_import_job_task_runs_the_folder_import(glint_folder, admin_client_api, settings):
    settings.FACECURATOR_IMPORT_ROOTS = [str(glint_folder)]
    started = admin_client_api.post(
        "/api/v1/imports/faces/", {"path": str(glint_folder), "cropped": True, "role": "vip"}
    )
    import_faces.apply(args=[started.data["id"]])
    job = Job.objects.get(pk=started.data["id"])
    assert job.state == "succeeded", job.error
    assert job.result["imported"] == 18 and job.progress == 1.0
    assert set(Identity.objects.values_list("role", flat=True)) == {"vip"}


def test_an_uncropped_folder_is_imported_as_hinted_photos_with_detection(shared_data, tmp_path):
    root = tmp_path / "lfw"
    (root / "Tom_Hanks").mkdir(parents=True)
    for path in sorted((shared_data / "lfw" / "known" / "Tom_Hanks").iterdir())[:3]:
        shutil.copy(path, root / "Tom_Hanks" / path.name)
    result = services.faces_import_folder(root=root, cropped=False)
    assert result["imported"] == 3, result["errors"]
    tom = Identity.objects.get(name="Tom_Hanks")
    assert Photo.objects.filter(identity_hint=tom, status="done").count() == 3
    for photo in Photo.objects.all():
        faces = list(photo.faces.all())
        assert sum(f.identity_id == tom.pk for f in faces) == 1  # the hinted face; others are unknown
        assert {f.group_key for f in faces} <= {photo.group_key} | {
            f.duplicate_of.group_key for f in faces if f.duplicate_of
        }
        assert all(f.box and len(f.landmarks) == 5 for f in faces)
    assert services.faces_import_folder(root=root, cropped=False)["duplicate"] == 3
