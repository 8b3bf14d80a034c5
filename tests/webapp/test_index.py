"""The similarity index: persisted through default storage, incremental, rebuildable, queried by the API."""

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from webapp.core.models import Job
from webapp.faces import index
from webapp.faces.tasks import rebuild_index

from .factories import FaceFactory, IdentityFactory, unit_vector

pytestmark = pytest.mark.django_db


def _near(vector: np.ndarray, seed: int, noise: float = 0.05) -> np.ndarray:
    jitter = np.random.default_rng(seed).standard_normal(vector.shape).astype(np.float32) * noise
    out = vector + jitter
    return out / np.linalg.norm(out)


def test_adding_faces_publishes_a_new_version_with_index_file_and_manifest_in_storage():
    faces = [FaceFactory(vector=unit_vector(i)) for i in range(5)]
    first = index.index_add_faces(face_ids=[f.pk for f in faces[:3]])
    second = index.index_add_faces(face_ids=[f.pk for f in faces[3:]])
    assert (first["version"], first["count"]) == (1, 3)
    assert (second["version"], second["count"]) == (2, 5)
    assert default_storage.exists("index/faces-000002.faiss") and default_storage.exists("index/faces-000002.json")
    assert index.index_versions() == [1, 2]  # the previous version stays for readers mid-load
    index.index_add_faces(face_ids=[faces[0].pk])  # re-adding replaces, never duplicates
    assert index.index_manifest()["count"] == 5 and index.index_versions() == [2, 3]


def test_a_reader_ignores_an_index_file_whose_manifest_was_never_written():
    face = FaceFactory(vector=unit_vector(1))
    index.index_add_faces(face_ids=[face.pk])
    default_storage.save("index/faces-000002.faiss", ContentFile(b"half written"))
    assert index.index_manifest()["version"] == 1
    assert len(index.index_load()) == 1


def test_similar_faces_api_returns_the_nearest_faces_best_first_without_the_face_itself(annotator_client):
    base = unit_vector(10)
    face = FaceFactory(vector=base)
    close = FaceFactory(vector=_near(base, 1, 0.02))
    closer_still = FaceFactory(vector=_near(base, 2, 0.01))
    far = [FaceFactory(vector=unit_vector(100 + i)) for i in range(5)]
    index.index_add_faces(face_ids=[f.pk for f in [face, close, closer_still, *far]])
    response = annotator_client.get(f"/api/v1/faces/{face.pk}/similar/?k=2")
    assert response.status_code == 200
    assert [r["face"]["id"] for r in response.data["results"]] == [closer_still.pk, close.pk]
    assert response.data["results"][0]["score"] > 0.9
    assert response.data["index_version"] == 1


def test_neighbour_labels_flag_a_face_whose_neighbours_carry_another_identity():
    ada, bob = IdentityFactory(name="Ada"), IdentityFactory(name="Bob")
    base = unit_vector(20)
    suspect = FaceFactory(vector=base, identity=bob)
    for seed in range(4):
        FaceFactory(vector=_near(base, seed, 0.05), identity=ada)
    index.index_rebuild()
    check = index.face_neighbour_labels(face=suspect, k=4)
    assert check == {"majority": ada.pk, "share": 1.0, "disagrees": True, "neighbours": 4}


def test_rebuild_job_indexes_every_embedded_face_through_its_celery_task(admin_client_api):
    embedded = [FaceFactory(vector=unit_vector(i)) for i in range(4)]
    FaceFactory()  # no embedding: not indexed
    response = admin_client_api.post("/api/v1/index/rebuild/")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.data["id"])
    assert job.kind == "faces.rebuild_index" and job.queue == "default"
    rebuild_index.apply(args=[job.pk])  # the task body, run eagerly
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    assert job.result["count"] == len(embedded)
    status = admin_client_api.get("/api/v1/index/").data
    assert status["count"] == status["embedded_faces"] == 4


def test_only_admins_rebuild_the_index(annotator_client):
    assert annotator_client.post("/api/v1/index/rebuild/").status_code == 403
    assert not Job.objects.filter(kind="faces.rebuild_index").exists()


def test_the_index_returns_a_faces_own_identity_among_its_nearest_neighbours_on_real_data(
    shared_data, tmp_path, annotator_client
):
    import shutil

    from webapp.faces.models import Face
    from webapp.media import services

    for name in ["Barack Obama", "Halle Berry", "Hugh Laurie"]:
        (tmp_path / name).mkdir()
        for path in sorted((shared_data / "glint24" / name).iterdir())[:8]:
            shutil.copy(path, tmp_path / name / path.name)
    services.faces_import_folder(root=tmp_path, cropped=True)  # adds its faces to the index as it goes
    faces = list(Face.objects.all())
    assert index.index_manifest()["count"] == len(faces) == 24
    top1 = 0
    for face in faces:
        results = annotator_client.get(f"/api/v1/faces/{face.pk}/similar/?k=3").data["results"]
        identities = [r["face"]["identity"] for r in results]
        assert face.identity_id in identities, (face.source_path, identities)
        top1 += identities[0] == face.identity_id
    assert top1 >= 0.9 * len(faces)
