"""Nothing without login; annotators read and label; admins do the rest."""

import pytest

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db

READ_ENDPOINTS = [
    "/api/v1/identities/",
    "/api/v1/faces/",
    "/api/v1/label-events/",
    "/api/v1/photos/",
    "/api/v1/videos/",
    "/api/v1/frames/",
    "/api/v1/jobs/",
    "/api/schema/",
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


def test_annotators_add_candidates_only_and_admins_any_identity(annotator_client, admin_client_api):
    vip = annotator_client.post("/api/v1/identities/", {"name": "Ada", "role": "vip"})
    assert vip.status_code == 403 and "candidate only" in vip.data["detail"]
    ranked = annotator_client.post("/api/v1/identities/", {"name": "Ada", "popularity_rank": 3})
    assert ranked.status_code == 403
    candidate = annotator_client.post("/api/v1/identities/", {"name": "Grace"})
    assert candidate.status_code == 201 and candidate.data["role"] == "candidate"
    assert annotator_client.patch(f"/api/v1/identities/{candidate.data['id']}/", {"name": "Grace H"}).status_code == 403
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


# --- Every route, every role: the expectations table -----------------------------------------
# Who may call each route of the URL conf (Django's admin site, under /admin/, has its own staff
# log-in and is left out). A route missing here fails test_every_route_has_a_permission_expectation:
# adding an endpoint means saying who may use it.
ANYONE = "anyone"  # the log-in page
LOGGED_IN = "logged_in"  # any logged-in user, with a role or not
ANNOTATOR = "annotator"  # annotators and admins
ADMIN = "admin"  # admins only

EXPECTATIONS = {
    "login": {"GET": ANYONE},
    "logout": {"POST": ANYONE},  # logging out answers with the log-in page, logged in or not
    "spa": {"GET": LOGGED_IN},  # the shell; every API call it makes needs a role
    "media": {"GET": ANNOTATOR},
    "schema": {"GET": ANNOTATOR},
    "api-docs": {"GET": ANNOTATOR},
    "api-redoc": {"GET": ANNOTATOR},
    "api-root": {"GET": ANNOTATOR},
    "me": {"GET": LOGGED_IN},
    "token": {"POST": ANNOTATOR, "DELETE": LOGGED_IN},
    "token-rotate": {"POST": ANNOTATOR},
    # faces, label events, similarity
    "face-list": {"GET": ANNOTATOR},
    "face-detail": {"GET": ANNOTATOR},
    "face-label": {"POST": ANNOTATOR},
    "face-similar": {"GET": ANNOTATOR},
    "near-duplicates": {"GET": ANNOTATOR},
    "labelevent-list": {"GET": ANNOTATOR},
    "labelevent-detail": {"GET": ANNOTATOR},
    "labelevent-undo": {"POST": ANNOTATOR},
    "index-status": {"GET": ANNOTATOR},
    "index-rebuild": {"POST": ADMIN},
    # identities, operations, suggestions
    "identity-list": {"GET": ANNOTATOR, "POST": ANNOTATOR},  # annotators add candidates only
    "identity-detail": {"GET": ANNOTATOR, "PUT": ADMIN, "PATCH": ADMIN, "DELETE": ADMIN},
    "identity-history": {"GET": ANNOTATOR},
    "identity-merge": {"POST": ADMIN},
    "identity-split": {"POST": ADMIN},
    "identity-operations": {"GET": ANNOTATOR},
    "identity-operation": {"GET": ANNOTATOR},
    "identity-undo-operation": {"POST": ADMIN},
    "identity-suggestions": {"GET": ANNOTATOR},
    "identity-suggestion": {"GET": ANNOTATOR},
    "identity-compute-suggestions": {"POST": ADMIN},
    "identity-dismiss-suggestion": {"POST": ADMIN},
    # media: annotators add photos for an identity; videos and folder imports are bulk work
    "photo-list": {"GET": ANNOTATOR},
    "photo-detail": {"GET": ANNOTATOR},
    "photo-upload": {"POST": ANNOTATOR},
    "video-list": {"GET": ANNOTATOR},
    "video-detail": {"GET": ANNOTATOR},
    "video-upload": {"POST": ADMIN},
    "frame-list": {"GET": ANNOTATOR},
    "frame-detail": {"GET": ANNOTATOR},
    "import-faces": {"POST": ADMIN},
    # jobs and users
    "job-list": {"GET": ANNOTATOR},
    "job-detail": {"GET": ANNOTATOR},
    "job-cancel": {"POST": ADMIN},
    "job-reassign-splits": {"POST": ADMIN},
    "user-list": {"GET": ADMIN, "POST": ADMIN},
    "user-detail": {"GET": ADMIN, "PUT": ADMIN, "PATCH": ADMIN},
    "user-revoke-token": {"DELETE": ADMIN},
    # review
    "review-queue-list": {"GET": ANNOTATOR},
    "review-queue-detail": {"GET": ANNOTATOR},
    "review-queue-items": {"GET": ANNOTATOR},
    "review-queue-next": {"POST": ANNOTATOR},
    "review-queue-release": {"POST": ANNOTATOR},
    "review-queue-from-faces": {"POST": ANNOTATOR},
    "review-decisions": {"POST": ANNOTATOR},
    "review-operation-undo": {"POST": ANNOTATOR},
    "review-progress": {"GET": ANNOTATOR},
    # annotator quality: the team's numbers and acting on an annotator's work are for admins
    "annotators-quality": {"GET": ADMIN},
    "annotators-quality-me": {"GET": ANNOTATOR},
    "annotators-gold-refresh": {"POST": ADMIN},
    "annotator-decisions": {"GET": ADMIN},
    "annotator-decisions-undo": {"POST": ADMIN},
    "annotator-decisions-second-review": {"POST": ADMIN},
    "annotator-held-accept": {"POST": ADMIN},
    "annotator-held-discard": {"POST": ADMIN},
    # training: annotators read, admins train, accept, promote and set the operating point
    "run-list": {"GET": ANNOTATOR, "POST": ADMIN},
    "run-detail": {"GET": ANNOTATOR},
    "run-compare": {"GET": ANNOTATOR},
    "run-classes": {"GET": ANNOTATOR},
    "run-confused-pairs": {"GET": ANNOTATOR},
    "run-curves": {"GET": ANNOTATOR},
    "run-samples": {"GET": ANNOTATOR},
    "run-accept": {"POST": ADMIN},
    "run-cancel": {"POST": ADMIN},
    "run-restart": {"POST": ADMIN},
    "chunk-list": {"GET": ANNOTATOR},
    "chunk-detail": {"GET": ANNOTATOR},
    "chunk-gate": {"GET": ANNOTATOR},
    "chunk-promote": {"POST": ADMIN},
    "operating-point": {"GET": ANNOTATOR, "POST": ADMIN},
    "active-model-rollback": {"POST": ADMIN},
    "curation-status": {"GET": ANNOTATOR},
    # video tagging: annotators review tags, admins start tagging
    "video-tags": {"GET": ANNOTATOR, "POST": ADMIN},
    "video-predictions": {"GET": ANNOTATOR},
    "videotag-list": {"GET": ANNOTATOR},
    "videotag-detail": {"GET": ANNOTATOR},
    "videotag-review": {"GET": ANNOTATOR},
    "videotag-summary": {"GET": ANNOTATOR},
    "videotag-confirm": {"POST": ANNOTATOR},
    "videotag-reject": {"POST": ANNOTATOR},
    "videotag-undo": {"POST": ANNOTATOR},  # annotators undo their own decisions
    "videotag-start": {"POST": ADMIN},
    # exports: admins only
    "datasetversion-list": {"GET": ADMIN, "POST": ADMIN},
    "datasetversion-detail": {"GET": ADMIN},
    "datasetversion-build": {"POST": ADMIN},
    "datasetversion-checksums": {"GET": ADMIN},
    "datasetversion-compare": {"GET": ADMIN},
    "datasetversion-faces": {"GET": ADMIN},
    "datasetversion-files": {"GET": ADMIN},
    "exportfile-list": {"GET": ADMIN},
    "exportfile-detail": {"GET": ADMIN},
    "exportfile-download": {"GET": ADMIN},
}

SAMPLE_ARGUMENTS = {"path": "review", "operation": "0b7c7f3e-4d3a-4f7e-9a51-6f1c1c2f8a11"}  # anything else: an id


def _routes():
    """{route name: (example path, methods its view answers)} for every route outside /admin/."""
    import re

    from django.urls import URLResolver, get_resolver

    def walk(patterns, prefix="", namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
            else:
                yield prefix + str(pattern.pattern), pattern, namespace

    routes = {}
    for route, pattern, namespace in walk(get_resolver().url_patterns):
        if namespace == "admin" or "(?P<format>" in route or pattern.name in routes:
            continue
        names = re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route)
        kwargs = {a or b: SAMPLE_ARGUMENTS.get(a or b, "987654") for a, b in names}
        if pattern.name == "media":
            kwargs["path"] = "faces/ab/missing.jpg"
        from django.urls import reverse

        callback = pattern.callback
        if getattr(callback, "actions", None):
            methods = {method.upper() for method in callback.actions if method not in ("head", "options")}
        elif getattr(callback, "cls", None) is not None:
            methods = {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(callback.cls, m)}
        else:
            methods = set(EXPECTATIONS.get(pattern.name, {"GET": None}))
        routes[pattern.name] = (reverse(pattern.name, kwargs=kwargs), methods)
    return routes


def _cases():
    return [(name, method) for name, (_, methods) in sorted(_routes().items()) for method in sorted(methods)]


def test_every_route_has_a_permission_expectation():
    routes = _routes()
    assert len(routes) > 80
    missing = [
        f"{name} {method}"
        for name, (_, methods) in sorted(routes.items())
        for method in sorted(methods)
        if method not in EXPECTATIONS.get(name, {})
    ]
    stale = [name for name in EXPECTATIONS if name not in routes]
    assert missing == [], f"routes without an expectation in EXPECTATIONS: {missing}"
    assert stale == [], f"expectations for routes that no longer exist: {stale}"


def _call(client, method: str, path: str):
    if method == "GET":
        return client.get(path)
    return getattr(client, method.lower())(path, {}, format="json")


def _refused(response, level: str) -> bool:
    if response.status_code == 302 and level != ANYONE:
        return response["Location"].startswith("/accounts/login/")
    return response.status_code in (401, 403)


@pytest.mark.parametrize(("name", "method"), _cases())
def test_each_route_refuses_and_allows_the_roles_its_expectation_names(
    name, method, admin_user, annotator, no_role_user
):
    from rest_framework.test import APIClient

    path, _ = _routes()[name]
    level = EXPECTATIONS.get(name, {}).get(method)
    assert level is not None, f"{name} {method} has no expectation in EXPECTATIONS"
    clients = {"anonymous": APIClient()}
    for role, user in (("no role", no_role_user), ("annotator", annotator), ("admin", admin_user)):
        clients[role] = APIClient()
        if path.startswith("/api/"):
            clients[role].force_authenticate(user)
        else:
            clients[role].force_login(user)  # plain Django views read the session
    allowed = {
        ANYONE: {"anonymous", "no role", "annotator", "admin"},
        LOGGED_IN: {"no role", "annotator", "admin"},
        ANNOTATOR: {"annotator", "admin"},
        ADMIN: {"admin"},
    }[level]
    for role, client in clients.items():
        response = _call(client, method, path)
        where = f"{method} {path} as {role}: {response.status_code}"
        assert response.status_code < 500, where
        if role in allowed:
            assert not _refused(response, level), where
        elif role == "anonymous":
            assert _refused(response, level), where
        else:
            assert response.status_code == 403, where
