"""API imports read only server folders inside FACECURATOR_IMPORT_ROOTS, and never echo a file's content."""

import os

import pytest
from django.conf import settings as django_settings

from webapp.core.models import Job
from webapp.media import services
from webapp.media.tasks import import_faces

from .factories import jpeg_bytes

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/faces/"


def test_a_popularity_file_outside_the_import_roots_is_refused_without_its_content(admin_client_api, import_root):
    (import_root / "Ada").mkdir()
    response = admin_client_api.post(URL, {"path": str(import_root), "popularity": "/proc/self/environ"})
    assert response.status_code == 400 and response.data["code"] == "outside_import_roots"
    body = response.content.decode()
    assert django_settings.SECRET_KEY not in body and "PATH=" not in body
    assert not Job.objects.exists()


@pytest.mark.parametrize("path", ["/", "/etc", "/proc/self"])
def test_a_folder_outside_the_import_roots_is_refused(admin_client_api, import_root, path):
    response = admin_client_api.post(URL, {"path": path})
    assert response.status_code == 400 and response.data["code"] == "outside_import_roots"
    assert "FACECURATOR_IMPORT_ROOTS" in response.data["detail"] and not Job.objects.exists()


def test_a_symlink_inside_a_root_that_points_out_is_refused(admin_client_api, import_root, tmp_path):
    outside = tmp_path / "elsewhere"
    (outside / "Ada").mkdir(parents=True)
    (import_root / "sneaky").symlink_to(outside)
    (outside / "ranks.csv").write_text("Ada,1\n")
    (import_root / "ranks.csv").symlink_to(outside / "ranks.csv")
    assert admin_client_api.post(URL, {"path": str(import_root / "sneaky")}).data["code"] == "outside_import_roots"
    refused = admin_client_api.post(URL, {"path": str(import_root), "popularity": str(import_root / "ranks.csv")})
    assert refused.status_code == 400 and refused.data["code"] == "outside_import_roots"


def test_a_path_outside_the_roots_is_refused_whether_or_not_it_exists(admin_client_api, import_root, tmp_path):
    answers = [admin_client_api.post(URL, {"path": str(tmp_path / name)}) for name in ("imports-missing", "")]
    assert [a.data["code"] for a in answers] == ["outside_import_roots", "outside_import_roots"]


def test_a_malformed_popularity_csv_names_the_line_and_column_never_the_content(admin_client_api, import_root):
    (import_root / "Ada").mkdir()
    ranks = import_root / "ranks.csv"
    ranks.write_text("name,rank\nAda,1\nsecret-value-x,hunter2\n")
    response = admin_client_api.post(URL, {"path": str(import_root), "popularity": str(ranks)})
    assert response.status_code == 400
    assert (
        response.data["detail"] == "Popularity file 'ranks.csv', line 3, column 2: the rank must be a positive integer."
    )
    one_column = import_root / "one.csv"
    one_column.write_text("secret-value-y\n")
    response = admin_client_api.post(URL, {"path": str(import_root), "popularity": str(one_column)})
    assert "line 1" in response.data["detail"] and "secret-value-y" not in response.data["detail"]


def test_a_binary_popularity_file_is_refused_without_its_bytes(admin_client_api, import_root):
    (import_root / "Ada").mkdir()
    blob = import_root / "blob.csv"
    blob.write_bytes(b"KEY=top-secret\x00\xff\xfe\x00OTHER=x")
    response = admin_client_api.post(URL, {"path": str(import_root), "popularity": str(blob)})
    assert response.status_code == 400 and "not a readable UTF-8 CSV file" in response.data["detail"]
    assert "top-secret" not in response.content.decode()


def test_an_import_inside_a_root_starts_with_the_real_paths(admin_client_api, import_root):
    (import_root / "faces" / "Ada").mkdir(parents=True)
    (import_root / "ranks.csv").write_text("Ada,1\n")
    response = admin_client_api.post(
        URL, {"path": str(import_root / "faces"), "popularity": str(import_root / "ranks.csv")}
    )
    assert response.status_code == 202
    assert response.data["params"]["root"] == os.path.realpath(import_root / "faces")
    assert response.data["params"]["popularity_csv"] == os.path.realpath(import_root / "ranks.csv")


def test_the_worker_checks_the_roots_again_and_refuses_a_job_queued_before_they_changed(admin_user, settings, tmp_path):
    (tmp_path / "old" / "Ada").mkdir(parents=True)
    settings.FACECURATOR_IMPORT_ROOTS = [str(tmp_path / "old")]
    job = services.faces_import_start(root=str(tmp_path / "old"), user=admin_user)
    settings.FACECURATOR_IMPORT_ROOTS = [str(tmp_path / "new")]
    import_faces.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.state == "failed" and "outside the folders imports may read" in job.message


def test_a_file_linked_from_outside_the_import_folder_is_not_read(admin_user, import_root, tmp_path):
    outside = tmp_path / "private.jpg"
    outside.write_bytes(jpeg_bytes(1))
    (import_root / "Ada").mkdir()
    (import_root / "Ada" / "face.jpg").symlink_to(outside)
    job = services.faces_import_start(root=str(import_root), cropped=True, user=admin_user)
    import_faces.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    assert job.result["imported"] == 0
    assert [(e["name"], e["code"]) for e in job.result["errors"]] == [("Ada/face.jpg", "outside_import_roots")]
