"""Nothing without login; annotators read and label; admins do the rest."""
import pytest

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db

READ_ENDPOINTS = [
    "/api/v1/identities/", "/api/v1/faces/", "/api/v1/label-events/", "/api/v1/photos/",
    "/api/v1/videos/", "/api/v1/frames/", "/api/v1/jobs/", "/api/schema/",
]


@pytest.mark.parametrize("url", READ_ENDPOINTS + ["/api/v1/users/", "/api/v1/me/"])
def test_anonymous_users_are_refused_everywhere(anonymous_client, url):
    assert anonymous_client.get(url).status_code in (401, 403)


def test_the_browser_ui_and_media_redirect_anonymous_users_to_login(client):
    for url in ["/", "/review", "/media/faces/x.jpg"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", READ_ENDPOINTS)
def test_a_logged_in_user_without_a_role_is_refused(no_role_user, url):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(no_role_user)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", READ_ENDPOINTS)
def test_annotators_can_read(annotator_client, url):
    assert annotator_client.get(url).status_code == 200


def test_annotators_cannot_create_identities_but_admins_can(annotator_client, admin_client_api):
    assert annotator_client.post("/api/v1/identities/", {"name": "Ada"}).status_code == 403
    response = admin_client_api.post("/api/v1/identities/", {"name": "Ada", "role": "vip"})
    assert response.status_code == 201 and response.data["name"] == "Ada"


def test_annotators_cannot_manage_users(annotator_client):
    assert annotator_client.get("/api/v1/users/").status_code == 403
    assert annotator_client.post("/api/v1/users/", {"username": "x", "role": "admin"}).status_code == 403


def test_admins_create_users_with_a_role(admin_client_api):
    response = admin_client_api.post(
        "/api/v1/users/", {"username": "erin", "password": "long-enough-pw", "role": "annotator"}
    )
    assert response.status_code == 201
    assert response.data["role"] == "annotator"
    change = admin_client_api.patch(f"/api/v1/users/{response.data['id']}/", {"role": "admin"})
    assert change.data["role"] == "admin"


def test_annotators_label_faces(annotator_client):
    face = FaceFactory()
    other = IdentityFactory()
    response = annotator_client.post(f"/api/v1/faces/{face.pk}/label/", {"identity": other.pk})
    assert response.status_code == 200


def test_only_admins_cancel_jobs_and_reassign_splits(annotator_client, admin_client_api):
    assert annotator_client.post("/api/v1/jobs/reassign-splits/", {}).status_code == 403
    started = admin_client_api.post("/api/v1/jobs/reassign-splits/")
    assert started.status_code == 202
    assert annotator_client.post(f"/api/v1/jobs/{started.data['id']}/cancel/").status_code == 403
    assert admin_client_api.post(f"/api/v1/jobs/{started.data['id']}/cancel/").data["state"] == "cancelled"


def test_api_tokens_authenticate_scripts(annotator, annotator_client):
    from rest_framework.test import APIClient

    key = annotator_client.post("/api/v1/auth/token/").data["token"]
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert script.get("/api/v1/me/").data["username"] == annotator.username


def _store(path: str) -> None:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    default_storage.save(path, ContentFile(b"secret"))


@pytest.mark.parametrize("path", ["exports/abc/dataset.zip", "models/run-1.pt", "index/faces-1.faiss"])
def test_annotators_cannot_download_exports_models_or_the_index_through_media(client, annotator, admin_user, path):
    _store(path)
    client.force_login(annotator)
    assert client.get(f"/media/{path}").status_code == 403
    client.force_login(admin_user)
    assert client.get(f"/media/{path}").status_code == 200


def test_face_crops_need_a_role_not_just_a_login(client, no_role_user, annotator):
    _store("faces/ab/1.jpg")
    client.force_login(no_role_user)
    assert client.get("/media/faces/ab/1.jpg").status_code == 403
    client.force_login(annotator)
    assert client.get("/media/faces/ab/1.jpg").status_code == 200
